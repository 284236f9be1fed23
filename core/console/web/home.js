import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError, enc, get } from './api.js';
import { absTime, ago, isoMs, plural } from './format.js';
import { holdLive } from './live.js';
import { withoutCode } from './model.js';
import { state, subscribe } from './store.js';
import { Loading } from './ui.js';

/** @typedef {import('../../hub/api-types.ts').Overview} Overview */

const OVERVIEW_URL = '/api/v1/overview?limit=20';
/** After a change the watch stream delivered, fetch again at most this often (ms). */
const MIN_GAP_MS = 5000;
/** And at least this often, changes or not (streams down, times moving on). */
const EVERY_MS = 30_000;

/**
 * Lets the live streams open: set while a hold (holdLive) waits for a home
 * page's first paint, whichever instance of the page paints.
 * @type {(() => void) | null}
 */
let releaseLive = null;

function release() {
  const r = releaseLive;
  releaseLive = null;
  r?.();
}

/** @returns {Promise<Overview>} */
const fetchOverview = () => /** @type {Promise<Overview>} */ (get(OVERVIEW_URL));

/**
 * A time as "3 min ago" with the full time as its title.
 * @param {{ iso: string | undefined, prefix?: string }} props
 */
function When({ iso, prefix = '' }) {
  const ms = isoMs(iso);
  if (Number.isNaN(ms)) return null;
  return html`<span class="when" title=${absTime(ms)}>${prefix}${ago(ms, state.now)}</span>`;
}

/**
 * @param {{ label: string, value: number, total?: number, detail?: string, href: string, testid: string, tone: 'ok' | 'bad' | 'warn' }} props
 */
function Count({ label, value, total, detail, href, testid, tone }) {
  return html`<li class=${`home-count ${tone}`} data-testid=${testid}>
    <a href=${href}>
      <span class="figure">${value}${total === undefined ? null : html`<span class="of"> / ${total}</span>`}</span>
      <span class="label">${label}</span>
      ${detail ? html`<span class="detail">${detail}</span>` : null}
    </a>
  </li>`;
}

/** @param {{ o: Overview }} props */
function Counts({ o }) {
  const c = o.counts;
  const sitesDetail = [c.sites.offline && `${c.sites.offline} offline`, c.sites.neverConnected && `${c.sites.neverConnected} never connected`].filter(Boolean).join(', ');
  const devicesDetail = [c.devices.down && `${c.devices.down} down`, c.devices.unknown && `${c.devices.unknown} unknown`].filter(Boolean).join(', ');
  const addonsDetail = [c.addonInstances.failed && `${c.addonInstances.failed} failed`, c.addonInstances.notReady && `${c.addonInstances.notReady} not ready`].filter(Boolean).join(', ');
  const nodesDetail = c.nodes.unhealthy ? `${c.nodes.unhealthy} voted unhealthy` : '';
  return html`<ul class="home-counts" aria-label="Counts">
    <${Count} label="sites online" value=${c.sites.online} total=${c.sites.total} detail=${sitesDetail} href="#/sites" testid="count-sites" tone=${c.sites.offline ? 'bad' : c.sites.neverConnected ? 'warn' : 'ok'} />
    <${Count} label="nodes connected" value=${c.nodes.connected} total=${c.nodes.total} detail=${nodesDetail} href="#/nodes" testid="count-nodes" tone=${c.nodes.unhealthy ? 'bad' : 'ok'} />
    <${Count} label="devices up" value=${c.devices.up} total=${c.devices.total} detail=${devicesDetail} href="#/devices" testid="count-devices" tone=${c.devices.down ? 'bad' : c.devices.unknown ? 'warn' : 'ok'} />
    <${Count} label="addon instances running" value=${c.addonInstances.running} total=${c.addonInstances.total} detail=${addonsDetail} href="#/addons" testid="count-addons" tone=${c.addonInstances.failed ? 'bad' : c.addonInstances.notReady ? 'warn' : 'ok'} />
    <${Count} label="pending approvals" value=${c.pendingDevices} href="#/pending" testid="count-pending" tone=${c.pendingDevices ? 'warn' : 'ok'} />
  </ul>`;
}

