/**
 * `edgeadm demo` (what `npm start` runs): a hub and one demo site with
 * simulated devices, on this machine, wired as a real deployment is: the hub
 * serves TLS with its own CA, the site's node joins with a bootstrap token,
 * and the site agent reaches the hub only through its tunnel.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { createLogger } from '../core/kernel/index.ts';
import { EDGEADM_ROOT } from '../core/plugins/index.ts';
import { hubFetch, type HubTarget } from './client.ts';
import { contextOf, examples, listening, parsePort } from './context.ts';
import { waitForSignal } from './signals.ts';

const PLURAL: Record<string, string> = { Site: 'sites', Node: 'nodes', DeviceProfile: 'deviceprofiles', Device: 'devices', Addon: 'addons' };

interface Manifest {
  kind: string;
  metadata: { name: string };
}

export async function applyManifests(target: HubTarget, file: string): Promise<string[]> {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const applied: string[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw doc.errors[0]!;
    const obj = doc.toJS() as Manifest | null;
    if (!obj) continue;
    const plural = PLURAL[obj.kind];
    if (!plural) throw new Error(`${file}: unknown kind '${obj.kind}'`);
    await hubFetch(target, 'PUT', `/api/v1/${plural}/${encodeURIComponent(obj.metadata.name)}`, obj);
    applied.push(`${obj.kind}/${obj.metadata.name}`);
  }
  return applied;
}

export function registerDemo(program: Command): void {
  const cmd = program
    .command('demo')
    .description('Run a hub and a demo site with simulated devices on this machine, until Ctrl-C')
    .option('--data-dir <dir>', 'where the demo keeps its state', '.data/demo')
    .option('--port <port>', 'hub HTTP port', '7443')
    .action(async (opts: { dataDir: string; port: string }, c: Command) => {
      const ctx = contextOf(c);
      // The demo talks to a person: warnings and errors only, unless a level was asked for.
      if (!ctx.options.logLevel && !process.env.EDGEADM_LOG__LEVEL) ctx.logger = createLogger({ level: 'warn' });
      const [{ startHub }, { startSiteAgent }] = await Promise.all([import('../core/hub/index.ts'), import('../sites/index.ts')]);
      const hubDir = path.join(opts.dataDir, 'hub');
      const port = parsePort(opts.port, '--port');
      const hub = await listening(port, '--port', () => startHub({ dataDir: hubDir, port, logger: ctx.logger, tls: true }));
      try {
        const admin: HubTarget = { url: hub.url, token: readFileSync(hub.adminTokenFile, 'utf8').trim(), ca: hub.caCert! };
        await applyManifests(admin, path.join(EDGEADM_ROOT, 'sites/examples/demo-resources.yaml'));
        // The demo site's node joins like any edge node: a bootstrap token for its credential, kept for the next start.
        const credentialFile = path.join(opts.dataDir, 'node-demo-gw.credential');
        let credential = existsSync(credentialFile) ? readFileSync(credentialFile, 'utf8').trim() : '';
        if (!credential || !hub.tokens.verify(credential)) {
          const bootstrap = await hubFetch<{ token: string }>(admin, 'POST', '/api/v1/bootstrap-tokens', { site: 'demo', ttlSeconds: 600, description: 'demo node' });
          const joined = await hubFetch<{ credential: string }>({ ...admin, token: bootstrap.token }, 'POST', '/api/v1/join', { site: 'demo', node: 'demo-gw' });
          credential = joined.credential;
          writeFileSync(credentialFile, `${credential}\n`, { mode: 0o600 });
        }
        const agent = await startSiteAgent({
          site: 'demo',
          token: credential,
          tunnel: { url: hub.tunnelUrl, node: 'demo-gw', ca: hub.caCert! },
          dataDir: path.join(opts.dataDir, 'site-demo'),
          logger: ctx.logger,
          broker: { host: '127.0.0.1', port: 0 },
        });
        const rel = path.relative(process.cwd(), hub.adminTokenFile) || hub.adminTokenFile;
        const relCa = path.relative(process.cwd(), hub.caFile!) || hub.caFile!;
        ctx.out.write(
          [
            `hub:          ${hub.url}   (API docs: ${hub.url}/docs; its CA: ${relCa})`,
            `admin token:  ${rel}`,
            `demo site:    'demo' with simulated devices sim-1 and sim-2${agent.status().brokerUrl ? `; site MQTT broker ${agent.status().brokerUrl}` : ''}`,
            `              its node 'demo-gw' reaches the hub through the tunnel (${hub.tunnelUrl})`,
            '',
            'watch live readings (in another terminal):',
            `  EDGEADM_TOKEN=$(cat ${rel}) npx edgeadm telemetry watch --hub ${hub.url} --ca-file ${relCa} --site demo`,
            '',
            'Ctrl-C stops the demo.',
            '',
          ].join('\n'),
        );
        const sig = await waitForSignal();
        ctx.logger.info({ signal: sig }, 'stopping');
        await agent.stop();
      } finally {
        await hub.close();
      }
    });
  examples(cmd, ['edgeadm demo', 'edgeadm demo --port 8443 --data-dir /tmp/edgeadm-demo']);
}
