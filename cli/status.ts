/**
 * `edgeadm status`: is the hub up, and how are the sites, nodes, devices
 * and addons it knows.
 */
import type { Command } from 'commander';
import { createError } from '../core/kernel/index.ts';
import type { AddonSpec, AddonStatus, DeviceSpec, NodeSpec, NodeStatus, SiteSpec, SiteStatus } from '../core/store/index.ts';
import { fetchHub, hubTarget, withHubOptions, type HubTarget } from './client.ts';
import { contextOf, examples } from './context.ts';
import { emit, renderDetails } from './output.ts';
import { addonSiteProblem, listAll, type HubOpts, type Obj } from './resources.ts';

export const ErrHubDown = createError(
  'EDGE_ERR_HUB_UNREACHABLE',
  (p: { url: string; reason: string }) =>
    `the hub at ${p.url} does not answer (${p.reason}): check that it runs ('edgeadm hub run' or 'edgeadm init'), that --hub / EDGEADM_HUB names it, and for https that --ca-file is its CA`,
  { statusCode: 503 },
);


export interface StatusReport {
  hub: { url: string; status: string };
  sites: { total: number; online: number; offline: number; pending: number; offlineNames: string[] };
  nodes: { total: number; connected: number };
  devices: { total: number };
  addons: { total: number; withProblems: { addon: string; site: string; state: string; message?: string }[] };
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
  const cmd = withHubOptions(program.command('status').description('The hub: health, sites online and offline, nodes connected, devices, addons with problems')).action(
    async (o: HubOpts, c: Command) => {
      const ctx = contextOf(c);
      const target = hubTarget(o);
      const status = await health(target);
      const [sites, nodes, devices, addons] = await Promise.all([
        listAll<Obj<SiteSpec, SiteStatus>>(target, 'sites'),
        listAll<Obj<NodeSpec, NodeStatus>>(target, 'nodes'),
        listAll<Obj<DeviceSpec>>(target, 'devices'),
        listAll<Obj<AddonSpec, AddonStatus>>(target, 'addons'),
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
        },
        nodes: { total: nodes.length, connected: nodes.filter((n) => n.status?.connected === true).length },
        devices: { total: devices.length },
        addons: {
          total: addons.length,
          withProblems: addons.flatMap((a) =>
            Object.entries(a.status?.sites ?? {})
              .filter(([, s]) => addonSiteProblem(s))
              .map(([site, s]) => ({ addon: a.metadata.name, site, state: s.state, ...(s.message === undefined ? {} : { message: s.message }) })),
          ),
        },
      };
      const r = report;
      emit(ctx.options.output, report, () =>
        renderDetails([
          ['Hub', `${r.hub.url} (${r.hub.status})`],
          ['Sites', `${r.sites.total}: ${r.sites.online} online, ${r.sites.offline} offline, ${r.sites.pending} never connected`],
          ['Offline sites', r.sites.offlineNames.length === 0 ? undefined : r.sites.offlineNames.join(', ')],
          ['Nodes', `${r.nodes.total}: ${r.nodes.connected} connected`],
          ['Devices', String(r.devices.total)],
          ['Addons', `${r.addons.total}: ${r.addons.withProblems.length === 0 ? 'no problems reported' : `${r.addons.withProblems.length} site(s) with problems`}`],
          ['Addon problems', r.addons.withProblems.length === 0 ? undefined : r.addons.withProblems.map((p) => `${p.addon} at ${p.site} ${p.state}${p.message ? ` (${p.message})` : ''}`).join('; ')],
        ]),
      );
    },
  );
  examples(cmd, ['edgeadm status', 'edgeadm status -o json', 'edgeadm status --hub https://hub:7443 --ca-file hub-ca.crt']);
  return cmd;
}

