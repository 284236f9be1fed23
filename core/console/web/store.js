/**
 * Live data lives here, outside Preact state: the resource cache fed by the
 * watch stream and the latest readings plus short numeric histories fed by
 * the telemetry stream. Stream handlers only mutate this module and call
 * notify(); one scheduler wakes the subscribers at most every FLUSH_MS.
 */

/** @typedef {import('./types.js').Kind} Kind */
/** @typedef {import('./types.js').KindMap} KindMap */
/** @typedef {import('./types.js').Reading} Reading */
/** @typedef {import('./types.js').Obj<unknown, unknown>} AnyObj */

export const RING_SIZE = 600;
const FLUSH_MS = 300;

const NUMERIC_TYPES = new Set(['Uint8', 'Uint16', 'Uint32', 'Uint64', 'Int8', 'Int16', 'Int32', 'Int64', 'Float32', 'Float64']);

/** @param {string | undefined} valueType */
export const isNumericType = (valueType) => valueType !== undefined && NUMERIC_TYPES.has(valueType);

/**
 * Latest reading of one (device, resource) and, for numeric values, a ring
 * buffer of (time in ms, value).
 * @typedef {object} Series
 * @property {Reading} latest
 * @property {Float64Array | null} t
 * @property {Float64Array | null} v
 * @property {number} start index of the oldest point
 * @property {number} len
 * @property {number} rev bumped on every change
 */

/**
 * @typedef {object} DeviceLive
 * @property {Map<string, Series>} series by resource name, in first-seen order
 * @property {number} lastOrigin newest origin (ns) of a reading that is not bad: when the device last answered
 * @property {number} rev bumped on every change to any of its series
 */

/** @type {Map<Kind, Map<string, AnyObj>>} */
let cache = new Map();
/**
 * A (re)connect's snapshot is collected here and replaces the cache at
 * `synced`, so a reconnect never shows a half-empty console.
 * @type {Map<Kind, Map<string, AnyObj>> | null}
 */
let staging = null;
/** @type {Map<string, DeviceLive>} */
const live = new Map();

export const state = {
  /** Bumped whenever any cached resource changes; memo key for derived lists. */
  resRev: 0,
  /** Bumped on every flush; components re-render with it. */
  version: 0,
  /** The watch stream delivered its first complete snapshot. */
  synced: false,
  watchOpen: false,
  telemetryOpen: false,
  /** Wall clock (ms) at the last flush, so relative times share one "now". */
  now: Date.now(),
};

/** @type {Set<() => void>} */
const listeners = new Set();
let pending = false;
let lastFlush = 0;

function flush() {
  pending = false;
  lastFlush = performance.now();
  state.now = Date.now();
  state.version++;
  for (const fn of listeners) fn();
}

/** Schedules one coalesced wake-up of all subscribers. */
export function notify() {
  if (pending) return;
  pending = true;
  const wait = Math.max(0, FLUSH_MS - (performance.now() - lastFlush));
  setTimeout(() => {
    // A hidden tab gets no animation frames; flush directly so state never stalls.
    if (document.hidden) flush();
    else requestAnimationFrame(flush);
  }, wait);
}

/**
 * @param {() => void} fn
 * @returns {() => void} unsubscribe
 */
export function subscribe(fn) {
  listeners.add(fn);
  return () => {
    listeners.delete(fn);
  };
}

// Relative times ("12 s ago") advance through the same scheduler.
setInterval(notify, 1000);

/** @type {Map<Kind, { rev: number, items: AnyObj[] }>} */
const sorted = new Map();

/**
 * All cached objects of a kind, sorted by name; the array is reused until the cache changes.
 * @template {Kind} K
 * @param {K} kind
 * @returns {KindMap[K][]}
 */
export function list(kind) {
  const hit = sorted.get(kind);
  if (hit && hit.rev === state.resRev) return /** @type {KindMap[K][]} */ (hit.items);
  const items = [...(cache.get(kind)?.values() ?? [])].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  sorted.set(kind, { rev: state.resRev, items });
  return /** @type {KindMap[K][]} */ (items);
}

/**
 * @template {Kind} K
 * @param {K} kind
 * @param {string} name
 * @returns {KindMap[K] | undefined}
 */
export function getObj(kind, name) {
  return /** @type {KindMap[K] | undefined} */ (cache.get(kind)?.get(name));
}

/** A watch reset: every cached object is dropped once the new snapshot is complete. */
export function resetResources() {
  staging = new Map();
}

/**
 * @param {'ADDED' | 'MODIFIED' | 'DELETED'} type
 * @param {AnyObj} obj
 */
export function applyResource(type, obj) {
  const kind = /** @type {Kind} */ (obj.kind);
  const name = obj?.metadata?.name;
  if (typeof name !== 'string') return;
  const target = staging ?? cache;
  let byName = target.get(kind);
  if (!byName) {
    byName = new Map();
    target.set(kind, byName);
  }
  if (type === 'DELETED') byName.delete(name);
  else byName.set(name, obj);
  if (staging) return;
  if (type === 'DELETED' && kind === 'Device') live.delete(name);
  state.resRev++;
  notify();
}

export function markSynced() {
  if (staging) {
    cache = staging;
    staging = null;
    const devices = cache.get('Device');
    for (const name of live.keys()) if (!devices?.has(name)) live.delete(name);
    state.resRev++;
  }
  state.synced = true;
  notify();
}

/**
 * @param {'watch' | 'telemetry'} stream
 * @param {boolean} open
 */
