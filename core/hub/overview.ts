/**
 * What needs an operator's attention, computed at the hub from the resource
 * store (`GET /api/v1/overview`, the console's home page): counts, then the
 * first items of each problem list with its total.
 *
 * Devices are the many (tens of thousands): listing and parsing them all on
 * every call would cost hundreds of milliseconds, so `DeviceIndex` keeps the
 * few fields the rules read (site, reported state, message, last seen) in
 * memory, filled by one list and kept current by a watch of kind Device. It
 * starts at the first call and follows the store until the hub closes; when
 * its watch ends (a store error such as 410 Gone), the next call lists again.
 * Sites, Nodes, Addons and PendingDevices are few and read per call.
 *
 * The rules are the store's own (core/store/standing.ts, node-standing.ts),
 * and Addons are read as the hub serves them (`addonStatusViewOf`: conflicts,
 * offline sites, older generations), so the overview says what every other
 * view of the API says.
 */
import {
  addonInstanceStanding,
  deviceStanding,
  nodeStanding,
  type AddonObject,
  type DeviceObject,
  type NodeObject,
  type PendingDeviceObject,
  type ResourceStore,
  type SiteObject,
} from '../store/index.ts';
import type { Logger } from '../kernel/index.ts';
import type { Overview } from './api-types.ts';
import { addonStatusViewOf } from './routes/addon-status.ts';

/** What the overview keeps of one Device. */
interface DeviceEntry {
  site: string;
  status: { operatingState?: string; message?: string; lastSeen?: string };
}

const entryOf = (d: DeviceObject): DeviceEntry => ({
  site: d.spec.site,
  status: { operatingState: d.status?.operatingState, message: d.status?.message, lastSeen: d.status?.lastSeen },
});

const revisionOf = (obj: { metadata: { resourceVersion?: string } }): bigint => BigInt(obj.metadata.resourceVersion ?? '0');

/** Every Device's site and reported state, in memory, following the store. */
export class DeviceIndex {
  readonly #store: ResourceStore;
  readonly #logger: Logger;
  readonly #ac = new AbortController();
  #devices = new Map<string, DeviceEntry>();
  /** Settles once the list is in; undefined before the first call and after the watch ended. */
  #ready: Promise<void> | undefined;

