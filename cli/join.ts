/**
 * `edgeadm join <hub-url> --token <bootstrap-token> --site <site>`: on an edge
 * node, exchange a bootstrap token for this node's credential, keep it (with
 * the hub's CA) in the data directory, then run the site agent and
 * tunnel-edge in the foreground, or, with `--install`, write a systemd unit
 * (`edgeadm-node.service`) that runs them. Running it again with the same
 * hub and site reuses the kept identity and credential, whatever the
 * machine's hostname is now: joining is idempotent. Without `--node` a kept
 * identity names the node (the hostname only names a node that joins for the
 * first time); a `--node` that contradicts the kept one is a usage error.
 *
 * The hub's CA is trusted from `--ca-file`, or fetched and checked against
 * `--ca-cert-hash sha256:<hex>` (the SHA-256 of its SubjectPublicKeyInfo,
 * like kubeadm), before the bootstrap token is sent anywhere.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants as fsConstants, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import type { Command } from 'commander';
import { Agent, fetch } from 'undici';
import type { ErrorBody, JoinBody, JoinResult } from '../core/hub/index.ts';
import { caCertHash } from '../core/pki/pin.ts';
import { BOOTSTRAP_TOKEN_RE, EdgeError } from '../core/kernel/index.ts';
import type { SiteAgentOptions } from '../sites/index.ts';
import { readCaFile } from './client.ts';
import { contextOf, parseListenHost, parsePort } from './context.ts';
import { ErrNodeIdentity, ErrUsage } from './errors.ts';
import { isNodeName } from './node.ts';
import { waitForSignal } from './signals.ts';
import { examples, LEAN_HELP, summary } from './commands.ts';

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** What a joined node keeps in its data directory (`node.json`; the credential and CA beside it). */
export interface NodeIdentity {
  hub: string;
  site: string;
  node: string;
  tunnelUrl: string;
  credentialFile: string;
  caFile?: string;
  /** The systemd unit `join --install` wrote, for `reset` to remove. */
  unitFile?: string;
}

/** The unit `join --install` writes, and where systemd keeps system units. */
export const NODE_UNIT_NAME = 'edgeadm-node.service';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
/** Where a node keeps its credential, replica and outbox unless told otherwise. */
export const DEFAULT_NODE_DATA_DIR = '/var/lib/edgeadm/node';

interface JoinOptions {
  token?: string;
  site?: string;
  node?: string;
  caFile?: string;
  caCertHash?: string;
  dataDir: string;
  allow?: string[];
  sshHostKeyDir: string;
  run: boolean;
  brokerPort: string;
  brokerHost: string;
  broker: boolean;
  metricsPort?: string;
  lean?: boolean;
  pluginPath?: string[];
  install?: boolean;
  unitDir: string;
  kubeconfig?: string;
  kubeServer?: string;
  liteApiserverStorage?: string;
  liteApiserverCertFile?: string;
  liteApiserverKeyFile?: string;
  clientCaFile?: string;
  liteApiserverPort: string;
  address?: string[];
  healthHost: string;
}

/** The lite-apiserver flags other than --kubeconfig, and the option each fills. */
const LITE_FLAGS = [
  ['--kube-server', 'kubeServer'],
  ['--lite-apiserver-storage', 'liteApiserverStorage'],
  ['--lite-apiserver-cert-file', 'liteApiserverCertFile'],
  ['--lite-apiserver-key-file', 'liteApiserverKeyFile'],
  ['--client-ca-file', 'clientCaFile'],
] as const;
const LITE_FILE_FLAGS = ['liteApiserverCertFile', 'liteApiserverKeyFile', 'clientCaFile'] as const;
const DEFAULT_LITE_APISERVER_PORT = '51003';

/** A Kubernetes-mode node's lite-apiserver, from the join flags; undefined without --kubeconfig. */
function liteApiserverOptions(o: JoinOptions, node: string, dataDir: string): NonNullable<SiteAgentOptions['liteApiserver']> | undefined {
  if (o.kubeconfig === undefined) return undefined;
  const storage = o.liteApiserverStorage as 'file' | 'sqlite';
  return {
    nodeName: node,
    kubeconfig: path.resolve(o.kubeconfig),
    ...(o.kubeServer === undefined ? {} : { server: o.kubeServer }),
    listen: { host: '127.0.0.1', port: Number(o.liteApiserverPort) },
    tls: { certFile: path.resolve(o.liteApiserverCertFile as string), keyFile: path.resolve(o.liteApiserverKeyFile as string), clientCaFile: path.resolve(o.clientCaFile as string) },
    storage: { driver: storage, path: path.join(dataDir, storage === 'sqlite' ? 'lite-apiserver.db' : 'lite-apiserver') },
  };
}

