/**
 * footprint: what edgeadm costs a small gateway. The command line's start
 * time; the site agent's resident memory (its own process, as deployed, from
 * the build `edgeadm` runs) idle with the Modbus addon and 10 devices, and
 * with its MQTT broker, the MQTT addon and the Modbus addon reading 100
 * devices at 10,000 readings/s; and what each heavy package adds when
 * imported; where an idle agent's memory is (its mappings, and its V8 heap
 * by package from a heap snapshot, bench/heap-share.ts). Peers measured in
 * the same run: a bare Node process, Mosquitto.
 * Devices are served by pymodbus (Debian's python3-pymodbus).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { startHub, type Hub } from '../core/hub/index.ts';
import { createLogger } from '../core/kernel/index.ts';
import { startMosquitto } from '../test/support/mosquitto.ts';
import { startPymodbus } from '../test/support/pymodbus.ts';
import { LEAN_NODE_FLAGS } from '../cli/join.ts';
import { heapShare } from './heap-share.ts';
import { startChild } from './opcua.ts';
import { api, cpuSeconds, envInt, round, rssMiB, startAgentProcess, stopChild, until, versus, type Benchmark, type BenchResult } from './harness.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);
const EDGEADM = path.join(repo, 'cli/bin/edgeadm.js');
/** Registers per device, each a resource read on every poll. */
const RESOURCES = 10;
const PARTS = ['start', 'idle', 'busy', 'opcua', 'imports'] as const;
type Part = (typeof PARTS)[number];

/** The parts BENCH_FOOTPRINT_PARTS asks for (all by default); an unknown name throws, naming the known ones. */
function partsWanted(): Set<Part> {
  const v = process.env.BENCH_FOOTPRINT_PARTS;
  if (v === undefined || v.trim() === '') return new Set(PARTS);
  const names = v.split(',').map((x) => x.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(PARTS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`bench option BENCH_FOOTPRINT_PARTS: unknown part ${unknown.map((u) => `'${u}'`).join(', ')} (known: ${PARTS.join(', ')})`);
  return new Set(names as Part[]);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median wall time of a command over `runs` runs, after one unmeasured. */
async function startMs(args: readonly string[], runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    await run(process.execPath, [...args], { env: { ...process.env, EDGEADM_CONFIG: '', EDGEADM_OUTPUT: '' } });
    if (i > 0) times.push(performance.now() - t0);
  }
  return median(times);
}

/** A process's resident memory by kind of mapping (from /proc/PID/smaps): Node's own binary, other files (libraries, native addons), and anonymous memory (V8's heap, malloc). */
function mappings(pid: number): [string, number][] {
  const sums = new Map<string, number>();
  let kind = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const file = m[1] ?? '';
      kind = file === process.execPath || file === realpathSync(process.execPath) ? "Node's binary (pages of it in use)" : file.startsWith('/') ? 'other files (libraries, native addons)' : 'anonymous (V8 heap, malloc, stacks)';
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r) sums.set(kind, (sums.get(kind) ?? 0) + Number(r[1]) / 1024);
  }
  return [...sums];
}

/** RSS of `pid` sampled every 500 ms for `seconds`: median and maximum, MiB. */
async function rssOver(pid: number, seconds: number): Promise<{ median: number; max: number }> {
  const xs: number[] = [];
  for (let i = 0; i < seconds * 2; i++) {
    xs.push(rssMiB(pid));
    await new Promise((r) => setTimeout(r, 500));
  }
  if (xs.some((x) => Number.isNaN(x))) throw new Error('footprint bench: the process ended while measured');
  return { median: round(median(xs), 1), max: round(Math.max(...xs), 1) };
}

/** OPC UA items of the footprint's OPC UA site, and the devices they are spread over (one profile each, the items' node ids in its attributes). */
const OPCUA_ITEMS = 10_000;
const OPCUA_DEVICES = 10;
/** Monitoring asked for by the agent's devices and the bare client alike (as bench/opcua.ts): the server reports each change, queues of 10. */
const OPCUA_MONITORING = { publishingInterval: 1000, samplingInterval: 0, queueSize: 10 };

