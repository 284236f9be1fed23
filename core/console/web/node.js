import { html } from 'htm/preact';

/**
 * One node.
 * @param {{ name: string, admin: boolean }} props
 */
export function NodeDetail({ name, admin }) {
  void admin;
  return html`<section>
    <h1>Node ${name}</h1>
  </section>`;
}
