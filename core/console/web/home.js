import { html } from 'htm/preact';

/** The home page: what needs attention first. */
export function HomeView() {
  return html`<section>
    <h1>Home</h1>
  </section>`;
}