/**
 * bench/opcua-child.ts built into JavaScript (esbuild, packages left in
 * node_modules, a chunk per dynamic import), so that its processes run as a
 * deployed one does: Node alone, no TypeScript loader (tsx adds about
 * 35 MiB). Written under node_modules/.cache so that the packages resolve.
 */
async function buildOpcuaChild(): Promise<string> {
  const { build } = await import('esbuild');
  const outdir = path.join(repo, 'node_modules', '.cache', 'edgeadm-bench', 'opcua-child');
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [path.join(repo, 'bench', 'opcua-child.ts')],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    // `import.meta.url` in a source means that source's own location (the kernel reads package.json beside it).
    plugins: [
      {
        name: 'own-url',
        setup(b) {
          b.onLoad({ filter: /\.ts$/ }, (args) => {
            const text = readFileSync(args.path, 'utf8');
            return text.includes('import.meta.url') ? { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' } : undefined;
          });
        },
      },
    ],
  });
  return path.join(outdir, 'opcua-child.js');
}

/** A site with the opcua addon and OPCUA_DEVICES devices, each with its share of the simulator's `Load.<i>` items as resources. */
async function opcuaSite(hub: Hub, admin: string, site: string, endpoint: string, ns: number): Promise<void> {
  await api(hub, admin, 'PUT', `/api/v1/sites/${site}`, { kind: 'Site', metadata: { name: site }, spec: {} });
  const per = OPCUA_ITEMS / OPCUA_DEVICES;
  for (let d = 0; d < OPCUA_DEVICES; d++) {
    const name = `${site}-load-${d}`;
    const resources = Array.from({ length: per }, (_, k) => ({ name: `load-${d * per + k}`, attributes: { nodeId: `ns=${ns};s=Load.${d * per + k}` }, properties: { valueType: 'Float64', readWrite: 'R' } }));
    await api(hub, admin, 'PUT', `/api/v1/deviceprofiles/${name}`, { kind: 'DeviceProfile', metadata: { name }, spec: { deviceResources: resources } });
    await api(hub, admin, 'PUT', `/api/v1/devices/${name}`, { kind: 'Device', metadata: { name }, spec: { site, profile: name, protocols: { opcua: { Endpoint: endpoint, ...OPCUA_MONITORING } } } });
  }
  await api(hub, admin, 'PUT', `/api/v1/addons/${site}-opcua`, { kind: 'Addon', metadata: { name: `${site}-opcua` }, spec: { plugin: 'opcua', sites: [site] } });
}

/** One side of the OPC UA row, measured over 15 s once every item has delivered a value. */
interface OpcuaSide {
  rss: { median: number; max: number };
  /** Values/s: readings stored at the hub (agent), notifications (bare client). */
  rate: number;
  cpu: number;
  /** From the process's start until every item delivered a value, s. */
  firstS: number;
}

/**
 * The OPC UA part (issue #24): the site agent as deployed with the opcua
 * addon monitoring OPCUA_ITEMS simulator items that all change every second,
 * lean and not, its readings going to the hub; and the peer, a bare
 * node-opcua client (bench/opcua-child.ts's `bare`, one subscription, one
 * CreateMonitoredItems for all) asking for the same monitoring. One process
 * at a time besides the simulator's, which runs in its own.
 */
