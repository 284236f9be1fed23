/**
 * `edgeadm init` and the user config, run as a user runs them: the CLI binary
 * in a child process, with a temporary HOME, against the real hub it starts.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { deferCleanup } from '../test/support/cleanup.ts';
import { runEdgeadm, startEdgeadm, userEnv, type Background, type CliResult } from '../test/support/edgeadm-cli.ts';
import { tempDir, waitFor } from '../test/support/hub-fixture.ts';
import { rawClient } from '../test/support/kube-apiserver/client.ts';
import { startKubeApiServer } from '../test/support/kube-apiserver/index.ts';

const SLOW = 90_000;
const defer = deferCleanup();

const edgeadm = (home: string, args: string[]): Promise<CliResult> => runEdgeadm(args, userEnv(home));

/** A long-running edgeadm; stopped with Ctrl-C after the test. */
function background(home: string, args: string[]): Background {
  const p = startEdgeadm(args, userEnv(home));
  defer(() => p.stop());
  return p;
}

interface UserConfigDoc {
  'current-context': string;
  contexts: { name: string; hub: { url: string; caFile: string }; user: { tokenFile: string } }[];
}

const configOf = (home: string): UserConfigDoc => parseYaml(readFileSync(path.join(home, '.config/edgeadm/config.yaml'), 'utf8')) as UserConfigDoc;

