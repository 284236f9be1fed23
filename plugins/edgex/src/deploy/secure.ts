/**
 * EdgeX's secure mode (`services.secure`): the site's plan as EdgeX's own
 * secure Compose file for the release line runs it (edgexfoundry/
 * edgex-compose, docker-compose.yml of the keeper/PostgreSQL/OpenBao
 * generation), applied to the non-secure plan the way EdgeX's
 * compose-builder lays its security files over the services:
 *
 * - six more services: the secret store (OpenBao), security-bootstrapper
 *   (fills the shared `edgex-init` volume with the stage-gate wrappers and
 *   opens the gates), security-secretstore-setup (initializes and unseals
 *   OpenBao, writes a token per service into the secrets folder, seeds the
 *   database's and the bus's credentials; long-running since 4.0),
 *   security-proxy-setup and security-proxy-auth (the API gateway's config
 *   and its JWT check), and nginx, the gateway;
 * - every EdgeX service starts through its stage-gate wrapper from
 *   `edgex-init`, reads its own token from the secrets folder, and has the
 *   secret store turned on; the database and the broker take their
 *   passwords from the secret store;
 * - the gates' host names and ports are EdgeX's (54321 bootstrapper start,
 *   54322 tokens ready, 54325 gateway config written, 54329 ready to run).
 *
 * What edgeadm adds: a token and the bus's credentials for the bridge
 * (service key `edgeadm-bridge`, EDGEX_ADD_SECRETSTORE_TOKENS and
 * EDGEX_ADD_KNOWN_SECRETS), tokens and gateway routes for the device and
 * app services EdgeX's file leaves out, and, on Kubernetes, every pod of a
 * site on the bootstrapper's node (the folders they share are the node's;
 * EdgeX's own Helm chart pins them the same way).
 */
import { EDGEX_RELEASE, EDGEX_SERVICES, imageOf, type EdgeXVersion } from './release.ts';
import { CONFIG_PROVIDER, host, MEDIUM, SECRETS_VOLUME, SMALL, type ServiceMount, type ServicePlan } from './services.ts';

/** The bridge's service key: its token and its copy of the bus's credentials in EdgeX's secret store. */
export const BRIDGE_SERVICE_KEY = 'edgeadm-bridge';
/** Where EdgeX's secret-store setup writes each service's token (`<folder>/<service key>/secrets-token.json`). */
export const SECRETS_PATH = '/tmp/edgex/secrets';
export const TOKEN_FILE = 'secrets-token.json';
/** The stage gates' ports, EdgeX's. */
export const STAGE_GATES = { bootstrapperStart: 54321, tokensReady: 54322, proxySetupReady: 54325, readyToRun: 54329, registryReady: 54324 } as const;
/** security-secretstore-setup's REST API (the token regeneration route, new in 4.0). */
export const SECRETSTORE_SETUP_API_PORT = 59843;

/** The services EdgeX's token list gives a token by default; others are added (EDGEX_ADD_SECRETSTORE_TOKENS). */
const DEFAULT_TOKENS = new Set([
  'core-keeper',
  'core-command',
  'core-data',
  'core-metadata',
  'core-common-config-bootstrapper',
  'support-notifications',
  'support-scheduler',
  'app-rules-engine',
  'device-virtual',
  'device-rest',
  'ui',
]);
/** EdgeX's own EDGEX_ADD_KNOWN_SECRETS (its secure Compose file), kept first. */
const EDGEX_KNOWN_SECRETS = ['postgres[app-rules-engine]', 'message-bus[app-rules-engine]', 'message-bus[device-rest]', 'message-bus[device-virtual]'];
/** The routes EdgeX's gateway template has; others are added (EDGEX_ADD_PROXY_ROUTE). */
const DEFAULT_ROUTES = new Set(['core-data', 'core-metadata', 'core-command', 'support-notifications', 'support-scheduler', 'app-rules-engine', 'device-virtual']);

const WRAPPER = '/edgex-init/ready_to_run_wait_install.sh';
const EDGEX_INIT: ServiceMount = { volume: 'edgex-init', path: '/edgex-init', readOnly: true };
const tokenFolder = (key: string): ServiceMount => ({ volume: SECRETS_VOLUME, sub: key, path: `${SECRETS_PATH}/${key}`, readOnly: true });

