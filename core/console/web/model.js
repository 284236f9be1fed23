import { isoMs, plural } from './format.js';
import { deviceData, getObj, isNumericType, list, state } from './store.js';

/** @typedef {import('./types.js').Device} Device */
/** @typedef {import('./types.js').Site} Site */
/** @typedef {import('./types.js').DeviceResource} DeviceResource */
/** @typedef {import('./store.js').Series} Series */

/**
 * What the console knows of one resource of one device right now.
 * @typedef {object} ResourceView
 * @property {string} name
 * @property {DeviceResource | undefined} def profile definition
 * @property {unknown} value
 * @property {boolean} hasValue
 * @property {string | undefined} units
 * @property {number} origin ns since the epoch, 0 when unknown
 * @property {string | undefined} quality
 * @property {string | undefined} qualityDetail
 * @property {boolean} numeric
 * @property {boolean} writable
 * @property {Series | undefined} series
 */

/**
 * @param {Device} device
 * @returns {DeviceResource[]}
 */
export function profileResources(device) {
  const name = device.spec?.profile;
  const profile = name ? getObj('DeviceProfile', name) : undefined;
  const rs = profile?.spec?.deviceResources;
  return Array.isArray(rs) ? rs : [];
}

/**
 * Every resource of a device in profile order, then any others seen in
 * readings or reported status, each with its newest known value.
 * @param {Device} device
 * @returns {ResourceView[]}
 */
export function resourceViews(device) {
  const defs = profileResources(device);
  const live = deviceData(device.metadata.name);
  const reported = device.status?.reported ?? {};
  /** @type {string[]} */
  const names = defs.map((d) => d.name);
  const seen = new Set(names);
  for (const n of [...(live?.series.keys() ?? []), ...Object.keys(reported)]) {
    if (!seen.has(n)) {
      seen.add(n);
      names.push(n);
    }
  }
  return names.map((name) => {
    const def = defs.find((d) => d.name === name);
    const series = live?.series.get(name);
    const rep = reported[name];
    const latest = series?.latest;
    const repOrigin = typeof rep?.origin === 'number' ? rep.origin : 0;
    const useLive = latest !== undefined && (rep === undefined || latest.origin >= repOrigin);
    const valueType = def?.properties?.valueType ?? latest?.valueType;
    return {
      name,
      def,
      value: useLive ? latest.value : rep?.value,
      hasValue: useLive || rep !== undefined,
      units: (useLive ? latest.units : undefined) ?? def?.properties?.units ?? latest?.units,
      origin: useLive ? latest.origin : repOrigin,
      quality: useLive ? latest.quality : rep?.quality,
      qualityDetail: useLive ? latest.qualityDetail : undefined,
      numeric: isNumericType(valueType),
      writable: (def?.properties?.readWrite ?? '').includes('W'),
      series,
    };
  });
}

/**
 * A device's state as the console shows it, with its cause: what its site
 * reported (DOWN with the reason), except at a site that is offline, where
 * nothing is known now (UNKNOWN, naming since when and the last report).
 * @param {Device} device
 * @returns {{ word: 'UP' | 'DOWN' | 'UNKNOWN', reason: string }}
 */
export function deviceState(device) {
  return deviceStateAt(device, device.spec?.site ? getObj('Site', device.spec.site) : undefined);
}

/**
 * deviceState with its Site given. The rule is core/store/standing.ts's (deviceStanding), written again
 * here because browser code cannot import core/store; core/store/standing.test.ts checks they agree.
 * @param {{ status?: { operatingState?: string, message?: string } }} device
 * @param {{ status?: { phase?: string, lastSeen?: string } } | undefined} site
 * @returns {{ word: 'UP' | 'DOWN' | 'UNKNOWN', reason: string }}
 */
export function deviceStateAt(device, site) {
  const state = device.status?.operatingState;
  /** @type {'UP' | 'DOWN' | 'UNKNOWN'} */
  const reported = state === 'UP' || state === 'DOWN' ? state : 'UNKNOWN';
  const message = device.status?.message ?? '';
  if (site?.status?.phase === 'Offline') {
    const last = state ? `; last report: ${state}${message ? ` (${message})` : ''}` : '';
    return { word: 'UNKNOWN', reason: `site offline since ${site.status.lastSeen ?? 'an unknown time'}${last}` };
  }
  return { word: reported, reason: message };
}

/**
 * An addon instance's state in one word: `running`, `failed` (someone must act) or `not ready` (not
 * reported yet among them). The rule is core/store/standing.ts's (addonInstanceStanding), written again
 * here because browser code cannot import core/store; core/store/standing.test.ts checks they agree.
 * @param {string | undefined} state
 * @returns {'running' | 'failed' | 'not ready'}
 */