describe('edgeadm init', () => {
  it(
    'prepares the data dir, CA and admin token and writes the context; again, keeps them; running, serves commands with no flags',
    async () => {
      const dir = tempDir('init');
      const home = path.join(dir, 'home');
      const data = path.join(dir, 'hub');
      mkdirSync(home);

      const first = await edgeadm(home, ['init', '--no-run', '--data-dir', data, '--port', '7443', '--tls-host', 'hub.example.com', '--log-level', 'warn']);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toContain('[ok] Certificate authority and hub TLS certificate (created)');
      expect(first.stderr).toContain(`[ok] Admin token (created: ${data}/admin.token)`);
      expect(first.stdout).toMatch(/--ca-cert-hash sha256:[0-9a-f]{64}/);
      expect(first.stdout).toContain('edgeadm token create --site <site> --print-join-command');
      const file = path.join(home, '.config/edgeadm/config.yaml');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(configOf(home)).toEqual({
        apiVersion: 'edgeadm.io/v1alpha1',
        kind: 'Config',
        'current-context': 'edgeadm',
        contexts: [{ name: 'edgeadm', hub: { url: 'https://127.0.0.1:7443', caFile: path.join(data, 'pki/ca.crt') }, user: { tokenFile: path.join(data, 'admin.token') } }],
      });
      expect(statSync(path.join(data, 'admin.token')).mode & 0o777).toBe(0o600);
      const ca = readFileSync(path.join(data, 'pki/ca.crt'), 'utf8');
      const token = readFileSync(path.join(data, 'admin.token'), 'utf8');

      const second = await edgeadm(home, ['init', '--no-run', '--data-dir', data, '--port', '7443', '--tls-host', 'hub.example.com', '--log-level', 'warn']);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toContain(`${data} was initialised before: its CA and admin token are kept.`);
      expect(second.stderr).toContain('[ok] Certificate authority and hub TLS certificate (kept)');
      expect(second.stderr).toContain('[ok] Admin token (kept:');
      expect(readFileSync(path.join(data, 'pki/ca.crt'), 'utf8')).toBe(ca);
      expect(readFileSync(path.join(data, 'admin.token'), 'utf8')).toBe(token);

      // Running: any free port; the context follows it.
      const hub = background(home, ['init', '--data-dir', data, '--port', '0', '--log-level', 'warn']);
      await waitFor('the hub to run', () => hub.output().includes('Ctrl-C stops it'), 60_000);
      expect(hub.output()).toContain('its CA and admin token are kept');
      const url = configOf(home).contexts[0]!.hub.url;
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(url).not.toBe('https://127.0.0.1:7443');

      const list = await edgeadm(home, ['token', 'list']);
      expect(list, list.stderr).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ID +SITE +EXPIRES +USES +DESCRIPTION\n/) });
      const created = await edgeadm(home, ['token', 'create', '--site', 'plant-a', '--print-join-command']);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout.trim()).toMatch(new RegExp(`^edgeadm join ${url.replace(/\./g, '\\.')} --token [a-z0-9]{6}\\.[a-z0-9]{16} --site plant-a --ca-cert-hash sha256:[0-9a-f]{64}$`));
      const contexts = await edgeadm(home, ['config', 'get-contexts', '-o', 'json']);
      expect(JSON.parse(contexts.stdout)).toEqual([{ current: true, name: 'edgeadm', hub: url, user: path.join(data, 'admin.token') }]);

      hub.child.kill('SIGINT');
      expect(await hub.exited).toBe(0);
    },
    SLOW,
  );

  it(
    'names the bad argument (exit 2) and makes nothing',
    async () => {
      const dir = tempDir('init-bad');
      const data = path.join(dir, 'hub');
      const cases: [string[], RegExp][] = [
        [['--port', '99999'], /--port: '99999' is not a port/],
        [['--port', '0', '--no-run'], /--port: with --no-run the port must be given/],
        [['--tls-host', 'not a host!'], /--tls-host: 'not a host!' is not a DNS name or IP address/],
        [['--context', 'a/b'], /--context: 'a\/b' is not a context name/],
        [['--host', 'example.com'], /--host: 'example.com' is not an IP address/],
        [['--kubeconfig', path.join(dir, 'no-such-kubeconfig')], /--kubeconfig: no file at .*no-such-kubeconfig/],
      ];
      for (const [args, message] of cases) {
        const r = await edgeadm(dir, ['init', '--data-dir', data, ...args]);
        expect(r, args.join(' ')).toMatchObject({ code: 2, stderr: expect.stringMatching(message) });
      }
      expect(existsSync(data)).toBe(false);
    },
    SLOW,
  );

  it(
    'in Kubernetes mode installs the CRDs in the cluster, runs the hub on them, and names a namespace that does not exist',
    async () => {
      const kubeServer = await startKubeApiServer();
      defer(() => kubeServer.close());
      const dir = tempDir('init-kube');
      const home = path.join(dir, 'home');
      const data = path.join(dir, 'hub');
      mkdirSync(home);
      const kubeconfig = await kubeServer.kubeconfig(dir);
      const api = rawClient(kubeServer);

      const missing = await edgeadm(home, ['init', '--no-run', '--data-dir', data, '--kubeconfig', kubeconfig, '--namespace', 'no-such-ns', '--log-level', 'warn']);
      expect(missing.code, missing.stderr).toBe(1);
      expect(missing.stderr).toMatch(/EDGE_ERR_INIT_NAMESPACE\] namespace 'no-such-ns' at https:\/\/127\.0\.0\.1:\d+: no such namespace; create it first/);
      expect(existsSync(data)).toBe(false);

      // Running: the CRDs are installed, and what the hub's API writes is a custom resource in the namespace.
      const hub = background(home, ['init', '--data-dir', data, '--port', '0', '--kubeconfig', kubeconfig, '--namespace', 'default', '--log-level', 'warn']);
      await waitFor('the hub to run', () => hub.output().includes('Ctrl-C stops it'), 60_000);
      expect(hub.output()).toContain('[ok] Resources in namespace default of the cluster in');
      expect(hub.output()).toContain('resources: custom resources in namespace default');
      expect((await api.call('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sites.edgeadm.io')).status).toBe(200);
      const created = await edgeadm(home, ['site', 'create', 'plant-k', '--log-level', 'warn']);
      expect(created.code, created.stderr).toBe(0);
      const site = await api.call('GET', '/apis/edgeadm.io/v1alpha1/namespaces/default/sites/plant-k');
      expect(site).toMatchObject({ status: 200, body: { kind: 'Site', metadata: { name: 'plant-k', labels: { 'edgeadm.io/site': 'plant-k' } } } });
      // Tokens are Secrets of the namespace: one admin token, the one every replica would hand out.
      const tokens = await api.call('GET', '/api/v1/namespaces/default/secrets?labelSelector=edgeadm.io%2Fcredential%3Dtoken');
      const items = (tokens.body as { items: { metadata: { labels: Record<string, string> } }[] }).items;
      expect(items.map((i) => i.metadata.labels['edgeadm.io/token-role'])).toEqual(['admin']);
      const shared = (await api.call('GET', '/api/v1/namespaces/default/secrets/edgeadm-initial-admin-token')).body as { data: { token: string } };
      expect(Buffer.from(shared.data.token, 'base64').toString('utf8')).toBe(readFileSync(path.join(data, 'admin.token'), 'utf8').trim());
      hub.child.kill('SIGINT');
      expect(await hub.exited).toBe(0);
    },
    SLOW,
  );
});

