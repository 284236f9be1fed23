import { html } from 'htm/preact';
import { ago, absTime, isoMs } from './format.js';
import { nodeStanding } from './model.js';
import { list, state } from './store.js';
import { Badge, Empty, Loading } from './ui.js';

/**
 * Nodes, optionally of one site.
 * @param {{ site?: string }} props
 */
export function NodesTable({ site }) {
  if (!state.synced) return html`<${Loading} />`;
  const nodes = list('Node').filter((n) => site === undefined || n.spec?.site === site);
  if (nodes.length === 0) return html`<${Empty}>No nodes${site ? ' at this site' : ''}.</${Empty}>`;
  const now = state.now;
  return html`<div class="scroll">
    <table class="grid">
      <thead>
        <tr><th>Node</th><th>Site</th><th>Hostname</th><th>Addresses</th><th>Connection</th><th>Standing</th><th>Peers' vote</th><th>Last seen</th><th>Joined</th><th>Message</th></tr>
      </thead>
      <tbody>
        ${nodes.map((n) => {
          const seen = isoMs(n.status?.lastSeen);
          const joined = isoMs(n.status?.joinedAt);
          const h = n.status?.health;
          return html`<tr key=${n.metadata.name} data-testid=${`node-${n.metadata.name}`}>
            <td class="name"><a href=${`#/nodes/${encodeURIComponent(n.metadata.name)}`}>${n.metadata.name}</a></td>
            <td><a href=${`#/sites/${encodeURIComponent(n.spec?.site ?? '')}`}>${n.spec?.site ?? ''}</a></td>
            <td>${n.spec?.hostname ?? ''}</td>
            <td class="muted">${(n.spec?.addresses ?? []).join(', ')}</td>
            <td><${Badge} word=${n.status?.connected ? 'connected' : 'disconnected'} testid="node-connected" /></td>
            <td data-testid="node-standing">${nodeStanding(n)}</td>
            <td data-testid="node-vote" title=${h ? `since ${h.since}; reported by ${h.reportedBy}` : "no vote: the site has no health settings, or its peers have not reported"}>
              ${h ? html`<${Badge} word=${h.verdict} /> ${h.verdict === 'unhealthy' ? h.cons : h.pros}/${h.expected}` : '—'}
            </td>
            <td class="time" title=${absTime(seen)}>${ago(seen, now)}</td>
            <td class="time" title=${absTime(joined)}>${Number.isNaN(joined) ? '—' : absTime(joined)}</td>
            <td class="message">${n.status?.message ?? ''}</td>
          </tr>`;
        })}
      </tbody>
    </table>
  </div>`;
}

export function NodesView() {
  return html`<section>
    <h1>Nodes</h1>
    <${NodesTable} />
  </section>`;
}
