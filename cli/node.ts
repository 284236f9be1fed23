/**
 * `edgeadm node list|show|trust-host-keys|reject-host-keys`: edge nodes,
 * their tunnel connection and when they were last seen, and the SSH host
 * keys `edgeadm ssh` trusts for them. A node that joins again with other
 * host keys does not get them trusted: the change waits (`node show` says
 * so, and `edgeadm ssh` refuses) until an admin checks the fingerprints on
 * the node and runs `trust-host-keys` (or `reject-host-keys`).
 */
import type { Command } from 'commander';
import type { HostKey, HostKeysView } from '../core/hub/index.ts';
import { dns1123LabelProblem, nodeStanding, type AgentReport, type NodeSpec, type NodeStatus, type SiteSpec, type SiteStatus } from '../core/store/index.ts';
import { hubFetch, hubTarget, withHubOptions } from './client.ts';
import { contextOf, type CommandContext } from './context.ts';
import { emit, renderDetails, renderTable } from './output.ts';
import { ago, agoMs, checkSite, collect, getResource, listAll, usage, type HubOpts, type Obj, type Problem } from './resources.ts';
import { examples, summary } from './commands.ts';

type Node = Obj<NodeSpec, NodeStatus>;
type Site = Obj<SiteSpec, SiteStatus>;
type LiteReport = NonNullable<AgentReport['liteApiserver']>;

/** Each node's lite-apiserver, from its agent's report in its Site's status (key `node:<name>`). */
function liteReports(sites: readonly Site[]): Map<string, LiteReport> {
  const out = new Map<string, LiteReport>();
  for (const site of sites) {
    for (const [producer, report] of Object.entries(site.status?.agents ?? {})) {
      if (producer.startsWith('node:') && report.liteApiserver !== undefined) out.set(producer.slice('node:'.length), report.liteApiserver);
    }
  }
  return out;
}

