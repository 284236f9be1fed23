/** `edgeadm telemetry watch|query`: live readings from the hub's stream, and stored ones by device and time. */
import type { Command } from 'commander';
import type { ReadingOut, TelemetryPage } from '../core/hub/index.ts';
import { originToDate } from '../core/sdk/index.ts';
import { contextOf } from './context.ts';
import { fetchHub, hubFetch, hubTarget, withHubOptions } from './client.ts';
import { emit, renderTable } from './output.ts';
import { examples, summary } from './commands.ts';

interface Filters {
  site?: string;
  device?: string;
  resource?: string;
  hub?: string;
  token?: string;
  tokenFile?: string;
}

function line(r: ReadingOut): string {
  const value = typeof r.value === 'string' ? r.value : JSON.stringify(r.value);
  return `${originToDate(r.origin).toISOString()}  ${r.site}/${r.device}/${r.resource}  ${value}${r.units ? ` ${r.units}` : ''}${r.quality === 'good' ? '' : `  [${r.quality}${r.qualityDetail ? ` ${r.qualityDetail}` : ''}]`}\n`;
}

function query(f: Filters): URLSearchParams {
  const q = new URLSearchParams();
  for (const k of ['site', 'device', 'resource'] as const) if (f[k]) q.set(k, f[k]);
  return q;
}

export function registerTelemetry(program: Command): void {
  const group = program.command('telemetry').description(summary('telemetry'));
  examples(group, ['edgeadm telemetry watch --site demo', 'edgeadm telemetry query --site demo --device sim-1 --limit 20']);

  const watch = withHubOptions(
    group
      .command('watch')
      .description('Stream readings as the hub receives them, until Ctrl-C')
      .option('--site <site>', 'only this site')
      .option('--device <device>', 'only this device')
      .option('--resource <resource>', 'only this resource'),
  ).action(async (opts: Filters, cmd: Command) => {
    const ctx = contextOf(cmd);
    const target = hubTarget(opts);
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const res = await fetchHub(target, `/api/v1/telemetry/stream?${query(opts).toString()}`, {
        headers: { authorization: `Bearer ${target.token}`, accept: 'text/event-stream' },
        signal: ac.signal,
      }).catch((err: unknown) => {
        if (ac.signal.aborted) return undefined;
        throw err;
      });
      if (!res) return;
      if (!res.ok || !res.body) {
        await hubFetch(target, 'GET', `/api/v1/telemetry/stream?${query(opts).toString()}`);
        return;
      }
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body) {
          buf += decoder.decode(chunk as Uint8Array, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).trimStart())
              .join('\n');
            if (!data) continue;
            for (const r of JSON.parse(data) as ReadingOut[]) {
              ctx.out.write(ctx.options.output === 'table' ? line(r) : `${JSON.stringify(r)}\n`);
            }
          }
        }
      } catch (err) {
        if (!ac.signal.aborted) throw err;
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });
  examples(watch, [
    'edgeadm telemetry watch --hub https://127.0.0.1:7443 --ca-file .data/demo/hub/pki/ca.crt --token-file .data/demo/hub/admin.token --site demo',
    'EDGEADM_HUB=https://127.0.0.1:7443 EDGEADM_CA_FILE=.data/demo/hub/pki/ca.crt EDGEADM_TOKEN=$(cat .data/demo/hub/admin.token) edgeadm telemetry watch --device sim-1 -o json',
  ]);

  const q = withHubOptions(
    group
      .command('query')
      .description('Stored readings, oldest first (or newest first with --desc)')
      .option('--site <site>', 'only this site')
      .option('--device <device>', 'only this device')
      .option('--resource <resource>', 'only this resource')
      .option('--from <time>', 'RFC 3339 time or nanoseconds since the epoch')
      .option('--to <time>', 'RFC 3339 time or nanoseconds since the epoch')
      .option('--limit <n>', 'at most this many readings', '100')
      .option('--desc', 'newest first'),
  ).action(async (opts: Filters & { from?: string; to?: string; limit: string; desc?: boolean }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const target = hubTarget(opts);
    const params = query(opts);
    if (opts.from) params.set('from', opts.from);
    if (opts.to) params.set('to', opts.to);
    params.set('limit', opts.limit);
    if (opts.desc) params.set('order', 'desc');
    const page = await hubFetch<TelemetryPage>(target, 'GET', `/api/v1/telemetry?${params.toString()}`);
    emit(ctx.options.output, page.items, () =>
      renderTable(page.items, [
        { header: 'time', value: (r) => originToDate(r.origin).toISOString() },
        { header: 'site', value: (r) => r.site },
        { header: 'device', value: (r) => r.device },
        { header: 'resource', value: (r) => r.resource },
        { header: 'value', value: (r) => (typeof r.value === 'string' ? r.value : JSON.stringify(r.value)) },
        { header: 'units', value: (r) => r.units },
        { header: 'quality', value: (r) => r.quality },
        { header: 'seq', value: (r) => r.seq },
      ]),
    );
  });
  examples(q, ['edgeadm telemetry query --site demo --device sim-1 --limit 20', 'edgeadm telemetry query --site demo --from 2026-01-01T00:00:00Z -o json']);
}
