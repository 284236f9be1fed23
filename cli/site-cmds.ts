/**
 * `edgeadm site create|list|show|delete`: Sites at the hub. Added to the
 * `site` group (which also holds `site run`, the agent) by
 * `registerSiteCommands(siteGroup)`.
 */
import type { Command } from 'commander';
import { runsAsGrid, type AddonSpec, type AddonStatus, type DeviceSpec, type NodeSpec, type NodeStatus, type SiteSpec, type SiteStatus } from '../core/store/index.ts';
import { addonSiteRows } from './addon.ts';
import { hubTarget, withHubOptions } from './client.ts';
import { contextOf } from './context.ts';
import { examples } from './commands.ts';
import { emit, renderDetails, renderTable } from './output.ts';
import { ago, checkSite, collect, createResource, deleteResource, getResource, listAll, parseLabels, usage, type HubOpts, type Obj, type Problem } from './resources.ts';

type Site = Obj<SiteSpec, SiteStatus>;

const labelText = (labels: Record<string, string> | undefined): string => Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '-';

export function registerSiteCommands(group: Command): Command {
  const create = withHubOptions(
    group
      .command('create')
      .description('Create a site at the hub (its agent joins later with `edgeadm join` or `edgeadm site run`)')
      .argument('<name>', 'the site name (lowercase letters, digits and -)')
      .option('--label <key=value>', 'a label on the site (repeatable); addons select sites by label', collect)
      .option('--display-name <text>', 'a human-readable name')
      .option('--description <text>', 'what the site is'),
  ).action(async (name: string, o: HubOpts & { label?: string[]; displayName?: string; description?: string }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    checkSite(name, '<name>', problems);
    const labels = await parseLabels(o.label ?? [], '--label', problems);
    if (o.displayName !== undefined && (o.displayName === '' || o.displayName.length > 256)) problems.push({ argument: '--display-name', reason: 'must be 1 to 256 characters' });
    usage(problems);
    const spec: SiteSpec = {
      ...(o.displayName === undefined ? {} : { displayName: o.displayName }),
      ...(o.description === undefined ? {} : { description: o.description }),
    };
    const site = await createResource<Site>(hubTarget(o), 'sites', { kind: 'Site', metadata: { name, ...(Object.keys(labels).length > 0 ? { labels } : {}) }, spec });
    emit(ctx.options.output, site, () => `site '${name}' created; join a node with: edgeadm token create --site ${name}, then edgeadm join <hub-url> --token <token> --site ${name}\n`);
  });
  examples(create, ['edgeadm site create plant-a', 'edgeadm site create plant-b --label region=eu --label line=2 --display-name "Plant B, Lyon"']);

  const list = withHubOptions(group.command('list').alias('ls').description('List sites with their connection state and what runs there')).action(async (o: HubOpts, cmd: Command) => {
    const ctx = contextOf(cmd);
    const target = hubTarget(o);
    const [sites, nodes, devices] = await Promise.all([listAll<Site>(target, 'sites'), listAll<Obj<NodeSpec>>(target, 'nodes'), listAll<Obj<DeviceSpec>>(target, 'devices')]);
    const count = (items: readonly { spec: { site: string } }[], site: string): number => items.filter((i) => i.spec.site === site).length;
    const now = Date.now();
    emit(ctx.options.output, sites, () =>
      renderTable(sites, [
        { header: 'name', value: (s) => s.metadata.name },
        { header: 'phase', value: (s) => s.status?.phase ?? 'Pending' },
        { header: 'last seen', value: (s) => ago(s.status?.lastSeen, now) },
        { header: 'agent', value: (s) => s.status?.agentVersion ?? '-' },
        { header: 'nodes', value: (s) => count(nodes, s.metadata.name) },
        { header: 'devices', value: (s) => count(devices, s.metadata.name) },
        { header: 'labels', value: (s) => labelText(s.metadata.labels) },
      ]),
    );
  });
  examples(list, ['edgeadm site list', 'edgeadm site list -o json']);

  const show = withHubOptions(group.command('show').description("Show one site: status, nodes, device count and the addons that target it").argument('<name>', 'the site')).action(
    async (name: string, o: HubOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkSite(name, '<name>', problems);
      usage(problems);
      const target = hubTarget(o);
      const site = await getResource<Site>(target, 'sites', name);
      const [nodes, devices, addons] = await Promise.all([
        listAll<Obj<NodeSpec, NodeStatus>>(target, 'nodes', { site: name }),
        listAll<Obj<DeviceSpec>>(target, 'devices', { site: name }),
        listAll<Obj<AddonSpec, AddonStatus>>(target, 'addons'),
      ]);
      const rows = addonSiteRows(addons, [site]);
      const gridAddons = new Set(addons.filter((a) => runsAsGrid(a)).map((a) => a.metadata.name));
      const connected = nodes.filter((n) => n.status?.connected === true).length;
      const data = {
        site,
        nodes: nodes.map((n) => ({ name: n.metadata.name, connected: n.status?.connected === true, lastSeen: n.status?.lastSeen })),
        // A Site is a NodeUnit (on Kubernetes, NodeUnit <site> made by the hub): its nodes are the unit's members.
        unit: { name, nodes: nodes.length, connected },
        devices: devices.length,
        // The Addons that target the site, with the state `edgeadm addon status` shows and where they run.
        addons: rows
          .filter((r) => r.site === name)
          .map((r) => ({
            name: r.addon,
            plugin: r.plugin,
            state: r.state,
            runsAs: gridAddons.has(r.addon) ? ('grid' as const) : ('agent' as const),
            ...(r.code === undefined ? {} : { code: r.code }),
            ...(r.message === undefined ? {} : { message: r.message }),
          })),
      };
      const now = Date.now();
      emit(ctx.options.output, data, () =>
        renderDetails([
          ['Name', name],
          ['Display name', site.spec.displayName],
          ['Description', site.spec.description],
          ['Labels', labelText(site.metadata.labels)],
          ['Phase', site.status?.phase ?? 'Pending'],
          ['Last seen', ago(site.status?.lastSeen, now)],
          ['Agent version', site.status?.agentVersion ?? '-'],
          ['Synced version', site.status?.syncedResourceVersion ?? '-'],
          ['Message', site.status?.message],
          ['Unit', `${name}: ${connected}/${nodes.length} nodes connected`],
          ['Nodes', data.nodes.map((n) => `${n.name} (${n.connected ? 'connected' : 'not connected'}, last seen ${ago(n.lastSeen, now)})`)],
          ['Devices', String(devices.length)],
          ['Addons', data.addons.map((a) => `${a.name} (plugin ${a.plugin}, ${a.state}${a.runsAs === 'grid' ? ', as grids on Kubernetes' : ''})`)],
        ]),
      );
    },
  );
  examples(show, ['edgeadm site show plant-a', 'edgeadm site show plant-a -o yaml']);

  const del = withHubOptions(group.command('delete').description('Delete a site at the hub (its devices and nodes are not deleted)').argument('<name>', 'the site')).action(
    async (name: string, o: HubOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkSite(name, '<name>', problems);
      usage(problems);
      const target = hubTarget(o);
      const deleted = await deleteResource<Site>(target, 'sites', name);
      const left = (await listAll<Obj<DeviceSpec>>(target, 'devices', { site: name })).length;
      emit(ctx.options.output, deleted, () => `site '${name}' deleted${left > 0 ? `; ${left} device(s) still name it: remove them with 'edgeadm device remove <name>'` : ''}\n`);
    },
  );
  examples(del, ['edgeadm site delete plant-a']);
  return group;
}