export function addonInstanceStanding(state) {
  const w = state?.toLowerCase();
  if (w === undefined) return 'not ready';
  if (w === 'running' || w === 'ready') return 'running';
  if (w === 'failed' || w === 'error' || w === 'invalid' || w === 'blocked' || w === 'conflict') return 'failed';
  return 'not ready';
}

/**
 * A cause as a narrow column shows it: without its leading error code (the
 * whole text stays in the tooltip), so `connect ECONNREFUSED 127.0.0.1:1502`
 * is what fits.
 * @param {string} reason
 */
export const withoutCode = (reason) => reason.replace(/^EDGE_ERR_[A-Z0-9_]+ /, '');

/**
 * A drift entry in words: `setpoint reads 20 where 42.5 is desired (since …), written again 1 time`.
 * @param {string} resource
 * @param {import('./types.js').DeviceDrift} x
 */
export function describeDrift(resource, x) {
  const show = (/** @type {unknown} */ v) => (typeof v === 'string' ? v : JSON.stringify(v));
  const verb = x.resolvedAt === undefined ? 'reads' : 'read';
  const writes = x.reasserts ? `, written again ${plural(x.reasserts, 'time')}` : x.policy === 'report' ? ', reported only' : '';
  const failed = x.error ? `; the last write failed: ${x.error}` : '';
  const back = x.resolvedAt === undefined ? '' : `; matches again since ${x.resolvedAt}`;
  return `${resource} ${verb} ${show(x.observed)} where ${show(x.desired)} is desired (since ${x.since})${writes}${failed}${back}`;
}

/**
 * Last sign of life of a device (ms): its newest reading or status.lastSeen.
 * @param {Device} device
 */
export function deviceLastSeen(device) {
  const live = deviceData(device.metadata.name);
  const fromReadings = live ? live.lastOrigin / 1e6 : NaN;
  const fromStatus = isoMs(device.status?.lastSeen);
  if (Number.isNaN(fromReadings)) return fromStatus;
  if (Number.isNaN(fromStatus)) return fromReadings;
  return Math.max(fromReadings, fromStatus);
}

/** @type {{ rev: number, bySite: Map<string, { devices: Device[], nodes: number, addons: number }> }} */
let siteIndex = { rev: -1, bySite: new Map() };

/**
 * Devices, node counts and addon counts per site, rebuilt only when resources change.
 * @param {string} site
 */
export function siteMembers(site) {
  if (siteIndex.rev !== state.resRev) {
    /** @type {Map<string, { devices: Device[], nodes: number, addons: number }>} */
    const bySite = new Map();
    const entry = (/** @type {string} */ s) => {
      let e = bySite.get(s);
      if (!e) {
        e = { devices: [], nodes: 0, addons: 0 };
        bySite.set(s, e);
      }
      return e;
    };
    for (const d of list('Device')) if (d.spec?.site) entry(d.spec.site).devices.push(d);
    for (const n of list('Node')) if (n.spec?.site) entry(n.spec.site).nodes++;
    for (const a of list('Addon')) for (const s of addonSites(a)) entry(s).addons++;
    siteIndex = { rev: state.resRev, bySite };
  }
  return siteIndex.bySite.get(site) ?? { devices: [], nodes: 0, addons: 0 };
}

/**
 * How a node stands: its tunnel, and its peers' vote. The rule is core/store/node-standing.ts's
 * (nodeStanding), written again here because browser code cannot import core/store.
 * @param {import('./types.js').EdgeNode} n
 * @returns {'connected' | 'connected, peers vote unhealthy' | 'disconnected, peers vote healthy' | 'down' | 'disconnected'}
 */
export function nodeStanding(n) {
  const verdict = n.status?.health?.verdict;
  if (n.status?.connected === true) return verdict === 'unhealthy' ? 'connected, peers vote unhealthy' : 'connected';
  return verdict === 'healthy' ? 'disconnected, peers vote healthy' : verdict === 'unhealthy' ? 'down' : 'disconnected';
}

/**
 * The site in a phrase (core/store/node-standing.ts's siteStanding): cut off with its nodes healthy, or with nodes down.
 * @param {import('./types.js').Site} site
 * @param {import('./types.js').EdgeNode[]} nodes
 */
export function siteStanding(site, nodes) {
  const mine = nodes.filter((n) => n.spec?.site === site.metadata.name);
  const down = mine.filter((n) => n.status?.health?.verdict === 'unhealthy').map((n) => n.metadata.name);
  const voted = mine.filter((n) => n.status?.health !== undefined);
  const phase = site.status?.phase ?? 'Pending';
  if (phase === 'Online') return down.length > 0 ? `online, node down: ${down.join(', ')}` : 'online';
  if (phase !== 'Offline') return 'never connected';
  if (down.length > 0) return `site disconnected, node down: ${down.join(', ')}`;
  if (voted.length > 0 && voted.length === mine.length && voted.every((n) => n.status?.health?.verdict === 'healthy')) return 'site disconnected, nodes healthy';
  return 'site disconnected';
}

