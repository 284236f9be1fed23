/**
 * `edgeadm device add|list|show|read|write|remove`: Devices at the hub, their
 * latest readings, and writes to them. Added to the `device` group by
 * `registerDeviceCommands(deviceGroup)`.
 *
 * `add` waits briefly (`--wait`) for the site's verdict on the device (its
 * status): UP, or DOWN with the site's reason (a profile problem only the
 * driver sees, a missing plugin, a device that does not answer), which exits
 * 1; without a verdict in time, or with the site offline, it says the device
 * is pending. `read` shows the newest reading of each resource from the
 * hub's telemetry store, and says so; `read --live` asks the device now,
 * through the site. `write` queues a command (the value also becomes the
 * device twin's desired value), waits for the site's result and prints the
 * value the device reported; a failed write exits 1 with the device's error.
 */
import type { Command } from 'commander';
import { EdgeError, goDurationMs } from '../core/kernel/index.ts';
import { PLUGIN_ID_PATTERN } from '../core/plugins/index.ts';
import type { CommandAccepted, CommandCreateBody, CommandOut, DeviceReadBody, DeviceReadOut, ReadingOut } from '../core/hub/index.ts';
import type { Reading } from '../core/sdk/index.ts';
import { readSourceProblem, resourcesToRead, type DeviceProfileSpec, type DeviceSpec, type DeviceStatus, type SiteStatus } from '../core/store/index.ts';
import { ErrCommandExpired, ErrCommandTimeout, ErrDeviceNotRunning } from './errors.ts';
import { hubFetch, hubTarget, withHubOptions, type HubTarget } from './client.ts';
import { contextOf } from './context.ts';
import { examples } from './commands.ts';
import { emit, renderDetails, renderTable } from './output.ts';
import { describeDrift, deviceCause, deviceStateWord } from './device-state.ts';
import {
  ago,
  agoMs,
  applyResource,
  cell,
  checkName,
  checkSite,
  collect,
  createResource,
  deleteResource,
  getResource,
  isObject,
  listAll,
  parseLabels,
  query,
  readDocuments,
  splitKeyValue,
  usage,
  type HubOpts,
  type Obj,
  type Problem,
} from './resources.ts';

type Device = Obj<DeviceSpec, DeviceStatus>;
type Profile = Obj<DeviceProfileSpec>;

