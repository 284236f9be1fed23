/**
 * The operator's path with the CLI alone, each step the real binary in a
 * child process: `edgeadm init` runs a hub and writes the user's context;
 * `site create` and `token create --print-join-command` need no flags after
 * it; `join --install` exchanges the token and writes the systemd unit; the
 * unit's own ExecStart runs the node, whose tunnel comes up; `addon`, `device
 * add`, `device read` and `device write` drive a simulated device at the
 * node's site; `ssh` reaches the node's sshd (a real OpenSSH started here)
 * through its tunnel; `reset` removes what join made and deletes the Node at
 * the hub through the context.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { deferCleanup } from './support/cleanup.ts';
import { EDGEADM_BIN as bin, runEdgeadm, startProcess, userEnv, type Background, type CliResult, type EnvChanges } from './support/edgeadm-cli.ts';
import { startSshd } from './support/sshd.ts';
import { tempDir, waitFor } from './support/hub-fixture.ts';

const defer = deferCleanup();

const edgeadm = (home: string, args: string[]): Promise<CliResult> => runEdgeadm(args, userEnv(home));

/** A long-running process, stopped (SIGINT) after the test if still running. */
function background(command: string, args: string[], env: EnvChanges): Background {
  const p = startProcess(command, args, env);
  defer(() => p.stop());
  return p;
}

/** The words of a systemd ExecStart line (the unit quotes none here: temp paths have no spaces). */
function execStart(unit: string): string[] {
  const line = unit.split('\n').find((l) => l.startsWith('ExecStart='));
  return line!.slice('ExecStart='.length).split(' ');
}

