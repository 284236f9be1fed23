import { html } from 'htm/preact';

/**
 * EdgeX files: import and export.
 * @param {{ admin: boolean }} props
 */
export function EdgeXView({ admin }) {
  void admin;
  return html`<section>
    <h1>EdgeX files</h1>
  </section>`;
}
