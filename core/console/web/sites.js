import { html } from 'htm/preact';
import { AddonsTable } from './addons.js';
import { DevicesTable } from './devices.js';
import { ago, absTime, isoMs } from './format.js';
import { agentProcesses, siteHealth, siteMembers, siteStanding } from './model.js';
import { NodesTable } from './nodes.js';
import { getObj, list, state } from './store.js';
import { Badge, Empty, Loading } from './ui.js';

/** @typedef {import('./types.js').Site} Site */

/** @param {{ site: Site, now: number }} props */
function SiteRow({ site, now }) {
  const name = site.metadata.name;
  const members = siteMembers(name);
  const up = members.devices.filter((d) => d.status?.operatingState === 'UP').length;
  const health = siteHealth(site);
  const seen = isoMs(site.status?.lastSeen);
  const proc = agentProcesses(site);
  const href = `#/sites/${encodeURIComponent(name)}`;
  return html`<tr data-testid=${`site-${name}`} class="clickable" onClick=${() => (location.hash = href)}>
    <td class="name"><a href=${href}>${name}</a>${site.spec?.displayName ? html`<div class="muted small">${site.spec.displayName}</div>` : null}</td>
    <td><${Badge} word=${site.status?.phase ?? 'Pending'} testid="site-phase" title=${site.status?.message} /></td>
    <td data-testid="site-standing">${siteStanding(site, list('Node'))}</td>
    <td class="time" data-testid="site-last-seen" title=${absTime(seen)}>${ago(seen, now)}</td>
    <td>
      <span data-testid="site-health" class=${`health h-${health.word}`}>
        <${Badge} word=${health.word} />${health.reason ? html` <span class="reason">${health.reason}</span>` : null}
      </span>
    </td>
    <td class="num">${up}/${members.devices.length}</td>
    <td class="num">${members.nodes}</td>
    <td class="num">${members.addons}</td>
    <td class="muted">${site.status?.agentVersion ?? ''}</td>
    <td class="num" data-testid="site-agent-process" title=${proc?.detail ?? ''}>${proc?.text ?? ''}</td>
  </tr>`;
}

/** @param {{ admin?: boolean }} props */
export function SitesView({ admin = false }) {
  void admin;
  const sites = list('Site');
  return html`<section>
    <h1>Sites</h1>
    ${!state.synced
      ? html`<${Loading} />`
      : sites.length === 0
        ? html`<${Empty}>No sites yet. Create one with <code>edgeadm site create</code>.</${Empty}>`
        : html`<div class="scroll">
            <table class="grid">
              <thead>
                <tr><th>Site</th><th>Connection</th><th>Standing</th><th>Last seen</th><th>Health</th><th>Devices up</th><th>Nodes</th><th>Addons</th><th>Agent</th><th>Agent memory, CPU</th></tr>
              </thead>
              <tbody>
                ${sites.map((s) => html`<${SiteRow} key=${s.metadata.name} site=${s} now=${state.now} />`)}
              </tbody>
            </table>
          </div>`}
  </section>`;
}

/** The site as a unit of the grid: how many of its nodes are connected. @param {string} site */
function unitText(site) {
  const nodes = list('Node').filter((n) => n.spec?.site === site);
  const connected = nodes.filter((n) => n.status?.connected === true).length;
  return `${connected}/${nodes.length} nodes connected`;
}

/** @param {{ name: string, admin?: boolean }} props */
export function SiteDetail({ name, admin = false }) {
  void admin;
  const site = getObj('Site', name);
  if (!state.synced) return html`<section><h1>Site ${name}</h1><${Loading} /></section>`;
  if (!site) {
    return html`<section>
      <h1>Site ${name}</h1>
      <${Empty}>No site named “${name}”. <a href="#/sites">All sites</a></${Empty}>
    </section>`;
  }
  const health = siteHealth(site);
  const seen = isoMs(site.status?.lastSeen);
  const proc = agentProcesses(site);
  return html`<section class="site-detail" data-testid=${`site-detail-${name}`}>
    <p class="crumbs"><a href="#/sites">Sites</a> /</p>
    <h1>${site.spec?.displayName || name} <${Badge} word=${site.status?.phase ?? 'Pending'} /></h1>
    ${site.spec?.description ? html`<p>${site.spec.description}</p>` : null}
    <dl class="facts">
      <dt>Name</dt><dd>${name}</dd>
      <dt>Health</dt><dd><${Badge} word=${health.word} /> ${health.reason}</dd>
      <dt>Last seen</dt><dd title=${absTime(seen)}>${ago(seen, state.now)}</dd>
      <dt>Agent</dt><dd>${site.status?.agentVersion ?? '—'}</dd>
      <dt>Agent process</dt><dd data-testid="site-detail-agent-process" title=${proc?.detail ?? ''}>${proc?.text ?? '—'}</dd>
      <dt>Unit</dt><dd data-testid="site-unit" title="A site is a NodeUnit of the grid: its nodes are the unit's members">${unitText(name)}</dd>
      ${site.status?.message ? html`<dt>Message</dt><dd>${site.status.message}</dd>` : null}
    </dl>
    <h2>Nodes</h2>
    <${NodesTable} site=${name} />
    <h2>Devices</h2>
    <${DevicesTable} site=${name} />
    <h2>Addons</h2>
    <${AddonsTable} site=${name} />
  </section>`;
}