/** Checks the lite-apiserver flags: all of them with --kubeconfig, none without. */
function checkLiteFlags(o: JoinOptions): void {
  if (o.kubeconfig === undefined) {
    const stray = LITE_FLAGS.find(([, k]) => o[k] !== undefined) ?? (o.liteApiserverPort !== DEFAULT_LITE_APISERVER_PORT ? (['--lite-apiserver-port', 'liteApiserverPort'] as const) : undefined);
    if (stray !== undefined) throw new ErrUsage({ argument: stray[0], reason: 'only means something with --kubeconfig (a Kubernetes-mode node)' });
    return;
  }
  if (o.liteApiserverStorage !== 'file' && o.liteApiserverStorage !== 'sqlite') {
    throw new ErrUsage({ argument: '--lite-apiserver-storage', reason: `${o.liteApiserverStorage === undefined ? 'is required with --kubeconfig' : `'${o.liteApiserverStorage}' is not a storage driver`}: choose 'file' (a light node) or 'sqlite' (a heavy one)` });
  }
  for (const k of LITE_FILE_FLAGS) {
    if (o[k] === undefined) throw new ErrUsage({ argument: (LITE_FLAGS.find(([, key]) => key === k) as readonly [string, string])[0], reason: 'is required with --kubeconfig' });
  }
  parsePort(o.liteApiserverPort, '--lite-apiserver-port');
}

/** One ExecStart word, quoted for systemd where needed (`%` and `$` are systemd's own specifiers). */
function systemdWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The systemd unit that runs this node: the same `edgeadm join`, now on the kept credential. */
export function nodeUnit(identity: NodeIdentity, args: readonly string[]): string {
  return [
    '[Unit]',
    `Description=edgeadm edge node ${identity.node} of site ${identity.site} (site agent and tunnel-edge)`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    'User=root',
    `ExecStart=${args.map(systemdWord).join(' ')}`,
    'Restart=always',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, command), fsConstants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/**
 * Node's flags for a lean site agent (`--lean`), in the unit `join --install
 * --lean` writes: semi-spaces of 1 MiB for V8's young generation instead of
 * up to 16. What an agent allocates per reading dies young; the agent holds
 * less, and moves less through its tunnel at full speed (`npm run bench --
 * footprint`, docs/footprint.md). By hand: NODE_OPTIONS=--max-semi-space-size=1.
 */
export const LEAN_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The `edgeadm join` a service manager runs: no token (the credential is kept), every run option kept. */
function serviceArgs(identity: NodeIdentity, o: JoinOptions, dataDir: string): string[] {
  const args = [process.execPath, ...(o.lean ? LEAN_NODE_FLAGS : []), path.resolve(process.argv[1] ?? 'edgeadm'), 'join', identity.hub, '--data-dir', dataDir, '--node', identity.node];
  if (o.lean) args.push('--lean');
  for (const a of o.allow ?? []) args.push('--allow', a);
  args.push('--ssh-host-key-dir', path.resolve(o.sshHostKeyDir));
  if (o.broker) args.push('--broker-port', o.brokerPort, '--broker-host', o.brokerHost);
  else args.push('--no-broker');
  if (o.metricsPort !== undefined) args.push('--metrics-port', o.metricsPort);
  for (const p of o.pluginPath ?? []) args.push('--plugin-path', path.resolve(p));
  args.push('--health-host', o.healthHost);
  if (o.kubeconfig !== undefined) {
    args.push('--kubeconfig', path.resolve(o.kubeconfig), '--lite-apiserver-port', o.liteApiserverPort);
    for (const [flag, k] of LITE_FLAGS) {
      const v = o[k];
      if (v !== undefined) args.push(flag, (LITE_FILE_FLAGS as readonly string[]).includes(k) ? path.resolve(v) : v);
    }
  }
  return args;
}

function readHostKeys(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => /^ssh_host_.*_key\.pub$/.test(f))
      .sort()
      .map((f) => readFileSync(path.join(dir, f), 'utf8').trim())
      .filter((l) => l.length > 0);
  } catch {
    return [];
  }
}