describe('edgeadm init → site create → token create → join --install → addon → device add/read/write → ssh → reset', () => {
  it(
    'brings a node up with the CLI alone and takes it down again',
    async () => {
      const dir = tempDir('lifecycle');
      const home = path.join(dir, 'home');
      mkdirSync(home);
      const hubData = path.join(dir, 'hub');
      const nodeData = path.join(dir, 'node');
      const unitDir = path.join(dir, 'units');

      // init, in the foreground as a user runs it (here: in the background of the test).
      const init = background(process.execPath, [bin, 'init', '--data-dir', hubData, '--port', '0', '--log-level', 'warn'], userEnv(home));
      await waitFor('the hub to run', () => init.output().includes('Ctrl-C stops it'), 60_000);
      const config = parseYaml(readFileSync(path.join(home, '.config/edgeadm/config.yaml'), 'utf8')) as { contexts: { hub: { url: string } }[] };
      const hubUrl = config.contexts[0]!.hub.url;
      const ca = readFileSync(path.join(hubData, 'pki/ca.crt'), 'utf8');
      const admin = readFileSync(path.join(hubData, 'admin.token'), 'utf8').trim();
      const dispatcher = new Agent({ connect: { ca } });
      defer(() => dispatcher.close());
      const api = async (method: string, p: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
        const res = await fetch(`${hubUrl}${p}`, {
          method,
          dispatcher,
          headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
      };
      const site = await edgeadm(home, ['site', 'create', 'plant-a']);
      expect(site.code, site.stderr).toBe(0);
      expect((await api('GET', '/api/v1/sites/plant-a')).status).toBe(200);

      // The node's sshd, whose host key join reports.
      const sshd = await startSshd();
      defer(() => sshd.stop());
      const hostKeys = path.join(dir, 'ssh');
      mkdirSync(hostKeys);
      writeFileSync(path.join(hostKeys, 'ssh_host_ed25519_key.pub'), `${sshd.hostKeyLine}\n`);

      // token create: no --hub, no token, no CA: the context has them.
      const created = await edgeadm(home, ['token', 'create', '--site', 'plant-a', '--print-join-command']);
      expect(created.code, created.stderr).toBe(0);
      const joinLine = created.stdout.trim().split(' ');
      expect(joinLine.slice(0, 3)).toEqual(['edgeadm', 'join', hubUrl]);

      // Usage errors name their argument and change nothing.
      const strayUnitDir = await edgeadm(home, [...joinLine.slice(1), '--node', 'gw-1', '--data-dir', nodeData, '--unit-dir', unitDir]);
      expect(strayUnitDir).toMatchObject({ code: 2, stderr: expect.stringMatching(/--unit-dir: only means something with --install/) });
      expect(existsSync(path.join(nodeData, 'node.json'))).toBe(false);

      // join --install: exchange the token, keep the credential, write the unit (not enabled: not systemd's folder).
      const installed = await edgeadm(home, [
        ...joinLine.slice(1),
        '--node', 'gw-1',
        '--data-dir', nodeData,
        '--broker-port', '0',
        '--ssh-host-key-dir', hostKeys,
        '--allow', `127.0.0.1:${sshd.port}`,
        '--address', '127.0.3.1',
        '--install',
        '--unit-dir', unitDir,
      ]);
      expect(installed.code, installed.stderr).toBe(0);
      const unitFile = path.join(unitDir, 'edgeadm-node.service');
      expect(installed.stdout).toContain(`unit written: ${unitFile}`);
      expect(installed.stdout).toContain('systemctl daemon-reload && systemctl enable --now edgeadm-node.service');
      const unit = readFileSync(unitFile, 'utf8');
      expect(unit).toMatch(/^Restart=always$/m);
      expect(unit).toMatch(/^User=root$/m);
      expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
      const words = execStart(unit);
      expect(words.slice(0, 4)).toEqual([process.execPath, bin, 'join', hubUrl]);
      expect(words).toEqual(expect.arrayContaining(['--data-dir', nodeData, '--node', 'gw-1', '--broker-port', '0', '--health-host', '0.0.0.0']));
      // The address went with the join: the node's peers check it there (distributed health).
      expect(((await api('GET', '/api/v1/nodes/gw-1')).body.spec as { addresses?: string[] }).addresses).toEqual(['127.0.3.1']);
      expect(words.join(' ')).not.toContain('--token');
      expect(JSON.parse(readFileSync(path.join(nodeData, 'node.json'), 'utf8'))).toMatchObject({ node: 'gw-1', site: 'plant-a', hub: hubUrl, unitFile });
      // Installing again changes nothing.
      const again = await edgeadm(home, ['join', hubUrl, '--node', 'gw-1', '--data-dir', nodeData, '--broker-port', '0', '--ssh-host-key-dir', hostKeys, '--allow', `127.0.0.1:${sshd.port}`, '--install', '--unit-dir', unitDir]);
      expect(again).toMatchObject({ code: 0, stdout: expect.stringContaining(`unit kept: ${unitFile}`) });

      // What systemd would run: the unit's ExecStart, as is.
      const node = background(words[0]!, [...words.slice(1), '--log-level', 'warn'], userEnv(home));
      await waitFor(
        'gw-1 connected',
        async () => ((await api('GET', '/api/v1/nodes/gw-1')).body.status as { connected?: boolean } | undefined)?.connected === true,
        60_000,
      );
      await waitFor('the agent to report running', () => node.output().includes("site agent 'plant-a' running on node 'gw-1'"), 60_000);

      // addon → device add → read → write: a simulated valve at the node's site.
      const addon = await edgeadm(home, ['addon', 'simulator', '--site', 'plant-a']);
      expect(addon.code, addon.stderr).toBe(0);
      const manifest = path.join(dir, 'valve.yaml');
      writeFileSync(
        manifest,
        [
          'kind: DeviceProfile',
          'metadata: { name: valve }',
          'spec:',
          '  deviceResources:',
          "    - { name: opening, attributes: { function: setpoint, initial: 0 }, properties: { valueType: Uint8, readWrite: RW, units: '%', minimum: 0, maximum: 100 } }",
          '    - { name: temperature, attributes: { function: sine, amplitude: 2, periodS: 30, offset: 20 }, properties: { valueType: Float64, readWrite: R, units: degC } }',
          '---',
          'kind: Device',
          'metadata: { name: valve-1 }',
          'spec:',
          '  site: plant-a',
          '  profile: valve',
          '  protocols: { simulator: { seed: "3" } }',
          '  autoEvents: [{ sourceName: temperature, interval: 200ms }]',
          '',
        ].join('\n'),
      );
      const added = await edgeadm(home, ['device', 'add', '-f', manifest]);
      expect(added.code, added.stderr).toBe(0);
      const read = await waitFor(
        'a temperature reading',
        async () => {
          const r = await edgeadm(home, ['device', 'read', 'valve-1', 'temperature', '-o', 'json']);
          const rows = r.code === 0 ? (JSON.parse(r.stdout) as { resource: string; value: number; quality: string }[]) : [];
          return rows.find((x) => x.quality === 'good');
        },
        60_000,
      );
      expect(read.value).toBeGreaterThan(17);
      // The site reports the device up, with when it was last heard from.
      await waitFor('valve-1 UP in the device list', async () => /\nvalve-1\s+plant-a\s+valve\s+simulator\s+UP\s+\d+s ago\n/.test((await edgeadm(home, ['device', 'list'])).stdout), 60_000);
      const wrote = await edgeadm(home, ['device', 'write', 'valve-1', 'opening', '42']);
      expect(wrote).toMatchObject({ code: 0, stdout: 'valve-1/opening = 42\n' });

      // ssh through the node's tunnel, the host key checked against what join reported.
      const ssh = await edgeadm(home, ['ssh', `${sshd.user}@gw-1`, '-p', String(sshd.port), '-i', sshd.clientKeyFile, '--', 'echo tunnelled; exit 4']);
      expect(ssh.stdout).toBe('tunnelled\n');
      expect(ssh.code).toBe(4);

      node.child.kill('SIGINT');
      expect(await node.exited).toBe(0);

      // reset: asks first; without a terminal, says to add --yes.
      expect(await edgeadm(home, ['reset', '--data-dir', nodeData])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--yes: .*add --yes/) });
      expect(existsSync(path.join(nodeData, 'node.credential'))).toBe(true);
      const reset = await edgeadm(home, ['reset', '--data-dir', nodeData, '--yes']);
      expect(reset.code, reset.stderr).toBe(0);
      expect(reset.stderr).toContain("[ok] Delete Node 'gw-1' at the hub (deleted; its credential is revoked)");
      expect(reset.stdout).toContain("node 'gw-1' of site 'plant-a' reset");
      for (const f of ['node.json', 'node.credential', 'hub-ca.crt']) expect(existsSync(path.join(nodeData, f)), f).toBe(false);
      expect(existsSync(unitFile)).toBe(false);
      expect(existsSync(nodeData)).toBe(true);
      expect((await api('GET', '/api/v1/nodes/gw-1')).status).toBe(404);
      // Again: nothing left to reset; --purge then removes the agent's data too.
      expect(await edgeadm(home, ['reset', '--data-dir', nodeData, '--yes'])).toMatchObject({ code: 0, stdout: `nothing to reset: ${nodeData} holds no joined node\n` });
      expect(await edgeadm(home, ['reset', '--data-dir', nodeData, '--yes', '--purge'])).toMatchObject({ code: 0 });
      expect(existsSync(nodeData)).toBe(false);

      init.child.kill('SIGINT');
      expect(await init.exited).toBe(0);
    },
    180_000,
  );
});
