/**
 * Which EdgeX services a site runs (the config's `services` block: one
 * TypeBox schema for `--set`, the type and the defaults) and the plan of
 * them: each service with its image, command, environment, dependencies,
 * port, probe, data and resources, in terms both renderers share
 * (compose.ts for a node's container runtime, kube.ts for grids).
 *
 * Host names in commands and environment are written `{{host:<service>}}`:
 * each renderer puts in the name the service is reached by there (EdgeX's
 * own host name on the Compose network; the ServiceGrid's Service on
 * Kubernetes), so both are wired the way EdgeX's own Compose file is.
 */
import { Type, type Static } from '../../../../core/sdk/index.ts';
import { securePlan } from './secure.ts';
import { EDGEX_DEVICE_SERVICES, EDGEX_RELEASE, EDGEX_SERVICES, imageOf, type EdgeXDeviceService, type EdgeXVersion } from './release.ts';

/** An app-service-configurable profile name (EDGEX_PROFILE): a DNS label, as it names the service. */
const PROFILE_RE = '^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$';
/** A device file's name: a file in one folder, as EdgeX reads YAML, JSON or TOML. */
const FILE_NAME_RE = '^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\\.(yaml|yml|json|toml)$';
/** Where a device service finds the files it is given (DEVICE_PROFILESDIR, DEVICE_DEVICESDIR). */
export const DEVICE_FILES_ROOT = '/edgeadm';

const Files = (what: string) =>
  Type.Record(Type.String({ pattern: FILE_NAME_RE }), Type.String({ maxLength: 256 * 1024 }), {
    maxProperties: 64,
    // A name that is no file name (a path, say) is refused, not ignored.
    additionalProperties: Type.Never({ description: 'not a file name EdgeX reads' }),
    description: `${what} by file name (.yaml, .yml, .json or .toml), each file's text.`,
  });
const DeviceFiles = Type.Object(
  { profiles: Type.Optional(Files('Device profiles')), devices: Type.Optional(Files('Device definitions')) },
  { additionalProperties: false },
);

export const EdgeXServicesSchema = Type.Object(
  {
    core: Type.Boolean({
      default: true,
      description: 'core-keeper, core-common-config-bootstrapper, core-data, core-metadata, core-command, the database and the message bus. Every other service needs them: they run whenever any does.',
    }),
    app: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'app-service-configurable.' }),
        profile: Type.String({ default: 'rules-engine', pattern: PROFILE_RE, description: "Its EDGEX_PROFILE (rules-engine, mqtt-export, http-export, ...); it runs as app-<profile>." }),
      },
      { default: {}, additionalProperties: false },
    ),
    devices: Type.Array(Type.Union(EDGEX_DEVICE_SERVICES.map((d) => Type.Literal(d))), {
      default: ['device-virtual'],
      uniqueItems: true,
      description: 'Device services: device-virtual, device-rest, device-modbus, device-mqtt.',
    }),
    ui: Type.Boolean({ default: true, description: 'edgex-ui, on port 4000 of the node (loopback in Compose).' }),
    support: Type.Boolean({ default: false, description: 'support-notifications and support-scheduler.' }),
    release: Type.Union(EDGEX_RELEASE.versions.map((v) => Type.Literal(v)), {
      default: EDGEX_RELEASE.version,
      description: "The EdgeX patch release of the site's EdgeX images; set per site (--site-set) to move sites one at a time.",
    }),
    deviceFiles: Type.Object(Object.fromEntries(EDGEX_DEVICE_SERVICES.map((d) => [d, Type.Optional(DeviceFiles)])), {
      default: {},
      additionalProperties: false,
      description: "A device service's own profiles and devices (the files EdgeX reads from DEVICE_PROFILESDIR and DEVICE_DEVICESDIR), e.g. per site through --site-set or a site's template.",
    }),
    busPort: Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: 1884,
      description: "The node's loopback port of EdgeX's message bus in Compose (the site broker holds 1883).",
    }),
    runtime: Type.Union([Type.Literal('auto'), Type.Literal('docker'), Type.Literal('podman')], {
      default: 'auto',
      description: "The node's container runtime (embedded hub): auto takes docker, then podman. On Kubernetes the grid runs them.",
    }),
    secure: Type.Boolean({
      default: false,
      description:
        "EdgeX's secure mode: its secret store (OpenBao) with a token per service, per-service database users, a password on the message bus, JWTs on every REST call and its API gateway (nginx, loopback port 8443; Compose only). The bridge gets its own token (service key edgeadm-bridge).",
    }),
  },
  { additionalProperties: false, description: "EdgeX's own services at the site, as containers (read the plugin's README)." },
);