/** The identity a join kept in `file`; undefined when there is none. */
function readIdentity(file: string, dataDir: string): NodeIdentity | undefined {
  if (!existsSync(file)) return undefined;
  let kept: unknown;
  try {
    kept = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ErrNodeIdentity({ file, dataDir, reason: (err as Error).message }, { cause: err });
  }
  const k = (kept ?? {}) as Partial<Record<keyof NodeIdentity, unknown>>;
  const missing = (['hub', 'site', 'node', 'tunnelUrl', 'credentialFile'] as const).filter((f) => typeof k[f] !== 'string');
  if (missing.length > 0) throw new ErrNodeIdentity({ file, dataDir, reason: `no ${missing.join(', ')}` });
  if (!isNodeName(k.node as string)) throw new ErrNodeIdentity({ file, dataDir, reason: `'${String(k.node)}' is not a node name` });
  return kept as NodeIdentity;
}

async function trustedCa(hub: URL, o: JoinOptions): Promise<string | undefined> {
  if (hub.protocol === 'http:') return undefined;
  const fromFile = readCaFile(o.caFile);
  if (fromFile) return fromFile;
  if (!o.caCertHash) return undefined; // the system's CAs
  // Fetched without verification, then trusted only if it matches the pin.
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const res = await fetch(new URL('/api/v1/ca', hub), { dispatcher: insecure });
    const body = (await res.json()) as { caCert?: string };
    if (!res.ok || !body.caCert) throw new EdgeError('EDGE_ERR_JOIN_CA', `the hub at ${hub.origin} did not hand out a CA (HTTP ${res.status})`, {}, 502);
    const got = caCertHash(body.caCert);
    if (got !== o.caCertHash.toLowerCase()) {
      throw new EdgeError('EDGE_ERR_JOIN_CA_MISMATCH', `the hub's CA hash is ${got}, not the ${o.caCertHash} you gave: this is not the hub you meant (or the hash is wrong)`, { got }, 403);
    }
    return body.caCert;
  } finally {
    await insecure.close();
  }
}

