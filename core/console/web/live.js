import { get, loadSession } from './api.js';
import { applyResource, backfill, clearAll, ingest, markSynced, resetResources, setStreamOpen } from './store.js';

/** @typedef {import('./types.js').Reading} Reading */
/** @typedef {import('./types.js').LatestReadings} LatestReadings */

const WATCH_URL = '/api/v1/watch?kinds=Site,Node,Device,DeviceProfile,Addon,PendingDevice';
const TELEMETRY_URL = '/api/v1/telemetry/stream';
const MAX_BACKOFF_MS = 30_000;

/**
 * @typedef {object} Stream
 * @property {EventSource | null} es
 * @property {ReturnType<typeof setTimeout> | null} retry
 * @property {number} backoff
 */

/** @type {{ watch: Stream, telemetry: Stream }} */
const streams = {
  watch: { es: null, retry: null, backoff: 1000 },
  telemetry: { es: null, retry: null, backoff: 1000 },
};
let running = false;
/** @type {() => void} */
let ended = () => {};
/**
 * What the streams wait for before they open (holdLive), so a page's own
 * first call is not queued behind the watch snapshot at the hub nor its
 * parsing in the browser.
 * @type {Promise<unknown> | null}
 */
let held = null;
/** The longest a hold keeps the streams closed (ms). */
const MAX_HOLD_MS = 3000;

/** @param {MessageEvent} ev */
function parse(ev) {
  try {
    return /** @type {unknown} */ (JSON.parse(ev.data));
  } catch {
    return null;
  }
}

/**
 * The browser gives up on a stream answered with an error status (401 among
 * them) and hides the status. Ask the session endpoint: no session ends the
 * console; otherwise reconnect with backoff.
 * @param {'watch' | 'telemetry'} which
 */
async function recover(which) {
  const s = streams[which];
  try {
    const session = await loadSession();
    if (!session) {
      if (running) ended();
      return;
    }
  } catch {
    // Hub unreachable: keep retrying below.
  }
  if (!running || s.retry) return;
  s.retry = setTimeout(() => {
    s.retry = null;
    if (running) open(which);
  }, s.backoff);
  s.backoff = Math.min(MAX_BACKOFF_MS, s.backoff * 2);
}

/** @param {'watch' | 'telemetry'} which */
function open(which) {
  const s = streams[which];
  s.es?.close();
  const es = new EventSource(which === 'watch' ? WATCH_URL : TELEMETRY_URL);
  s.es = es;
  es.addEventListener('open', () => {
    s.backoff = 1000;
    setStreamOpen(which, true);
  });
  es.addEventListener('error', () => {
    setStreamOpen(which, false);
    if (es.readyState === EventSource.CLOSED && s.es === es) void recover(which);
  });
  if (which === 'watch') {
    es.addEventListener('reset', () => resetResources());
    es.addEventListener('resource', (ev) => {
      const data = /** @type {{ type?: unknown, object?: unknown } | null} */ (parse(/** @type {MessageEvent} */ (ev)));
      if (!data || typeof data.object !== 'object' || data.object === null) return;
      if (data.type !== 'ADDED' && data.type !== 'MODIFIED' && data.type !== 'DELETED') return;
      applyResource(data.type, /** @type {import('./store.js').AnyObj} */ (data.object));
    });
    es.addEventListener('synced', () => markSynced());
  } else {
    es.addEventListener('readings', (ev) => {
      const data = parse(/** @type {MessageEvent} */ (ev));
      if (Array.isArray(data)) ingest(/** @type {Reading[]} */ (data));
    });
  }
}

/**
 * The newest value of every device resource, so devices that report rarely
 * show a value at once rather than at their next reading. Best effort: the
 * live stream fills in whatever this misses.
 */
async function seedLatest() {
  try {
    const page = /** @type {Partial<LatestReadings> | null} */ (await get('/api/v1/telemetry/latest'));
    /** @type {Map<string, Reading[]>} */
    const byDevice = new Map();
    for (const r of page?.items ?? []) {
      const list = byDevice.get(r.device);
      if (list) list.push(r);
      else byDevice.set(r.device, [r]);
    }
    if (!running) return;
    for (const [device, readings] of byDevice) backfill(device, readings);
  } catch {
    // Shown at the next reading instead.
  }
}

/**
 * Keeps the streams of the next startLive closed until `until` settles (at
 * most MAX_HOLD_MS): the home page paints from one small call first, and
 * with tens of thousands of devices the watch snapshot would otherwise
 * compete with it. No effect once the streams run.
 * @param {Promise<unknown>} until
 */
export function holdLive(until) {
  if (!running) held = until;
}

/**
 * Opens both streams (after a hold, when one was asked for).
 * @param {() => void} onEnded called when the session is gone
 */
export function startLive(onEnded) {
  ended = onEnded;
  if (running) return;
  running = true;
  const go = () => {
    if (!running || streams.watch.es) return;
    open('watch');
    open('telemetry');
    void seedLatest();
  };
  const hold = held;
  held = null;
  if (!hold) return go();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  void Promise.race([hold.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, MAX_HOLD_MS)))]).then(() => {
    clearTimeout(timer);
    go();
  });
}

/** Closes both streams and forgets all live data. */
export function stopLive() {
  running = false;
  held = null;
  for (const s of Object.values(streams)) {
    s.es?.close();
    s.es = null;
    if (s.retry) clearTimeout(s.retry);
    s.retry = null;
    s.backoff = 1000;
  }
  clearAll();
}