/** On every service of the secure file. */
function stageGateEnv(): Record<string, string> {
  return {
    PROXY_SETUP_HOST: host('security-proxy-setup'),
    STAGEGATE_BOOTSTRAPPER_HOST: host('security-bootstrapper'),
    STAGEGATE_BOOTSTRAPPER_STARTPORT: String(STAGE_GATES.bootstrapperStart),
    STAGEGATE_DATABASE_HOST: host('database'),
    STAGEGATE_DATABASE_PORT: String(EDGEX_SERVICES.database.port),
    STAGEGATE_DATABASE_READYPORT: String(EDGEX_SERVICES.database.port),
    STAGEGATE_PROXYSETUP_READYPORT: String(STAGE_GATES.proxySetupReady),
    STAGEGATE_READY_TORUNPORT: String(STAGE_GATES.readyToRun),
    STAGEGATE_REGISTRY_HOST: host('core-keeper'),
    STAGEGATE_REGISTRY_PORT: String(EDGEX_SERVICES['core-keeper'].port),
    STAGEGATE_REGISTRY_READYPORT: String(STAGE_GATES.registryReady),
    STAGEGATE_SECRETSTORESETUP_HOST: host('security-secretstore-setup'),
    STAGEGATE_SECRETSTORESETUP_TOKENS_READYPORT: String(STAGE_GATES.tokensReady),
    STAGEGATE_WAITFOR_TIMEOUT: '60s',
  };
}

/** On every service that reads the secret store. */
function secretStoreEnv(): Record<string, string> {
  return {
    CLIENTS_SECURITY_SECRETSTORE_SETUP_HOST: host('security-secretstore-setup'),
    EDGEX_SECURITY_SECRET_STORE: 'true',
    SECRETSTORE_HOST: host('secret-store'),
  };
}

const uniq = (xs: string[]): string[] => [...new Set(xs)];

