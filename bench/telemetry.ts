/**
 * telemetry: readings from one site agent (its own process, as deployed) into
 * the hub store, end to end: plugin -> outbox (committed) -> REST uplink ->
 * hub ingest (idempotent) -> hub store. Peer: the hub store ingesting the
 * same batches directly, in one process, measured in the same run.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHub, type Hub } from '../core/hub/index.ts';
import { createLogger } from '../core/kernel/index.ts';
import { nowOrigin, type Reading } from '../core/sdk/index.ts';
import { openTelemetryStore } from '../core/telemetry/index.ts';
import { LOAD_PROFILE, loadGenDevices } from '../test/support/load-gen-devices.ts';
import { profileSelf } from './cpu-profile.ts';
import { api, cpuSeconds, round, rssMiB, startAgentProcess, until, versus, type Benchmark, type BenchResult } from './harness.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOTAL = 1_000_000;
/** The load generator is a test plugin (test/support/plugins). */
const TEST_PLUGINS = ['--no-broker', '--plugin-path', path.join(repo, 'test/support/plugins')];
const LAT_RATE = 10_000;
const LAT_SECONDS = 5;

/** The load generator's profile and `devices` Devices at `site`, so the hub stores their readings. */
async function loadDevices(hub: Hub, token: string, site: string, devices: number, prefix: string): Promise<void> {
  for (const r of [LOAD_PROFILE, ...loadGenDevices(site, devices, prefix)]) {
    await api(hub, token, 'PUT', `/api/v1/${r.kind === 'Device' ? 'devices' : 'deviceprofiles'}/${r.metadata.name}`, r);
  }
}

