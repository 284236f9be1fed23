/**
 * `edgeadm device …` against a real hub (SQLite stores, HTTP on loopback),
 * run as an operator runs it: the CLI binary in a child process.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../core/hub/index.ts';
import { verifySecret } from '../core/kernel/index.ts';
import type { Resource } from '../core/store/index.ts';
import { quiet, tempDir } from '../test/support/hub-fixture.ts';

/** Each test runs the CLI a few times, a second or more per process on a busy machine. */
const SLOW = 90_000;
const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bin/edgeadm.js');
const API = 'edgeadm.io/v1alpha1';
let hub: Hub;
let dir: string;
let admin: string;
let agent: string;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function edgeadm(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, EDGEADM_CONFIG: '', EDGEADM_OUTPUT: '', EDGEADM_HUB: hub.url, EDGEADM_TOKEN: admin };
    delete env.EDGEADM_CA_FILE;
    const child = spawn(process.execPath, [bin, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function announce(identifier: string, suggestedName: string): Promise<string> {
  const res = await fetch(`${hub.url}/api/v1/sites/plant-a/pending-devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      source: 'homeassistant',
      identifier,
      suggestedName,
      manufacturer: 'Acme',
      model: 'TH-100',
      protocolName: 'mqtt',
      protocol: { stateTopic: `homeassistant/sensor/${identifier}/state` },
      profile: { deviceResources: [{ name: 'temperature', properties: { valueType: 'Float32', readWrite: 'R', units: 'C' } }] },
    }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { metadata: { name: string } }).metadata.name;
}

const storedHash = async (name: string): Promise<string> => ((await hub.store.get('BrokerCredential', name)) as Resource<{ passwordHash: string }>).spec.passwordHash;

beforeAll(async () => {
  dir = tempDir('device-cli');
  hub = await startHub({ dataDir: path.join(dir, 'hub'), port: 0, logger: quiet });
  admin = readFileSync(hub.adminTokenFile, 'utf8').trim();
  agent = (await hub.tokens.create({ role: 'agent', site: 'plant-a' })).token;
  await hub.store.apply({ apiVersion: API, kind: 'Site', metadata: { name: 'plant-a' }, spec: {} });
  await hub.store.apply({
    apiVersion: API,
    kind: 'DeviceProfile',
    metadata: { name: 'boiler' },
    spec: { deviceResources: [{ name: 'temp', properties: { valueType: 'Float64', readWrite: 'R' } }] },
  });
  await hub.store.apply({ apiVersion: API, kind: 'Device', metadata: { name: 'boiler-1' }, spec: { site: 'plant-a', profile: 'boiler', protocols: { mqtt: { topic: 'b1' } } } });
}, 30_000);

afterAll(async () => {
  await hub?.close();
});

describe('edgeadm device credential', () => {
  it('issues a password once, lists the login without its hash, rotates and deletes it', async () => {
    const created = await edgeadm(['device', 'credential', 'create', '--site', 'plant-a', '--device', 'boiler-1', '--publish', 'plant-a/extra/#']);
    expect(created.code, created.stderr).toBe(0);
    const m = /^username: boiler-1\npassword: (\S+)\n$/.exec(created.stdout);
    expect(m).not.toBeNull();
    const password = m![1]!;
    expect(created.stderr).toMatch(/shown only this once/);
    expect(await verifySecret(password, await storedHash('plant-a.boiler-1'))).toBe(true);

    const listed = await edgeadm(['device', 'credential', 'list', '--site', 'plant-a']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^SITE\s+USERNAME\s+DEVICE\s+PUBLISH\s+SUBSCRIBE\s+DISABLED\s+NAME\n/);
    expect(listed.stdout).toMatch(/plant-a\s+boiler-1\s+boiler-1\s+plant-a\/extra\/#\s+-\s+no\s+plant-a\.boiler-1/);
    expect(listed.stdout).not.toContain('scrypt$');

    const dup = await edgeadm(['device', 'credential', 'create', '--site', 'plant-a', '--username', 'boiler-1']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/\[EDGE_ERR_HUB_CREDENTIAL_EXISTS\] .*username 'boiler-1' already has a broker credential at site 'plant-a'/);

    const rotated = await edgeadm(['device', 'credential', 'rotate', '--site', 'plant-a', 'boiler-1', '-o', 'json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const out = JSON.parse(rotated.stdout) as { username: string; password: string };
    expect(out.username).toBe('boiler-1');
    const hash = await storedHash('plant-a.boiler-1');
    expect(await verifySecret(out.password, hash)).toBe(true);
    expect(await verifySecret(password, hash)).toBe(false);

    const deleted = await edgeadm(['device', 'credential', 'delete', '--site', 'plant-a', 'boiler-1']);
    expect(deleted).toMatchObject({ code: 0, stdout: "broker login 'boiler-1' at site 'plant-a' deleted\n" });
    expect(await hub.store.get('BrokerCredential', 'plant-a.boiler-1')).toBeUndefined();
    const again = await edgeadm(['device', 'credential', 'delete', '--site', 'plant-a', 'boiler-1']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/\[EDGE_ERR_HUB_NOT_FOUND\] .*BrokerCredential 'boiler-1' at site 'plant-a' not found/);
  }, SLOW);

  it('writes the password to a 0600 file instead of printing it, and leaves no file when the hub refuses', async () => {
    const file = path.join(dir, 'gw.pw');
    const r = await edgeadm(['device', 'credential', 'create', '--site', 'plant-a', '--username', 'Gateway:1', '--password-file', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`username: Gateway:1\npassword written to ${file} (mode 0600)\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = readFileSync(file, 'utf8').trim();
    expect(r.stdout + r.stderr).not.toContain(password);
    const list = JSON.parse((await edgeadm(['device', 'credential', 'list', '-o', 'json'])).stdout) as { metadata: { name: string }; spec: Record<string, unknown> }[];
    const item = list.find((c) => c.spec.username === 'Gateway:1')!;
    expect(item.spec).not.toHaveProperty('passwordHash');
    expect(await verifySecret(password, await storedHash(item.metadata.name))).toBe(true);

    // An existing file keeps its content when the hub refuses.
    writeFileSync(file, 'kept\n', { mode: 0o644 });
    const refused = await edgeadm(['device', 'credential', 'create', '--site', 'plant-a', '--username', 'Gateway:1', '--password-file', file]);
    expect(refused.code).toBe(1);
    expect(readFileSync(file, 'utf8')).toBe('kept\n');
    const fresh = path.join(dir, 'none.pw');
    const missingSite = await edgeadm(['device', 'credential', 'create', '--site', 'plant-z', '--username', 'u', '--password-file', fresh]);
    expect(missingSite.code).toBe(1);
    expect(missingSite.stderr).toMatch(/\[EDGE_ERR_HUB_NOT_FOUND\] .*Site 'plant-z' not found/);
    expect(() => statSync(fresh)).toThrow();
  }, SLOW);
});

