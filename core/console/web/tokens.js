import { html } from 'htm/preact';

/**
 * Tokens (admins).
 * @param {{ admin: boolean }} props
 */
export function TokensView({ admin }) {
  void admin;
  return html`<section>
    <h1>Tokens</h1>
  </section>`;
}