/** A value from the command line: JSON when it parses (42, true, "text", [1,2]), else the text itself. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const protocolOf = (d: Device): string => Object.keys(d.spec.protocols).join(',');

interface AddOpts extends HubOpts {
  file?: string;
  site?: string;
  profile?: string;
  protocol?: string;
  set?: string[];
  plugin?: string;
  autoEvent?: string[];
  label?: string[];
  description?: string;
  wait: string;
}

const PLUGIN_ID = new RegExp(PLUGIN_ID_PATTERN);

async function addFromFile(file: string, target: HubTarget): Promise<Obj[]> {
  const docs = readDocuments(file, '-f');
  const problems: Problem[] = [];
  const objs: Obj[] = [];
  docs.forEach((doc, i) => {
    const at = docs.length > 1 ? `document ${i + 1}` : 'the document';
    if (!isObject(doc) || (doc.kind !== 'Device' && doc.kind !== 'DeviceProfile')) {
      problems.push({ argument: '-f', reason: `${at} of '${file}' is not a Device or DeviceProfile (kind: ${isObject(doc) ? String(doc.kind) : typeof doc})` });
      return;
    }
    const meta = doc.metadata;
    if (!isObject(meta) || typeof meta.name !== 'string') {
      problems.push({ argument: '-f', reason: `${at} of '${file}' has no metadata.name` });
      return;
    }
    objs.push(doc as unknown as Obj);
  });
  usage(problems);
  // Profiles before the devices that use them.
  const ordered = [...objs.filter((o) => o.kind === 'DeviceProfile'), ...objs.filter((o) => o.kind === 'Device')];
  const out: Obj[] = [];
  for (const obj of ordered) {
    const { status: _status, ...body } = obj;
    out.push(await applyResource<Obj>(target, obj.kind === 'Device' ? 'devices' : 'deviceprofiles', body));
  }
  return out;
}

/** What a site said of a device it was just given; `pending` when it said nothing (yet). */
type Verdict = { state: 'UP' | 'DOWN' | 'UNKNOWN'; message?: string } | { state: 'pending'; why: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** How long a DOWN report must stand before it is the verdict: a plugin still starting reports its devices DOWN first. */
const DOWN_SETTLE_MS = 3000;

/**
 * Waits up to `waitMs` for the site's first report on a Device after the
 * write that answered `applied` (a status written since, with an
 * operatingState): UP at once; DOWN with the site's reason once it has stood
 * DOWN_SETTLE_MS (or the wait is over); UNKNOWN only for a LOCKED device
 * (otherwise it is still connecting: wait on). Pending at once when the site
 * is not Online, or when nothing came in time. Also returns the Device as
 * the hub then holds it.
 */
async function siteVerdict(target: HubTarget, applied: Device, waitMs: number, waitText: string): Promise<{ verdict: Verdict; device: Device }> {
  const { site } = applied.spec;
  if (waitMs <= 0) return { verdict: { state: 'pending', why: 'not waited for (--wait 0)' }, device: applied };
  const siteObj = await getResource<Obj<unknown, SiteStatus>>(target, 'sites', site).catch((err: unknown) => {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  });
  const phase = siteObj?.status?.phase;
  if (phase !== 'Online') {
    return { verdict: { state: 'pending', why: `site '${site}' is ${siteObj ? (phase ?? 'not connected yet') : 'not at the hub'}: its agent checks the device when it connects` }, device: applied };
  }
  const since = BigInt(applied.metadata.resourceVersion ?? '0');
  const until = Date.now() + waitMs;
  let downSince: number | undefined;
  for (;;) {
    const d = await getResource<Device>(target, 'devices', applied.metadata.name);
    const state = d.status?.operatingState;
    const fresh = state !== undefined && BigInt(d.metadata.resourceVersion ?? '0') > since;
    downSince = fresh && state === 'DOWN' ? (downSince ?? Date.now()) : undefined;
    const settled = state !== 'DOWN' || (downSince !== undefined && Date.now() - downSince >= DOWN_SETTLE_MS) || Date.now() >= until;
    if (fresh && settled && (state !== 'UNKNOWN' || d.spec.adminState === 'LOCKED')) {
      return { verdict: { state, ...(d.status?.message ? { message: d.status.message } : {}) }, device: d };
    }
    if (Date.now() >= until) {
      const connecting = fresh && state === 'UNKNOWN';
      const why = connecting ? `site '${site}' still connects it after ${waitText} (UNKNOWN${d.status?.message ? `: ${d.status.message}` : ''})` : `site '${site}' has not reported on it within ${waitText}`;
      return { verdict: { state: 'pending', why }, device: d };
    }
    await sleep(200);
  }
}

/** A verdict in words, after "device 'x' added ...": what the site does with it. */
function verdictText(name: string, v: Verdict): string {
  switch (v.state) {
    case 'UP':
      return 'the site runs it (UP)';
    case 'UNKNOWN':
      return 'the site holds it (LOCKED)';
    case 'DOWN':
      return `the site does not run it (DOWN): ${v.message ?? 'no reason given'}`;
    case 'pending':
      return `pending: ${v.why} (see 'edgeadm device show ${name}')`;
  }
}

function registerAdd(group: Command): void {
  const add = withHubOptions(
    group
      .command('add')
      .description('Add a device at a site: from flags, or apply Device and DeviceProfile manifests with -f')
      .argument('[name]', 'the device name (with flags; not with -f)')
      .option('-f, --file <file>', 'a YAML or JSON file with a Device (and DeviceProfiles it uses), applied as a whole')
      .option('--site <site>', 'the site the device is at')
      .option('--profile <profile>', 'the DeviceProfile it uses (must exist at the hub)')
      .option('--protocol <name>', "the protocol block's name, e.g. modbus-tcp, opcua, mqtt, simulator")
      .option('--set <key=value>', 'a protocol property, e.g. Address=10.0.0.5 (repeatable; values stay text, as in EdgeX)', collect)
      .option('--plugin <id>', 'the plugin that drives it (default: chosen from the protocol)')
      .option('--auto-event <source=interval>', 'read a resource or a deviceCommand of the profile periodically, e.g. temperature=1s or Values=5s (repeatable)', collect)
      .option('--label <key=value>', 'a label on the device (repeatable)', collect)
      .option('--description <text>', 'what the device is')
      .option('--wait <duration>', "how long to wait for the site's verdict on the device (UP, or DOWN and why); 0 does not wait", '10s'),
  ).action(async (name: string | undefined, o: AddOpts, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    const waitMs = goDurationMs(o.wait);
    if (waitMs === undefined || waitMs < 0) problems.push({ argument: '--wait', reason: `'${o.wait}' is not a duration such as 10s, 500ms or 0` });
    if (o.file !== undefined) {
      const flags: [string, unknown][] = [['<name>', name], ['--site', o.site], ['--profile', o.profile], ['--protocol', o.protocol], ['--set', o.set], ['--plugin', o.plugin], ['--auto-event', o.autoEvent], ['--label', o.label], ['--description', o.description]];
      for (const [flag, v] of flags) if (v !== undefined) problems.push({ argument: flag, reason: 'not with -f: the file describes the device' });
      usage(problems);
      const target = hubTarget(o);
      const applied = await addFromFile(o.file, target);
      const judged = await Promise.all(
        applied.map((a) => (a.kind === 'Device' ? siteVerdict(target, a as unknown as Device, waitMs!, o.wait) : Promise.resolve({ verdict: undefined, device: a }))),
      );
      emit(ctx.options.output, judged.map((j) => j.device), () =>
        judged.map(({ verdict }, i) => `${applied[i]!.kind} '${applied[i]!.metadata.name}' applied${verdict ? `: ${verdictText(applied[i]!.metadata.name, verdict)}` : ''}\n`).join(''),
      );
      const down = judged.find((j) => j.verdict?.state === 'DOWN');
      if (down) {
        const d = down.device as unknown as Device;
        throw new ErrDeviceNotRunning({ device: d.metadata.name, site: d.spec.site, message: down.verdict?.state === 'DOWN' ? (down.verdict.message ?? 'no reason given') : '' });
      }
      return;
    }
    if (name === undefined) problems.push({ argument: '<name>', reason: 'give the device name (or -f <file>)' });
    checkName(name, '<name>', problems);
    if (o.site === undefined) problems.push({ argument: '--site', reason: 'is required (the site the device is at)' });
    checkSite(o.site, '--site', problems);
    if (o.profile === undefined) problems.push({ argument: '--profile', reason: 'is required (a DeviceProfile at the hub)' });
    checkName(o.profile, '--profile', problems);
    if (o.protocol === undefined || o.protocol === '') problems.push({ argument: '--protocol', reason: 'is required (e.g. modbus-tcp, opcua, mqtt, simulator)' });
    if (o.plugin !== undefined && !PLUGIN_ID.test(o.plugin)) problems.push({ argument: '--plugin', reason: `'${o.plugin}' is not a plugin id` });
    const properties: Record<string, string> = {};
    for (const item of o.set ?? []) {
      const kv = splitKeyValue(item, '--set', problems);
      if (kv) properties[kv[0]] = kv[1];
    }
    const autoEvents: { sourceName: string; interval: string }[] = [];
    for (const item of o.autoEvent ?? []) {
      const kv = splitKeyValue(item, '--auto-event', problems);
      if (!kv) continue;
      const ms = goDurationMs(kv[1]);
      if (ms === undefined || ms <= 0) problems.push({ argument: '--auto-event', reason: `'${item}': '${kv[1]}' is not an interval such as 500ms, 1s or 2m` });
      else autoEvents.push({ sourceName: kv[0], interval: kv[1] });
    }
    const labels = await parseLabels(o.label ?? [], '--label', problems);
    usage(problems);
    const target = hubTarget(o);
    // Auto-events must name readable resources or deviceCommands of the profile (when it exists; the hub names a missing profile).
    if (autoEvents.length > 0) {
      const profile = await getResource<Profile>(target, 'deviceprofiles', o.profile!).catch((err: unknown) => {
        if ((err as { statusCode?: number }).statusCode === 404) return undefined;
        throw err;
      });
      for (const e of autoEvents) {
        const problem = profile && readSourceProblem(profile.spec, e.sourceName);
        if (problem) problems.push({ argument: '--auto-event', reason: `profile '${o.profile}': ${problem}` });
      }
      usage(problems);
    }
    const spec: DeviceSpec = {
      site: o.site!,
      profile: o.profile!,
      protocols: { [o.protocol!]: properties },
      ...(o.plugin === undefined ? {} : { plugin: o.plugin }),
      ...(autoEvents.length > 0 ? { autoEvents } : {}),
      ...(o.description === undefined ? {} : { description: o.description }),
    };
    const created = await createResource<Device>(target, 'devices', { kind: 'Device', metadata: { name: name!, ...(Object.keys(labels).length > 0 ? { labels } : {}) }, spec });
    const { verdict, device } = await siteVerdict(target, created, waitMs!, o.wait);
    if (verdict.state === 'DOWN') throw new ErrDeviceNotRunning({ device: name!, site: o.site!, message: verdict.message ?? 'no reason given' });
    emit(ctx.options.output, device, () => `device '${name}' added at site '${o.site}' (profile '${o.profile}', protocol ${o.protocol}): ${verdictText(name!, verdict)}; see it with: edgeadm device read ${name}\n`);
  });
  examples(add, [
    'edgeadm device add boiler-1 --site plant-a --profile boiler --protocol modbus-tcp --set Address=10.0.0.5 --set Port=502 --set UnitID=1 --auto-event temperature=1s',
    'edgeadm device add hvac-1 --site plant-a --profile coolmaster --protocol modbus-tcp --set Address=10.0.0.7 --auto-event Values=5s --wait 30s',
    'edgeadm device add sim-1 --site demo --profile thermo --protocol simulator --set seed=7 --plugin simulator',
    'edgeadm device add -f boiler-1.yaml',
  ]);
}

function registerListShow(group: Command): void {
  const list = withHubOptions(group.command('list').alias('ls').description('List devices: site, profile, protocol, state, last seen').option('--site <site>', 'only this site')).action(
    async (o: HubOpts & { site?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkSite(o.site, '--site', problems);
      usage(problems);
      const devices = await listAll<Device>(hubTarget(o), 'devices', o.site === undefined ? {} : { site: o.site });
      const now = Date.now();
      emit(ctx.options.output, devices, () =>
        renderTable(devices, [
          { header: 'name', value: (d) => d.metadata.name },
          { header: 'site', value: (d) => d.spec.site },
          { header: 'profile', value: (d) => d.spec.profile },
          { header: 'protocol', value: protocolOf },
          { header: 'state', value: deviceStateWord },
          { header: 'last seen', value: (d) => ago(d.status?.lastSeen, now) },
          { header: 'cause', value: deviceCause },
        ]),
      );
    },
  );
  examples(list, ['edgeadm device list', 'edgeadm device list --site plant-a -o json']);

  const show = withHubOptions(group.command('show').description('Show one device: its spec, status, desired and reported values').argument('<name>', 'the device')).action(
    async (name: string, o: HubOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkName(name, '<name>', problems);
      usage(problems);
      const d = await getResource<Device>(hubTarget(o), 'devices', name);
      const now = Date.now();
      emit(ctx.options.output, d, () => {
        const reported = Object.entries(d.status?.reported ?? {});
        const desired = d.spec.desired ?? {};
        const rows = [...new Set([...Object.keys(desired), ...reported.map(([k]) => k)])].sort();
        const details = renderDetails([
          ['Name', d.metadata.name],
          ['Site', d.spec.site],
          ['Profile', d.spec.profile],
          ['Plugin', d.spec.plugin ?? '(chosen from the protocol)'],
          ['Description', d.spec.description],
          ['Admin state', d.spec.adminState ?? 'UNLOCKED'],
          ['Operating state', d.status?.operatingState ?? '-'],
          ['Last seen', ago(d.status?.lastSeen, now)],
          ['Message', d.status?.message],
          ['Labels', Object.entries(d.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`)],
          ['Protocols', d.spec.protocols],
          ['Auto events', (d.spec.autoEvents ?? []).map((e) => `${e.sourceName} every ${e.interval}${e.onChange ? ' (on change)' : ''}`)],
        ]);
        if (rows.length === 0) return `${details}Values:      <none>\n`;
        const reportedOf = (r: string): { value: unknown; origin: number } | undefined => d.status?.reported?.[r];
        return `${details}Values:\n${renderTable(rows, [
          { header: 'resource', value: (r) => r },
          { header: 'desired', value: (r) => (r in desired ? cell(desired[r]) : '-') },
          { header: 'reported', value: (r) => cell(reportedOf(r)?.value) },
          { header: 'age', value: (r) => { const rep = reportedOf(r); return rep ? agoMs(now - rep.origin / 1e6) : '-'; } },
          ...(d.status?.drift ? [{ header: 'drift', value: (r: string) => { const x = d.status?.drift?.[r]; return x ? describeDrift(x) : '-'; } }] : []),
        ]).replace(/^/gm, '  ')}`;
      });
    },
  );
  examples(show, ['edgeadm device show boiler-1', 'edgeadm device show boiler-1 -o yaml']);
}

/** What `read` shows of a reading, stored or live. */
type Shown = Pick<ReadingOut, 'resource' | 'value' | 'units' | 'quality' | 'qualityDetail' | 'origin'>;

interface ReadRow {
  resource: string;
  reading?: Shown;
}

function registerRead(group: Command): void {
  const read = withHubOptions(
    group
      .command('read')
      .description("The newest reading of each of a device's resources, as the hub stored it; with --live, what the device says now")
      .argument('<name>', 'the device')
      .argument('[resource...]', 'only these deviceResources, or the resources of these deviceCommands (default: every readable resource of its profile)')
      .option('--live', "ask the device now, through its site's agent (the site must be online)")
      .option('--timeout <duration>', 'with --live: how long to wait for the site, e.g. 10s', '10s'),
  ).action(async (name: string, resources: string[], o: HubOpts & { live?: boolean; timeout: string }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    checkName(name, '<name>', problems);
    const timeoutMs = goDurationMs(o.timeout);
    if (timeoutMs === undefined || timeoutMs < 100 || timeoutMs > 300_000) problems.push({ argument: '--timeout', reason: `'${o.timeout}' is not a duration from 100ms to 5m, such as 10s` });
    usage(problems);
    const target = hubTarget(o);
    const d = await getResource<Device>(target, 'devices', name);
    const profile = await getResource<Profile>(target, 'deviceprofiles', d.spec.profile);
    for (const r of resources) {
      const problem = readSourceProblem(profile.spec, r);
      if (problem !== undefined) problems.push({ argument: '[resource]', reason: `device '${name}' (profile '${d.spec.profile}'): ${problem}` });
    }
    usage(problems);
    const site = d.spec.site;
    let rows: ReadRow[];
    if (o.live) {
      const body: DeviceReadBody = { resources, timeoutMs: timeoutMs! };
      const answer = await hubFetch<DeviceReadOut>(target, 'POST', `/api/v1/sites/${encodeURIComponent(site)}/devices/${encodeURIComponent(name)}/read`, body);
      rows = answer.readings.map((reading) => ({ resource: reading.resource, reading }));
    } else {
      const what = resourcesToRead(profile.spec, resources);
      const wanted = 'resources' in what ? what.resources : [];
      rows = await Promise.all(
        wanted.map(async (resource) => {
          const page = await hubFetch<{ items: Reading[] }>(target, 'GET', `/api/v1/telemetry${query({ site, device: name, resource, order: 'desc', limit: 1 })}`);
          const reading = page.items[0];
          return reading ? { resource, reading } : { resource };
        }),
      );
    }
    const now = Date.now();
    emit(ctx.options.output, rows.map((r) => r.reading ?? { site, device: name, resource: r.resource, value: null, quality: 'none' }), () => {
      const table = renderTable(rows, [
        { header: 'resource', value: (r) => r.resource },
        { header: 'value', value: (r) => (r.reading ? cell(r.reading.value) : '-') },
        { header: 'units', value: (r) => r.reading?.units ?? '-' },
        { header: 'quality', value: (r) => (r.reading ? `${r.reading.quality}${r.reading.qualityDetail ? ` (${r.reading.qualityDetail})` : ''}` : 'no reading') },
        { header: 'age', value: (r) => (r.reading ? agoMs(now - r.reading.origin / 1e6) : '-') },
      ]);
      if (o.live) return table;
      const none = rows.every((r) => !r.reading);
      const hint = none ? `no readings of '${name}' at the hub yet: is site '${site}' online ('edgeadm site show ${site}') and the device's plugin added ('edgeadm addon list')?\n` : '';
      return `${table}${hint}stored values; --live asks the device now\n`;
    });
  });
  examples(read, ['edgeadm device read boiler-1', 'edgeadm device read boiler-1 temperature pressure -o json', 'edgeadm device read hvac-1 Values --live']);
}

function registerWrite(group: Command): void {
  const write = withHubOptions(
    group
      .command('write')
      .description("Write a value to a device resource and wait for the device's answer")
      .argument('<name>', 'the device')
      .argument('<resource>', 'a writable resource of its profile')
      .argument('<value>', 'the value: JSON when it parses (42, true, "text"), else text')
      .option('--timeout <duration>', 'how long to wait for the result, e.g. 30s or 2m', '30s'),
  ).action(async (name: string, resource: string, valueText: string, o: HubOpts & { timeout: string }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    checkName(name, '<name>', problems);
    if (resource === '') problems.push({ argument: '<resource>', reason: 'must not be empty' });
    const timeoutMs = goDurationMs(o.timeout);
    if (timeoutMs === undefined || timeoutMs <= 0) problems.push({ argument: '--timeout', reason: `'${o.timeout}' is not a duration such as 30s, 500ms or 2m` });
    usage(problems);
    const value = parseValue(valueText);
    const target = hubTarget(o);
    const d = await getResource<Device>(target, 'devices', name);
    const site = d.spec.site;
    const body: CommandCreateBody = { resource, value };
    const accepted = await hubFetch<CommandAccepted>(target, 'POST', `/api/v1/sites/${encodeURIComponent(site)}/devices/${encodeURIComponent(name)}/commands`, body);
    const until = Date.now() + timeoutMs!;
    let c: CommandOut;
    for (;;) {
      c = await hubFetch<CommandOut>(target, 'GET', `/api/v1/commands/${encodeURIComponent(accepted.id)}`);
      if (c.state === 'succeeded' || c.state === 'failed' || c.state === 'expired') break;
      if (Date.now() >= until) throw new ErrCommandTimeout({ id: c.id, device: name, resource, site, state: c.state, timeout: o.timeout });
      await new Promise((r) => setTimeout(r, 100));
    }
    if (c.state === 'expired') throw new ErrCommandExpired({ id: c.id, device: name, resource, site });
    if (c.state === 'failed') {
      const e = c.result?.error ?? { code: 'EDGE_ERR_COMMAND_FAILED', message: 'the site reported a failure without details' };
      throw new EdgeError(e.code, `device '${name}' did not take ${resource}=${JSON.stringify(value)}: ${e.message}`, { command: c.id, device: name, resource }, 502);
    }
    const reported = c.result?.reported;
    emit(ctx.options.output, c, () => `${name}/${resource} = ${reported === undefined ? `${JSON.stringify(value)} (written; the device reported no value back)` : cell(reported)}\n`);
  });
  examples(write, ['edgeadm device write valve-1 opening 42', 'edgeadm device write display-1 text "hello"', 'edgeadm device write pump-1 enabled true --timeout 1m']);
}

function registerRemove(group: Command): void {
  const remove = withHubOptions(group.command('remove').alias('rm').description('Remove a device (its site stops driving it)').argument('<name>', 'the device')).action(
    async (name: string, o: HubOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkName(name, '<name>', problems);
      usage(problems);
      const deleted = await deleteResource<Device>(hubTarget(o), 'devices', name);
      emit(ctx.options.output, deleted, () => `device '${name}' removed from site '${deleted.spec.site}'\n`);
    },
  );
  examples(remove, ['edgeadm device remove boiler-1']);
}

/** Adds add, list, show, read, write and remove to the `device` group. */
export function registerDeviceCommands(group: Command): Command {
  registerAdd(group);
  registerListShow(group);
  registerRead(group);
  registerWrite(group);
  registerRemove(group);
  return group;
}