async function opcuaRows(hub: Hub, admin: string, dir: string, token: (site: string) => Promise<string>, children: ChildProcess[], stops: (() => Promise<void>)[]): Promise<BenchResult[]> {
  const script = await buildOpcuaChild();
  const items = OPCUA_ITEMS;
  const server = startChild('server', { EDGEADM_BENCH_OPCUA_ITEMS: String(items) }, 120_000, script);
  stops.push(() => server.stop());
  const { endpointUrl, ns } = (await server.first) as { endpointUrl: string; ns: number };
  const site = 'opcua';
  await opcuaSite(hub, admin, site, endpointUrl, ns);
  const siteToken = await token(site);

  // Every reading the hub stores for the site: how many, and which items have delivered a good value.
  const seen = new Set<string>();
  let stored = 0;
  const off = hub.telemetry.subscribe({ site }, (readings) => {
    stored += readings.length;
    if (seen.size < items) for (const r of readings) if (r.quality === 'good') seen.add(`${r.device}/${r.resource}`);
  });
  stops.push(() => Promise.resolve(off()));

  const env = { EDGEADM_BENCH_OPCUA_ENDPOINT: endpointUrl, EDGEADM_BENCH_OPCUA_NS: String(ns), EDGEADM_BENCH_OPCUA_ITEMS: String(items), EDGEADM_BENCH_OPCUA_SAMPLING_MS: String(OPCUA_MONITORING.samplingInterval) };
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 5_000));

  const t0 = performance.now();
  const peer = startChild('bare', env, 120_000, script);
  stops.push(() => peer.stop());
  await peer.first;
  const peerFirstS = (performance.now() - t0) / 1000;
  await settle();
  const [peerRss, m] = await Promise.all([rssOver(peer.proc.pid!, 15), peer.measure(15_000)]);
  await peer.stop();
  const bare: OpcuaSide = { rss: peerRss, rate: m.notifications / (m.wallMs / 1000), cpu: (100 * m.cpuMs) / m.wallMs, firstS: peerFirstS };

  const agentRun = async (mode: { args: readonly string[]; nodeFlags: readonly string[] }): Promise<OpcuaSide> => {
    seen.clear();
    const a0 = performance.now();
    const agent = startAgentProcess(hub, dir, site, siteToken, { args: ['--no-broker', ...mode.args], nodeFlags: mode.nodeFlags });
    children.push(agent);
    await until(`a value of each of the ${items} OPC UA items at the hub`, () => seen.size >= items || agent.exitCode !== null, 120_000);
    if (agent.exitCode !== null) throw new Error(`footprint bench: the OPC UA agent exited (${agent.exitCode})`);
    const firstS = (performance.now() - a0) / 1000;
    await settle();
    const n0 = stored;
    const cpu0 = cpuSeconds(agent.pid!);
    const w0 = performance.now();
    const rss = await rssOver(agent.pid!, 15);
    const seconds = (performance.now() - w0) / 1000;
    const side = { rss, rate: (stored - n0) / seconds, cpu: ((cpuSeconds(agent.pid!) - cpu0) / seconds) * 100, firstS };
    await stopChild(agent, 5000);
    return side;
  };
  const leanSide = await agentRun({ args: ['--lean'], nodeFlags: LEAN_NODE_FLAGS });
  const plainSide = await agentRun({ args: [], nodeFlags: [] });
  await server.stop();

  const at = `OPC UA addon, ${items.toLocaleString('en-US')} items at 1 Hz`;
  const peerName = 'bare node-opcua client';
  const rows = (label: string, a: OpcuaSide): BenchResult[] => [
    { ...versus({ bench: 'footprint', metric: `${label}: RSS, ${at} (highest sample over 15 s)`, value: a.rss.max, unit: 'MiB' }, peerName, bare.rss.max), target: '<= 200' },
    { ...versus({ bench: 'footprint', metric: `${label}: RSS (median over 15 s)`, value: a.rss.median, unit: 'MiB' }, peerName, bare.rss.median), target: '<= 200' },
    { ...versus({ bench: 'footprint', metric: `${label}: readings/s stored at the hub`, value: Math.round(a.rate), unit: 'readings/s' }, `${peerName}, notifications/s`, bare.rate), target: `>= ${Math.round(items * 0.99)}` },
    versus({ bench: 'footprint', metric: `${label}: CPU at that rate`, value: round(a.cpu, 1), unit: '% of a core' }, peerName, bare.cpu),
    versus({ bench: 'footprint', metric: `${label}: start until every item reached the hub`, value: round(a.firstS, 1), unit: 's' }, `${peerName}, until every item notified`, bare.firstS),
  ];
  return [...rows('site agent --lean', leanSide), ...rows('site agent without --lean', plainSide)];
}

/** The profile every device uses: `RESOURCES` holding registers, read together by the command `all`. */
function profile(name: string): unknown {
  const resources = Array.from({ length: RESOURCES }, (_, i) => ({
    name: `r${i}`,
    attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: i, rawType: 'Uint16' },
    properties: { valueType: 'Uint16', readWrite: 'R' },
  }));
  return {
    kind: 'DeviceProfile',
    metadata: { name },
    spec: { deviceResources: resources, deviceCommands: [{ name: 'all', readWrite: 'R', resourceOperations: resources.map((r) => ({ deviceResource: r.name })) }] },
  };
}

