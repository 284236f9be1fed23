/** `edgeadm hub run`: the embedded hub in the foreground. */
import type { Command } from 'commander';
import { contextOf, examples, listening, parsePort } from './context.ts';
import { waitForSignal } from './signals.ts';

export function registerHub(program: Command): void {
  const group = program.command('hub').description('The cloud side: API, telemetry store, site sync sessions');
  examples(group, ['edgeadm hub run --data-dir /var/lib/edgeadm/hub']);
  const run = group
    .command('run')
    .description('Run the embedded hub (SQLite) in the foreground until Ctrl-C')
    .option('--data-dir <dir>', 'where the hub keeps its databases and admin.token', '.data/hub')
    .option('--host <address>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'HTTP port', '7443')
    .option('--mqtt-port <port>', 'also accept telemetry over MQTT on this port')
    .action(async (opts: { dataDir: string; host: string; port: string; mqttPort?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const port = parsePort(opts.port, '--port');
      const mqttPort = opts.mqttPort === undefined ? undefined : parsePort(opts.mqttPort, '--mqtt-port');
      // Loaded on use: other commands (a site agent, above all) do not carry the hub's code.
      const { startHub } = await import('../core/hub/index.ts');
      const hub = await listening(port, '--port', () => startHub({ dataDir: opts.dataDir, host: opts.host, port, logger: ctx.logger, ...(mqttPort === undefined ? {} : { mqttPort }) }));
      ctx.out.write(`hub listening on ${hub.url} (API docs: ${hub.url}/docs)\nadmin token: ${hub.adminTokenFile}\n${hub.mqttUrl ? `MQTT telemetry ingest: ${hub.mqttUrl}\n` : ''}`);
      const sig = await waitForSignal();
      ctx.logger.info({ signal: sig }, 'stopping');
      await hub.close();
    });
  examples(run, ['edgeadm hub run', 'edgeadm hub run --data-dir /var/lib/edgeadm/hub --host 0.0.0.0 --port 7443 --mqtt-port 8883']);
}
