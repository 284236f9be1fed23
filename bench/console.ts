/**
 * console: does the web console keep up with hundreds of devices updating
 * every second? An in-process hub holds 500 devices of one 4-resource profile
 * on two sites; a feeder ingests one reading per (device, resource) per
 * second, in ten batches spread over the second as site agents would. Headless
 * Chromium shows the console's device table (`#/devices`) and, shorter, one
 * device's charts; inside the page we measure main-thread busy time, long
 * tasks, animation frames, how old the shown values are, and the JS heap.
 * Peer: a bare page on the same origin that only consumes the same telemetry
 * stream (EventSource + JSON.parse), the floor cost of receiving it.
 *
 * home: the home page with 1,000 sites and 50,000 devices in the hub's store
 * (some sites offline, devices down, addon instances failed, devices pending,
 * nodes voted unhealthy, full disks): navigation to first useful paint
 * (median of fresh pages of a logged-in browser), the hub API calls each page
 * made (by the browser's own request timing), and `GET /api/v1/overview`
 * alone. `BENCH_CONSOLE_PARTS=live,home` picks the parts;
 * `BENCH_CONSOLE_HOME_SITES`, `_DEVICES`, `_RUNS` size the home case.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, CDPSession, Page, Request as PwRequest } from 'playwright-core';
import { createConsole } from '../core/console/index.ts';
import { startHub, type Hub, type Overview } from '../core/hub/index.ts';
import { createLogger } from '../core/kernel/index.ts';
import { nowOrigin, type Reading } from '../core/sdk/index.ts';
import { API_VERSION } from '../core/store/index.ts';
import { launchChromium } from '../test/support/browser.ts';
import { api, envInt, medianMs, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const DEVICES = 500;
const SITES = ['plant-a', 'plant-b'] as const;
const PROFILE = 'bench-meter';
const RESOURCES = [
  { name: 'temperature', units: '°C', base: 45, amplitude: 12, periodS: 60 },
  { name: 'pressure', units: 'kPa', base: 310, amplitude: 25, periodS: 90 },
  { name: 'flow', units: 'm3/h', base: 18, amplitude: 6, periodS: 45 },
  { name: 'power', units: 'kW', base: 7.5, amplitude: 3, periodS: 30 },
] as const;
/** Each device is read once a second; the second is split into this many batches. */
const BATCHES_PER_SECOND = 10;
const WARMUP_MS = 5_000;
const WINDOW_MS = 20_000;
const DETAIL_SETTLE_MS = 3_000;
const DETAIL_WINDOW_MS = 10_000;
const SAMPLE_ROWS = 20;
const SAMPLE_EVERY_MS = 200;
const VIEWPORT = { width: 1366, height: 800 };

// The home page case.
const HOME_SITES = envInt('BENCH_CONSOLE_HOME_SITES', 1000);
const HOME_DEVICES = envInt('BENCH_CONSOLE_HOME_DEVICES', 50_000);
const HOME_RUNS = envInt('BENCH_CONSOLE_HOME_RUNS', 7);
/** What the fleet has wrong: sites cut off, devices down, failed addon instances, devices waiting, nodes voted down, full disks. */
const HOME_OFFLINE_SITES = 20;
const HOME_DOWN_DEVICES = 250;
const HOME_FAILED_INSTANCES = 12;
const HOME_PENDING = 40;
const HOME_UNHEALTHY_NODES = 6;
const HOME_AGENT_PROBLEMS = 3;
const HOME_ADDONS = ['modbus', 'mqtt', 'opcua', 'simulator'] as const;
/** How long after the first paint the page's further API calls are still counted. */
const HOME_AFTER_MS = 3000;

interface PerfEntry {
  startTime: number;
  duration: number;
}

/** The browser globals the in-page code uses: this program is type-checked without the DOM library. */
interface BrowserGlobals {
  document: { querySelectorAll(selector: string): ArrayLike<{ getAttribute(name: string): string | null }> };
  location: { hash: string };
  requestAnimationFrame(cb: () => void): number;
  PerformanceObserver: new (cb: (list: { getEntries(): PerfEntry[] }) => void) => {
    observe(o: { type: string; buffered: boolean }): void;
    takeRecords(): PerfEntry[];
    disconnect(): void;
  };
  EventSource: new (url: string) => {
    addEventListener(type: string, fn: (ev: { data: string }) => void, opts?: { once: boolean }): void;
  };
}