/**
 * Where an Addon runs (core/store's runsAsGrid and siteRunsAddon: the annotation
 * `grid.edgeadm.io/runs-as-grid`): `grids` when a hub on Kubernetes runs it whole as grids
 * (`"true"`), `grids and site agent` when the site agents also run its site half
 * (`"with-site"`), otherwise `site agent`.
 * @param {import('./types.js').Addon} addon
 * @returns {'grids' | 'grids and site agent' | 'site agent'}
 */
export function addonRunsIn(addon) {
  const mark = addon.metadata.annotations?.['grid.edgeadm.io/runs-as-grid'];
  return mark === 'true' ? 'grids' : mark === 'with-site' ? 'grids and site agent' : 'site agent';
}

/**
 * Sites an addon applies to: those with a status entry or named in spec.sites.
 * @param {import('./types.js').Addon} addon
 */
export function addonSites(addon) {
  const s = new Set(Object.keys(addon.status?.sites ?? {}));
  for (const name of addon.spec?.sites ?? []) s.add(name);
  return [...s].sort();
}

/**
 * Whether an Addon's spec targets a site: listed by name, or its labels match the selector (`{}` matches
 * every site). The rule is core/store/addons.ts's (addonTargets), written again here because browser code
 * cannot import core/store.
 * @param {{ sites?: string[], siteSelector?: unknown }} spec
 * @param {Site} site
 */
export function addonTargetsSite(spec, site) {
  if (spec.sites?.includes(site.metadata.name)) return true;
  const sel = spec.siteSelector;
  if (sel === null || typeof sel !== 'object') return false;
  const labels = site.metadata.labels ?? {};
  return Object.entries(sel).every(([k, v]) => labels[k] === v);
}

/**
 * The site's agent processes as they last reported: resident memory and CPU (% of a core since each's
 * previous report), summed over the site's agents, with one line per agent for a title.
 * @param {Site} site
 * @returns {{ text: string, detail: string } | undefined}
 */
export function agentProcesses(site) {
  const agents = Object.entries(site.status?.agents ?? {}).filter(([, a]) => a.process !== undefined);
  if (agents.length === 0) return undefined;
  const mib = (/** @type {number} */ b) => `${Math.round(b / 1048576)} MiB`;
  const one = (/** @type {{ rssBytes: number, cpuPercent: number }} */ p) => `${mib(p.rssBytes)}, ${p.cpuPercent}% CPU`;
  const rss = agents.reduce((n, [, a]) => n + (a.process?.rssBytes ?? 0), 0);
  const cpu = Math.round(agents.reduce((n, [, a]) => n + (a.process?.cpuPercent ?? 0), 0) * 10) / 10;
  return {
    text: `${mib(rss)}, ${cpu}% CPU`,
    detail: agents.map(([key, a]) => `${key}: ${one(/** @type {{ rssBytes: number, cpuPercent: number }} */ (a.process))}`).join('\n'),
  };
}

/**
 * @param {Site} site
 * @returns {{ word: 'healthy' | 'degraded' | 'offline', reason: string }}
 */
export function siteHealth(site) {
  const phase = site.status?.phase;
  if (phase === 'Offline') return { word: 'offline', reason: site.status?.message ?? '' };
  const name = site.metadata.name;
  /** @type {string[]} */
  const reasons = [];
  if (phase !== 'Online') reasons.push('not connected yet');
  // What the site's agent itself reports: a store that cannot write (a full disk), a stream the hub found already used.
  for (const a of Object.values(site.status?.agents ?? {})) for (const p of a.health?.problems ?? []) reasons.push(`${p.component}: ${p.message}`);
  let down = 0;
  let unknown = 0;
  for (const d of siteMembers(name).devices) {
    const st = deviceState(d).word;
    if (st === 'DOWN') down++;
    else if (st !== 'UP') unknown++;
  }
  let failed = 0;
  let notReady = 0;
  for (const a of list('Addon')) {
    if (!addonSites(a).includes(name)) continue;
    const t = addonInstanceStanding(a.status?.sites?.[name]?.state);
    if (t === 'running') continue;
    if (t === 'failed') failed++;
    else notReady++;
  }
  if (down) reasons.push(`${plural(down, 'device')} down`);
  if (unknown) reasons.push(`${plural(unknown, 'device')} unknown`);
  if (failed) reasons.push(`${plural(failed, 'addon')} failed`);
  if (notReady) reasons.push(`${plural(notReady, 'addon')} not ready`);
  return reasons.length === 0 ? { word: 'healthy', reason: '' } : { word: 'degraded', reason: reasons.join(', ') };
}

/** @param {import('./types.js').PendingDevice} p */
export const pendingPhase = (p) => p.status?.phase ?? 'Pending';