export function registerJoin(program: Command): void {
  const cmd = program
    .command('join')
    .description(summary('join'))
    .argument('<hub-url>', 'the hub, e.g. https://hub.example.com:7443')
    .option('--token <token>', 'bootstrap token from `edgeadm token create` (<id>.<secret>); not needed once joined')
    .option('--site <site>', 'the site this node belongs to')
    .option('--node <name>', "this node's name (default: the name it joined as, kept in the data directory; on a first join, the hostname)")
    .option('--ca-file <file>', "the hub's CA certificate (PEM)")
    .option('--ca-cert-hash <sha256:hex>', "pin of the hub's CA (printed by `edgeadm hub run`); the CA is fetched and checked against it")
    .option('--data-dir <dir>', 'where the node keeps its credential, replica and outbox', DEFAULT_NODE_DATA_DIR)
    .option('--allow <host:port...>', 'what the cloud may open on this node through the tunnel (default 127.0.0.1:22 and 127.0.0.1:10250)')
    .option('--ssh-host-key-dir <dir>', "where sshd's host public keys are (reported so `edgeadm ssh` can check them)", '/etc/ssh')
    .option('--no-run', 'only join: keep the credential, do not start the agent')
    .option('--broker-port <port>', 'site MQTT broker port (0 = any free port)', '1883')
    .option('--broker-host <address>', 'address the site MQTT broker listens on: 0.0.0.0 for devices on the network (every client must log in)', '127.0.0.1')
    .option('--no-broker', 'run without a site MQTT broker')
    .option('--metrics-port <port>', "serve the agent's Prometheus metrics on 127.0.0.1:<port>/metrics")
    .option('--lean', `${LEAN_HELP}; with --install the unit also runs Node with ${LEAN_NODE_FLAGS.join(' ')}`)
    .option('--plugin-path <dir...>', 'extra folders of plugin packages')
    .option('--kubeconfig <file>', "a Kubernetes-mode node: the node's own kubeconfig (the kubelet's credential, never an admin one); the agent runs lite-apiserver for the node's components")
    .option('--kube-server <url>', "with --kubeconfig: the cloud's API server, when the kubeconfig's server is lite-apiserver itself")
    .option('--lite-apiserver-storage <driver>', "with --kubeconfig: lite-apiserver's cache storage, 'file' (a light node) or 'sqlite' (a heavy one)")
    .option('--lite-apiserver-cert-file <file>', 'with --kubeconfig: serving certificate (PEM) of lite-apiserver, for 127.0.0.1')
    .option('--lite-apiserver-key-file <file>', 'with --kubeconfig: its private key (PEM)')
    .option('--client-ca-file <file>', "with --kubeconfig: the CA the components' client certificates are signed by (the cluster CA)")
    .option('--lite-apiserver-port <port>', 'with --kubeconfig: the port lite-apiserver listens on, on 127.0.0.1', DEFAULT_LITE_APISERVER_PORT)
    .option('--address <ip...>', "addresses this node is known by on the site's network, reported when it joins: its peers check it at the first (distributed health), and the tunnel's CONNECT proxy routes them to it")
    .option('--health-host <address>', "address the distributed health listener binds (the Site's spec.health.port) when the site has health settings", '0.0.0.0')
    .option('--install', `after joining, write a systemd unit (${NODE_UNIT_NAME}) that runs this node, instead of running it in the foreground`)
    .option('--unit-dir <dir>', `where --install writes the unit; systemctl enables it only in ${DEFAULT_UNIT_DIR}`, DEFAULT_UNIT_DIR)
    .action(async (hubArg: string, o: JoinOptions, command: Command) => {
      const ctx = contextOf(command);
      let hub: URL;
      try {
        hub = new URL(hubArg);
      } catch {
        throw new ErrUsage({ argument: '<hub-url>', reason: `'${hubArg}' is not a URL` });
      }
      if (hub.protocol !== 'https:' && hub.protocol !== 'http:') throw new ErrUsage({ argument: '<hub-url>', reason: 'must be an https:// (or, on loopback, http://) URL' });
      if (o.node !== undefined && !isNodeName(o.node)) throw new ErrUsage({ argument: '--node', reason: `'${o.node}' is not a node name (lowercase letters, digits and '-')` });
      if (o.site !== undefined && !isNodeName(o.site)) throw new ErrUsage({ argument: '--site', reason: `'${o.site}' is not a site name` });
      if (o.caCertHash !== undefined && !/^sha256:[0-9a-fA-F]{64}$/.test(o.caCertHash)) throw new ErrUsage({ argument: '--ca-cert-hash', reason: 'must read sha256:<64 hex digits>' });
      for (const a of o.allow ?? []) {
        const m = HOST_PORT.exec(a);
        if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ErrUsage({ argument: '--allow', reason: `'${a}' is not host:port` });
      }
      const brokerPort = o.broker ? parsePort(o.brokerPort, '--broker-port') : 0;
      const brokerHost = parseListenHost(o.brokerHost, '--broker-host');
      const metricsPort = o.metricsPort === undefined ? undefined : parsePort(o.metricsPort, '--metrics-port');
      if (o.unitDir === '') throw new ErrUsage({ argument: '--unit-dir', reason: 'must not be empty' });
      if (o.unitDir !== DEFAULT_UNIT_DIR && !o.install) throw new ErrUsage({ argument: '--unit-dir', reason: 'only means something with --install' });
      checkLiteFlags(o);
      for (const a of o.address ?? []) if (net.isIP(a) === 0) throw new ErrUsage({ argument: '--address', reason: `'${a}' is not an IP address` });
      const healthHost = parseListenHost(o.healthHost, '--health-host');

      // Absolute, so that node.json's file names hold for a service manager too.
      o.dataDir = path.resolve(o.dataDir);
      mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
      const identityFile = path.join(o.dataDir, 'node.json');
      const kept = readIdentity(identityFile, o.dataDir);
      let identity: NodeIdentity | undefined;
      if (kept) {
        // The kept identity names the node, not the hostname: a renamed machine is still the node that joined.
        if (o.node !== undefined && o.node !== kept.node) {
          throw new ErrUsage({
            argument: '--node',
            reason: `${o.dataDir} holds node '${kept.node}', and --node says '${o.node}'; leave --node out to run as '${kept.node}', or run \`edgeadm reset --data-dir ${o.dataDir}\` to join as '${o.node}'`,
          });
        }
        if (kept.hub !== hub.origin || (o.site !== undefined && kept.site !== o.site)) {
          throw new ErrUsage({ argument: '--data-dir', reason: `${o.dataDir} holds node '${kept.node}' of site '${kept.site}' at ${kept.hub}; run \`edgeadm reset --data-dir ${o.dataDir}\` or use another --data-dir` });
        }
        identity = kept;
        ctx.logger.info({ node: kept.node, site: kept.site }, 'already joined: using the kept credential');
      } else {
        const node = o.node ?? hostname().toLowerCase().split('.')[0]!;
        if (!isNodeName(node)) throw new ErrUsage({ argument: '--node', reason: `the hostname gives '${node}', which is not a node name (lowercase letters, digits and '-'): name the node with --node` });
        if (!o.token) throw new ErrUsage({ argument: '--token', reason: 'a bootstrap token is required to join (edgeadm token create on the hub)' });
        if (!BOOTSTRAP_TOKEN_RE.test(o.token)) throw new ErrUsage({ argument: '--token', reason: 'a bootstrap token reads <6 chars>.<16 chars> (lowercase letters and digits)' });
        if (!o.site) throw new ErrUsage({ argument: '--site', reason: 'required to join' });
        const ca = await trustedCa(hub, o);
        const dispatcher = ca ? new Agent({ connect: { ca } }) : undefined;
        const sshHostKeys = readHostKeys(o.sshHostKeyDir);
        let res;
        try {
          res = await fetch(new URL('/api/v1/join', hub), {
            method: 'POST',
            headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ site: o.site, node, hostname: hostname(), ...(o.address?.length ? { addresses: o.address } : {}), ...(sshHostKeys.length ? { sshHostKeys } : {}) } satisfies JoinBody),
            ...(dispatcher ? { dispatcher } : {}),
          });
        } catch (err) {
          const cause = (err as { cause?: { code?: string; message?: string } }).cause;
          throw new EdgeError('EDGE_ERR_HUB_UNREACHABLE', `cannot reach the hub at ${hub.origin}: ${cause?.message ?? (err as Error).message}${cause?.code && /CERT|SELF_SIGNED|VERIFY/.test(cause.code) ? '; pass --ca-file or --ca-cert-hash' : ''}`, {}, 503, { cause: err });
        } finally {
          await dispatcher?.close();
        }
        const body = (await res.json()) as Partial<JoinResult & ErrorBody>;
        if (!res.ok || !body.credential) throw new EdgeError(body.code ?? 'EDGE_ERR_JOIN_FAILED', `join: ${body.message ?? `HTTP ${res.status}`}`, { status: res.status }, res.status);
        const credentialFile = path.join(o.dataDir, 'node.credential');
        writeFileSync(credentialFile, `${body.credential}\n`, { mode: 0o600 });
        chmodSync(credentialFile, 0o600);
        let caFile: string | undefined;
        if (body.caCert ?? ca) {
          caFile = path.join(o.dataDir, 'hub-ca.crt');
          writeFileSync(caFile, body.caCert ?? ca!);
        }
        const wsOrigin = hub.origin.replace(/^http/, 'ws');
        identity = { hub: hub.origin, site: o.site, node, tunnelUrl: `${wsOrigin}${body.tunnelPath ?? '/api/v1/tunnel'}`, credentialFile, ...(caFile ? { caFile } : {}) };
        writeFileSync(identityFile, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o600 });
        ctx.out.write(`node '${node}' joined site '${o.site}' at ${hub.origin}${sshHostKeys.length ? ` (${sshHostKeys.length} ssh host keys reported)` : ''}\n`);
      }
      if (o.install) {
        const dataDir = o.dataDir;
        const unitDir = path.resolve(o.unitDir);
        const unitFile = path.join(unitDir, NODE_UNIT_NAME);
        const unit = nodeUnit(identity, serviceArgs(identity, o, dataDir));
        mkdirSync(unitDir, { recursive: true });
        const same = existsSync(unitFile) && readFileSync(unitFile, 'utf8') === unit;
        if (!same) writeFileSync(unitFile, unit, { mode: 0o644 });
        identity = { ...identity, unitFile };
        writeFileSync(identityFile, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o600 });
        ctx.out.write(`${same ? 'unit kept' : 'unit written'}: ${unitFile}\n`);
        const commands = [['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', NODE_UNIT_NAME]];
        if (unitDir === DEFAULT_UNIT_DIR && onPath('systemctl')) {
          for (const c of commands) {
            const r = spawnSync(c[0]!, c.slice(1), { stdio: 'inherit' });
            if (r.status !== 0) {
              throw new EdgeError('EDGE_ERR_JOIN_INSTALL', `\`${c.join(' ')}\` failed (${r.error ? r.error.message : `exit ${r.status ?? r.signal}`}); the unit is in place: fix systemd, then run \`systemctl daemon-reload && systemctl enable --now ${NODE_UNIT_NAME}\``, { command: c.join(' ') }, 500);
            }
          }
          ctx.out.write(`${NODE_UNIT_NAME} enabled and started (systemctl status ${NODE_UNIT_NAME})\n`);
        } else {
          const where = unitDir === DEFAULT_UNIT_DIR ? 'systemctl is not on this PATH' : `the unit is in ${unitDir}, not ${DEFAULT_UNIT_DIR}`;
          ctx.out.write(`not enabled (${where}); to run the node under systemd:\n${unitDir === DEFAULT_UNIT_DIR ? '' : `  cp ${unitFile} ${DEFAULT_UNIT_DIR}/\n`}  ${commands.map((c) => c.join(' ')).join(' && ')}\n`);
        }
        return;
      }
      if (!o.run) return;
      const { startSiteAgent, tuneAgentProcess } = await import('../sites/index.ts');
      if (o.lean) tuneAgentProcess();
      const lite = liteApiserverOptions(o, identity.node, o.dataDir);
      const agent = await startSiteAgent({
        site: identity.site,
        token: readFileSync(identity.credentialFile, 'utf8').trim(),
        tunnel: { url: identity.tunnelUrl, node: identity.node, ...(identity.caFile ? { ca: readFileSync(identity.caFile, 'utf8') } : {}), ...(o.allow ? { allow: o.allow } : {}) },
        dataDir: o.dataDir,
        logger: ctx.logger,
        broker: o.broker ? { host: brokerHost, port: brokerPort } : false,
        ...(metricsPort === undefined ? {} : { metrics: { port: metricsPort } }),
        plugins: { searchPaths: o.pluginPath ?? [] },
        devices: ctx.config.devices,
        ...(lite === undefined ? {} : { liteApiserver: lite }),
        health: { listenHost: healthHost },
      });
      ctx.out.write(`site agent '${identity.site}' running on node '${identity.node}' (tunnel ${identity.tunnelUrl})\n`);
      const liteStatus = agent.status().liteApiserver;
      if (liteStatus !== undefined) {
        ctx.out.write(
          liteStatus.state === 'failed'
            ? `lite-apiserver did not start: ${liteStatus.error}\n`
            : `lite-apiserver on https://127.0.0.1:${o.liteApiserverPort} (${liteStatus.state}, upstream ${liteStatus.upstream}): point the kubelet's and kube-proxy's kubeconfig there\n`,
        );
      }
      const sig = await waitForSignal();
      ctx.logger.info({ signal: sig }, 'stopping');
      await agent.stop();
    });
  examples(cmd, [
    'edgeadm join https://hub.example.com:7443 --token abcdef.0123456789abcdef --site plant-a --ca-cert-hash sha256:<hex>',
    'edgeadm join https://10.0.0.5:7443 --token abcdef.0123456789abcdef --site plant-a --node gw-1 --ca-file hub-ca.crt --allow 127.0.0.1:22',
    'edgeadm join https://hub.example.com:7443   # again, after a reboot: uses the kept credential',
    'edgeadm join https://hub.example.com:7443 --token abcdef.0123456789abcdef --site plant-a --ca-cert-hash sha256:<hex> --install   # run under systemd',
  ]);
}
