/** `edgeadm node list`: edge nodes, their tunnel connection and when they were last seen. */
import type { Command } from 'commander';
import type { NodeSpec, NodeStatus } from '../core/store/index.ts';
import { hubTarget, withHubOptions } from './client.ts';
import { contextOf, examples } from './context.ts';
import { emit, renderTable } from './output.ts';
import { ago, checkSite, listAll, usage, type HubOpts, type Obj, type Problem } from './resources.ts';

type Node = Obj<NodeSpec, NodeStatus & { health?: unknown }>;

/** A node's health verdict when its status carries one; `-` when unknown. */
function health(n: Node): string {
  const h = n.status?.health;
  if (typeof h === 'string' && h !== '') return h;
  if (h !== null && typeof h === 'object' && typeof (h as { state?: unknown }).state === 'string') return (h as { state: string }).state;
  return '-';
}

export function registerNode(program: Command): Command {
  const group = program.command('node').description('Edge nodes: the machines that joined a site');
  examples(group, ['edgeadm node list', 'edgeadm node list --site plant-a -o json']);
  const list = withHubOptions(group.command('list').alias('ls').description('List nodes: site, tunnel connection, last seen, tunnel replica, health').option('--site <site>', 'only this site')).action(
    async (o: HubOpts & { site?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkSite(o.site, '--site', problems);
      usage(problems);
      const nodes = await listAll<Node>(hubTarget(o), 'nodes', { ...(o.site === undefined ? {} : { site: o.site }) });
      const now = Date.now();
      emit(ctx.options.output, nodes, () =>
        renderTable(nodes, [
          { header: 'name', value: (n) => n.metadata.name },
          { header: 'site', value: (n) => n.spec.site },
          { header: 'connected', value: (n) => (n.status?.connected === true ? 'yes' : 'no') },
          { header: 'last seen', value: (n) => ago(n.status?.lastSeen, now) },
          { header: 'tunnel replica', value: (n) => n.status?.tunnel?.replica ?? '-' },
          { header: 'health', value: health },
        ]),
      );
    },
  );
  examples(list, ['edgeadm node list', 'edgeadm node list --site plant-a', 'edgeadm node list -o yaml']);
  return group;
}
