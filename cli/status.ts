/**
 * `edgeadm status`: is the hub up, and how are the sites, nodes, devices
 * and addons it knows: which site agents report problems (a full disk, a
 * stream the hub found already used), each site agent's memory and CPU,
 * whether every reading each agent sent is at the hub, and every Addon instance that is not running (failed,
 * invalid, blocked, in conflict with another Addon, unknown because its
 * site is offline, pending too long) with its site and message.
 */
import type { Command } from 'commander';
import { nodeStanding, siteStanding, type AddonSpec, type AddonStatus, type DeviceSpec, type DeviceStatus, type NodeSpec, type NodeStatus, type SiteSpec, type SiteStatus } from '../core/store/index.ts';
import type { Delivery } from '../core/hub/index.ts';
import { ErrHubDown } from './errors.ts';
import { fetchHub, hubFetch, hubTarget, withHubOptions, type HubTarget } from './client.ts';
import { contextOf } from './context.ts';
import { emit, renderDetails } from './output.ts';
import { addonSiteRows, rowMessage } from './addon.ts';
import { listAll, type HubOpts, type Obj } from './resources.ts';
import { summarizeDevices, type DeviceSummary } from './device-state.ts';
import { examples, summary } from './commands.ts';

export interface StatusReport {
  hub: { url: string; status: string };
  sites: {
    total: number;
    online: number;
    offline: number;
    pending: number;
    offlineNames: string[];
    /** Sites whose agent reports problems, with them. */
    degraded: { site: string; problems: { component: string; code: string; message: string; since: string }[] }[];
    /** Each site agent's process as it last reported: resident memory and CPU (% of one core since its previous report). */
    agents: { site: string; agent: string; rssMiB: number; cpuPercent: number; reportedAt: string }[];
  };
  /** Per site: acknowledged readings the hub holds against what the agent sent. */
  telemetry: { ok: number; unknown: number; missing: { site: string; missing: number; message: string }[]; sites: Delivery[] };
  /** Nodes: connected; voted down by their peers (with how they stand); disconnected while their peers vote them healthy. */
  nodes: { total: number; connected: number; down: { node: string; site: string; standing: string }[]; disconnectedHealthy: number };
  /** Sites that are not simply online: cut off with their nodes healthy, or with nodes down (siteStanding). */
  standing: { site: string; standing: string }[];
  /** Devices by state; those DOWN with their cause, those drifting from their desired values. */
  devices: DeviceSummary;
  /** Addon instances not running (failed, conflict, offline site, pending too long...), each with its site and message. */
  addons: { total: number; withProblems: { addon: string; site: string; state: string; code?: string; message?: string }[] };
}

async function health(target: HubTarget): Promise<string> {
  let res;
  try {
    res = await fetchHub(target, '/healthz');
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ErrHubDown({ url: target.url, reason: cause?.code ?? cause?.message ?? (err as Error).message }, { cause: err });
  }
  const body = (await res.json().catch(() => undefined)) as { status?: string } | undefined;
  if (!res.ok || body?.status !== 'ok') throw new ErrHubDown({ url: target.url, reason: `GET /healthz answered HTTP ${res.status}` });
  return body.status;
}