/**
 * One problem list: its heading with the total, its first items, and where the rest are.
 * @template T
 * @param {{ id: string, title: string, page: { total: number, items: T[] }, more: string, moreLabel: string, tone: 'bad' | 'warn', item: (x: T) => unknown }} props
 */
function Problems({ id, title, page, more, moreLabel, tone, item }) {
  if (page.total === 0) return null;
  const rest = page.total - page.items.length;
  return html`<section class=${`home-problems ${tone}`} aria-labelledby=${`home-${id}`} data-testid=${`home-${id}`}>
    <h3 id=${`home-${id}`}>${title} <span class="total" data-testid=${`home-${id}-total`}>${page.total}</span></h3>
    <ul>
      ${page.items.map(item)}
    </ul>
    ${rest > 0 ? html`<p class="more"><a href=${more}>${plural(rest, 'more')}: ${moreLabel}</a></p>` : null}
  </section>`;
}

/** @param {{ o: Overview }} props */
function ProblemLists({ o }) {
  const none = [o.sitesOffline, o.nodesUnhealthy, o.agentProblems, o.devicesDown, o.addonsFailed, o.pendingDevices].every((p) => p.total === 0);
  if (none) return html`<p class="all-clear" data-testid="home-all-clear">All clear: nothing needs attention.</p>`;
  return html`
    <${Problems}
      id="sites-offline"
      title="Sites offline"
      tone="bad"
      page=${o.sitesOffline}
      more="#/sites"
      moreLabel="all sites"
      item=${(/** @type {Overview['sitesOffline']['items'][number]} */ s) => html`<li key=${s.name}>
        <a href=${`#/sites/${enc(s.name)}`} data-testid=${`problem-site-${s.name}`}>${s.name}</a>
        <${When} iso=${s.since} prefix="offline since " />${s.since ? null : html`<span class="when">offline, never seen</span>`}
        ${s.message ? html`<span class="cause">${s.message}</span>` : null}
      </li>`}
    />
    <${Problems}
      id="nodes-unhealthy"
      title="Nodes voted unhealthy"
      tone="bad"
      page=${o.nodesUnhealthy}
      more="#/nodes"
      moreLabel="all nodes"
      item=${(/** @type {Overview['nodesUnhealthy']['items'][number]} */ n) => html`<li key=${n.name}>
        <a href=${`#/nodes/${enc(n.name)}`} data-testid=${`problem-node-${n.name}`}>${n.name}</a>
        <span class="where">at ${n.site}</span>
        <span class="cause">${n.standing}: ${n.cons} of ${n.expected} peers vote unhealthy</span>
        <${When} iso=${n.since} prefix="since " />
      </li>`}
    />
    <${Problems}
      id="agent-problems"
      title="Problems sites report"
      tone="bad"
      page=${o.agentProblems}
      more="#/sites"
      moreLabel="all sites"
      item=${(/** @type {Overview['agentProblems']['items'][number]} */ p) => html`<li key=${`${p.site}/${p.agent}/${p.component}/${p.code}`}>
        <a href=${`#/sites/${enc(p.site)}`} data-testid=${`problem-agent-${p.site}-${p.component}`}>${p.site}</a>
        <span class="where">${p.agent}</span>
        <span class="cause" title=${p.code}>${p.component}: ${p.message}</span>
        <${When} iso=${p.since} prefix="since " />
      </li>`}
    />
    <${Problems}
      id="devices-down"
      title="Devices down"
      tone="bad"
      page=${o.devicesDown}
      more="#/devices"
      moreLabel="all devices"
      item=${(/** @type {Overview['devicesDown']['items'][number]} */ d) => html`<li key=${d.name}>
        <a href=${`#/devices/${enc(d.name)}`} data-testid=${`problem-device-${d.name}`}>${d.name}</a>
        <span class="where">at ${d.site}</span>
        <span class="cause" title=${d.reason} data-testid=${`problem-device-${d.name}-cause`}>${withoutCode(d.reason) || 'no cause reported'}</span>
        <${When} iso=${d.lastSeen} prefix="last seen " />
      </li>`}
    />
    <${Problems}
      id="addons-failed"
      title="Failed addon instances"
      tone="bad"
      page=${o.addonsFailed}
      more="#/addons"
      moreLabel="all addons"
      item=${(/** @type {Overview['addonsFailed']['items'][number]} */ a) => html`<li key=${`${a.addon}/${a.site}`}>
        <a href=${`#/addons/${enc(a.addon)}`} data-testid=${`problem-addon-${a.addon}-${a.site}`}>${a.addon}</a>
        <span class="where">at ${a.site}</span>
        <span class="cause" title=${a.code ?? ''}>${a.state}${a.message ? `: ${a.message}` : ''}</span>
      </li>`}
    />
    <${Problems}
      id="pending"
      title="Pending approvals"
      tone="warn"
      page=${o.pendingDevices}
      more="#/pending"
      moreLabel="all pending devices"
      item=${(/** @type {Overview['pendingDevices']['items'][number]} */ p) => html`<li key=${p.name}>
        <a href="#/pending" data-testid=${`problem-pending-${p.name}`}>${p.name}</a>
        <span class="where">at ${p.site}</span>
        <${When} iso=${p.firstSeen} prefix="waiting since " />
      </li>`}
    />
  `;
}