  constructor(store: ResourceStore, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** The devices by name, current as of the last event the watch delivered. */
  async devices(): Promise<ReadonlyMap<string, DeviceEntry>> {
    if (this.#ac.signal.aborted) throw new Error('the device index is closed');
    this.#ready ??= this.#start();
    const ready = this.#ready;
    try {
      await ready;
    } catch (err) {
      if (this.#ready === ready) this.#ready = undefined;
      throw err;
    }
    return this.#devices;
  }

  close(): void {
    this.#ac.abort();
  }

  async #start(): Promise<void> {
    // Read before the list: every change after it is either in the list or delivered by the watch.
    const from = await this.#store.currentResourceVersion();
    const list = await this.#store.list<DeviceObject>('Device');
    const listed = BigInt(list.resourceVersion);
    this.#devices = new Map(list.items.map((d) => [d.metadata.name, entryOf(d)]));
    const started = this.#ready;
    void this.#follow(from, listed).finally(() => {
      // The watch is over: the next call lists again.
      if (this.#ready === started) this.#ready = undefined;
    });
  }

  async #follow(from: string, listed: bigint): Promise<void> {
    try {
      for await (const ev of this.#store.watch({ resourceVersion: from, kinds: ['Device'], signal: this.#ac.signal })) {
        if (ev.type === 'BOOKMARK' || revisionOf(ev.object) <= listed) continue;
        const d = ev.object as DeviceObject;
        if (ev.type === 'DELETED') this.#devices.delete(d.metadata.name);
        else this.#devices.set(d.metadata.name, entryOf(d));
      }
    } catch (err) {
      if (!this.#ac.signal.aborted) this.#logger.info({ err }, 'overview device watch ended; the next overview lists again');
    }
  }
}

type Page<T> = { total: number; items: T[] };

/** Keeps the first `limit` items after sorting with `cmp`, and how many there were. */
function page<T>(all: T[], cmp: (a: T, b: T) => number, limit: number): Page<T> {
  return { total: all.length, items: all.sort(cmp).slice(0, limit) };
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
/** Oldest first; no time at all first of all (it has been so for longer than anyone knows). */
const byTime = (a: string | undefined, b: string | undefined): number => (Date.parse(a ?? '') || 0) - (Date.parse(b ?? '') || 0);

const opt = <K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } => (v === undefined || v === '' ? {} : ({ [key]: v } as { [P in K]?: V }));

/** The overview as of now: counts, then each problem list's first `limit` items, most telling first. */
export async function computeOverview(store: ResourceStore, index: DeviceIndex, limit: number, now: () => Date = () => new Date()): Promise<Overview> {
  const [sites, nodes, addons, pending, devices] = await Promise.all([
    store.list<SiteObject>('Site'),
    store.list<NodeObject>('Node'),
    store.list<AddonObject>('Addon'),
    store.list<PendingDeviceObject>('PendingDevice'),
    index.devices(),
  ]);
  const view = addonStatusViewOf(sites, addons);
  const siteByName = new Map(sites.items.map((s) => [s.metadata.name, s]));

  const counts: Overview['counts'] = {
    sites: { total: sites.items.length, online: 0, offline: 0, neverConnected: 0 },
    nodes: { total: nodes.items.length, connected: 0, unhealthy: 0 },
    devices: { total: devices.size, up: 0, down: 0, unknown: 0 },
    addonInstances: { total: 0, running: 0, failed: 0, notReady: 0 },
    pendingDevices: 0,
  };

  const sitesOffline: Overview['sitesOffline']['items'] = [];
  const agentProblems: Overview['agentProblems']['items'] = [];
  for (const s of sites.items) {
    const phase = s.status?.phase ?? 'Pending';
    if (phase === 'Online') counts.sites.online++;
    else if (phase === 'Offline') {
      counts.sites.offline++;
      sitesOffline.push({ name: s.metadata.name, ...opt('since', s.status?.lastSeen), ...opt('message', s.status?.message) });
    } else counts.sites.neverConnected++;
    for (const [agent, a] of Object.entries(s.status?.agents ?? {})) {
      for (const p of a.health?.problems ?? []) {
        agentProblems.push({ site: s.metadata.name, agent, component: p.component, code: p.code, message: p.message, since: p.since });
      }
    }
  }

  const nodesUnhealthy: Overview['nodesUnhealthy']['items'] = [];
  for (const n of nodes.items) {
    if (n.status?.connected === true) counts.nodes.connected++;
    const h = n.status?.health;
    if (h?.verdict !== 'unhealthy') continue;
    counts.nodes.unhealthy++;
    nodesUnhealthy.push({ name: n.metadata.name, site: n.spec.site, standing: nodeStanding(n), since: h.since, cons: h.cons, expected: h.expected });
  }

  const devicesDown: Overview['devicesDown']['items'] = [];
  for (const [name, d] of devices) {
    const st = deviceStanding(d, siteByName.get(d.site));
    if (st.word === 'UP') counts.devices.up++;
    else if (st.word === 'DOWN') {
      counts.devices.down++;
      devicesDown.push({ name, site: d.site, reason: st.reason, ...opt('lastSeen', d.status.lastSeen) });
    } else counts.devices.unknown++;
  }

  const addonsFailed: Overview['addonsFailed']['items'] = [];
  for (const raw of addons.items) {
    const a = view(raw) as AddonObject;
    const entries = a.status?.sites ?? {};
    // Sites the Addon names but that have not reported are instances too: not ready yet.
    const at = new Set([...Object.keys(entries), ...(a.spec.sites ?? [])]);
    for (const site of at) {
      const e = entries[site];
      counts.addonInstances.total++;
      const st = addonInstanceStanding(e?.state);
      if (st === 'running') counts.addonInstances.running++;
      else if (st === 'not ready') counts.addonInstances.notReady++;
      else {
        counts.addonInstances.failed++;
        addonsFailed.push({ addon: a.metadata.name, site, state: e!.state, ...opt('code', e!.code), ...opt('message', e!.message) });
      }
    }
  }

  const pendingDevices: Overview['pendingDevices']['items'] = [];
  for (const p of pending.items) {
    if ((p.status?.phase ?? 'Pending') !== 'Pending') continue;
    counts.pendingDevices++;
    pendingDevices.push({ name: p.metadata.name, site: p.spec.site, firstSeen: p.spec.firstSeen, ...opt('suggestedName', p.spec.suggestedName) });
  }

  return {
    generatedAt: now().toISOString(),
    limit,
    counts,
    // Longest cut off, longest voted down, oldest problem, oldest waiting first; devices and addons by name.
    sitesOffline: page(sitesOffline, (a, b) => byTime(a.since, b.since) || byText(a.name, b.name), limit),
    nodesUnhealthy: page(nodesUnhealthy, (a, b) => byTime(a.since, b.since) || byText(a.name, b.name), limit),
    agentProblems: page(agentProblems, (a, b) => byTime(a.since, b.since) || byText(a.site, b.site) || byText(a.agent, b.agent) || byText(a.component, b.component), limit),
    devicesDown: page(devicesDown, (a, b) => byText(a.name, b.name), limit),
    addonsFailed: page(addonsFailed, (a, b) => byText(a.addon, b.addon) || byText(a.site, b.site), limit),
    pendingDevices: page(pendingDevices, (a, b) => byTime(a.firstSeen, b.firstSeen) || byText(a.name, b.name), limit),
  };
}
