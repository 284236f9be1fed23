/**
 * `edgeadm demo` (what `npm start` runs): a hub and one demo site with
 * simulated devices, on this machine, wired as a real deployment is: the hub
 * serves TLS with its own CA, the site's node joins with a bootstrap token,
 * and the site agent reaches the hub only through its tunnel.
 *
 * The site runs four plugins, each with a device speaking its protocol:
 *   simulator  sim-1, sim-2   (sites/examples/demo-resources.yaml)
 *   modbus     meter-1        a modbus-serial ServerTCP with changing registers (cli/demo/modbus-sim.ts)
 *   opcua      press-1        the opcua plugin's simulator, SignAndEncrypt, its certificate trusted explicitly
 *   mqtt       plug-1         an MQTT client on the site broker with its own login (cli/demo/mqtt-sim.ts)
 * (devices, profiles and addons of the last three: cli/demo/resources.yaml)
 *
 * Everything it starts stops on Ctrl-C (or SIGTERM), also during start-up.
 * State lives in --data-dir; a second run reuses it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import type { BootstrapTokenCreateBody, BootstrapTokenCreated, CredentialIssued, JoinBody, JoinResult, ResourceList } from '../core/hub/index.ts';
import { createLogger, toErrorInfo, type Logger } from '../core/kernel/index.ts';
import { EDGEADM_ROOT } from '../core/plugins/index.ts';
import type { BrokerCredentialSpec, Resource } from '../core/store/index.ts';
import { ErrDemoInterrupted, ErrDemoManifest } from './errors.ts';
import { hubFetch, type HubTarget } from './client.ts';
import { contextOf, listening, parsePort } from './context.ts';
import { pluginCatalogSource } from './plugin.ts';
import { examples, summary } from './commands.ts';

const PLURAL: Record<string, string> = { Site: 'sites', Node: 'nodes', DeviceProfile: 'deviceprofiles', Device: 'devices', Addon: 'addons' };

interface Manifest {
  kind: string;
  metadata: { name: string };
}

/**
 * Applies every document of a YAML file through the hub's API (PUT, so a
 * second run updates in place). `${NAME}` in the text is replaced by
 * `vars[NAME]` first; a name without a value is an error naming it.
 */
export async function applyManifests(target: HubTarget, file: string, vars: Readonly<Record<string, string | number>> = {}): Promise<string[]> {
  const missing = new Set<string>();
  const text = readFileSync(file, 'utf8').replace(/\$\{([A-Z0-9_]+)\}/g, (_m, name: string) => {
    const v = vars[name];
    if (v === undefined) missing.add(name);
    return String(v ?? '');
  });
  if (missing.size > 0) throw new ErrDemoManifest({ file, reason: `no value for ${[...missing].map((n) => `\${${n}}`).join(', ')}` });
  const docs = parseAllDocuments(text);
  const applied: string[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new ErrDemoManifest({ file, reason: doc.errors[0]!.message }, { cause: doc.errors[0] });
    const obj = doc.toJS() as Manifest | null;
    if (!obj) continue;
    const plural = PLURAL[obj.kind];
    if (!plural) throw new ErrDemoManifest({ file, reason: `unknown kind '${obj.kind}' (one of ${Object.keys(PLURAL).join(', ')})` });
    await hubFetch(target, 'PUT', `/api/v1/${plural}/${encodeURIComponent(obj.metadata.name)}`, obj);
    applied.push(`${obj.kind}/${obj.metadata.name}`);
  }
  return applied;
}

/**
 * A login to the site broker (a device's, or a reader's with its topic filters), its password kept in `file` (mode
 * 0600) for the next run: issued when the hub has none, reused when the hub
 * has one and the file is there, rotated when the file was lost (the hub
 * keeps only hashes).
 */