const deviceName = (i: number): string => `meter-${String(i).padStart(3, '0')}`;
const siteOf = (i: number): string => SITES[i % SITES.length]!;
const log = (msg: string): void => {
  process.stderr.write(`console: ${msg}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function populate(hub: Hub): Promise<void> {
  const apiVersion = API_VERSION;
  for (const site of SITES) await hub.store.apply({ apiVersion, kind: 'Site', metadata: { name: site }, spec: { displayName: `Bench ${site}` } });
  await hub.store.apply({
    apiVersion,
    kind: 'DeviceProfile',
    metadata: { name: PROFILE },
    spec: {
      manufacturer: 'Bench',
      model: 'M4',
      deviceResources: RESOURCES.map((r) => ({ name: r.name, properties: { valueType: 'Float64', readWrite: 'R', units: r.units } })),
    },
  });
  const lastSeen = new Date().toISOString();
  for (let i = 0; i < DEVICES; i++) {
    const name = deviceName(i);
    await hub.store.apply({
      apiVersion,
      kind: 'Device',
      metadata: { name },
      spec: {
        site: siteOf(i),
        profile: PROFILE,
        protocols: { 'modbus-tcp': { Address: `10.0.${i >> 8}.${i & 255}`, Port: '502', UnitID: '1' } },
      },
    });
    await hub.store.updateStatus('Device', name, { operatingState: 'UP', lastSeen });
  }
}

interface Feeder {
  /** Readings the hub accepted so far. */
  readonly accepted: number;
  stop(): Promise<void>;
}

/** Ingests one reading per (device, resource) per second, a tenth of the devices every 100 ms, on a drift-free schedule. */
function startFeeder(hub: Hub): Feeder {
  const perBatch = DEVICES / BATCHES_PER_SECOND;
  const seq = new Map<string, number>(SITES.map((s) => [s, 0]));
  const t0 = performance.now();
  let tick = 0;
  let accepted = 0;
  let stopped = false;
  let failure: unknown;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** Whether a step is ingesting now: stop then leaves ending the loop to it. */
  let inFlight = false;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));

  // Never rejects: every failure is kept in `failure`.
  const step = async (): Promise<void> => {
    if (stopped) return done();
    inFlight = true;
    try {
      const slot = tick % BATCHES_PER_SECOND;
      const origin = nowOrigin();
      const seconds = origin / 1e9;
      const bySite = new Map<string, Reading[]>();
      for (let i = slot * perBatch; i < (slot + 1) * perBatch; i++) {
        const site = siteOf(i);
        let batch = bySite.get(site);
        if (!batch) bySite.set(site, (batch = []));
        for (const [k, r] of RESOURCES.entries()) {
          const phase = (i * 0.37 + k) % (2 * Math.PI);
          const value = r.base + r.amplitude * Math.sin((2 * Math.PI * seconds) / r.periodS + phase) + (Math.random() - 0.5) * r.amplitude * 0.1;
          const n = seq.get(site)! + 1;
          seq.set(site, n);
          batch.push({ site, device: deviceName(i), profile: PROFILE, resource: r.name, value: round(value, 3), valueType: 'Float64', units: r.units, origin, quality: 'good', seq: n });
        }
      }
      for (const [site, batch] of bySite) accepted += (await hub.telemetry.ingest({ site, producer: 'token:bench', stream: { id: 'bench-console-feed', lastSeq: seq.get(site)! } }, batch)).accepted;
    } catch (err) {
      failure = err;
      stopped = true;
      return done();
    } finally {
      inFlight = false;
    }
    if (stopped) return done();
    tick++;
    timer = setTimeout(() => void step(), Math.max(0, t0 + tick * (1000 / BATCHES_PER_SECOND) - performance.now()));
  };
  void step();
  return {
    get accepted() {
      if (failure) throw new Error('bench: the feeder failed to ingest readings', { cause: failure });
      return accepted;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (!inFlight) done();
      await finished;
      if (failure) throw new Error('bench: the feeder failed to ingest readings', { cause: failure });
    },
  };
}

/**
 * Page errors and console errors of one page; any of them fails the
 * benchmark. HTTP error statuses the browser logs on its own (the login
 * page's session probe answered 401, a missing favicon) are only reported.
 */
function watchProblems(page: Page, label: string): string[] {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const where = m.location().url;
    if (m.text().startsWith('Failed to load resource:')) log(`${label}: ${m.text()} (${where})`);
    else problems.push(`${label}: console error: ${m.text()}${where ? ` (${where})` : ''}`);
  });
  page.on('crash', () => problems.push(`${label}: the page crashed`));
  return problems;
}

function checkProblems(problems: readonly string[]): void {
  if (problems.length > 0) throw new Error(`bench: the page reported problems:\n  ${problems.slice(0, 20).join('\n  ')}`);
}

/** What the in-page probes collect, kept on the page's global object between start and stop. */
interface Probe {
  /** performance.now() when the probes started. */
  since: number;
  frames: number;
  longTasks: number[];
  ages: number[];
  rowsWithoutValue: number;
  rowsSampled: number;
  frame: () => void;
  stop: () => void;
}

interface PageSample {
  /** How long the probes ran, ms. */
  at: number;
  frames: number;
  longTasks: number[];
  ages: number[];
  rowsWithoutValue: number;
  rowsSampled: number;
}

interface WindowResult {
  busyPct: number;
  longTasks: number;
  longestMs: number;
  fps: number;
  ages: number[];
  rowsWithoutValue: number;
  rowsSampled: number;
}

/**
 * Installs the in-page probes: a long-task observer, an animation-frame
 * counter and, with `sampleRows`, a sampler of the shown values' age.
 */
async function startProbes(page: Page, sampleRows: boolean): Promise<void> {
  await page.evaluate(
    ({ sampleRows, rows, every }) => {
      const g = globalThis as unknown as BrowserGlobals;
      const since = performance.now();
      // No function is bound to a name or written in an object literal here: tsx keeps such names
      // through a `__name` helper that this page does not have. Assigning to a property names nothing.
      const noop = Function.prototype as () => void;
      const probe: Probe = { since, frames: 0, longTasks: [], ages: [], rowsWithoutValue: 0, rowsSampled: 0, frame: noop, stop: noop };
      const observer = new g.PerformanceObserver((list) => {
        for (const e of list.getEntries()) if (e.startTime >= since) probe.longTasks.push(e.duration);
      });
      observer.observe({ type: 'longtask', buffered: true });
      let running = true;
      probe.frame = () => {
        if (!running) return;
        probe.frames++;
        g.requestAnimationFrame(probe.frame);
      };
      g.requestAnimationFrame(probe.frame);
      let sampler: ReturnType<typeof setInterval> | undefined;
      if (sampleRows) {
        sampler = setInterval(() => {
          // Rows beyond the scrolled window are virtualised away: sample those in the DOM, spread evenly.
          const all = g.document.querySelectorAll('tr[data-testid^="device-"]');
          const n = Math.min(rows, all.length);
          const nowNs = Date.now() * 1e6;
          for (let k = 0; k < n; k++) {
            const row = all[Math.floor((k * all.length) / n)]!;
            const updated = row.getAttribute('data-updated');
            probe.rowsSampled++;
            if (updated === null) probe.rowsWithoutValue++;
            else probe.ages.push((nowNs - Number(updated)) / 1e6);
          }
        }, every);
      }
      probe.stop = () => {
        running = false;
        if (sampler) clearInterval(sampler);
        for (const e of observer.takeRecords()) if (e.startTime >= since) probe.longTasks.push(e.duration);
        observer.disconnect();
      };
      (globalThis as unknown as { __benchProbe: Probe }).__benchProbe = probe;
    },
    { sampleRows, rows: SAMPLE_ROWS, every: SAMPLE_EVERY_MS },
  );
}

async function stopProbes(page: Page): Promise<PageSample> {
  return page.evaluate(() => {
    const probe = (globalThis as unknown as { __benchProbe: Probe }).__benchProbe;
    probe.stop();
    return { at: performance.now() - probe.since, frames: probe.frames, longTasks: probe.longTasks, ages: probe.ages, rowsWithoutValue: probe.rowsWithoutValue, rowsSampled: probe.rowsSampled };
  });
}

async function metrics(cdp: CDPSession): Promise<Map<string, number>> {
  const { metrics: m } = await cdp.send('Performance.getMetrics');
  return new Map(m.map((x) => [x.name, x.value]));
}

/** Runs the probes and CDP counters over one window of `ms`. */
async function measure(page: Page, cdp: CDPSession, ms: number, sampleRows: boolean): Promise<WindowResult> {
  await startProbes(page, sampleRows);
  const before = await metrics(cdp);
  await sleep(ms);
  const after = await metrics(cdp);
  const s = await stopProbes(page);
  const wall = after.get('Timestamp')! - before.get('Timestamp')!;
  const busy = after.get('TaskDuration')! - before.get('TaskDuration')!;
  if (!(wall > 0)) throw new Error('bench: Performance.getMetrics gave no usable Timestamp');
  return {
    busyPct: round((busy / wall) * 100, 1),
    longTasks: s.longTasks.length,
    longestMs: round(Math.max(0, ...s.longTasks), 0),
    fps: round(s.frames / (s.at / 1000), 1),
    ages: s.ages.sort((a, b) => a - b),
    rowsWithoutValue: s.rowsWithoutValue,
    rowsSampled: s.rowsSampled,
  };
}

/** JS heap in use after a full collection, MiB: what the page keeps, not what it has yet to collect. */
async function heapMiB(cdp: CDPSession): Promise<number> {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  return round(usedSize / 2 ** 20, 1);
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error('bench: no shown-value ages were sampled');
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page; cdp: CDPSession }> {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  return { context, page, cdp };
}

const PARTS = ['live', 'home'] as const;
type Part = (typeof PARTS)[number];

/** The parts BENCH_CONSOLE_PARTS asks for (all by default); an unknown name throws, naming the known ones. */
function partsWanted(): Set<Part> {
  const v = process.env.BENCH_CONSOLE_PARTS;
  if (v === undefined || v.trim() === '') return new Set(PARTS);
  const names = v.split(',').map((x) => x.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(PARTS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`bench option BENCH_CONSOLE_PARTS: unknown part ${unknown.map((u) => `'${u}'`).join(', ')} (known: ${PARTS.join(', ')})`);
  return new Set(names as Part[]);
}

const bench: Benchmark = {
  name: 'console',
  description: `the web console in headless Chromium: ${DEVICES} devices × ${RESOURCES.length} resources updating at 1 Hz (peer: a bare EventSource page); the home page's first paint with ${HOME_SITES} sites and ${HOME_DEVICES} devices`,
  async run(): Promise<BenchResult[]> {
    const parts = partsWanted();
    return [...(parts.has('live') ? await liveDevices() : []), ...(parts.has('home') ? await homePage() : [])];
  },
};

/** The device table and one device's charts under a live feed, against a bare page consuming the same stream. */
async function liveDevices(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-console-'));
  let hub: Hub | undefined;
  let browser: Browser | undefined;
  let feeder: Feeder | undefined;
  try {
    hub = await startHub({ dataDir: path.join(dir, 'hub'), port: 0, logger: createLogger({ level: 'warn' }), modules: [createConsole()] });
    const token = readFileSync(hub.adminTokenFile, 'utf8').trim();
    log(`hub at ${hub.url}; applying ${SITES.length} sites, 1 profile, ${DEVICES} devices`);
    await populate(hub);
    browser = await launchChromium();
    feeder = startFeeder(hub);
    const feed = feeder;

    // The console on #/devices, logged in through its own form.
    const subject = await newPage(browser);
    const problems = watchProblems(subject.page, 'console');
    await subject.page.goto(hub.url);
    await subject.page.getByTestId('login-token').fill(token);
    await subject.page.getByTestId('login-submit').click();
    await subject.page.getByTestId('nav-devices').waitFor({ timeout: 15_000 });
    await subject.page.getByTestId('nav-devices').click();
    await subject.page
      .waitForFunction((n) => (globalThis as unknown as BrowserGlobals).document.querySelectorAll('tr[data-testid^="device-"][data-updated]').length >= n, SAMPLE_ROWS, { timeout: 30_000 })
      .catch((err: unknown) => {
        throw new Error(`bench: the console's #/devices never showed ${SAMPLE_ROWS} rows with data-updated (tr[data-testid="device-<name>"])`, { cause: err });
      });
    checkProblems(problems);
    log(`#/devices shows live rows; warming up ${WARMUP_MS / 1000} s, then measuring ${WINDOW_MS / 1000} s`);
    await sleep(WARMUP_MS);
    const fed0 = feed.accepted;
    const t0 = performance.now();
    const devices = await measure(subject.page, subject.cdp, WINDOW_MS, true);
    const feedRate = (feed.accepted - fed0) / ((performance.now() - t0) / 1000);
    const devicesHeap = await heapMiB(subject.cdp);
    checkProblems(problems);

    // One device's page: four uPlot charts fed by history plus the live stream.
    const one = deviceName(0);
    log(`#/devices/${one}: settling ${DETAIL_SETTLE_MS / 1000} s, then measuring ${DETAIL_WINDOW_MS / 1000} s`);
    await subject.page.evaluate((name) => {
      (globalThis as unknown as BrowserGlobals).location.hash = `#/devices/${encodeURIComponent(name)}`;
    }, one);
    await subject.page.getByTestId('device-detail').waitFor({ timeout: 15_000 });
    await subject.page
      .waitForFunction((n) => (globalThis as unknown as BrowserGlobals).document.querySelectorAll('[data-testid^="resource-"] canvas').length >= n, RESOURCES.length, { timeout: 15_000 })
      .catch((err: unknown) => {
        throw new Error(`bench: #/devices/${one} never drew ${RESOURCES.length} charts (canvas inside [data-testid="resource-<name>"])`, { cause: err });
      });
    await sleep(DETAIL_SETTLE_MS);
    const detail = await measure(subject.page, subject.cdp, DETAIL_WINDOW_MS, false);
    checkProblems(problems);
    await subject.context.close();

    // The peer: the same stream into a bare page of the same origin, parsed and counted, nothing drawn.
    const peer = await newPage(browser);
    const peerProblems = watchProblems(peer.page, 'peer');
    await peer.page.goto(`${hub.url}/healthz`);
    await peer.page.evaluate(async (t) => {
      const res = await fetch('/api/v1/console/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: t }) });
      if (!res.ok) throw new Error(`console login: ${res.status} ${await res.text()}`);
      const counter = { readings: 0 };
      (globalThis as unknown as { __benchPeer: typeof counter }).__benchPeer = counter;
      const es = new (globalThis as unknown as BrowserGlobals).EventSource('/api/v1/telemetry/stream');
      es.addEventListener('readings', (ev) => {
        const data = JSON.parse(ev.data) as unknown[];
        counter.readings += data.length;
      });
      await new Promise<void>((resolve, reject) => {
        es.addEventListener('open', () => resolve(), { once: true });
        es.addEventListener('error', () => reject(new Error('the telemetry stream did not open')), { once: true });
      });
    }, token);
    log(`peer page streaming; warming up ${WARMUP_MS / 1000} s, then measuring ${WINDOW_MS / 1000} s`);
    await sleep(WARMUP_MS);
    const readPeer = (): Promise<number> => peer.page.evaluate(() => (globalThis as unknown as { __benchPeer: { readings: number } }).__benchPeer.readings);
    const peer0 = await readPeer();
    const p0 = performance.now();
    const bare = await measure(peer.page, peer.cdp, WINDOW_MS, false);
    const peerRate = ((await readPeer()) - peer0) / ((performance.now() - p0) / 1000);
    const bareHeap = await heapMiB(peer.cdp);
    checkProblems(peerProblems);
    await peer.context.close();

    await feed.stop();
    feeder = undefined;
    const dropped = (await hub.metrics.getSingleMetric('edgeadm_hub_stream_clients_dropped_total')?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;

    const b = 'console';
    const peerName = 'bare EventSource page';
    out.push({ bench: b, metric: `feed: readings/s into the hub (${DEVICES} devices × ${RESOURCES.length} resources, 1 Hz)`, value: Math.round(feedRate), unit: 'readings/s' });
    out.push({ bench: b, metric: 'peer: readings/s received by the bare page', value: Math.round(peerRate), unit: 'readings/s' });
    out.push(versus({ bench: b, metric: 'console #/devices: main thread busy', value: devices.busyPct, unit: '%' }, peerName, bare.busyPct));
    // Counts that are often zero: the peer's figure is shown, a ratio would divide by it.
    out.push({ bench: b, metric: `console #/devices: long tasks (>50 ms) in ${WINDOW_MS / 1000} s`, value: devices.longTasks, unit: 'tasks', peer: peerName, peerValue: bare.longTasks });
    out.push({ bench: b, metric: 'console #/devices: longest task', value: devices.longestMs, unit: 'ms', peer: peerName, peerValue: bare.longestMs });
    out.push(versus({ bench: b, metric: 'console #/devices: frames/s', value: devices.fps, unit: 'frames/s' }, peerName, bare.fps));
    out.push({ bench: b, metric: `console #/devices: shown value age p50 (${devices.ages.length} samples)`, value: round(percentile(devices.ages, 50), 0), unit: 'ms' });
    out.push({ bench: b, metric: 'console #/devices: shown value age p95', value: round(percentile(devices.ages, 95), 0), unit: 'ms', target: '<= 1500' });
    if (devices.rowsWithoutValue > 0) {
      out.push({ bench: b, metric: 'console #/devices: sampled rows showing no value', value: round((devices.rowsWithoutValue / devices.rowsSampled) * 100, 1), unit: '%' });
    }
    out.push(versus({ bench: b, metric: 'console #/devices: JS heap after GC', value: devicesHeap, unit: 'MiB' }, peerName, bareHeap));
    out.push(versus({ bench: b, metric: `console #/devices/${one}: main thread busy`, value: detail.busyPct, unit: '%' }, peerName, bare.busyPct));
    out.push({ bench: b, metric: `console #/devices/${one}: long tasks (>50 ms) in ${DETAIL_WINDOW_MS / 1000} s, longest ${detail.longestMs} ms`, value: detail.longTasks, unit: 'tasks' });
    out.push({ bench: b, metric: `console #/devices/${one}: frames/s`, value: detail.fps, unit: 'frames/s' });
    out.push({ bench: b, metric: 'SSE clients the hub dropped as too slow', value: dropped, unit: 'clients' });
  } finally {
    // Only reached with a feeder still running when the run already failed: that error is the one to report.
    await feeder?.stop().catch(() => {});
    await browser?.close();
    await hub?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export default bench;

// ---------------------------------------------------------------------------
// The home page: first useful paint with a large fleet in the store.

const homeSite = (i: number): string => `site-${String(i).padStart(4, '0')}`;
const homeDevice = (i: number): string => `dev-${String(i).padStart(5, '0')}`;
/** `k` of the indices 0..n-1, spread evenly, shifted by `shift`. */
const spread = (k: number, n: number, shift: number): Set<number> => new Set(Array.from({ length: k }, (_, j) => (Math.floor((j * n) / k) + shift) % n));

/** 1,000 sites (some offline), a node each (some voted down), 50,000 devices (some down), addons on every site (some failed), pending devices. */
async function populateFleet(hub: Hub): Promise<void> {
  const apiVersion = API_VERSION;
  const store = hub.store;
  const now = Date.now();
  const iso = (agoMs: number): string => new Date(now - agoMs).toISOString();
  const report = (problems: { component: string; code: string; message: string; since: string }[]) => ({
    health: { state: problems.length > 0 ? 'degraded' : 'ok', problems },
    telemetry: { stream: 's1', streams: ['s1'], firstSeq: 1, lastSeq: 100, ackedSeq: 100, pending: 0, droppedEver: 0, notStored: problems.length > 0 ? 40 : 0 },
    reportedAt: iso(5_000),
  });
  const sites = Array.from({ length: HOME_SITES }, (_, i) => homeSite(i));
  const offlineSites = spread(HOME_OFFLINE_SITES, HOME_SITES, 7);
  const fullSites = spread(HOME_AGENT_PROBLEMS, HOME_SITES, 11);
  const unhealthyNodes = spread(HOME_UNHEALTHY_NODES, HOME_SITES, 3);
  const downDevices = spread(HOME_DOWN_DEVICES, HOME_DEVICES, 5);
  const failedInstances = spread(HOME_FAILED_INSTANCES, HOME_SITES * HOME_ADDONS.length, 9);
  for (const [i, name] of sites.entries()) {
    await store.apply({ apiVersion, kind: 'Site', metadata: { name }, spec: { displayName: `Plant ${i}` } });
    const offline = offlineSites.has(i);
    const full = fullSites.has(i);
    const agents = { [`node:gw-${i}`]: report(full ? [{ component: 'outbox', code: 'EDGE_ERR_TELEMETRY_DISK_FULL', message: 'no space left on device', since: iso(600_000) }] : []) };
    await store.updateStatus('Site', name, offline ? { phase: 'Offline', lastSeen: iso(3_600_000 + i * 1000), message: 'agent connection lost' } : { phase: 'Online', lastSeen: iso(2_000), agents });
    await store.apply({ apiVersion, kind: 'Node', metadata: { name: `gw-${i}` }, spec: { site: name } });
    const unhealthy = unhealthyNodes.has(i);
    await store.updateStatus('Node', `gw-${i}`, {
      connected: !unhealthy,
      ...(unhealthy ? { health: { node: `gw-${i}`, verdict: 'unhealthy', pros: 0, cons: 2, expected: 2, since: iso(900_000), reportedBy: `node:peer-${i}`, reportedAt: iso(10_000) } } : {}),
    });
  }
  await store.apply({
    apiVersion,
    kind: 'DeviceProfile',
    metadata: { name: PROFILE },
    spec: { manufacturer: 'Bench', model: 'M4', deviceResources: RESOURCES.map((r) => ({ name: r.name, properties: { valueType: 'Float64', readWrite: 'R', units: r.units } })) },
  });
  for (let i = 0; i < HOME_DEVICES; i++) {
    const name = homeDevice(i);
    await store.apply({
      apiVersion,
      kind: 'Device',
      metadata: { name, labels: { line: `l${i % 8}` } },
      spec: { site: sites[i % HOME_SITES]!, profile: PROFILE, protocols: { 'modbus-tcp': { Address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, Port: '502', UnitID: '1' } } },
    });
    const down = downDevices.has(i);
    await store.updateStatus('Device', name, down ? { operatingState: 'DOWN', message: `EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED 10.0.0.${i & 255}:502`, lastSeen: iso(120_000) } : { operatingState: 'UP', lastSeen: iso(1_000) });
  }
  let instance = 0;
  for (const plugin of HOME_ADDONS) {
    await store.apply({ apiVersion, kind: 'Addon', metadata: { name: plugin }, spec: { plugin: `edgeadm.${plugin}`, sites } });
    const status: Record<string, { state: string; message?: string; code?: string }> = {};
    for (const s of sites) {
      status[s] = failedInstances.has(instance++) ? { state: 'failed', code: 'EDGE_ERR_PLUGIN_START', message: 'listen EADDRINUSE: address already in use 0.0.0.0:502' } : { state: 'running' };
    }
    await store.updateStatus('Addon', plugin, { sites: status });
  }
  for (let i = 0; i < HOME_PENDING; i++) {
    const name = `announced-${i}`;
    await store.apply({
      apiVersion,
      kind: 'PendingDevice',
      metadata: { name },
      spec: {
        site: sites[(i * 37) % HOME_SITES]!,
        source: 'announce',
        identifier: name,
        suggestedName: `sensor-${i}`,
        protocolName: 'mqtt',
        protocol: { topic: `edgeadm/announce/${name}` },
        profile: { deviceResources: [{ name: 'temperature', properties: { valueType: 'Float64', readWrite: 'R', units: '°C' } }] },
        firstSeen: iso(60_000 * (i + 1)),
        lastSeen: iso(5_000),
      },
    });
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** `GET /api/v1/x?y` as `GET /api/v1/x`, with how many times. */
function callTable(calls: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const c of calls) counts.set(c, (counts.get(c) ?? 0) + 1);
  return [...counts].map(([c, n]) => `${c} ×${n}`).join(', ');
}

/**
 * The home page with the fleet in the hub's store: from navigation (a
 * logged-in browser opening the console) to its first useful paint (counts
 * and problem lists shown: `data-testid="home-ready"`, the page's
 * `home-ready` performance mark), median of HOME_RUNS fresh pages; the hub
 * API calls each page made until then and in the HOME_AFTER_MS after; the
 * overview route's time.
 */
async function homePage(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const b = 'console';
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-console-home-'));
  let hub: Hub | undefined;
  let browser: Browser | undefined;
  try {
    hub = await startHub({ dataDir: path.join(dir, 'hub'), port: 0, logger: createLogger({ level: 'warn' }), modules: [createConsole()] });
    const token = readFileSync(hub.adminTokenFile, 'utf8').trim();
    const t0 = performance.now();
    log(`home: hub at ${hub.url}; applying ${HOME_SITES} sites and nodes, ${HOME_DEVICES} devices, ${HOME_ADDONS.length} addons on every site, ${HOME_PENDING} pending devices`);
    await populateFleet(hub);
    log(`home: store filled in ${round((performance.now() - t0) / 1000, 1)} s`);

    // The route alone, over loopback HTTP: the first call builds the device index, later ones read it.
    const h = hub;
    const c0 = performance.now();
    const first = (await api(h, token, 'GET', '/api/v1/overview?limit=20')) as Overview;
    const coldMs = performance.now() - c0;
    const expect = (what: string, got: number, want: number): void => {
      if (got !== want) throw new Error(`bench: the overview shows ${got} ${what}, the fleet has ${want}`);
    };
    expect('offline sites', first.counts.sites.offline, HOME_OFFLINE_SITES);
    expect('devices', first.counts.devices.total, HOME_DEVICES);
    expect('pending devices', first.counts.pendingDevices, HOME_PENDING);
    expect('unhealthy nodes', first.counts.nodes.unhealthy, HOME_UNHEALTHY_NODES);
    expect('agent problems', first.agentProblems.total, HOME_AGENT_PROBLEMS);
    if (first.devicesDown.total === 0 || first.addonsFailed.total === 0) throw new Error('bench: the overview lists no device down or no failed addon instance');
    const warmMs = await medianMs(() => api(h, token, 'GET', '/api/v1/overview?limit=20'), 9, 2);
    const bytes = JSON.stringify(first).length;

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: VIEWPORT });
    // Log in once through the form (the cookie stays in the context); that page lands on the home page too.
    const login = await context.newPage();
    const loginProblems = watchProblems(login, 'home login');
    await login.goto(hub.url);
    await login.getByTestId('login-token').fill(token);
    await login.getByTestId('login-submit').click();
    await login.getByTestId('home-ready').waitFor({ timeout: 30_000 });
    checkProblems(loginProblems);
    await login.close();

    const paints: number[] = [];
    const before: string[][] = [];
    const after: string[][] = [];
    const watchAt: number[] = [];
    for (let run = 0; run < HOME_RUNS; run++) {
      const page = await context.newPage();
      const problems = watchProblems(page, `home run ${run + 1}`);
      const requests: PwRequest[] = [];
      page.on('request', (r) => {
        if (new URL(r.url()).pathname.startsWith('/api/')) requests.push(r);
      });
      await page.goto(`${hub.url}/#/`);
      await page.getByTestId('home-ready').waitFor({ timeout: 30_000 });
      // The page's clock: ms since its navigation started; `timeOrigin` is that start as wall-clock time.
      const clock = await page.evaluate(() => {
        const perf = (globalThis as unknown as { performance: { timeOrigin: number; getEntriesByName(n: string): { startTime: number }[] } }).performance;
        return { origin: perf.timeOrigin, mark: perf.getEntriesByName('home-ready')[0]?.startTime ?? Number.NaN };
      });
      const mark = clock.mark;
      if (!Number.isFinite(mark)) throw new Error("bench: the home page showed data-testid=\"home-ready\" without its 'home-ready' performance mark");
      paints.push(mark);
      // The counts shown are the fleet's.
      const shown = await page.getByTestId('count-devices').innerText();
      if (!shown.includes(String(HOME_DEVICES))) throw new Error(`bench: the home page's device count reads '${shown}'`);
      await sleep(HOME_AFTER_MS);
      checkProblems(problems);
      // When the browser sent each call, on the page's clock (the browser's own timing, not when this process heard of it).
      // A call still without an answer has no timing yet (-1): it was sent late, after the paint.
      const calls = requests.map((r) => {
        const t = r.timing().startTime;
        return { at: t > 0 ? t - clock.origin : Number.POSITIVE_INFINITY, call: `${r.method()} ${new URL(r.url()).pathname}` };
      });
      before.push(calls.filter((c) => c.at <= mark).map((c) => c.call));
      after.push(calls.filter((c) => c.at > mark).map((c) => c.call));
      const watch = calls.find((c) => c.call === 'GET /api/v1/watch');
      if (watch && Number.isFinite(watch.at)) watchAt.push(watch.at - mark);
      log(`home: run ${run + 1}: first useful paint ${round(mark, 0)} ms after navigation; API calls: ${calls.map((c) => `${c.call} at ${Number.isFinite(c.at) ? `${round(c.at, 0)} ms` : 'no answer yet'}`).join(', ')}`);
      await page.close();
    }
    await context.close();

    const fleet = `${HOME_SITES} sites, ${HOME_DEVICES} devices`;
    out.push({ bench: b, metric: `home #/: navigation to first useful paint, median of ${HOME_RUNS} (${fleet}; runs ${paints.map((p) => round(p, 0)).join(', ')} ms)`, value: round(median(paints), 0), unit: 'ms', target: '< 1500' });
    out.push({ bench: b, metric: `home #/: hub API calls before first paint (${callTable(before[before.length - 1]!)})`, value: before[before.length - 1]!.length, unit: 'calls' });
    out.push({ bench: b, metric: `home #/: hub API calls in the ${HOME_AFTER_MS / 1000} s after it (${callTable(after[after.length - 1]!)})`, value: after[after.length - 1]!.length, unit: 'calls' });
    if (watchAt.length > 0) out.push({ bench: b, metric: 'home #/: watch stream requested, after the first paint (held until then), median', value: round(median(watchAt), 0), unit: 'ms' });
    out.push({ bench: b, metric: `GET /api/v1/overview, first call (lists ${HOME_DEVICES} devices into the index)`, value: round(coldMs, 0), unit: 'ms' });
    out.push({ bench: b, metric: `GET /api/v1/overview, median of 9 (${fleet}, loopback HTTP)`, value: round(warmMs, 1), unit: 'ms' });
    out.push({ bench: b, metric: 'GET /api/v1/overview: answer size (limit 20)', value: round(bytes / 1024, 1), unit: 'KiB' });
  } finally {
    await browser?.close();
    await hub?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
