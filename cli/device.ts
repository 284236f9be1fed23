/**
 * `edgeadm device …`: devices at sites.
 *
 * - `pending`, `approve`, `reject`: devices that announced themselves at a
 *   site wait as PendingDevices until an operator (or a site's provisioning
 *   rule) decides; approval creates the Device and its profile.
 * - `credential create|rotate|list|delete`: logins to a site's MQTT broker.
 *   A password is shown once (or written to a 0600 file) and never again.
 *
 * `registerDevice` returns the group so further device subcommands join it.
 * Each command: options → validate (every problem at once, exit 2) → one or
 * two hub calls (the hub's coded error on failure, exit 1) → output.
 */
import { closeSync, existsSync, fchmodSync, ftruncateSync, openSync, unlinkSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { hubFetch, hubTarget, withHubOptions, type HubTarget } from './client.ts';
import { contextOf, type CommandContext } from './context.ts';
import { ErrUsage } from './errors.ts';
import { emit, renderTable } from './output.ts';
import type { Approval as ApprovalOf, CredentialIssued, ResourceList } from '../core/hub/index.ts';
import {
  BROKER_USERNAME_PATTERN,
  type BrokerCredentialSpec,
  type DeviceProfileSpec,
  type DeviceSpec,
  type PendingDeviceSpec,
  type PendingDeviceStatus,
} from '../core/store/index.ts';
import { agoMs, checkName, checkSite, collect, query, usage, type HubOpts, type Obj, type Problem } from './resources.ts';
import { registerDeviceImport } from './device-import.ts';
import { examples, summary } from './commands.ts';

type PendingDevice = Obj<PendingDeviceSpec, PendingDeviceStatus>;
type BrokerCredential = Obj<BrokerCredentialSpec>;
type Approval = ApprovalOf<PendingDevice, Obj<DeviceSpec>, Obj<DeviceProfileSpec>>;
type IssuedCredential = CredentialIssued<BrokerCredential>;

const USERNAME = new RegExp(BROKER_USERNAME_PATTERN);

function checkUsername(name: string | undefined, argument: string, problems: Problem[]): void {
  if (name !== undefined && (name.length > 128 || !USERNAME.test(name))) {
    problems.push({ argument, reason: `'${name}' is not a broker username (letters, digits and . _ : @ -, starting with a letter or digit, not 'edgeadm-', at most 128)` });
  }
}


/** `age` of an RFC 3339 time, kubectl style: 45s, 12m, 3h, 9d. */
export function age(time: string | undefined, now = Date.now()): string {
  const t = time === undefined ? Number.NaN : Date.parse(time);
  if (Number.isNaN(t)) return '<unknown>';
  return agoMs(now - t);
}

export function registerDevice(program: Command): Command {
  const group = program.command('device').description(summary('device'));
  examples(group, [
    'edgeadm device pending --site plant-a',
    'edgeadm device approve plant-a.announce.0123456789abcdef --name boiler-1',
    'edgeadm device credential create --site plant-a --device boiler-1 --password-file boiler-1.pw',
  ]);
  registerPending(group);
  registerDecisions(group);
  registerCredential(group);
  registerDeviceImport(group);
  return group;
}

// ---------------------------------------------------------------------------
// Pending devices

function registerPending(group: Command): void {
  const pending = withHubOptions(
    group.command('pending').description('List devices that announced themselves at sites, and what was decided').option('--site <site>', 'only this site'),
  ).action(async (o: HubOpts & { site?: string }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    checkSite(o.site, '--site', problems);
    usage(problems);
    const page = await hubFetch<ResourceList<PendingDevice>>(hubTarget(o), 'GET', `/api/v1/pendingdevices${query({ site: o.site })}`);
    const now = Date.now();
    emit(ctx.options.output, page.items, () =>
      renderTable(page.items, [
        { header: 'name', value: (p) => p.metadata.name },
        { header: 'site', value: (p) => p.spec.site },
        { header: 'source', value: (p) => p.spec.source },
        { header: 'identifier', value: (p) => p.spec.identifier },
        { header: 'suggested', value: (p) => p.spec.suggestedName },
        { header: 'manufacturer/model', value: (p) => (p.spec.manufacturer === undefined && p.spec.model === undefined ? '-' : `${p.spec.manufacturer ?? '-'}/${p.spec.model ?? '-'}`) },
        { header: 'phase', value: (p) => p.status?.phase ?? 'Pending' },
        { header: 'last seen', value: (p) => age(p.spec.lastSeen, now) },
      ]),
    );
  });
  examples(pending, ['edgeadm device pending', 'edgeadm device pending --site plant-a -o json']);
}

function registerDecisions(group: Command): void {
  const approve = withHubOptions(
    group
      .command('approve')
      .description('Approve a pending device: its DeviceProfile and Device are created')
      .argument('<pending-name>', 'the PendingDevice (see `edgeadm device pending`)')
      .option('--name <name>', 'the Device name (default: the name it suggested)')
      .option('--profile <profile>', 'use this existing DeviceProfile instead of the one the device described')
      .option('--label <key=value>', 'a label on the Device (repeatable)', collect),
  ).action(async (pendingName: string, o: HubOpts & { name?: string; profile?: string; label?: string[] }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    checkName(pendingName, '<pending-name>', problems);
    checkName(o.name, '--name', problems);
    checkName(o.profile, '--profile', problems);
    const labels: Record<string, string> = {};
    const labelArgs = o.label ?? [];
    if (labelArgs.length > 0) {
      const { labelKeyProblem, labelValueProblem } = await import('../core/store/index.ts');
      for (const item of labelArgs) {
        const eq = item.indexOf('=');
        if (eq <= 0) {
          problems.push({ argument: '--label', reason: `'${item}' is not key=value` });
          continue;
        }
        const [key, value] = [item.slice(0, eq), item.slice(eq + 1)];
        const problem = labelKeyProblem(key) ?? labelValueProblem(value);
        if (problem !== undefined) problems.push({ argument: '--label', reason: `'${item}': ${labelKeyProblem(key) === undefined ? 'value' : 'key'} ${problem}` });
        else labels[key] = value;
      }
    }
    usage(problems);
    const body = { ...(o.name === undefined ? {} : { name: o.name }), ...(o.profile === undefined ? {} : { profile: o.profile }), ...(labelArgs.length > 0 ? { labels } : {}) };
    const r = await hubFetch<Approval>(hubTarget(o), 'POST', `/api/v1/pendingdevices/${encodeURIComponent(pendingName)}/approve`, body);
    emit(ctx.options.output, r, () => {
      const d = r.device;
      const labelText = Object.entries(d.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
      return (
        `device '${d.metadata.name}' created at site '${d.spec.site}' with profile '${r.profile.metadata.name}'\n` +
        renderTable([d], [
          { header: 'device', value: (x) => x.metadata.name },
          { header: 'site', value: (x) => x.spec.site },
          { header: 'profile', value: (x) => x.spec.profile },
          { header: 'protocols', value: (x) => Object.keys(x.spec.protocols).join(',') },
          { header: 'labels', value: () => labelText },
        ])
      );
    });
  });
  examples(approve, [
    'edgeadm device approve plant-a.announce.0123456789abcdef',
    'edgeadm device approve plant-a.homeassistant.0123456789abcdef --name boiler-1 --profile boiler --label zone=hall --label tier=2',
  ]);

  const reject = withHubOptions(
    group
      .command('reject')
      .description('Reject a pending device (it stays rejected until its PendingDevice is deleted)')
      .argument('<pending-name>', 'the PendingDevice (see `edgeadm device pending`)'),
  ).action(async (pendingName: string, o: HubOpts, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    checkName(pendingName, '<pending-name>', problems);
    usage(problems);
    const r = await hubFetch<PendingDevice>(hubTarget(o), 'POST', `/api/v1/pendingdevices/${encodeURIComponent(pendingName)}/reject`);
    emit(ctx.options.output, r, () => `pending device '${r.metadata.name}' rejected\n`);
  });
  examples(reject, ['edgeadm device reject plant-a.announce.0123456789abcdef']);
}

// ---------------------------------------------------------------------------
// Broker credentials

/** A password file opened (not truncated) before the hub is asked, so an unwritable path costs no password. */
interface PasswordFile {
  write(password: string): void;
  abandon(): void;
}

function openPasswordFile(file: string): PasswordFile {
  const existed = existsSync(file);
  let fd: number;
  try {
    fd = openSync(file, 'a', 0o600);
    fchmodSync(fd, 0o600);
  } catch (err) {
    throw new ErrUsage({ argument: '--password-file', reason: `cannot write '${file}': ${(err as Error).message}` });
  }
  return {
    write(password) {
      try {
        ftruncateSync(fd, 0);
        writeSync(fd, `${password}\n`);
      } finally {
        closeSync(fd);
      }
    },
    abandon() {
      closeSync(fd);
      if (!existed) unlinkSync(file);
    },
  };
}

/** Shows a newly issued password once: on standard output, or only in the file. */
function showIssued(ctx: CommandContext, issued: IssuedCredential, file: PasswordFile | undefined, fileName: string | undefined): void {
  const { credential, password } = issued;
  const { site, username } = credential.spec;
  if (file) {
    file.write(password);
    emit(ctx.options.output, { site, username, credential: credential.metadata.name, passwordFile: fileName }, () => `username: ${username}\npassword written to ${fileName} (mode 0600)\n`);
    return;
  }
  emit(ctx.options.output, { site, username, credential: credential.metadata.name, password }, () => `username: ${username}\npassword: ${password}\n`);
  process.stderr.write(`The password is shown only this once: store it now. A lost one is replaced with 'edgeadm device credential rotate --site ${site} ${username}'.\n`);
}

async function withPasswordFile<T>(fileName: string | undefined, call: () => Promise<T>): Promise<{ result: T; file: PasswordFile | undefined }> {
  const file = fileName === undefined ? undefined : openPasswordFile(fileName);
  try {
    return { result: await call(), file };
  } catch (err) {
    file?.abandon();
    throw err;
  }
}

function registerCredential(group: Command): void {
  const credential = group.command('credential').description("Logins of devices to their site's MQTT broker (passwords are shown once)");
  examples(credential, ['edgeadm device credential create --site plant-a --device boiler-1', 'edgeadm device credential list --site plant-a']);

  const create = withHubOptions(
    credential
      .command('create')
      .description('Issue a broker login for a device (or a gateway): the password is shown once')
      .requiredOption('--site <site>', "the site whose broker it logs in to")
      .option('--device <device>', 'the Device it is (its username defaults to the device name)')
      .option('--username <username>', 'the MQTT username (default: the device name)')
      .option('--publish <filter>', 'a further topic filter it may publish to (repeatable)', collect)
      .option('--subscribe <filter>', 'a further topic filter it may subscribe to (repeatable)', collect)
      .option('--description <text>', 'what it is for')
      .option('--password-file <file>', 'write the password to this file (mode 0600) instead of printing it'),
  ).action(
    async (
      o: HubOpts & { site: string; device?: string; username?: string; publish?: string[]; subscribe?: string[]; description?: string; passwordFile?: string },
      cmd: Command,
    ) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkSite(o.site, '--site', problems);
      checkName(o.device, '--device', problems);
      checkUsername(o.username, '--username', problems);
      if (o.device === undefined && o.username === undefined) problems.push({ argument: '--username', reason: 'give --device or --username (or both)' });
      const publish = o.publish ?? [];
      const subscribe = o.subscribe ?? [];
      if (publish.length > 0 || subscribe.length > 0) {
        const { TOPIC_FILTER_PATTERN } = await import('../core/store/index.ts');
        const filter = new RegExp(TOPIC_FILTER_PATTERN);
        for (const [argument, list] of [['--publish', publish], ['--subscribe', subscribe]] as const) {
          for (const f of list) {
            if (f === '' || f.length > 1024 || !filter.test(f)) problems.push({ argument, reason: `'${f}' is not an MQTT topic filter ('+' a whole level, '#' only as the last)` });
          }
        }
      }
      usage(problems);
      const target = hubTarget(o);
      const body = {
        ...(o.username === undefined ? {} : { username: o.username }),
        ...(o.device === undefined ? {} : { device: o.device }),
        ...(publish.length > 0 ? { publish } : {}),
        ...(subscribe.length > 0 ? { subscribe } : {}),
        ...(o.description === undefined ? {} : { description: o.description }),
      };
      const { result, file } = await withPasswordFile(o.passwordFile, () =>
        hubFetch<IssuedCredential>(target, 'POST', `/api/v1/sites/${o.site}/broker-credentials`, body),
      );
      showIssued(ctx, result, file, o.passwordFile);
    },
  );
  examples(create, [
    'edgeadm device credential create --site plant-a --device boiler-1',
    'edgeadm device credential create --site plant-a --username gateway-1 --publish "plant-a/gw/#" --subscribe "cmd/gateway-1/#" --password-file gw.pw',
  ]);

  const rotate = withHubOptions(
    credential
      .command('rotate')
      .description('Replace the password of a broker login: the new one is shown once, the old one stops working')
      .requiredOption('--site <site>', 'the site of the login')
      .argument('<username>', 'the MQTT username')
      .option('--password-file <file>', 'write the password to this file (mode 0600) instead of printing it'),
  ).action(async (username: string, o: HubOpts & { site: string; passwordFile?: string }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    checkSite(o.site, '--site', problems);
    checkUsername(username, '<username>', problems);
    usage(problems);
    const target: HubTarget = hubTarget(o);
    const { result, file } = await withPasswordFile(o.passwordFile, () =>
      hubFetch<IssuedCredential>(target, 'POST', `/api/v1/sites/${o.site}/broker-credentials/${encodeURIComponent(username)}/rotate`),
    );
    showIssued(ctx, result, file, o.passwordFile);
  });
  examples(rotate, ['edgeadm device credential rotate --site plant-a boiler-1', 'edgeadm device credential rotate --site plant-a gateway-1 --password-file gw.pw']);

  const list = withHubOptions(
    credential.command('list').description('List broker logins (never their password hashes)').option('--site <site>', 'only this site'),
  ).action(async (o: HubOpts & { site?: string }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    checkSite(o.site, '--site', problems);
    usage(problems);
    const page = await hubFetch<ResourceList<BrokerCredential>>(hubTarget(o), 'GET', `/api/v1/brokercredentials${query({ site: o.site })}`);
    const items = page.items.map((c) => {
      const { passwordHash: _hash, ...spec } = c.spec;
      return { ...c, spec };
    });
    emit(ctx.options.output, items, () =>
      renderTable(items, [
        { header: 'site', value: (c) => c.spec.site },
        { header: 'username', value: (c) => c.spec.username },
        { header: 'device', value: (c) => c.spec.device ?? '-' },
        { header: 'publish', value: (c) => (c.spec.publish ?? []).join(',') || '-' },
        { header: 'subscribe', value: (c) => (c.spec.subscribe ?? []).join(',') || '-' },
        { header: 'disabled', value: (c) => (c.spec.disabled === true ? 'yes' : 'no') },
        { header: 'name', value: (c) => c.metadata.name },
      ]),
    );
  });
  examples(list, ['edgeadm device credential list', 'edgeadm device credential list --site plant-a -o yaml']);

  const del = withHubOptions(
    credential
      .command('delete')
      .description('Delete a broker login: the site refuses it from then on')
      .requiredOption('--site <site>', 'the site of the login')
      .argument('<username>', 'the MQTT username'),
  ).action(async (username: string, o: HubOpts & { site: string }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const problems: Problem[] = [];
    checkSite(o.site, '--site', problems);
    checkUsername(username, '<username>', problems);
    usage(problems);
    await hubFetch(hubTarget(o), 'DELETE', `/api/v1/sites/${o.site}/broker-credentials/${encodeURIComponent(username)}`);
    ctx.out.write(`broker login '${username}' at site '${o.site}' deleted\n`);
  });
  examples(del, ['edgeadm device credential delete --site plant-a boiler-1']);
}