export type EdgeXServicesConfig = Static<typeof EdgeXServicesSchema>;

/** A resource request and memory limit, Kubernetes quantities. */
export interface ServiceResources {
  cpu: string;
  memory: string;
  memoryLimit: string;
}

/**
 * Something a service mounts: a named volume of the site's EdgeX (one per
 * name, shared by every service that names it), or, for `secrets`, the
 * folder of service tokens EdgeX's secret-store setup writes (`sub` its
 * service key's folder). Compose: named volumes, and a folder beside the
 * project's file for `secrets`; Kubernetes: the node's folders
 * (`/var/lib/edgeadm/<addon>/<volume>[/<sub>]`).
 */
export interface ServiceMount {
  /** A volume's name, or SECRETS_VOLUME. */
  volume: string;
  sub?: string;
  path: string;
  readOnly?: boolean;
}

/** The mount name of the folder of service tokens. */
export const SECRETS_VOLUME = 'secrets';

/** Who a container runs as: EdgeX's user (2002:2001), root, or as its image says. */
export type ServiceUser = 'edgex' | 'root' | 'image';

/** One EdgeX service of a site's plan. */
export interface ServicePlan {
  /** Its Compose service name (EdgeX's). */
  name: string;
  /** Its host name on EdgeX's Compose network. */
  host: string;
  image: string;
  /** The port it serves on; none for a one-shot job. */
  port?: number;
  /** More ports it serves on the site's network, never published (secure mode's stage gates). */
  extraPorts?: number[];
  /** Published on the node: on loopback (EdgeX's Compose file publishes every service so, but the UI on all addresses). */
  publish: boolean;
  /** Its executable in EdgeX's image (secure mode names it first in the command). */
  binary?: string;
  /** Replaces the image's entrypoint (secure mode's stage-gate wrappers). */
  entrypoint?: string[];
  /** Arguments to the entrypoint; `{{host:x}}` is service x's name. */
  command?: string[];
  /** Environment; `{{host:x}}` is service x's name. */
  env: Record<string, string>;
  /** Services it waits for (started). */
  dependsOn: string[];
  /** Runs once and exits (the config bootstrapper). */
  oneShot?: boolean;
  /** How it is checked: its HTTP ping, an HTTP path, or a TCP connect. */
  probe?: { http: string } | { tcp: true };
  /** Files it reads, by folder under DEVICE_FILES_ROOT (profiles, devices): file name to text. */
  files?: Record<string, Record<string, string>>;
  /** Volumes and folders it mounts. */
  mounts?: ServiceMount[];
  /** Paths that must be writable in a read-only root (tmpfs). */
  tmpfs?: string[];
  user: ServiceUser;
  /** EdgeX runs it with a writable root and without no-new-privileges (the secret store, OpenBao's own entrypoint). */
  looseRoot?: boolean;
  /** Runs only in Compose (EdgeX's API gateway, whose routes use Docker's DNS). */
  composeOnly?: boolean;
  /** On Kubernetes, runs on the node of this service's pod (secure mode: the folders they share are the node's). */
  sameNodeAs?: string;
  resources: ServiceResources;
}

export const host = (service: string): string => `{{host:${service}}}`;
export const CONFIG_PROVIDER = `-cp=keeper.http://${host('core-keeper')}:${EDGEX_SERVICES['core-keeper'].port}`;
const SECRET_STORE_OFF = { EDGEX_SECURITY_SECRET_STORE: 'false' };
export const SMALL: ServiceResources = { cpu: '20m', memory: '32Mi', memoryLimit: '128Mi' };
export const MEDIUM: ServiceResources = { cpu: '50m', memory: '64Mi', memoryLimit: '256Mi' };