export function setStreamOpen(stream, open) {
  if (stream === 'watch') state.watchOpen = open;
  else state.telemetryOpen = open;
  notify();
}

/**
 * A reading's value as a plottable number, or NaN.
 * 64-bit integers may arrive as decimal strings.
 * @param {unknown} value
 */
export function numericValue(value) {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : NaN;
  }
  return NaN;
}

/** @param {string} device */
function deviceLive(device) {
  let d = live.get(device);
  if (!d) {
    d = { series: new Map(), lastOrigin: 0, rev: 0 };
    live.set(device, d);
  }
  return d;
}

/**
 * @param {Series} s
 * @param {number} tMs
 * @param {number} v
 */
function push(s, tMs, v) {
  if (!s.t || !s.v) return;
  if (s.len > 0) {
    const lastT = s.t[(s.start + s.len - 1) % RING_SIZE];
    if (tMs <= lastT) return; // late or repeated point; the chart stays monotonic
  }
  if (s.len < RING_SIZE) {
    const i = (s.start + s.len) % RING_SIZE;
    s.t[i] = tMs;
    s.v[i] = v;
    s.len++;
  } else {
    s.t[s.start] = tMs;
    s.v[s.start] = v;
    s.start = (s.start + 1) % RING_SIZE;
  }
}

/**
 * Adds live readings (in stream order).
 * @param {Reading[]} readings
 */
export function ingest(readings) {
  for (const r of readings) {
    if (!r || typeof r.device !== 'string' || typeof r.resource !== 'string' || typeof r.origin !== 'number') continue;
    const d = deviceLive(r.device);
    let s = d.series.get(r.resource);
    const numeric = isNumericType(r.valueType) || (r.valueType === undefined && typeof r.value === 'number');
    if (!s) {
      s = { latest: r, t: null, v: null, start: 0, len: 0, rev: 0 };
      d.series.set(r.resource, s);
    }
    if (numeric && !s.t) {
      s.t = new Float64Array(RING_SIZE);
      s.v = new Float64Array(RING_SIZE);
    }
    if (r.origin >= s.latest.origin) s.latest = r;
    if (numeric) {
      const n = numericValue(r.value);
      if (!Number.isNaN(n)) push(s, r.origin / 1e6, n);
    }
    s.rev++;
    d.rev++;
    if (r.origin > d.lastOrigin && r.quality !== 'bad') d.lastOrigin = r.origin;
  }
  if (readings.length > 0) notify();
}

/**
 * Merges older history (any order) in front of what the live stream already delivered.
 * @param {string} device
 * @param {Reading[]} readings
 */
export function backfill(device, readings) {
  /** @type {Map<string, Reading[]>} */
  const byResource = new Map();
  for (const r of readings) {
    if (r.device !== device || typeof r.origin !== 'number') continue;
    const arr = byResource.get(r.resource);
    if (arr) arr.push(r);
    else byResource.set(r.resource, [r]);
  }
  for (const [resource, rs] of byResource) {
    rs.sort((a, b) => a.origin - b.origin);
    const d = deviceLive(device);
    const s = d.series.get(resource);
    if (!s) {
      ingest(rs);
      continue;
    }
    if (!s.t || !s.v) continue;
    const firstT = s.len > 0 ? s.t[s.start] : Infinity;
    /** @type {number[]} */
    const ts = [];
    /** @type {number[]} */
    const vs = [];
    for (const r of rs) {
      const tMs = r.origin / 1e6;
      const n = numericValue(r.value);
      if (tMs < firstT && !Number.isNaN(n) && (ts.length === 0 || tMs > ts[ts.length - 1])) {
        ts.push(tMs);
        vs.push(n);
      }
    }
    for (let i = 0; i < s.len; i++) {
      const j = (s.start + i) % RING_SIZE;
      ts.push(s.t[j]);
      vs.push(s.v[j]);
    }
    const from = Math.max(0, ts.length - RING_SIZE);
    s.start = 0;
    s.len = ts.length - from;
    s.t.set(ts.slice(from));
    s.v.set(vs.slice(from));
    const newest = rs[rs.length - 1];
    if (newest.origin > s.latest.origin) s.latest = newest;
    for (const r of rs) if (r.origin > d.lastOrigin && r.quality !== 'bad') d.lastOrigin = r.origin;
    s.rev++;
    d.rev++;
  }
  notify();
}

/**
 * @param {string} device
 * @returns {DeviceLive | undefined}
 */
export const deviceData = (device) => live.get(device);

/**
 * The points of a series within the last windowMs, oldest first, as [seconds, values].
 * @param {Series} s
 * @param {number} windowMs
 * @param {number} nowMs
 * @returns {[Float64Array, Float64Array]}
 */
export function recent(s, windowMs, nowMs) {
  if (!s.t || !s.v || s.len === 0) return [new Float64Array(0), new Float64Array(0)];
  const cutoff = nowMs - windowMs;
  let skip = 0;
  while (skip < s.len && s.t[(s.start + skip) % RING_SIZE] < cutoff) skip++;
  const n = s.len - skip;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = (s.start + skip + i) % RING_SIZE;
    xs[i] = s.t[j] / 1000;
    ys[i] = s.v[j];
  }
  return [xs, ys];
}

/** Forgets everything (logout). */
export function clearAll() {
  cache = new Map();
  staging = null;
  live.clear();
  sorted.clear();
  state.resRev++;
  state.synced = false;
  state.watchOpen = false;
  state.telemetryOpen = false;
  notify();
}