describe('the user config', () => {
  it(
    'a malformed file is an error naming the file and each field; nothing is started on it',
    async () => {
      const home = tempDir('userconfig');
      const file = path.join(home, '.config/edgeadm/config.yaml');
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, 'current-context: lab\ncontexts:\n  - name: lab\n    hub: { url: not-a-url }\n    user: {}\n    extra: 1\n');
      const list = await edgeadm(home, ['token', 'list']);
      expect(list.code).toBe(1);
      expect(list.stderr).toContain(`EDGE_ERR_USER_CONFIG] ${file}:`);
      expect(list.stderr).toContain('contexts[0].extra is not a known field');

      writeFileSync(file, 'current-context: lab\ncontexts:\n  - name: lab\n    hub: { url: not-a-url }\n    user: {}\n');
      const again = await edgeadm(home, ['token', 'list']);
      expect(again.stderr).toMatch(/contexts\[0\]\.hub\.url 'not-a-url' is not a URL; contexts\[0\]\.user needs exactly one of token and tokenFile/);
      const data = path.join(home, 'hub');
      expect(await edgeadm(home, ['init', '--no-run', '--data-dir', data])).toMatchObject({ code: 1, stderr: expect.stringMatching(/EDGE_ERR_USER_CONFIG/) });
      expect(existsSync(data)).toBe(false);

      writeFileSync(file, 'current-context: other\ncontexts: []\n');
      expect((await edgeadm(home, ['config', 'view'])).stderr).toMatch(/current-context names 'other', which is not among the contexts/);
    },
    SLOW,
  );

  it(
    'without a context or --hub, says how to get one; view redacts tokens; use-context switches and names an unknown one',
    async () => {
      const home = tempDir('userconfig-ctx');
      const none = await edgeadm(home, ['token', 'list']);
      expect(none).toMatchObject({ code: 2, stderr: expect.stringMatching(/--hub: the hub URL is required: .*`edgeadm init`/) });

      const file = path.join(home, '.config/edgeadm/config.yaml');
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(
        file,
        'contexts:\n  - name: a\n    hub: { url: "https://a.example:7443" }\n    user: { token: edgeadm_aaaaaaaa_secretsecret }\n  - name: b\n    hub: { url: "http://127.0.0.1:1" }\n    user: { tokenFile: b.token }\n',
      );
      const view = await edgeadm(home, ['config', 'view']);
      expect(view.code).toBe(0);
      expect(view.stdout).not.toContain('secretsecret');
      expect(view.stdout).toContain('token: REDACTED');

      expect(await edgeadm(home, ['config', 'use-context', 'c'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/<name>: no context 'c' in .* \(have: a, b\)/) });
      expect(await edgeadm(home, ['config', 'use-context', 'b'])).toMatchObject({ code: 0, stdout: 'current context: b\n' });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const table = await edgeadm(home, ['config', 'get-contexts']);
      expect(table.stdout).toMatch(/^\*\s+b\s+http:\/\/127\.0\.0\.1:1\s+b\.token$/m);
      // The current context's token file is relative to the config file, and missing: named with its field.
      const missing = await edgeadm(home, ['token', 'list']);
      expect(missing).toMatchObject({ code: 1, stderr: expect.stringMatching(/contexts\[1\]\.user\.tokenFile names 'b\.token', which cannot be read: ENOENT/) });
      writeFileSync(path.join(path.dirname(file), 'b.token'), 'edgeadm_bbbbbbbb_x\n');
      // Now the context is complete: the call reaches for its hub, which is not there.
      expect(await edgeadm(home, ['token', 'list'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/EDGE_ERR_HUB_UNREACHABLE.*http:\/\/127\.0\.0\.1:1/) });
      expect(await edgeadm(home, ['token', 'list', '--context', 'zz'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--context: no context 'zz'/) });
    },
    SLOW,
  );
});
