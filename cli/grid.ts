/** `edgeadm grid run`: the application grid's controllers (NodeUnit, NodeGroup, DeploymentGrid, StatefulSetGrid, ServiceGrid) in the foreground. */
import type { Command } from 'commander';
import { GRID_METRICS_PORT, TOPOLOGY_WRAPPER_PORT } from '../core/grid/index.ts';
import { dns1123SubdomainProblem } from '../core/kernel/index.ts';
import { contextOf, listening, parseListenHost, parsePort } from './context.ts';
import { ErrUsage } from './errors.ts';
import { kubeConfigOption } from './hub.ts';
import { waitForSignal } from './signals.ts';
import { examples, summary } from './commands.ts';

export function registerGrid(program: Command): void {
  const group = program.command('grid').description(summary('grid'));
  examples(group, ['edgeadm grid run --kubeconfig ~/.kube/config']);
  const run = group
    .command('run')
    .description('Run the grid controllers against a cluster in the foreground until Ctrl-C')
    .requiredOption('--kubeconfig <file>', "the cluster: a kubeconfig file, or 'in-cluster' for the pod's ServiceAccount")
    .option('--workers <n>', 'concurrent reconciles per controller', '2')
    .option('--metrics-host <address>', 'listen address of /metrics, /healthz and /readyz', '127.0.0.1')
    .option('--metrics-port <port>', 'port of /metrics, /healthz and /readyz (0: any free port)', String(GRID_METRICS_PORT))
    .action(async (opts: { kubeconfig: string; workers: string; metricsHost: string; metricsPort: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const kubeConfig = kubeConfigOption(opts.kubeconfig);
      const workers = Number(opts.workers);
      if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new ErrUsage({ argument: '--workers', reason: `'${opts.workers}' is not a number of workers (1-64)` });
      const host = parseListenHost(opts.metricsHost, '--metrics-host');
      const port = parsePort(opts.metricsPort, '--metrics-port');
      // Loaded on use: other commands do not carry the Kubernetes client.
      const { startGridRuntime } = await import('../core/grid/index.ts');
      const grid = await listening(port, '--metrics-port', () => startGridRuntime({ kubeConfig, logger: ctx.logger, workers, listen: { host, port } }));
      const failed = new AbortController();
      const stop = waitForSignal(failed.signal);
      const started = await Promise.race([grid.ready.then(() => 'ready' as const), stop]).catch(async (err: unknown) => {
        failed.abort();
        await grid.close();
        throw err;
      });
      if (started !== 'ready') {
        ctx.logger.info({ signal: started }, 'stopping');
        await grid.close();
        return;
      }
      ctx.out.write(`grid controllers running on ${kubeConfig === 'in-cluster' ? 'the cluster of this pod' : `the cluster in ${kubeConfig}`}\nmetrics: ${grid.url}/metrics (probes: /healthz, /readyz)\n`);
      const sig = await stop;
      ctx.logger.info({ signal: sig }, 'stopping');
      await grid.close();
    });
  examples(run, ['edgeadm grid run --kubeconfig ~/.kube/config', 'edgeadm grid run --kubeconfig in-cluster --metrics-host 0.0.0.0   # as the install manifests run it']);

  const wrapper = group
    .command('wrapper')
    .description("Run the topology wrapper for one node until Ctrl-C: kube-proxy's API server address, keeping a ServiceGrid's endpoints in the node's unit")
    .requiredOption('--kubeconfig <file>', "the wrapper's own cluster credential (reads Services and Nodes only): a kubeconfig file, or 'in-cluster'")
    .requiredOption('--node <name>', 'the node kube-proxy runs on')
    .option('--host <address>', 'listen address (kube-proxy runs on the same node)', '127.0.0.1')
    .option('--port <port>', 'listen port (0: any free port)', String(TOPOLOGY_WRAPPER_PORT))
    .action(async (opts: { kubeconfig: string; node: string; host: string; port: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const kubeConfig = kubeConfigOption(opts.kubeconfig);
      const problem = dns1123SubdomainProblem(opts.node);
      if (problem !== undefined) throw new ErrUsage({ argument: '--node', reason: `'${opts.node}' ${problem}` });
      const host = parseListenHost(opts.host, '--host');
      const port = parsePort(opts.port, '--port');
      const { startTopologyWrapper } = await import('../core/grid/index.ts');
      const w = await listening(port, '--port', () => startTopologyWrapper({ kubeConfig, nodeName: opts.node, host, port, logger: ctx.logger }));
      ctx.out.write(`topology wrapper for node ${opts.node} on ${w.url}: point kube-proxy's kubeconfig server there\n`);
      const sig = await waitForSignal();
      ctx.logger.info({ signal: sig }, 'stopping');
      await w.close();
    });
  examples(wrapper, ['edgeadm grid wrapper --kubeconfig /etc/edgeadm/wrapper.kubeconfig --node gw-1']);
}
