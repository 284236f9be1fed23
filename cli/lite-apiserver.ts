/**
 * `edgeadm lite-apiserver run`: the caching Kubernetes API proxy for one
 * edge node, in the foreground. The node's components (kubelet, kube-proxy,
 * pods) point their kubeconfig's server at it; it keeps them answered while
 * the cloud is unreachable.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { dns1123SubdomainProblem, goDurationMs } from '../core/kernel/index.ts';
import { contextOf, listening, parseListenHost, parsePort } from './context.ts';
import { ErrUsage } from './errors.ts';
import { waitForSignal } from './signals.ts';
import { examples, summary } from './commands.ts';

/** Default port of the proxy's /metrics, /healthz and /readyz. */
export const LITE_APISERVER_METRICS_PORT = 51004;
const DEFAULT_CACHE_DIR = '/var/lib/edgeadm/lite-apiserver';

/** A size in bytes: a number with an optional Ki, Mi or Gi suffix (Kubernetes quantities). */
export function parseByteSize(value: string, flag: string): number {
  const m = /^([0-9]+)(Ki|Mi|Gi)?$/.exec(value);
  const n = m === null ? NaN : Number(m[1]) * (m[2] === 'Gi' ? 2 ** 30 : m[2] === 'Mi' ? 2 ** 20 : m[2] === 'Ki' ? 2 ** 10 : 1);
  if (!Number.isSafeInteger(n) || n < 1024 * 1024) throw new ErrUsage({ argument: flag, reason: `'${value}' is not a size of at least 1Mi (a number of bytes, or with Ki, Mi, Gi)` });
  return n;
}

function durationMs(value: string, flag: string): number {
  const ms = goDurationMs(value);
  if (ms === undefined || ms <= 0) throw new ErrUsage({ argument: flag, reason: `'${value}' is not a positive duration (e.g. 3s, 500ms)` });
  return ms;
}

interface RunOpts {
  kubeconfig: string;
  server?: string;
  node: string;
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
  clientCaFile: string;
  storage: string;
  cacheDir: string;
  cacheMaxBytes: string;
  host: string;
  port: string;
  metricsHost: string;
  metricsPort: string;
  dialTimeout: string;
}

export function registerLiteApiserver(program: Command): void {
  const group = program.command('lite-apiserver').description(summary('lite-apiserver'));
  const run = group
    .command('run')
    .description('Run the proxy for this node in the foreground until Ctrl-C')
    .requiredOption('--kubeconfig <file>', "the node's own kubeconfig (the kubelet's): the cloud's API server and the node's credential, never an admin one")
    .option('--server <url>', "the cloud's API server, when the kubeconfig's server is no longer it (the kubelet's kubeconfig points at this proxy)")
    .requiredOption('--node <name>', 'this node: clients presenting system:node:<name> are re-presented with the node credential')
    .requiredOption('--tls-cert-file <file>', 'serving certificate (PEM) for the address the components use')
    .requiredOption('--tls-private-key-file <file>', 'its private key (PEM)')
    .requiredOption('--client-ca-file <file>', "the CA the components' client certificates are signed by (the cluster CA)")
    .requiredOption('--storage <driver>', "cache storage: 'file' (a light edge node) or 'sqlite' (a heavy one); no default")
    .option('--cache-dir <dir>', 'where the cache lives', DEFAULT_CACHE_DIR)
    .option('--cache-max-bytes <size>', 'size bound of the cache; least recently used entries go first', '256Mi')
    .option('--host <address>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port (0: any free port)', '51003')
    .option('--metrics-host <address>', 'listen address of /metrics, /healthz and /readyz', '127.0.0.1')
    .option('--metrics-port <port>', 'port of /metrics, /healthz and /readyz (0: any free port)', String(LITE_APISERVER_METRICS_PORT))
    .option('--dial-timeout <duration>', 'longest wait for a connection to the cloud while online (offline, requests never wait)', '3s')
    .action(async (o: RunOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problem = dns1123SubdomainProblem(o.node);
      if (problem !== undefined) throw new ErrUsage({ argument: '--node', reason: `'${o.node}' ${problem}` });
      if (o.storage !== 'file' && o.storage !== 'sqlite') throw new ErrUsage({ argument: '--storage', reason: `'${o.storage}' is not a storage driver: choose 'file' or 'sqlite'` });
      const maxBytes = parseByteSize(o.cacheMaxBytes, '--cache-max-bytes');
      const host = parseListenHost(o.host, '--host');
      const port = parsePort(o.port, '--port');
      const metricsHost = parseListenHost(o.metricsHost, '--metrics-host');
      const metricsPort = parsePort(o.metricsPort, '--metrics-port');
      const dialTimeoutMs = durationMs(o.dialTimeout, '--dial-timeout');
      const { startLiteApiserver } = await import('../core/lite-apiserver/index.ts');
      const { startMetricsServer } = await import('../core/kernel/index.ts');
      const storagePath = o.storage === 'sqlite' ? path.join(o.cacheDir, 'cache.db') : path.join(o.cacheDir, 'entries');
      const lite = await listening(port, '--port', () =>
        startLiteApiserver({
          nodeName: o.node,
          kubeconfig: o.kubeconfig,
          ...(o.server === undefined ? {} : { server: o.server }),
          tls: { certFile: o.tlsCertFile, keyFile: o.tlsPrivateKeyFile, clientCaFile: o.clientCaFile },
          storage: { driver: o.storage as 'file' | 'sqlite', path: storagePath, maxBytes },
          listen: { host, port },
          dialTimeoutMs,
          logger: ctx.logger,
        }),
      );
      let metrics;
      try {
        metrics = await listening(metricsPort, '--metrics-port', () =>
          startMetricsServer({ host: metricsHost, port: metricsPort, metrics: lite.registry, health: { live: () => undefined, ready: () => undefined } }),
        );
      } catch (err) {
        await lite.close();
        throw err;
      }
      const s = lite.status();
      ctx.out.write(`lite-apiserver for node ${o.node} on ${lite.url} (upstream ${s.upstream}, ${s.state}; ${o.storage} cache in ${storagePath})\nmetrics: ${metrics.url}/metrics (probes: /healthz, /readyz)\n`);
      const sig = await waitForSignal();
      ctx.logger.info({ signal: sig }, 'stopping');
      await metrics.close();
      await lite.close();
    });
  examples(run, [
    'edgeadm lite-apiserver run --kubeconfig /etc/kubernetes/kubelet.conf --node gw-1 --storage file \\\n    --tls-cert-file /etc/edgeadm/lite-apiserver.crt --tls-private-key-file /etc/edgeadm/lite-apiserver.key --client-ca-file /etc/kubernetes/pki/ca.crt',
  ]);
  examples(group, ['edgeadm lite-apiserver run --help']);
}
