import { html } from 'htm/preact';

/**
 * The telemetry explorer.
 * @param {{ query: URLSearchParams }} props
 */
export function TelemetryView({ query }) {
  void query;
  return html`<section>
    <h1>Telemetry</h1>
  </section>`;
}
