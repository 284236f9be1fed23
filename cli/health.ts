/**
 * `edgeadm health`: distributed health. `health key` makes and rotates the
 * cluster's health key (cli/health-key.ts). `health webhook` runs the admission
 * webhook (core/health) that keeps the pods and Service endpoints of nodes
 * their peers vote healthy while the cloud cannot reach them.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Command } from 'commander';
import { HEALTH_WEBHOOK_PORT } from '../core/health/index.ts';
import { contextOf, listening, parseListenHost, parsePort } from './context.ts';
import { ErrUsage } from './errors.ts';
import { registerHealthKey } from './health-key.ts';
import { kubeConfigOption } from './hub.ts';
import { usage, type Problem } from './resources.ts';
import { waitForSignal } from './signals.ts';
import { examples, summary } from './commands.ts';

interface WebhookFlags {
  kubeconfig: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  host: string;
  port: string;
}

interface WebhookOptions {
  kubeConfig: string;
  tls: { cert: string; key: string };
  host: string;
  port: number;
}

/** Runs `check`; a usage error it throws becomes a problem of the list. */
function collect<T>(problems: Problem[], check: () => T): T | undefined {
  try {
    return check();
  } catch (err) {
    if (!ErrUsage.is(err)) throw err;
    problems.push(err.params);
    return undefined;
  }
}

/** A PEM file's text, or a problem naming the flag. */
function readPem(file: string, flag: string, label: RegExp, what: string, problems: Problem[]): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ argument: flag, reason: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return undefined;
  }
  if (!label.test(text)) {
    problems.push({ argument: flag, reason: `${file} holds no PEM ${what}` });
    return undefined;
  }
  return text;
}

/** Checks every flag of `health webhook`; throws one EDGE_ERR_USAGE naming each problem. */
export function checkWebhookFlags(f: WebhookFlags): WebhookOptions {
  const problems: Problem[] = [];
  const kubeConfig = collect(problems, () => kubeConfigOption(f.kubeconfig));
  const cert = readPem(f.tlsCertFile, '--tls-cert-file', /-----BEGIN CERTIFICATE-----/, 'certificate', problems);
  const key = readPem(f.tlsKeyFile, '--tls-key-file', /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/, 'private key', problems);
  if (cert !== undefined && key !== undefined) {
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      problems.push({ argument: '--tls-key-file', reason: `${f.tlsKeyFile} does not go with the certificate in ${f.tlsCertFile}: ${(err as Error).message}` });
    }
  }
  const host = collect(problems, () => parseListenHost(f.host, '--host'));
  const port = collect(problems, () => parsePort(f.port, '--port'));
  usage(problems);
  return { kubeConfig: kubeConfig!, tls: { cert: cert!, key: key! }, host: host!, port: port! };
}

/** Adds `edgeadm health` and returns the group, for its other subcommands. */
export function registerHealth(program: Command): Command {
  const group = program.command('health').description(summary('health'));
  examples(group, ['edgeadm health key create', 'edgeadm health webhook --kubeconfig ~/.kube/config --tls-cert-file tls.crt --tls-key-file tls.key']);
  registerHealthKey(group);

  const webhook = group
    .command('webhook')
    .description("Run the admission webhook until Ctrl-C: keeps the unreachable taint off nodes their peers vote healthy, and their pods' addresses in Endpoints and EndpointSlices")
    .requiredOption('--kubeconfig <file>', "the cluster (reads Nodes only): a kubeconfig file, or 'in-cluster' for the pod's ServiceAccount")
    .requiredOption('--tls-cert-file <file>', 'serving certificate (PEM) for the names kube-apiserver calls the webhook at (<service>.<namespace>.svc)')
    .requiredOption('--tls-key-file <file>', "the certificate's private key (PEM)")
    .option('--host <address>', 'listen address', '0.0.0.0')
    .option('--port <port>', 'listen port (0: any free port)', String(HEALTH_WEBHOOK_PORT))
    .action(async (flags: WebhookFlags, cmd: Command) => {
      const ctx = contextOf(cmd);
      const o = checkWebhookFlags(flags);
      // Loaded on use: other commands do not carry the server or the Kubernetes client.
      const { startHealthWebhook, startNodeCache } = await import('../core/health/index.ts');
      const cache = await startNodeCache({ kubeConfig: o.kubeConfig, logger: ctx.logger });
      let hook: Awaited<ReturnType<typeof startHealthWebhook>>;
      try {
        hook = await listening(o.port, '--port', () => startHealthWebhook({ host: o.host, port: o.port, tls: o.tls, nodes: cache, logger: ctx.logger, ready: () => cache.synced() }));
      } catch (err) {
        await cache.close();
        throw err;
      }
      const closeAll = async (): Promise<void> => {
        await hook.close();
        await cache.close();
      };
      const failed = new AbortController();
      const stop = waitForSignal(failed.signal);
      // Serving starts at once (/readyz says 503 until the nodes are listed); a cluster that refuses the list ends it.
      const started = await Promise.race([cache.ready.then(() => 'ready' as const), stop]).catch(async (err: unknown) => {
        failed.abort();
        await closeAll();
        throw err;
      });
      if (started !== 'ready') {
        ctx.logger.info({ signal: started }, 'stopping');
        await closeAll();
        return;
      }
      ctx.out.write(`health webhook on ${hook.url} (${cache.size} nodes of ${o.kubeConfig === 'in-cluster' ? 'the cluster of this pod' : `the cluster in ${o.kubeConfig}`})\n`);
      const sig = await stop;
      ctx.logger.info({ signal: sig }, 'stopping');
      await closeAll();
    });
  examples(webhook, [
    'edgeadm health webhook --kubeconfig ~/.kube/config --tls-cert-file tls.crt --tls-key-file tls.key --port 9443',
    'edgeadm health webhook --kubeconfig in-cluster --tls-cert-file /etc/edgeadm/webhook-tls/tls.crt --tls-key-file /etc/edgeadm/webhook-tls/tls.key   # as the install manifests run it',
  ]);
  return group;
}