export function registerStatus(program: Command): Command {
  const cmd = withHubOptions(program.command('status').description(summary('status'))).action(
    async (o: HubOpts, c: Command) => {
      const ctx = contextOf(c);
      const target = hubTarget(o);
      const status = await health(target);
      const [sites, nodes, devices, addons, delivery] = await Promise.all([
        listAll<Obj<SiteSpec, SiteStatus>>(target, 'sites'),
        listAll<Obj<NodeSpec, NodeStatus>>(target, 'nodes'),
        listAll<Obj<DeviceSpec, DeviceStatus>>(target, 'devices'),
        listAll<Obj<AddonSpec, AddonStatus>>(target, 'addons'),
        hubFetch<{ items: Delivery[] }>(target, 'GET', '/api/v1/telemetry/delivery'),
      ]);
      const phase = (s: Obj<SiteSpec, SiteStatus>): string => s.status?.phase ?? 'Pending';
      const report: StatusReport = {
        hub: { url: target.url, status },
        sites: {
          total: sites.length,
          online: sites.filter((s) => phase(s) === 'Online').length,
          offline: sites.filter((s) => phase(s) === 'Offline').length,
          pending: sites.filter((s) => phase(s) === 'Pending').length,
          offlineNames: sites.filter((s) => phase(s) === 'Offline').map((s) => s.metadata.name),
          degraded: sites
            .map((s) => ({ site: s.metadata.name, problems: Object.values(s.status?.agents ?? {}).flatMap((a) => a.health.problems) }))
            .filter((d) => d.problems.length > 0),
          agents: sites.flatMap((s) =>
            Object.entries(s.status?.agents ?? {}).flatMap(([agent, a]) =>
              a.process ? [{ site: s.metadata.name, agent, rssMiB: Math.round((a.process.rssBytes / 1048576) * 10) / 10, cpuPercent: a.process.cpuPercent, reportedAt: a.reportedAt }] : [],
            ),
          ),
        },
        telemetry: {
          ok: delivery.items.filter((d) => d.state === 'ok').length,
          unknown: delivery.items.filter((d) => d.state === 'unknown').length,
          missing: delivery.items.filter((d) => d.state === 'missing').map((d) => ({ site: d.site, missing: d.missing, message: d.message })),
          sites: delivery.items,
        },
        nodes: {
          total: nodes.length,
          connected: nodes.filter((n) => n.status?.connected === true).length,
          down: nodes.filter((n) => nodeStanding(n) === 'down' || nodeStanding(n) === 'connected, peers vote unhealthy').map((n) => ({ node: n.metadata.name, site: n.spec.site, standing: nodeStanding(n) })),
          disconnectedHealthy: nodes.filter((n) => nodeStanding(n) === 'disconnected, peers vote healthy').length,
        },
        standing: sites.map((s) => ({ site: s.metadata.name, standing: siteStanding(s, nodes) })).filter((x) => x.standing !== 'online' && x.standing !== 'never connected'),
        devices: summarizeDevices(devices),
        addons: {
          total: addons.length,
          withProblems: addonSiteRows(addons, sites)
            .filter((r) => r.problem)
            .map(({ addon, site, state, code, message }) => ({ addon, site, state, ...(code === undefined ? {} : { code }), ...(message === undefined ? {} : { message }) })),
        },
      };
      const r = report;
      emit(ctx.options.output, report, () =>
        renderDetails([
          ['Hub', `${r.hub.url} (${r.hub.status})`],
          ['Sites', `${r.sites.total}: ${r.sites.online} online, ${r.sites.offline} offline, ${r.sites.pending} never connected`],
          ['Offline sites', r.sites.offlineNames.length === 0 ? undefined : r.sites.offlineNames.join(', ')],
          [
            'Site agents',
            r.sites.agents.length === 0
              ? undefined
              : r.sites.agents
                  .map((a) => `${a.site}${r.sites.agents.filter((b) => b.site === a.site).length > 1 ? ` (${a.agent})` : ''} ${a.rssMiB} MiB, ${a.cpuPercent}% CPU`)
                  .join('; '),
          ],
          [
            'Degraded sites',
            r.sites.degraded.length === 0 ? undefined : r.sites.degraded.map((d) => `${d.site}: ${d.problems.map((p) => `${p.component} ${p.code} since ${p.since} (${p.message})`).join('; ')}`).join('; '),
          ],
          [
            'Telemetry',
            r.telemetry.missing.length > 0
              ? `${r.telemetry.missing.map((m) => `${m.site}: ${m.message}`).join('; ')}`
              : `every acknowledged reading held (${r.telemetry.ok} site(s) checked${r.telemetry.unknown > 0 ? `, ${r.telemetry.unknown} not reported yet` : ''})`,
          ],
          ['Nodes', `${r.nodes.total}: ${r.nodes.connected} connected${r.nodes.disconnectedHealthy > 0 ? `, ${r.nodes.disconnectedHealthy} disconnected but voted healthy by their peers` : ''}`],
          ['Nodes down', r.nodes.down.length === 0 ? undefined : r.nodes.down.map((d) => `${d.node} at ${d.site} (${d.standing})`).join('; ')],
          ['Site standing', r.standing.length === 0 ? undefined : r.standing.map((x) => `${x.site}: ${x.standing}`).join('; ')],
          ['Devices', `${r.devices.total}: ${r.devices.up} up, ${r.devices.down} down, ${r.devices.unknown} unknown`],
          ['Devices down', r.devices.downList.length === 0 ? undefined : r.devices.downList.map((d) => `${d.device} at ${d.site}${d.message ? ` (${d.message})` : ''}`).join('; ')],
          ['Devices drifting', r.devices.drifting.length === 0 ? undefined : r.devices.drifting.map((d) => `${d.device} at ${d.site}: ${d.resources.join(', ')}`).join('; ')],
          ['Addons', `${r.addons.total}: ${r.addons.withProblems.length === 0 ? 'no problems reported' : `${r.addons.withProblems.length} site(s) with problems`}`],
        ]) +
          // One line each: a conflict's message names the other Addon and holds its own '; '.
          (r.addons.withProblems.length === 0 ? '' : `Addon problems:\n${r.addons.withProblems.map((p) => `  ${p.addon} at ${p.site} ${p.state}${p.code || p.message ? ` (${rowMessage(p)})` : ''}\n`).join('')}`),
      );
    },
  );
  examples(cmd, ['edgeadm status', 'edgeadm status -o json', 'edgeadm status --hub https://hub:7443 --ca-file hub-ca.crt']);
  return cmd;
}