describe('edgeadm device pending, approve and reject', () => {
  it('lists announced devices and approves one into a Device', async () => {
    const name = await announce('0xA1B2', 'kitchen-sensor');
    const other = await announce('0xC3D4', 'garage-sensor');
    const table = await edgeadm(['device', 'pending', '--site', 'plant-a']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+SITE\s+SOURCE\s+IDENTIFIER\s+SUGGESTED\s+MANUFACTURER\/MODEL\s+PHASE\s+LAST SEEN\n/);
    expect(table.stdout).toMatch(new RegExp(`${name.replace(/\./g, '\\.')}\\s+plant-a\\s+homeassistant\\s+0xA1B2\\s+kitchen-sensor\\s+Acme/TH-100\\s+Pending\\s+\\d+s`));

    const approved = await edgeadm(['device', 'approve', name, '--name', 'kitchen-1', '--label', 'zone=kitchen', '--label', 'tier=2']);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(/^device 'kitchen-1' created at site 'plant-a' with profile 'plant-a\.kitchen-1'\n/);
    const device = (await hub.store.get('Device', 'kitchen-1')) as Resource<{ site: string; profile: string; protocols: Record<string, unknown> }>;
    expect(device.spec).toMatchObject({ site: 'plant-a', profile: 'plant-a.kitchen-1', protocols: { mqtt: { stateTopic: 'homeassistant/sensor/0xA1B2/state' } } });
    expect(device.metadata.labels).toEqual({ zone: 'kitchen', tier: '2', 'edgeadm.io/onboarded-from': 'homeassistant' });
    expect(await hub.store.get('DeviceProfile', 'plant-a.kitchen-1')).toBeDefined();

    const twice = await edgeadm(['device', 'approve', name]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/\[EDGE_ERR_HUB_PENDING_STATE\] .*it is Approved/);

    const rejected = await edgeadm(['device', 'reject', other]);
    expect(rejected).toMatchObject({ code: 0, stdout: `pending device '${other}' rejected\n` });
    const json = JSON.parse((await edgeadm(['device', 'pending', '-o', 'json'])).stdout) as { metadata: { name: string }; status: { phase: string } }[];
    expect(Object.fromEntries(json.map((p) => [p.metadata.name, p.status.phase]))).toMatchObject({ [name]: 'Approved', [other]: 'Rejected' });
  }, SLOW);

  it('exits 2 on bad arguments, naming each one, before calling the hub', async () => {
    const cases: [string[], RegExp][] = [
      [['device', 'credential', 'create', '--device', 'boiler-1'], /required option '--site <site>' not specified/],
      [['device', 'credential', 'create', '--site', 'plant-a'], /--username: give --device or --username/],
      [['device', 'credential', 'create', '--site', 'Plant_A', '--username', 'u', '--publish', 'a/#/b'], /--site, --publish: --site 'Plant_A' is not a site name.*; --publish 'a\/#\/b' is not an MQTT topic filter/],
      [['device', 'credential', 'create', '--site', 'plant-a', '--username', 'no spaces'], /--username: 'no spaces' is not a broker username/],
      [['device', 'credential', 'create', '--site', 'plant-a', '--username', 'u', '--password-file', path.join(dir, 'missing-dir', 'pw')], /--password-file: cannot write/],
      [['device', 'credential', 'rotate', '--site', 'plant-a', 'bad user'], /<username>: 'bad user' is not a broker username/],
      [['device', 'credential', 'delete', 'boiler-1'], /required option '--site <site>' not specified/],
      [['device', 'approve', 'Not.Valid', '--label', 'zone'], /<pending-name>, --label: <pending-name> 'Not.Valid' is not a resource name.*; --label 'zone' is not key=value/],
      [['device', 'approve', 'p-1', '--label', 'bad key=x'], /--label: 'bad key=x': key /],
      [['device', 'reject'], /missing required argument 'pending-name'/],
      [['device', 'pending', '--site', '-a-'], /--site: '-a-' is not a site name/],
    ];
    const results = await Promise.all(cases.map(([args]) => edgeadm(args)));
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    });
    expect(await hub.store.get('BrokerCredential', 'plant-a.u')).toBeUndefined();
  }, SLOW);
});