/** A Go EdgeX service registered with core-keeper: EdgeX's command, its own host, its ping. */
function goService(name: keyof typeof EDGEX_SERVICES, version: EdgeXVersion, dependsOn: string[], extra: Partial<ServicePlan> = {}): ServicePlan {
  const s = EDGEX_SERVICES[name];
  return {
    name,
    host: s.host,
    image: imageOf(name, version),
    ...(s.port === undefined ? {} : { port: s.port }),
    publish: true,
    ...('edgex' in s ? { binary: `/${s.edgex}` } : {}),
    command: ['--registry', CONFIG_PROVIDER],
    env: { ...SECRET_STORE_OFF, SERVICE_HOST: host(name) },
    dependsOn,
    probe: { http: EDGEX_RELEASE.pingPath },
    user: 'edgex',
    resources: SMALL,
    ...extra,
  };
}

/** Whether any EdgeX service runs at a site with this config. */
export function deploysAny(c: EdgeXServicesConfig): boolean {
  return c.core || c.app.enabled || c.devices.length > 0 || c.ui || c.support;
}

/** The services of a site, in start order (a service after those it depends on). */
export function planServices(c: EdgeXServicesConfig): ServicePlan[] {
  if (!deploysAny(c)) return [];
  const v = c.release;
  const core: ServicePlan[] = [
    {
      name: 'database',
      host: EDGEX_SERVICES.database.host,
      image: imageOf('database', v),
      port: EDGEX_SERVICES.database.port,
      // EdgeX publishes it on loopback; nothing outside the site's EdgeX needs it.
      publish: false,
      env: { POSTGRES_DB: 'edgex_db', POSTGRES_PASSWORD: 'postgres' },
      dependsOn: [],
      probe: { tcp: true },
      mounts: [{ volume: 'db-data', path: '/var/lib/postgresql/data' }],
      tmpfs: ['/run'],
      user: 'image',
      resources: { cpu: '100m', memory: '128Mi', memoryLimit: '512Mi' },
    },
    {
      name: 'mqtt-broker',
      host: EDGEX_SERVICES['mqtt-broker'].host,
      image: imageOf('mqtt-broker', v),
      port: EDGEX_SERVICES['mqtt-broker'].port,
      publish: true,
      command: ['/usr/sbin/mosquitto', '-c', '/mosquitto-no-auth.conf'],
      env: {},
      dependsOn: [],
      probe: { tcp: true },
      user: 'edgex',
      resources: SMALL,
    },
    goService('core-keeper', v, ['database'], {
      command: undefined,
      env: {
        DATABASE_HOST: host('database'),
        ...SECRET_STORE_OFF,
        MESSAGEBUS_AUTHMODE: 'none',
        MESSAGEBUS_HOST: host('mqtt-broker'),
        MESSAGEBUS_PORT: String(EDGEX_SERVICES['mqtt-broker'].port),
        MESSAGEBUS_PROTOCOL: 'tcp',
        MESSAGEBUS_SECRETNAME: '',
        MESSAGEBUS_TYPE: 'mqtt',
        SERVICE_HOST: host('core-keeper'),
      },
    }),
    {
      name: 'core-common-config-bootstrapper',
      host: EDGEX_SERVICES['core-common-config-bootstrapper'].host,
      image: imageOf('core-common-config-bootstrapper', v),
      publish: false,
      command: ['/core-common-config-bootstrapper', '--registry', CONFIG_PROVIDER],
      env: {
        ALL_SERVICES_DATABASE_HOST: host('database'),
        ALL_SERVICES_MESSAGEBUS_HOST: host('mqtt-broker'),
        ALL_SERVICES_REGISTRY_HOST: host('core-keeper'),
        APP_SERVICES_CLIENTS_CORE_METADATA_HOST: host('core-metadata'),
        DEVICE_SERVICES_CLIENTS_CORE_METADATA_HOST: host('core-metadata'),
        ...SECRET_STORE_OFF,
      },
      dependsOn: ['core-keeper'],
      oneShot: true,
      binary: '/core-common-config-bootstrapper',
      user: 'edgex',
      resources: SMALL,
    },
    goService('core-metadata', v, ['core-keeper', 'database'], { resources: MEDIUM }),
    goService('core-data', v, ['core-common-config-bootstrapper', 'core-keeper', 'database'], { resources: MEDIUM }),
    goService('core-command', v, ['core-common-config-bootstrapper', 'core-keeper', 'core-metadata', 'database'], {
      env: { ...SECRET_STORE_OFF, EXTERNALMQTT_URL: `tcp://${host('mqtt-broker')}:${EDGEX_SERVICES['mqtt-broker'].port}`, SERVICE_HOST: host('core-command') },
    }),
  ];
  const out = [...core];
  if (c.support) {
    out.push(goService('support-notifications', v, ['core-common-config-bootstrapper', 'core-keeper', 'database']));
    out.push(goService('support-scheduler', v, ['core-common-config-bootstrapper', 'core-keeper', 'database']));
  }
  if (c.app.enabled) {
    const name = `app-${c.app.profile}`;
    out.push({
      ...goService('app', v, ['core-common-config-bootstrapper', 'core-keeper', 'core-metadata']),
      name,
      host: `edgex-${name}`,
      env: { EDGEX_PROFILE: c.app.profile, ...SECRET_STORE_OFF, SERVICE_HOST: host(name) },
    });
  }
  for (const d of [...c.devices].sort()) out.push(deviceService(d, v, c.deviceFiles[d]));
  if (c.ui) {
    // No v3 ping in edgex-ui: its page is its health.
    out.push({ ...goService('ui', v, []), command: undefined, probe: { http: '/' } });
  }
  const planned = c.secure ? securePlan(out, v) : out;
  // A service that takes its config from core-keeper takes a changed environment on its next start too
  // (EdgeX otherwise keeps what it pushed the first time): edgeadm's config is the source.
  for (const s of planned) if (s.command?.includes(CONFIG_PROVIDER)) s.env.EDGEX_OVERWRITE_CONFIG = 'true';
  return planned;
}