/**
 * The home page: what needs attention first. It paints from one call
 * (`GET /api/v1/overview`: counts and the first items of each problem list,
 * computed at the hub) so it never waits for the watch stream's snapshot of
 * every device; the streams open only once it has painted (holdLive). It
 * then fetches again when the watch stream delivers a change, at most every
 * MIN_GAP_MS, and every EVERY_MS regardless.
 */
export function HomeView() {
  const [overview, setOverview] = useState(/** @type {Overview | null} */ (null));
  const [error, setError] = useState('');
  const live = useRef({ busy: false, lastAt: 0, seenRev: state.resRev, timer: /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined) });
  // Started during the first render, so it is on its way before the live streams (opened by an effect) ask
  // for anything; they wait until a home page has painted from it (or could not).
  const [first] = useState(() => {
    if (!releaseLive) {
      const painted = new Promise((r) => (releaseLive = () => r(undefined)));
      holdLive(painted);
    }
    return fetchOverview();
  });

  useEffect(() => {
    let alive = true;
    const l = live.current;
    /** @param {Promise<Overview>} call */
    const take = async (call) => {
      l.busy = true;
      l.seenRev = state.resRev;
      try {
        const o = await call;
        if (alive) {
          setOverview(o);
          setError('');
        }
      } catch (err) {
        if (alive) setError(describeError(err));
        release();
      } finally {
        l.busy = false;
        l.lastAt = performance.now();
      }
    };
    const refresh = () => {
      if (!alive || l.busy) return;
      clearTimeout(l.timer);
      l.timer = undefined;
      void take(fetchOverview());
    };
    void take(first);
    const off = subscribe(() => {
      if (state.resRev === l.seenRev || l.timer !== undefined) return;
      l.timer = setTimeout(refresh, Math.max(0, MIN_GAP_MS - (performance.now() - l.lastAt)));
    });
    const every = setInterval(refresh, EVERY_MS);
    return () => {
      alive = false;
      off();
      clearInterval(every);
      clearTimeout(l.timer);
    };
  }, [first]);

  const painted = overview !== null;
  useEffect(() => {
    if (!painted) return;
    if (performance.getEntriesByName('home-ready').length === 0) performance.mark('home-ready');
    release();
  }, [painted]);

  return html`<section class="home" aria-labelledby="home-title">
    <h1 id="home-title">Home</h1>
    ${error ? html`<p class="error" role="alert" data-testid="home-error">Cannot read the overview: ${error}</p>` : null}
    ${overview
      ? html`<div data-testid="home-ready">
          <${Counts} o=${overview} />
          <h2>Needs attention</h2>
          <${ProblemLists} o=${overview} />
        </div>`
      : error
        ? null
        : html`<${Loading} />`}
  </section>`;
}