/** A site with the Modbus addon and `devices` Modbus TCP devices spread over the pymodbus `ports` (a link each, unit ids 1..), each read every `interval`. */
async function modbusSite(hub: Hub, admin: string, site: string, ports: readonly number[], devices: number, interval: string): Promise<void> {
  await api(hub, admin, 'PUT', `/api/v1/sites/${site}`, { kind: 'Site', metadata: { name: site }, spec: {} });
  await api(hub, admin, 'PUT', `/api/v1/deviceprofiles/${site}-meter`, profile(`${site}-meter`));
  for (let i = 0; i < devices; i++) {
    const port = ports[i % ports.length]!;
    const unit = Math.floor(i / ports.length) + 1;
    await api(hub, admin, 'PUT', `/api/v1/devices/${site}-m${i + 1}`, {
      kind: 'Device',
      metadata: { name: `${site}-m${i + 1}` },
      spec: { site, profile: `${site}-meter`, protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: String(port), UnitID: String(unit), Timeout: '2' } }, autoEvents: [{ sourceName: 'all', interval }] },
    });
  }
  await api(hub, admin, 'PUT', `/api/v1/addons/${site}-modbus`, { kind: 'Addon', metadata: { name: `${site}-modbus` }, spec: { plugin: 'modbus', sites: [site] } });
}

/** RSS and V8 heap a fresh Node process gains by importing `spec` (from node_modules, as edgeadm leaves it unbundled). */
async function importCost(spec: string): Promise<{ rss: number; heap: number }> {
  const code = `const m0 = process.memoryUsage(); await import(${JSON.stringify(spec)}); globalThis.gc?.(); const m1 = process.memoryUsage(); console.log(JSON.stringify({ rss: m1.rss - m0.rss, heap: m1.heapUsed - m0.heapUsed }));`;
  const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], { cwd: repo });
  // Some packages print warnings of their own on standard output (node-opcua): the last JSON line is ours.
  const line = stdout.split('\n').filter((l) => l.startsWith('{"rss"')).pop();
  if (!line) throw new Error(`footprint bench: no measure from importing ${spec}: ${stdout}`);
  const r = JSON.parse(line) as { rss: number; heap: number };
  return { rss: round(r.rss / 1048576, 1), heap: round(r.heap / 1048576, 1) };
}