/** The non-secure plan of a site, made secure. */
export function securePlan(plan: readonly ServicePlan[], v: EdgeXVersion): ServicePlan[] {
  const gate = stageGateEnv();
  const sec = secretStoreEnv();
  const out: ServicePlan[] = [];

  // The services EdgeX's token list, known secrets and gateway routes leave out.
  const tokens: string[] = [];
  const known = [...EDGEX_KNOWN_SECRETS];
  const routes: string[] = [];
  for (const s of plan) {
    const addOn = s.name.startsWith('device-') || s.name.startsWith('app-');
    if (!addOn) continue;
    if (!DEFAULT_TOKENS.has(s.name)) tokens.push(s.name);
    if (s.name.startsWith('app-')) known.push(`postgres[${s.name}]`);
    known.push(`message-bus[${s.name}]`);
    if (!DEFAULT_ROUTES.has(s.name) && s.port !== undefined) routes.push(`${s.name}.http://${host(s.name)}:${s.port}`);
  }
  tokens.push(BRIDGE_SERVICE_KEY);
  known.push(`message-bus[${BRIDGE_SERVICE_KEY}]`);

  out.push({
    name: 'security-bootstrapper',
    host: EDGEX_SERVICES['security-bootstrapper'].host,
    image: imageOf('security-bootstrapper', v),
    port: STAGE_GATES.bootstrapperStart,
    extraPorts: [STAGE_GATES.readyToRun],
    publish: false,
    env: { ...gate, EDGEX_GROUP: String(EDGEX_RELEASE.user.gid), EDGEX_USER: String(EDGEX_RELEASE.user.uid) },
    dependsOn: [],
    probe: { tcp: true },
    // The only writer of edgex-init: it copies its wrappers and binary in at each start.
    mounts: [{ volume: 'edgex-init', path: '/edgex-init' }],
    user: 'root',
    resources: SMALL,
  });
  out.push({
    name: 'secret-store',
    host: EDGEX_SERVICES['secret-store'].host,
    image: imageOf('secret-store', v),
    port: EDGEX_SERVICES['secret-store'].port,
    publish: true,
    entrypoint: ['/edgex-init/secretstore_wait_install.sh'],
    command: ['server'],
    env: {
      ...gate,
      BAO_ADDR: `http://${host('secret-store')}:8200`,
      BAO_CONFIG_DIR: '/openbao/config',
      BAO_LOCAL_CONFIG: [
        'listener "tcp" { ',
        `  address = "${host('secret-store')}:8200" `,
        '  tls_disable = "1" ',
        `  cluster_address = "${host('secret-store')}:8201" `,
        '} ',
        'backend "file" {',
        '  path = "/openbao/file"',
        '}',
        'default_lease_ttl = "168h" ',
        'max_lease_ttl = "720h"',
        'disable_mlock = true',
        '',
      ].join('\n'),
      SKIP_SETCAP: 'true',
    },
    dependsOn: ['security-bootstrapper'],
    // Not its health API: that answers 501 until secretstore-setup initializes it, through this very port.
    probe: { tcp: true },
    mounts: [EDGEX_INIT, { volume: 'secret-store-file', path: '/openbao/file' }, { volume: 'secret-store-logs', path: '/openbao/logs' }],
    tmpfs: ['/openbao/config'],
    user: 'root',
    looseRoot: true,
    resources: MEDIUM,
  });
  out.push({
    name: 'security-secretstore-setup',
    host: EDGEX_SERVICES['security-secretstore-setup'].host,
    image: imageOf('security-secretstore-setup', v),
    port: STAGE_GATES.tokensReady,
    extraPorts: [SECRETSTORE_SETUP_API_PORT],
    publish: false,
    env: {
      ...sec,
      ...gate,
      EDGEX_ADD_KNOWN_SECRETS: uniq(known).join(','),
      EDGEX_ADD_SECRETSTORE_TOKENS: uniq(tokens).join(','),
      EDGEX_GROUP: String(EDGEX_RELEASE.user.gid),
      EDGEX_USER: String(EDGEX_RELEASE.user.uid),
      SECUREMESSAGEBUS_TYPE: 'mqtt',
      SERVICE_HOST: host('security-secretstore-setup'),
    },
    dependsOn: ['secret-store', 'security-bootstrapper'],
    probe: { tcp: true },
    mounts: [
      EDGEX_INIT,
      { volume: 'secret-store-config', path: '/openbao/config' },
      // Every service's token: the one writer of the whole folder.
      { volume: SECRETS_VOLUME, path: SECRETS_PATH },
    ],
    // eKuiper's bus files are written too; no eKuiper runs here, so they stay in memory.
    tmpfs: ['/run', '/openbao', '/tmp/kuiper', '/tmp/kuiper-connections'],
    user: 'root',
    resources: SMALL,
  });

  out.push({
    name: 'security-proxy-setup',
    host: EDGEX_SERVICES['security-proxy-setup'].host,
    image: imageOf('security-proxy-setup', v),
    port: STAGE_GATES.proxySetupReady,
    publish: false,
    entrypoint: ['/edgex-init/proxy_setup_wait_install.sh'],
    env: { ...sec, ...gate, ...(routes.length > 0 ? { EDGEX_ADD_PROXY_ROUTE: routes.join(',') } : {}) },
    dependsOn: ['security-bootstrapper', 'security-secretstore-setup'],
    probe: { tcp: true },
    mounts: [
      EDGEX_INIT,
      { volume: 'secret-store-config', path: '/openbao/config' },
      { volume: 'nginx-templates', path: '/etc/nginx/templates' },
      { volume: 'nginx-tls', path: '/etc/ssl/nginx' },
      tokenFolder('security-proxy-setup'),
    ],
    user: 'root',
    resources: SMALL,
  });
  out.push({
    name: 'nginx',
    host: EDGEX_SERVICES.nginx.host,
    image: imageOf('nginx', v),
    port: EDGEX_SERVICES.nginx.port,
    publish: true,
    entrypoint: ['/bin/sh', '/edgex-init/nginx_wait_install.sh'],
    command: ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;'],
    env: { ...gate },
    dependsOn: ['security-secretstore-setup'],
    probe: { tcp: true },
    mounts: [EDGEX_INIT, { volume: 'nginx-templates', path: '/etc/nginx/templates' }, { volume: 'nginx-tls', path: '/etc/ssl/nginx' }],
    tmpfs: ['/etc/nginx/conf.d', '/var/cache/nginx', '/var/log/nginx', '/var/run'],
    user: 'image',
    composeOnly: true,
    resources: SMALL,
  });
  for (const s0 of plan) {
    const s: ServicePlan = { ...s0, env: { ...s0.env }, dependsOn: [...s0.dependsOn], mounts: [...(s0.mounts ?? [])] };
    const mounts = s.mounts!;
    switch (s.name) {
      case 'database':
        delete s.env.POSTGRES_PASSWORD;
        s.entrypoint = ['/edgex-init/postgres_wait_install.sh'];
        s.env = { ...s.env, ...sec, ...gate, DATABASECONFIG_NAME: 'create-users.sh', DATABASECONFIG_PATH: '/tmp/postgres-init-scripts' };
        s.dependsOn = ['security-bootstrapper', 'security-secretstore-setup'];
        s.tmpfs = ['/run', '/tmp'];
        mounts.push(EDGEX_INIT, tokenFolder('security-bootstrapper-postgres'));
        break;
      case 'mqtt-broker':
        s.entrypoint = ['/edgex-init/messagebus_wait_install.sh'];
        s.command = ['/usr/sbin/mosquitto', '-c', '/mosquitto/config/mosquitto.conf'];
        s.env = {
          ...sec,
          ...gate,
          BROKER_TYPE: 'mosquitto',
          CONF_DIR: '/edgex-init/bootstrap-mosquitto/res',
          // Verbatim, two spaces included.
          ENTRYPOINT: '/docker-entrypoint.sh /usr/sbin/mosquitto  -c  /mosquitto/config/mosquitto.conf',
        };
        s.dependsOn = ['security-bootstrapper', 'security-secretstore-setup'];
        // Root: the wrapper writes the broker's password file before it starts it.
        s.user = 'root';
        mounts.push({ volume: 'mqtt', path: '/mosquitto' }, EDGEX_INIT, tokenFolder('security-bootstrapper-messagebus'));
        break;
      case 'core-keeper':
        // Not gated: it retries until the database and its token are there.
        s.command = [s.binary!];
        s.env = {
          ...s.env,
          ...sec,
          ...gate,
          CLIENTS_SECURITY_PROXY_AUTH_HOST: host('security-proxy-auth'),
          MESSAGEBUS_AUTHMODE: 'usernamepassword',
          MESSAGEBUS_SECRETNAME: 'message-bus',
        };
        s.dependsOn = [...s.dependsOn, 'security-bootstrapper', 'security-secretstore-setup'];
        mounts.push(EDGEX_INIT, tokenFolder(s.name));
        break;
      case 'core-common-config-bootstrapper':
        s.entrypoint = [WRAPPER];
        s.command = ['/entrypoint.sh', s.binary!, '--registry', CONFIG_PROVIDER];
        s.env = {
          ...s.env,
          ...sec,
          ...gate,
          ALL_SERVICES_CLIENTS_SECURITY_PROXY_AUTH_HOST: host('security-proxy-auth'),
          ALL_SERVICES_MESSAGEBUS_AUTHMODE: 'usernamepassword',
          ALL_SERVICES_MESSAGEBUS_SECRETNAME: 'message-bus',
        };
        s.dependsOn = [...s.dependsOn, 'security-bootstrapper', 'security-secretstore-setup'];
        mounts.push(EDGEX_INIT, tokenFolder(s.name));
        break;
      case 'ui':
        s.entrypoint = [WRAPPER];
        s.command = ['./edgex-ui-server', '--configDir=res/docker'];
        s.env = { ...s.env, ...sec, ...gate };
        // Its calls to EdgeX go through the gateway (nginx's port 8000).
        s.dependsOn = ['security-bootstrapper', 'security-secretstore-setup', 'nginx'];
        mounts.push(EDGEX_INIT, tokenFolder(s.name));
        break;
      default: {
        // The Go services: the wrapper, then the executable and its flags.
        s.entrypoint = [WRAPPER];
        s.command = [s.binary!, '--registry', CONFIG_PROVIDER];
        s.env = { ...s.env, ...sec, ...gate };
        const addOn = s.name.startsWith('device-') || s.name.startsWith('app-');
        s.dependsOn = [...s.dependsOn, 'security-bootstrapper', ...(addOn ? [] : ['security-secretstore-setup'])];
        if (s.name === 'device-mqtt') Object.assign(s.env, { MQTTBROKERINFO_AUTHMODE: 'usernamepassword', MQTTBROKERINFO_CREDENTIALSNAME: 'message-bus' });
        mounts.push(EDGEX_INIT, tokenFolder(s.name));
      }
    }
    out.push(s);
  }

  out.push({
    name: 'security-proxy-auth',
    host: EDGEX_SERVICES['security-proxy-auth'].host,
    image: imageOf('security-proxy-auth', v),
    port: EDGEX_SERVICES['security-proxy-auth'].port,
    publish: true,
    binary: '/security-proxy-auth',
    entrypoint: ['/bin/sh', WRAPPER],
    command: ['entrypoint.sh', '/security-proxy-auth', '--registry', CONFIG_PROVIDER],
    env: { ...sec, ...gate, SERVICE_HOST: host('security-proxy-auth') },
    dependsOn: ['core-common-config-bootstrapper', 'security-secretstore-setup'],
    probe: { http: EDGEX_RELEASE.pingPath },
    mounts: [EDGEX_INIT, tokenFolder('security-proxy-auth')],
    user: 'image',
    resources: SMALL,
  });
  // The folders they share are one node's.
  for (const s of out) if (s.name !== 'security-bootstrapper') s.sameNodeAs = 'security-bootstrapper';
  return out;
}