export async function brokerLogin(
  admin: HubTarget,
  site: string,
  login: { username: string; device?: string; subscribe?: string[]; description: string },
  file: string,
): Promise<{ username: string; password: string }> {
  const { username } = login;
  const saved = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  const list = await hubFetch<ResourceList<Resource<BrokerCredentialSpec>>>(admin, 'GET', '/api/v1/brokercredentials');
  const exists = list.items.some((c) => c.spec.site === site && c.spec.username === username);
  if (exists && saved) return { username, password: saved };
  const issued = exists
    ? await hubFetch<CredentialIssued>(admin, 'POST', `/api/v1/sites/${site}/broker-credentials/${encodeURIComponent(username)}/rotate`)
    : await hubFetch<CredentialIssued>(admin, 'POST', `/api/v1/sites/${site}/broker-credentials`, login);
  writeFileSync(file, `${issued.password}\n`, { mode: 0o600 });
  return { username, password: issued.password };
}

const isPkcs1Notice = (args: readonly unknown[]): boolean => args.some((a) => typeof a === 'string' && /NODE-OPCUA-W27|CVE-2023-46809/.test(a));

interface DevicePorts {
  modbus?: number;
  opcua?: number;
}

/** The simulators' ports of the last run; none when the file is missing or not ours. */
function readPorts(file: string): DevicePorts {
  if (!existsSync(file)) return {};
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const port = (v: unknown): number | undefined => (Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536 ? (v as number) : undefined);
    const modbus = port(raw.modbus);
    const opcua = port(raw.opcua);
    return { ...(modbus ? { modbus } : {}), ...(opcua ? { opcua } : {}) };
  } catch {
    return {};
  }
}

/** Starts on the saved port; when another program took it meanwhile, on a free one. */
async function again<T>(port: number | undefined, start: (port: number | undefined) => Promise<T>): Promise<T> {
  if (port === undefined) return start(undefined);
  try {
    return await start(port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException | undefined)?.code !== 'EADDRINUSE' && !/EADDRINUSE/.test(String((err as Error | undefined)?.message))) throw err;
    return start(undefined);
  }
}

/** Polls `ok` until it holds or `timeoutMs` passes. */
async function until(ok: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Ctrl-C or SIGTERM from now on: `signal` resolves with it; `release` removes the handlers (and what kept the process alive). */
function stopSignal(): { signal: Promise<NodeJS.Signals>; release: () => void } {
  let release = (): void => undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    // Signal handlers do not keep the event loop alive on their own.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const on = (sig: NodeJS.Signals): void => {
      release();
      resolve(sig);
    };
    release = () => {
      clearInterval(keepAlive);
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
  return { signal, release };
}

/** Teardown in reverse order of start; every step runs even when one fails. */
class Teardown {
  readonly #steps: { what: string; fn: () => unknown }[] = [];
  constructor(private readonly logger: Logger) {}
  add(what: string, fn: () => unknown): void {
    this.#steps.push({ what, fn });
  }
  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step.fn();
      } catch (err) {
        this.logger.error({ step: step.what, error: toErrorInfo(err) }, 'stopping a demo part failed');
      }
    }
  }
}