const bench: Benchmark = {
  name: 'footprint',
  description: 'CLI start; site agent RSS idle (Modbus, 10 devices), under 10k readings/s (broker, MQTT and Modbus addons, 100 devices) and with 10k OPC UA items at 1 Hz; import cost of each heavy package',
  async run(): Promise<BenchResult[]> {
    const out: BenchResult[] = [];
    const runs = envInt('BENCH_FOOTPRINT_RUNS', 9);
    const parts = partsWanted();

    // The command line's start, against a bare Node process's.
    if (parts.has('start')) {
      const bare = await startMs(['-e', ''], runs);
      for (const args of [['version'], ['--help']]) {
        out.push({ ...versus({ bench: 'footprint', metric: `edgeadm ${args.join(' ')}, wall time (median of ${runs})`, value: round(await startMs([EDGEADM, ...args], runs), 1), unit: 'ms' }, 'node -e ""', bare), target: '<= 300' });
      }
    }

    // Peers' resident memory.
    const idleNode = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1000));
    const bareRss = rssMiB(idleNode.pid!);
    await stopChild(idleNode, 1000);
    let mosquittoRss = Number.NaN;
    if (parts.has('busy')) {
      const mosquitto = await startMosquitto();
      mosquittoRss = rssMiB(mosquitto.pid!);
      await mosquitto.stop();
    }

    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-footprint-'));
    const hub = await startHub({ dataDir: path.join(dir, 'hub'), port: 0, logger: createLogger({ level: 'warn' }) });
    // Ten links of ten units, as a plant's gateways would serve them (one link runs its requests one at a time).
    const modbus = parts.has('idle') || parts.has('busy') ? await Promise.all(Array.from({ length: 10 }, () => startPymodbus({ framer: 'socket', units: Array.from({ length: 10 }, (_, i) => i + 1) }))) : [];
    const ports = modbus.map((m) => m.port);
    const children: ChildProcess[] = [];
    const stops: (() => Promise<void>)[] = [];
    try {
      const admin = readFileSync(hub.adminTokenFile, 'utf8').trim();
      const token = async (site: string): Promise<string> => ((await api(hub, admin, 'POST', '/api/v1/tokens', { role: 'agent', site })) as { token: string }).token;
      const count = (site: string): Promise<number> => hub.telemetry.count({ site });
      const lean = { args: ['--lean'], nodeFlags: LEAN_NODE_FLAGS };
      const plain = { args: [] as string[], nodeFlags: [] as string[] };

      // Idle: the Modbus addon reading 10 devices once a second, no broker; lean (`--lean`, and Node's flags as the
      // unit `join --install --lean` runs it) and as `site run` runs by default. Three agents each: RSS moves by a
      // few MiB from run to run.
      if (parts.has('idle')) {
        await modbusSite(hub, admin, 'idle', [ports[0]!], 10, '1s');
        const idleToken = await token('idle');
        const idleRss = async (mode: typeof lean): Promise<{ median: number; max: number }> => {
          const runs: { median: number; max: number }[] = [];
          for (let i = 0; i < 3; i++) {
            const idle = startAgentProcess(hub, dir, 'idle', idleToken, { args: ['--no-broker', ...mode.args], nodeFlags: mode.nodeFlags });
            children.push(idle);
            const n0 = await count('idle');
            await until('readings of every idle device', async () => (await count('idle')) >= n0 + 10 * RESOURCES * 3, 60_000);
            await new Promise((r) => setTimeout(r, 10_000));
            runs.push(await rssOver(idle.pid!, 10));
            await stopChild(idle, 5000);
          }
          return { median: median(runs.map((r) => r.median)), max: Math.max(...runs.map((r) => r.max)) };
        };
        const asInstalled = await idleRss(lean);
        const nodeDefaults = await idleRss(plain);

        out.push({ ...versus({ bench: 'footprint', metric: `site agent --lean RSS idle (Node ${LEAN_NODE_FLAGS.join(' ')}), Modbus addon, 10 devices at 1/s (median of 3 agents' medians over 10 s)`, value: asInstalled.median, unit: 'MiB' }, 'bare node process', bareRss), target: '<= 80' });
        out.push({ bench: 'footprint', metric: 'the same, highest sample of the three agents', value: asInstalled.max, unit: 'MiB', target: '<= 80' });
        out.push({ ...versus({ bench: 'footprint', metric: 'the same agent without --lean, Node as it comes (median)', value: nodeDefaults.median, unit: 'MiB' }, 'lean', asInstalled.median) });

        // Where an idle agent's memory is: its mappings (smaps), and its V8 heap by package (a heap snapshot).
        const snapDir = path.join(dir, 'snapshots');
        mkdirSync(snapDir);
        const probe = startAgentProcess(hub, dir, 'idle', idleToken, { args: ['--no-broker', ...lean.args], nodeFlags: [...lean.nodeFlags, '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapDir}`] });
        children.push(probe);
        const p0 = await count('idle');
        await until('readings of every idle device', async () => (await count('idle')) >= p0 + 10 * RESOURCES * 3, 60_000);
        await new Promise((r) => setTimeout(r, 10_000));
        for (const [what, mib] of mappings(probe.pid!)) out.push({ bench: 'footprint', metric: `idle agent RSS: ${what}`, value: round(mib, 1), unit: 'MiB' });
        probe.kill('SIGUSR2');
        await until('the heap snapshot', () => readdirSync(snapDir).some((f) => f.endsWith('.heapsnapshot')), 60_000);
        const snapFile = path.join(snapDir, readdirSync(snapDir).find((f) => f.endsWith('.heapsnapshot'))!);
        await until('the heap snapshot written', () => statSync(snapFile).size > 0 && Date.now() - statSync(snapFile).mtimeMs > 1000, 60_000);
        await stopChild(probe, 5000);
        const share = [...heapShare(snapFile, repo)];
        for (const [owner, mib] of [...share.slice(0, 8), ...share.slice(-2)]) out.push({ bench: 'footprint', metric: `idle agent V8 heap (snapshot): ${owner}`, value: round(mib, 2), unit: 'MiB' });
      }

      // Under load: the site broker and the MQTT addon on, the Modbus addon reading 100 devices x 10 registers every 100 ms.
      if (parts.has('busy')) {
        await modbusSite(hub, admin, 'busy', ports, 100, '100ms');
        await api(hub, admin, 'PUT', '/api/v1/addons/busy-mqtt', { kind: 'Addon', metadata: { name: 'busy-mqtt' }, spec: { plugin: 'mqtt', sites: ['busy'] } });
        const busyToken = await token('busy');
        const busyRun = async (mode: typeof lean, label: string): Promise<number> => {
          const busy = startAgentProcess(hub, dir, 'busy', busyToken, { args: ['--broker-port', '0', ...mode.args], nodeFlags: mode.nodeFlags });
          children.push(busy);
          const start = await count('busy');
          await until('readings of the busy site', async () => (await count('busy')) >= start + 100 * RESOURCES * 5, 60_000);
          await new Promise((r) => setTimeout(r, 10_000));
          const n0 = await count('busy');
          const cpu0 = cpuSeconds(busy.pid!);
          const t0 = performance.now();
          const busyRss = await rssOver(busy.pid!, 15);
          const seconds = (performance.now() - t0) / 1000;
          const rate = Math.round(((await count('busy')) - n0) / seconds);
          const cpu = round(((cpuSeconds(busy.pid!) - cpu0) / seconds) * 100, 1);
          await stopChild(busy, 5000);
          out.push({ bench: 'footprint', metric: `${label}: RSS, broker + MQTT + Modbus addons, 100 devices (median over 15 s)`, value: busyRss.median, unit: 'MiB', target: '<= 120' });
          out.push({ bench: 'footprint', metric: `${label}: RSS, highest sample`, value: busyRss.max, unit: 'MiB' });
          out.push({ bench: 'footprint', metric: `${label}: readings/s stored at the hub from those 100 devices`, value: rate, unit: 'readings/s', target: '10000' });
          out.push({ bench: 'footprint', metric: `${label}: CPU at that rate`, value: cpu, unit: '% of a core' });
          return busyRss.median;
        };
        const leanBusy = await busyRun(lean, 'site agent --lean');
        await busyRun(plain, 'site agent without --lean');
        out.push({ ...versus({ bench: 'footprint', metric: 'site agent --lean at 10k readings/s, RSS (median)', value: leanBusy, unit: 'MiB' }, 'Mosquitto alone', mosquittoRss) });
      }

      if (parts.has('opcua')) out.push(...(await opcuaRows(hub, admin, dir, token, children, stops)));
    } finally {
      for (const c of children) await stopChild(c, 5000);
      for (const stop of stops) await stop().catch(() => undefined);
      await Promise.all(modbus.map((m) => m.stop()));
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    }

    // Each heavy package's share: what importing it alone adds to a fresh process.
    if (parts.has('imports')) {
      for (const spec of ['typebox', 'yaml', 'pino', 'prom-client', 'undici', 'ws', 'fastify', 'mqtt', 'aedes', 'modbus-serial', 'better-sqlite3', '@kubernetes/client-node', 'node-opcua', 'node-opcua-client']) {
        const c = await importCost(spec);
        out.push({ bench: 'footprint', metric: `import ${spec} alone: RSS added (V8 heap ${c.heap} MiB)`, value: c.rss, unit: 'MiB' });
      }
      const bundled = await importCost(path.join(repo, 'dist/sdk.js'));
      out.push({ bench: 'footprint', metric: `import edgeadm's SDK from the build (kernel, typebox, yaml, pino bundled; V8 heap ${bundled.heap} MiB)`, value: bundled.rss, unit: 'MiB' });
    }
    return out;
  },
};

export default bench;