/** Readings the hub holds for a site (every producer stream). */
async function held(hub: Hub, site: string): Promise<number> {
  return (await hub.telemetry.streams(site)).reduce((n, s) => n + s.held, 0);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const bench: Benchmark = {
  name: 'telemetry',
  description: `${TOTAL.toLocaleString('en')} readings from one site agent process into the hub store; latency at ${LAT_RATE}/s; agent RSS`,
  async run(): Promise<BenchResult[]> {
    const out: BenchResult[] = [];
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-telemetry-'));
    const hub = await startHub({ dataDir: path.join(dir, 'hub'), port: 0, logger: createLogger({ level: 'warn' }) });
    const children: ChildProcess[] = [];
    try {
      const admin = readFileSync(hub.adminTokenFile, 'utf8').trim();
      const token = async (site: string): Promise<string> => ((await api(hub, admin, 'POST', '/api/v1/tokens', { role: 'agent', site })) as { token: string }).token;

      // Throughput: the generator appends as fast as the agent commits; the hub's count tells when all arrived.
      await api(hub, admin, 'PUT', '/api/v1/sites/bench', { kind: 'Site', metadata: { name: 'bench' }, spec: {} });
      await loadDevices(hub, admin, 'bench', 100, 'bench-');
      await api(hub, admin, 'PUT', '/api/v1/addons/load', {
        kind: 'Addon',
        metadata: { name: 'load' },
        spec: { plugin: 'load-gen', sites: ['bench'], config: { devices: 100, ratePerSecond: 2_000_000, tickMs: 1, maxBatch: 1000, total: TOTAL, prefix: 'bench-' } },
      });
      let first = 0;
      let batches = 0;
      const off = hub.telemetry.subscribe({ site: 'bench' }, () => {
        first ||= performance.now();
        batches++;
      });
      const agent = startAgentProcess(hub, dir, 'bench', await token('bench'), { args: TEST_PLUGINS });
      children.push(agent);
      await until('the first reading', () => first > 0, 30_000);
      const agentCpu0 = cpuSeconds(agent.pid!);
      const hubCpu0 = process.cpuUsage();
      const stopHubProfile = await profileSelf('hub-direct');
      await until('every reading at the hub', async () => (await held(hub, 'bench')) >= TOTAL, 300_000);
      const seconds = (performance.now() - first) / 1000;
      await stopHubProfile();
      const agentCpu = cpuSeconds(agent.pid!) - agentCpu0;
      const hubCpuUsage = process.cpuUsage(hubCpu0);
      const hubCpu = (hubCpuUsage.user + hubCpuUsage.system) / 1e6;
      if ((await hub.telemetry.count({ site: 'bench' })) !== TOTAL) throw new Error('bench: the hub does not hold every reading exactly once');
      off();
      const rss = round(rssMiB(agent.pid!), 1);

      // The peer: the same store ingesting 1,000-reading batches directly.
      const peerStore = openTelemetryStore({ file: path.join(dir, 'peer.db') });
      const origin = nowOrigin();
      const peerN = 200_000;
      const t0 = performance.now();
      for (let seq = 1; seq <= peerN; seq += 1000) {
        const batch: Reading[] = [];
        for (let i = 0; i < 1000; i++) batch.push({ site: 'peer', device: `load-${i % 100}`, profile: 'load', resource: 'counter', value: seq + i, valueType: 'Uint32', origin: origin + seq + i, quality: 'good', seq: seq + i });
        await peerStore.ingest({ site: 'peer', producer: 'token:bench', stream: { id: 'bench-peer-stream', lastSeq: seq + 999 } }, batch);
      }
      const peerRate = peerN / ((performance.now() - t0) / 1000);
      await peerStore.close();
      const direct = Math.round(TOTAL / seconds);
      out.push({ ...versus({ bench: 'telemetry', metric: 'end to end, one site agent -> hub store (direct HTTP)', value: direct, unit: 'readings/s' }, 'hub store ingest alone', Math.round(peerRate)), target: '>= 100000' });

      // The same run as deployed: the agent joined as a node, everything through its tunnel over TLS.
      const tlsHub = await startHub({ dataDir: path.join(dir, 'hub-tls'), port: 0, logger: createLogger({ level: 'warn' }), tls: true });
      try {
        const tlsAdmin = readFileSync(tlsHub.adminTokenFile, 'utf8').trim();
        await api(tlsHub, tlsAdmin, 'PUT', '/api/v1/sites/tun', { kind: 'Site', metadata: { name: 'tun' }, spec: {} });
        await loadDevices(tlsHub, tlsAdmin, 'tun', 100, 'tun-');
        await api(tlsHub, tlsAdmin, 'PUT', '/api/v1/addons/load', {
          kind: 'Addon',
          metadata: { name: 'load' },
          spec: { plugin: 'load-gen', sites: ['tun'], config: { devices: 100, ratePerSecond: 2_000_000, tickMs: 1, maxBatch: 1000, total: TOTAL, prefix: 'tun-' } },
        });
        const bootstrap = (await api(tlsHub, tlsAdmin, 'POST', '/api/v1/bootstrap-tokens', { site: 'tun' })) as { token: string };
        const joined = (await api(tlsHub, bootstrap.token, 'POST', '/api/v1/join', { site: 'tun', node: 'bench-gw' })) as { credential: string };
        let tFirst = 0;
        const offTun = tlsHub.telemetry.subscribe({ site: 'tun' }, () => {
          tFirst ||= performance.now();
        });
        const tunAgent = startAgentProcess(tlsHub, dir, 'tun', joined.credential, { node: 'bench-gw', args: TEST_PLUGINS });
        children.push(tunAgent);
        await until('the first reading through the tunnel', () => tFirst > 0, 30_000);
        const tunCpu0 = cpuSeconds(tunAgent.pid!);
        const stopTunProfile = await profileSelf('hub-tunnel');
        await until('every reading through the tunnel', async () => (await held(tlsHub, 'tun')) >= TOTAL, 300_000);
        const tSeconds = (performance.now() - tFirst) / 1000;
        await stopTunProfile();
        const tunCpu = cpuSeconds(tunAgent.pid!) - tunCpu0;
        offTun();
        if ((await tlsHub.telemetry.count({ site: 'tun' })) !== TOTAL) throw new Error('bench: the hub does not hold every tunnelled reading exactly once');
        out.push({ ...versus({ bench: 'telemetry', metric: 'end to end through the node tunnel (wss, TLS)', value: Math.round(TOTAL / tSeconds), unit: 'readings/s' }, 'the same, direct HTTP', direct), target: '>= 100000' });
        out.push({ bench: 'telemetry', metric: 'site agent + tunnel-edge CPU through the tunnel', value: round((tunCpu / tSeconds) * 100, 1), unit: '% of a core' });
        out.push({ bench: 'telemetry', metric: 'site agent + tunnel-edge RSS after the tunnel run', value: round(rssMiB(tunAgent.pid!), 1), unit: 'MiB' });
        tunAgent.kill('SIGTERM');
        await new Promise((r) => tunAgent.once('exit', r));
      } finally {
        await tlsHub.close();
      }

      // Latency at a steady rate, with the link idle otherwise.
      await api(hub, admin, 'PUT', '/api/v1/sites/lat', { kind: 'Site', metadata: { name: 'lat' }, spec: {} });
      await loadDevices(hub, admin, 'lat', 10, 'lat-');
      await api(hub, admin, 'PUT', '/api/v1/addons/lat', {
        kind: 'Addon',
        metadata: { name: 'lat' },
        spec: { plugin: 'load-gen', sites: ['lat'], config: { devices: 10, ratePerSecond: LAT_RATE, tickMs: 1, total: LAT_RATE * LAT_SECONDS, prefix: 'lat-' } },
      });
      const latencies: number[] = [];
      const offLat = hub.telemetry.subscribe({ site: 'lat' }, (rs) => {
        const now = nowOrigin();
        for (const r of rs) latencies.push((now - r.origin) / 1e6);
      });
      const latAgent = startAgentProcess(hub, dir, 'lat', await token('lat'), { args: TEST_PLUGINS });
      children.push(latAgent);
      await until('the latency run', async () => (await held(hub, 'lat')) >= LAT_RATE * LAT_SECONDS, 120_000);
      offLat();
      // Leave out the first second: process start and the first sync.
      const steady = latencies.slice(LAT_RATE).sort((a, b) => a - b);
      out.push({ bench: 'telemetry', metric: `device-to-hub latency p50 at ${LAT_RATE}/s`, value: round(percentile(steady, 50), 2), unit: 'ms' });
      out.push({ bench: 'telemetry', metric: `device-to-hub latency p99 at ${LAT_RATE}/s`, value: round(percentile(steady, 99), 2), unit: 'ms', target: '< 50' });
      out.push({ bench: 'telemetry', metric: 'mean batch at the hub during the throughput run', value: Math.round(TOTAL / batches), unit: 'readings' });
      out.push({ bench: 'telemetry', metric: 'site agent CPU during the throughput run', value: round((agentCpu / seconds) * 100, 1), unit: '% of a core' });
      out.push({ bench: 'telemetry', metric: 'hub CPU during the throughput run', value: round((hubCpu / seconds) * 100, 1), unit: '% of a core' });
      out.push({ bench: 'telemetry', metric: 'site agent RSS after the throughput run', value: rss, unit: 'MiB' });
      out.push({ bench: 'telemetry', metric: 'site agent RSS, idle at 10k/s done', value: round(rssMiB(latAgent.pid!), 1), unit: 'MiB' });
    } finally {
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : Promise.resolve())));
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return out;
  },
};

export default bench;
