/**
 * grid: the grid controller (`startGridControllers`) on the Kubernetes API
 * test server in this process: BENCH_GRID_UNITS units (default 1,000: one
 * node each, labelled `zone: u-<i>`) × BENCH_GRID_GRIDS DeploymentGrids
 * (default 10). Measured: the time to expand every grid into one Deployment
 * per unit from a cold start, then, one at a time, the time from one
 * template change (one unit of one grid moved to a canary template) to that
 * unit's Deployment carrying it, and the API writes the controller made for
 * the change (from its own log), against the minimum: one write, the
 * affected Deployment. The figures include the test server's CPU (same
 * process, TLS on loopback). BENCH_GRID_TIMEOUT_S (default 600) bounds the
 * expansion: past it the bench fails saying how far it got;
 * BENCH_GRID_DEBUG=1 prints the controller's warnings and errors and each
 * reconcile's writes on standard error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../core/kernel/index.ts';
import { GRID_KIND_NAMES, GRID_KINDS, startGridControllers } from '../core/grid/index.ts';
import { applyCrds, crdFromSchema, openKubeClient } from '../core/store/index.ts';
import { rawClient } from '../test/support/kube-apiserver/client.ts';
import { startKubeApiServer } from '../test/support/kube-apiserver/index.ts';
import { envInt, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const CHANGES = 5;
const DG = '/apis/superedge.io/v1/namespaces/default/deploymentgrids';
const DEPLOY = '/apis/apps/v1/namespaces/default/deployments';

const template = (image: string): Record<string, unknown> => ({
  replicas: 1,
  selector: { matchLabels: { app: 'echo' } },
  template: { metadata: { labels: { app: 'echo' } }, spec: { containers: [{ name: 'echo', image }] } },
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const bench: Benchmark = {
  name: 'grid',
  description: 'the grid controller on the Kubernetes API test server: units x DeploymentGrids, expansion time, one template change to convergence and its API writes',
  async run(): Promise<BenchResult[]> {
    const units = envInt('BENCH_GRID_UNITS', 1000);
    const grids = envInt('BENCH_GRID_GRIDS', 10);
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-grid-'));
    const server = await startKubeApiServer({ historyLimit: 8 * units * grids + 10_000 });
    const raw = rawClient(server);
    const client = await openKubeClient(await server.kubeconfig(dir));
    // The controller's own log says what each reconcile wrote.
    const writesLog: { grid: string; writes: number; at: number }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (process.env.BENCH_GRID_DEBUG && /"level":(40|50)/.test(line)) process.stderr.write(`${line.slice(0, 600)}\n`);
          if (!line.includes('"grid reconciled"')) continue;
          const rec = JSON.parse(line) as { grid: string; writes: number };
          writesLog.push({ grid: rec.grid, writes: rec.writes, at: performance.now() });
          if (process.env.BENCH_GRID_DEBUG) process.stderr.write(`${line}\n`);
        }
        done();
      },
    });
    const logger = createLogger({ level: 'info', destination: sink });
    let controllers: Awaited<ReturnType<typeof startGridControllers>> | undefined;
    try {
      await applyCrds(client, GRID_KIND_NAMES.map((k) => crdFromSchema(GRID_KINDS[k])));
      for (let i = 0; i < units; i++) await raw.call('POST', '/api/v1/nodes', { metadata: { name: `node-${i}`, labels: { zone: `u-${i}` } } });
      for (let g = 0; g < grids; g++) {
        const r = await raw.call('POST', DG, { apiVersion: 'superedge.io/v1', kind: 'DeploymentGrid', metadata: { name: `grid-${g}` }, spec: { gridUniqKey: 'zone', template: template('echo:1'), templatePool: { canary: template('echo:2') } } });
        if (r.status !== 201) throw new Error(`grid-${g}: ${r.status}`);
      }
      const t0 = performance.now();
      controllers = await startGridControllers({ client, logger });
      const want = units * grids;
      const deadline = Date.now() + envInt('BENCH_GRID_TIMEOUT_S', 600) * 1000;
      for (;;) {
        const made = writesLog.reduce((n, w) => n + w.writes, 0);
        // Each grid writes its Deployments and then its status once.
        if (made >= want + grids) break;
        if (Date.now() > deadline) throw new Error(`grid bench: expansion not done within BENCH_GRID_TIMEOUT_S: ${made} of ${want + grids} writes after ${round((performance.now() - t0) / 1000)} s`);
        await sleep(100);
      }
      const expandMs = performance.now() - t0;
      const count = (await raw.call('GET', `${DEPLOY}?limit=1`)).body as { items: unknown[] };
      if (count.items.length === 0) throw new Error('no Deployment was made');

      // One change at a time: unit u-<k> of grid-<k> moves to the canary template.
      const latencies: number[] = [];
      const writes: number[] = [];
      for (let k = 0; k < CHANGES; k++) {
        await sleep(300);
        const grid = `grid-${k % grids}`;
        const unit = `u-${k}`;
        const before = writesLog.length;
        const g = await raw.call('GET', `${DG}/${grid}`);
        const body = g.body as { spec: Record<string, unknown> & { templates?: Record<string, string> } };
        const t1 = performance.now();
        // Units moved before stay on the canary: only this one changes.
        await raw.call('PUT', `${DG}/${grid}`, { ...body, spec: { ...body.spec, templates: { ...body.spec.templates, [unit]: 'canary' } } });
        for (;;) {
          const d = await raw.call('GET', `${DEPLOY}/${grid}-${unit}`);
          const image = (d.body as { spec?: { template?: { spec?: { containers?: { image?: string }[] } } } }).spec?.template?.spec?.containers?.[0]?.image;
          if (image === 'echo:2') break;
          await sleep(2);
        }
        latencies.push(performance.now() - t1);
        // Let the status write that follows land in the log.
        await sleep(300);
        writes.push(writesLog.slice(before).reduce((n, w) => n + w.writes, 0));
      }
      latencies.sort((a, b) => a - b);
      const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      return [
        { bench: 'grid', metric: `expand ${grids} DeploymentGrids x ${units} units (${want} Deployments), cold start`, value: round(expandMs / 1000, 2), unit: 's' },
        { bench: 'grid', metric: `one template change to its unit's Deployment, median of ${CHANGES}`, value: round(median(latencies)), unit: 'ms', target: '< 5000' },
        versus({ bench: 'grid', metric: `API writes per template change, median of ${CHANGES}`, value: median(writes), unit: 'writes' }, 'minimum (the affected Deployment)', 1),
      ];
    } finally {
      await controllers?.close();
      await client.close();
      await raw.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
