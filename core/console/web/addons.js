import { html } from 'htm/preact';
import { addonRunsIn, addonSites } from './model.js';
import { list, state } from './store.js';
import { Badge, Empty, Loading } from './ui.js';

/** @typedef {import('./types.js').Addon} Addon */

const RUNS_IN_TITLE = {
  grids: 'a grid per workload, one Deployment per site, on Kubernetes',
  'grids and site agent': "a grid per workload, one Deployment per site, on Kubernetes; the plugin's site half in each site's agent",
  'site agent': "the plugin runs in each site's agent",
};

/** @param {{ addon: Addon, site: string }} props */
function Chip({ addon, site }) {
  const st = addon.status?.sites?.[site];
  const name = addon.metadata.name;
  const title = [st?.code, st?.message].filter(Boolean).join(': ') || undefined;
  // A problem's cause (a coded error: failed, invalid, degraded, conflict) is shown, not only on hover;
  // for grids, so is how far the site's workloads are (`<grid>: 1/2 ready`).
  const cause = st?.code ? `${st.code}${st.message ? `: ${st.message}` : ''}` : addonRunsIn(addon) !== 'site agent' && st?.state !== 'running' ? st?.message : undefined;
  return html`<span class="chip" title=${title}>
    <span class="chip-site">${site}</span>
    <${Badge} word=${st?.state} fallback="Pending" testid=${`addon-${name}-${site}`} />
    ${cause && html`<span class="chip-cause" data-testid=${`addon-${name}-${site}-cause`}>${cause.length > 160 ? `${cause.slice(0, 159)}…` : cause}</span>`}
  </span>`;
}

/**
 * Addons with their state per site; with `site`, only addons at that site.
 * @param {{ site?: string }} props
 */
export function AddonsTable({ site }) {
  if (!state.synced) return html`<${Loading} />`;
  const addons = list('Addon').filter((a) => site === undefined || addonSites(a).includes(site));
  if (addons.length === 0) return html`<${Empty}>No addons${site ? ' at this site' : ''}.</${Empty}>`;
  return html`<div class="scroll">
    <table class="grid">
      <thead>
        <tr><th>Addon</th><th>Plugin</th><th>Version</th><th>Runs in</th><th>${site ? 'Status' : 'Status per site'}</th></tr>
      </thead>
      <tbody>
        ${addons.map((a) => {
          const sites = site ? [site] : addonSites(a);
          return html`<tr key=${a.metadata.name} data-testid=${`addon-${a.metadata.name}`}>
            <td class="name">${a.metadata.name}</td>
            <td>${a.spec?.plugin ?? ''}</td>
            <td>${a.spec?.version ?? html`<span class="muted">any</span>`}</td>
            <td data-testid=${`addon-${a.metadata.name}-runs`} title=${RUNS_IN_TITLE[addonRunsIn(a)]}>${addonRunsIn(a)}</td>
            <td class="chips">${sites.length === 0 ? html`<span class="muted">no sites</span>` : sites.map((s) => html`<${Chip} key=${s} addon=${a} site=${s} />`)}</td>
          </tr>`;
        })}
      </tbody>
    </table>
  </div>`;
}

/** @param {{ admin?: boolean }} props */
export function AddonsView({ admin = false }) {
  void admin;
  return html`<section>
    <h1>Addons</h1>
    <${AddonsTable} />
  </section>`;
}

/**
 * One addon.
 * @param {{ name: string, admin: boolean }} props
 */
export function AddonDetail({ name, admin }) {
  void admin;
  return html`<section>
    <h1>Addon ${name}</h1>
  </section>`;
}