export function registerDemo(program: Command): void {
  const cmd = program
    .command('demo')
    .description(summary('demo'))
    .option('--data-dir <dir>', 'where the demo keeps its state', '.data/demo')
    .option('--port <port>', 'hub HTTP port', '7443')
    .action(async (opts: { dataDir: string; port: string }, c: Command) => {
      const ctx = contextOf(c);
      // The demo talks to a person: warnings and errors only, unless a level was asked for.
      if (!ctx.options.logLevel && !process.env.EDGEADM_LOG__LEVEL) ctx.logger = createLogger({ level: 'warn' });
      const logger = ctx.logger;
      const port = parsePort(opts.port, '--port');
      let interrupted: NodeJS.Signals | undefined;
      const stop = stopSignal();
      const signal = stop.signal.then((s) => (interrupted = s));
      const step = (): void => {
        if (interrupted) throw new ErrDemoInterrupted({ signal: interrupted });
      };
      const teardown = new Teardown(logger);
      try {
        const opcuaLib = await import('node-opcua');
        const { routeOpcuaLogs, trustServerCertificate } = await import('../plugins/opcua/testkit/site.ts');
        // node-opcua checks RSA PKCS#1 v1.5 at load and warns when Node refuses it (CVE-2023-46809). The demo's
        // Basic256Sha256 uses RSA-OAEP, so that notice is debug here; every other node-opcua message keeps its level.
        routeOpcuaLogs(
          {
            setWarningLogger: (fn) => opcuaLib.setWarningLogger((...args: unknown[]) => (isPkcs1Notice(args) ? logger.debug({ detail: args.join(' ') }, 'node-opcua notice') : fn(...args))),
            setErrorLogger: (fn) => opcuaLib.setErrorLogger(fn),
            setDebugLogger: (fn) => opcuaLib.setDebugLogger(fn),
          },
          logger,
        );
        const [{ startHub }, { createConsole }, { startSiteAgent }, { startOpcuaSimulator }, { startDemoModbusDevice, DEMO_MODBUS_UNIT }, { startDemoMqttDevice }] = await Promise.all([
          import('../core/hub/index.ts'),
          import('../core/console/index.ts'),
          import('../sites/index.ts'),
          import('../plugins/opcua/testkit/server.ts'),
          import('./demo/modbus-sim.ts'),
          import('./demo/mqtt-sim.ts'),
        ]);
        step();
        const hub = await listening(port, '--port', () => startHub({ dataDir: path.join(opts.dataDir, 'hub'), port, logger, tls: true, modules: [createConsole()], pluginCatalog: pluginCatalogSource(ctx) }));
        teardown.add('hub', () => hub.close());
        step();
        const admin: HubTarget = { url: hub.url, token: readFileSync(hub.adminTokenFile, 'utf8').trim(), ca: hub.caCert! };
        await applyManifests(admin, path.join(EDGEADM_ROOT, 'sites/examples/demo-resources.yaml'));

        // The devices the plugins talk to.
        // Their ports are kept for the next run, so the site agent's saved devices point at them from its first second.
        const portsFile = path.join(opts.dataDir, 'device-ports.json');
        const saved = readPorts(portsFile);
        const modbus = await again(saved.modbus, (p) => startDemoModbusDevice({ port: p }));
        teardown.add('modbus device', () => modbus.close());
        step();
        const opcua = await again(saved.opcua, (p) =>
          startOpcuaSimulator({ dir: path.join(opts.dataDir, 'opcua-simulator'), securityModes: ['SignAndEncrypt'], changeIntervalMs: 1000, ...(p ? { port: p } : {}) }),
        );
        teardown.add('opcua simulator', () => opcua.stop());
        writeFileSync(portsFile, `${JSON.stringify({ modbus: modbus.port, opcua: opcua.port })}\n`);
        let tick = 0;
        const warm = setInterval(() => {
          tick += 1;
          opcua.set('Machine.Temperature', Math.round((65 + 8 * Math.sin(tick / 12) + Math.random()) * 100) / 100);
        }, 2000);
        teardown.add('opcua temperature', () => clearInterval(warm));
        step();
        await applyManifests(admin, path.join(EDGEADM_ROOT, 'cli/demo/resources.yaml'), { MODBUS_PORT: modbus.port, OPCUA_NS: opcua.ns, OPCUA_ENDPOINT: opcua.endpointUrl });

        // The site's OPC UA client trusts this one server certificate, told so here rather than on first use.
        const siteDir = path.join(opts.dataDir, 'site-demo');
        const trusted = await trustServerCertificate(siteDir, opcua.certificateFile);

        // The demo site's node joins like any edge node: a bootstrap token for its credential, kept for the next start.
        const credentialFile = path.join(opts.dataDir, 'node-demo-gw.credential');
        let credential = existsSync(credentialFile) ? readFileSync(credentialFile, 'utf8').trim() : '';
        if (!credential || !await hub.tokens.verify(credential)) {
          const request: BootstrapTokenCreateBody = { site: 'demo', ttlSeconds: 600, description: 'demo node' };
          const bootstrap = await hubFetch<BootstrapTokenCreated>(admin, 'POST', '/api/v1/bootstrap-tokens', request);
          const join: JoinBody = { site: 'demo', node: 'demo-gw' };
          const joined = await hubFetch<JoinResult>({ ...admin, token: bootstrap.token }, 'POST', '/api/v1/join', join);
          credential = joined.credential;
          writeFileSync(credentialFile, `${credential}\n`, { mode: 0o600 });
        }
        // The MQTT device's own login, bound to its Device: it may use only that device's topics.
        const login = await brokerLogin(admin, 'demo', { username: 'plug-1', device: 'plug-1', description: 'demo device' }, path.join(opts.dataDir, 'plug-1.mqtt-password'));
        // An EdgeX app service's login: it may only read the EdgeX events the edgex addon publishes.
        const edgexFile = path.join(opts.dataDir, 'edgex-app.mqtt-password');
        await brokerLogin(admin, 'demo', { username: 'edgex-app', subscribe: ['edgex/events/#'], description: 'demo: reads EdgeX events' }, edgexFile);
        step();
        const agent = await startSiteAgent({
          site: 'demo',
          token: credential,
          tunnel: { url: hub.tunnelUrl, node: 'demo-gw', ca: hub.caCert! },
          dataDir: siteDir,
          logger,
          broker: { host: '127.0.0.1', port: 0 },
        });
        teardown.add('site agent', () => agent.stop());
        step();
        const brokerUrl = agent.status().brokerUrl!;
        // The plug logs in once the site runs its Device (its login is judged by it); it would retry until then.
        await until(() => interrupted !== undefined || agent.status().devices.some((d) => d.device === 'plug-1' && d.state === 'up'), 20_000);
        step();
        const plug = startDemoMqttDevice({ brokerUrl, ...login, topic: 'demo/plug-1', logger });
        teardown.add('mqtt device', () => plug.close());

        const rel = (p: string): string => path.relative(process.cwd(), p) || p;
        const { hostname: brokerHost, port: brokerPort } = new URL(brokerUrl);
        const relToken = rel(hub.adminTokenFile);
        const relCa = rel(hub.caFile!);
        ctx.out.write(
          [
            `hub:          ${hub.url}   (API docs: ${hub.url}/docs; its CA: ${relCa})`,
            `console:      ${hub.url}/   (log in with the admin token; the browser warns about the demo's own CA unless you trust ${relCa})`,
            `admin token:  ${relToken}`,
            `demo site:    'demo' with simulated devices sim-1 and sim-2, meter-1 (Modbus), press-1 (OPC UA), plug-1 (MQTT); site MQTT broker ${brokerUrl}`,
            `              its node 'demo-gw' reaches the hub through the tunnel (${hub.tunnelUrl})`,
            'devices:',
            '  sim-1, sim-2  simulator plugin: temperature, humidity, pulses, writable setpoint',
            `  meter-1       Modbus TCP energy meter at 127.0.0.1:${modbus.port}, unit ${DEMO_MODBUS_UNIT}: voltage, current, energy, writable setpoint`,
            `  press-1       OPC UA machine at ${opcua.endpointUrl}, SignAndEncrypt: speed, temperature, writable setpoint`,
            `                the simulator's certificate (thumbprint ${trusted.thumbprint}) is trusted in ${rel(path.dirname(trusted.file))}`,
            `  plug-1        MQTT smart plug on the site broker, logged in as 'plug-1' (its own BrokerCredential): power, voltage, switchable relay`,
            '',
            'watch live readings (in another terminal):',
            `  EDGEADM_TOKEN=$(cat ${relToken}) npx edgeadm telemetry watch --hub ${hub.url} --ca-file ${relCa} --site demo`,
            '',
            "the same readings as EdgeX v3 events on the site broker (the edgex addon), as EdgeX app services and eKuiper read them:",
            `  mosquitto_sub -h ${brokerHost} -p ${brokerPort} -u edgex-app -P "$(cat ${rel(edgexFile)})" -t 'edgex/events/#' -v`,
            '',
            'Ctrl-C stops the demo.',
            '',
          ].join('\n'),
        );
        const sig = await signal;
        logger.info({ signal: sig }, 'stopping');
      } catch (err) {
        if (!ErrDemoInterrupted.is(err)) throw err;
        logger.info({ signal: interrupted }, 'stopping during start-up');
      } finally {
        stop.release();
        await teardown.run();
      }
    });
  examples(cmd, ['edgeadm demo', 'edgeadm demo --port 8443 --data-dir /tmp/edgeadm-demo', 'edgeadm demo --log-level info']);
}