function deviceService(d: EdgeXDeviceService, v: EdgeXVersion, given: { profiles?: Record<string, string>; devices?: Record<string, string> } | undefined): ServicePlan {
  const deps = ['core-common-config-bootstrapper', 'core-data', 'core-keeper', 'core-metadata'];
  // Device services take the provider first, as EdgeX's Compose file writes them.
  const command = [CONFIG_PROVIDER, '--registry'];
  const env: Record<string, string> = { ...SECRET_STORE_OFF, SERVICE_HOST: host(d) };
  if (d === 'device-mqtt') env.MQTTBROKERINFO_HOST = host('mqtt-broker');
  // Its own files, where given: EdgeX reads them from these folders instead of the image's.
  const files: Record<string, Record<string, string>> = {};
  if (given?.profiles !== undefined && Object.keys(given.profiles).length > 0) {
    files.profiles = given.profiles;
    env.DEVICE_PROFILESDIR = `${DEVICE_FILES_ROOT}/profiles`;
  }
  if (given?.devices !== undefined && Object.keys(given.devices).length > 0) {
    files.devices = given.devices;
    env.DEVICE_DEVICESDIR = `${DEVICE_FILES_ROOT}/devices`;
  }
  return goService(d, v, d === 'device-mqtt' ? [...deps, 'mqtt-broker'] : deps, { command, env, ...(Object.keys(files).length > 0 ? { files } : {}) });
}

/** `{{host:x}}` in a text with `name(x)`; an unknown service is a programming error. */
export function resolveHosts(text: string, name: (service: string) => string): string {
  return text.replace(/\{\{host:([a-z0-9-]+)\}\}/g, (_m, s: string) => name(s));
}