const size = (bytes: number): string => (bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** A node's lite-apiserver in a word or two: `online`, `offline 5m`, `failed`; `-` on a node without one. */
export function liteSummary(l: LiteReport | undefined, now = Date.now()): string {
  if (l === undefined) return '-';
  return l.state === 'online' || l.state === 'failed' ? l.state : `${l.state} ${agoMs(now - Date.parse(l.since))}`;
}

/** The lines of `node show` for its lite-apiserver. */
function liteDetails(l: LiteReport | undefined, now: number): [string, unknown][] {
  if (l === undefined) return [['lite-apiserver', '- (not a Kubernetes-mode node, or no report yet)']];
  if (l.state === 'failed') return [['lite-apiserver', `failed since ${l.since} (${ago(l.since, now)}): ${l.lastError ?? 'see the node agent log'}`]];
  return [
    ['lite-apiserver', `${l.state} since ${l.since} (${ago(l.since, now)})${l.state === 'online' ? '' : ': the node answers its components from its cache'}`],
    ['lite-apiserver cache', `${size(l.cacheBytes)} in ${l.cacheEntries} entries; ${l.hits} answered offline, ${l.misses} not cached`],
    ['lite-apiserver outages', `${l.outages} (${Math.round(l.offlineSeconds)} s offline in all)${l.lastError === undefined ? '' : `; last error: ${l.lastError}`}`],
  ];
}

/** Whether `name` is a node (or site) name: a DNS-1123 label (the store's rule), as the hub's join takes it. */
export const isNodeName = (name: string): boolean => dns1123LabelProblem(name) === undefined;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** The peers' vote on the node (core/health), e.g. `healthy 3/3`; `-` before any. */
function health(n: Node): string {
  const h = n.status?.health;
  if (!h) return '-';
  return `${h.verdict} ${h.verdict === 'unhealthy' ? h.cons : h.pros}/${h.expected}`;
}

/** Adds a problem naming `argument` when `name` is not a node name. */
export function checkNodeName(name: string, argument: string, problems: Problem[]): void {
  if (!isNodeName(name)) problems.push({ argument, reason: `'${name}' is not a node name (lowercase letters, digits and '-', at most 63)` });
}

const hostKeysPath = (name: string): string => `/api/v1/nodes/${encodeURIComponent(name)}/host-keys`;
const keyLine = (k: HostKey): string => `${k.type} ${k.fingerprint}`;

/** The command that confirms a node's pending host keys, naming their fingerprints. */
export function trustCommand(view: HostKeysView): string {
  return `edgeadm node trust-host-keys ${view.node}${(view.pending?.keys ?? []).map((k) => ` --fingerprint ${k.fingerprint}`).join('')}`;
}

/** The host-key lines of `node show` and of the trust/reject answers. */
function hostKeyDetails(view: HostKeysView, now: number): [string, unknown][] {
  const rows: [string, unknown][] = [
    ['SSH host keys', view.trusted.map(keyLine)],
    ['Trusted since', view.trustedAt === undefined ? undefined : `${view.trustedAt} (${ago(view.trustedAt, now)})`],
  ];
  const p = view.pending;
  if (p) {
    rows.push(
      ['Pending host keys', p.keys.map(keyLine)],
      ['Pending since', `${p.reportedAt} (${ago(p.reportedAt, now)}), reported by a join${p.bootstrapTokenId ? ` with bootstrap token ${p.bootstrapTokenId}` : ''}`],
      ['To confirm', `${trustCommand(view)}   (after checking each with 'ssh-keygen -lf' on the node; or: edgeadm node reject-host-keys ${view.node})`],
    );
  }
  return rows;
}

function emitHostKeys(ctx: CommandContext, view: HostKeysView, said: string): void {
  emit(ctx.options.output, view, () => `${said}\n${renderDetails(hostKeyDetails(view, Date.now()))}`);
}

export function registerNode(program: Command): Command {
  const group = program.command('node').description(summary('node'));
  examples(group, ['edgeadm node list', 'edgeadm node show gw-1', 'edgeadm node trust-host-keys gw-1 --fingerprint SHA256:<base64>']);
  const list = withHubOptions(group.command('list').alias('ls').description('List nodes: site, tunnel connection, last seen, tunnel replica, standing (connection and the peers\' vote), lite-apiserver').option('--site <site>', 'only this site')).action(
    async (o: HubOpts & { site?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkSite(o.site, '--site', problems);
      usage(problems);
      const target = hubTarget(o);
      const [nodes, sites] = await Promise.all([listAll<Node>(target, 'nodes', { ...(o.site === undefined ? {} : { site: o.site }) }), listAll<Site>(target, 'sites')]);
      const lite = liteReports(sites);
      const now = Date.now();
      emit(ctx.options.output, nodes, () =>
        renderTable(nodes, [
          { header: 'name', value: (n) => n.metadata.name },
          { header: 'site', value: (n) => n.spec.site },
          { header: 'connected', value: (n) => (n.status?.connected === true ? 'yes' : 'no') },
          { header: 'last seen', value: (n) => ago(n.status?.lastSeen, now) },
          { header: 'tunnel replica', value: (n) => n.status?.tunnel?.replica ?? '-' },
          { header: 'host keys', value: (n) => (n.status?.sshHostKeysPending ? 'CHANGE PENDING' : String(n.status?.sshHostKeys?.length ?? 0)) },
          { header: 'standing', value: (n) => nodeStanding(n) },
          { header: 'peers vote', value: health },
          { header: 'lite-apiserver', value: (n) => liteSummary(lite.get(n.metadata.name), now) },
        ]),
      );
    },
  );
  examples(list, ['edgeadm node list', 'edgeadm node list --site plant-a', 'edgeadm node list -o yaml']);

  const show = withHubOptions(group.command('show').description('Show one node: site, connection, and its trusted SSH host keys (fingerprints) with any pending change').argument('<name>', 'the node')).action(
    async (name: string, o: HubOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkNodeName(name, '<name>', problems);
      usage(problems);
      const target = hubTarget(o);
      const [node, hostKeys] = await Promise.all([getResource<Node>(target, 'nodes', name), hubFetch<HostKeysView>(target, 'GET', hostKeysPath(name))]);
      const site = await getResource<Site>(target, 'sites', node.spec.site);
      const liteApiserver = liteReports([site]).get(name);
      const now = Date.now();
      emit(ctx.options.output, { node, hostKeys, ...(liteApiserver === undefined ? {} : { liteApiserver }) }, () =>
        renderDetails([
          ['Name', name],
          ['Site', node.spec.site],
          ['Hostname', node.spec.hostname],
          ['Addresses', node.spec.addresses ?? []],
          ['Connected', node.status?.connected === true ? `yes (replica ${node.status.tunnel?.replica ?? '-'})` : 'no'],
          ['Last seen', ago(node.status?.lastSeen, now)],
          ['Joined', node.status?.joinedAt === undefined ? '-' : `${node.status.joinedAt} (${ago(node.status.joinedAt, now)})`],
          ['Standing', nodeStanding(node)],
          [
            "Peers' vote",
            node.status?.health === undefined
              ? '-'
              : `${health(node)} (${node.status.health.pros} pass, ${node.status.health.cons} fail; since ${node.status.health.since}; last vote ${node.status.health.votedAt ?? '-'}; reported by ${node.status.health.reportedBy} ${ago(node.status.health.reportedAt, now)})`,
          ],
          ['Message', node.status?.message],
          ...liteDetails(liteApiserver, now),
          ...hostKeyDetails(hostKeys, now),
        ]),
      );
    },
  );
  examples(show, ['edgeadm node show gw-1', 'edgeadm node show gw-1 -o json']);

  const trust = withHubOptions(
    group
      .command('trust-host-keys')
      .description("Trust the SSH host keys a node reported when it joined again (admin): all pending keys, or only those whose fingerprints you checked on the node")
      .argument('<name>', 'the node')
      .option('--fingerprint <SHA256:...>', "trust this pending key (as 'ssh-keygen -lf' prints it on the node); repeat for more", collect),
  ).action(async (name: string, o: HubOpts & { fingerprint?: string[] }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    checkNodeName(name, '<name>', problems);
    for (const f of o.fingerprint ?? []) if (!FINGERPRINT.test(f)) problems.push({ argument: '--fingerprint', reason: `'${f}' is not SHA256:<43 base64 characters>, as 'ssh-keygen -lf' prints it` });
    usage(problems);
    const body = o.fingerprint === undefined ? {} : { fingerprints: o.fingerprint };
    const view = await hubFetch<HostKeysView>(hubTarget(o), 'POST', `${hostKeysPath(name)}/trust`, body);
    emitHostKeys(ctx, view, `node '${name}': the pending SSH host keys are trusted now`);
  });
  examples(trust, [
    'edgeadm node show gw-1                     # the pending keys and their fingerprints',
    'edgeadm node trust-host-keys gw-1 --fingerprint SHA256:<base64>   # only this key, checked on the node',
    'edgeadm node trust-host-keys gw-1          # every pending key',
  ]);

  const reject = withHubOptions(group.command('reject-host-keys').description('Drop the SSH host keys a node reported when it joined again (admin): the trusted keys stay').argument('<name>', 'the node')).action(
    async (name: string, o: HubOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkNodeName(name, '<name>', problems);
      usage(problems);
      const view = await hubFetch<HostKeysView>(hubTarget(o), 'POST', `${hostKeysPath(name)}/reject`);
      emitHostKeys(ctx, view, `node '${name}': the pending SSH host keys were dropped; the trusted ones stay`);
    },
  );
  examples(reject, ['edgeadm node reject-host-keys gw-1']);
  return group;
}
