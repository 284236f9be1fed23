/**
 * The EdgeX release `edgeadm addon edgex` deploys: the one place that pins
 * it. Every image, tag, port and host name the site's EdgeX services get
 * comes from here; upgrading EdgeX is changing this file (and the plugin's
 * version), after which each site rolls as its Addon's grid or Compose
 * project is rendered again.
 *
 * EdgeX 4.0 "Odessa", patch 4.0.2: core-keeper is the registry and
 * configuration provider (Consul is gone), PostgreSQL the database (Redis is
 * gone), Mosquitto the message bus; the REST API is still v3. The services,
 * their names, ports, commands and environment follow EdgeX's own
 * non-secure Compose file for this release line (edgexfoundry/edgex-compose,
 * docker-compose-no-secty.yml, and compose-builder's add-device-modbus.yml
 * and add-device-mqtt.yml for the two device services it leaves out), and
 * for secure mode (`services.secure`) its secure Compose file of the same
 * line (docker-compose.yml: OpenBao, the security services, nginx).
 */

export const EDGEX_RELEASE = {
  /** The EdgeX version of every EdgeX image: the default of `services.release`. */
  version: '4.0.2',
  /**
   * The patch releases of the line a site may be held at or moved to
   * (`services.release`, per site through the Addon's templates: the grid
   * rolls one site at a time). They share the services, ports and
   * environment above; only the EdgeX images' tags differ.
   */
  versions: ['4.0.0', '4.0.1', '4.0.2'],
  codename: 'odessa',
  /** The v3 REST API's ping, every EdgeX Go service's health check. */
  pingPath: '/api/v3/ping',
  /** EdgeX's images are edgexfoundry/<name>:<version>. */
  registry: 'edgexfoundry',
  /** Third-party images as EdgeX's Compose file for the release pins them. */
  thirdParty: {
    postgres: 'postgres:16.3-alpine3.20',
    mosquitto: 'eclipse-mosquitto:2.0.21',
    /** Secure mode: the secret store and the API gateway. */
    openbao: 'openbao/openbao:2.1.1',
    nginx: 'nginx:1.25.5-alpine-slim',
  },
  /** The user and group EdgeX's containers run as. */
  user: { uid: 2002, gid: 2001 },
  /** MessageBus.BaseTopicPrefix. */
  baseTopic: 'edgex',
} as const;

export type EdgeXVersion = (typeof EDGEX_RELEASE.versions)[number];

/** An EdgeX image of a release of the line. */
export function edgexImage(name: string, version: EdgeXVersion = EDGEX_RELEASE.version): string {
  return `${EDGEX_RELEASE.registry}/${name}:${version}`;
}

/**
 * Each service EdgeX's Compose file defines (and the two device services
 * compose-builder adds), by its Compose service name: its host name (EdgeX's
 * container_name and hostname, the name the others reach it by), its image
 * (an EdgeX image's name, whose tag is the site's release, or a third-party
 * image as pinned) and its port. The app service's Compose name and host follow its profile
 * (`app-<profile>`, `edgex-app-<profile>`).
 */
export const EDGEX_SERVICES = {
  'core-keeper': { host: 'edgex-core-keeper', edgex: 'core-keeper', port: 59890 },
  'core-common-config-bootstrapper': { host: 'edgex-core-common-config-bootstrapper', edgex: 'core-common-config-bootstrapper', port: undefined },
  'core-data': { host: 'edgex-core-data', edgex: 'core-data', port: 59880 },
  'core-metadata': { host: 'edgex-core-metadata', edgex: 'core-metadata', port: 59881 },
  'core-command': { host: 'edgex-core-command', edgex: 'core-command', port: 59882 },
  database: { host: 'edgex-postgres', image: EDGEX_RELEASE.thirdParty.postgres, port: 5432 },
  'mqtt-broker': { host: 'edgex-mqtt-broker', image: EDGEX_RELEASE.thirdParty.mosquitto, port: 1883 },
  app: { host: 'edgex-app', edgex: 'app-service-configurable', port: 59701 },
  'device-virtual': { host: 'edgex-device-virtual', edgex: 'device-virtual', port: 59900 },
  'device-rest': { host: 'edgex-device-rest', edgex: 'device-rest', port: 59986 },
  'device-modbus': { host: 'edgex-device-modbus', edgex: 'device-modbus', port: 59901 },
  'device-mqtt': { host: 'edgex-device-mqtt', edgex: 'device-mqtt', port: 59982 },
  ui: { host: 'edgex-ui-go', edgex: 'edgex-ui', port: 4000 },
  'support-notifications': { host: 'edgex-support-notifications', edgex: 'support-notifications', port: 59860 },
  'support-scheduler': { host: 'edgex-support-scheduler', edgex: 'support-scheduler', port: 59863 },
  // Secure mode's own services.
  'secret-store': { host: 'edgex-secret-store', image: EDGEX_RELEASE.thirdParty.openbao, port: 8200 },
  'security-bootstrapper': { host: 'edgex-security-bootstrapper', edgex: 'security-bootstrapper', port: 54321 },
  'security-secretstore-setup': { host: 'edgex-security-secretstore-setup', edgex: 'security-secretstore-setup', port: 54322 },
  'security-proxy-setup': { host: 'edgex-security-proxy-setup', edgex: 'security-proxy-setup', port: 54325 },
  'security-proxy-auth': { host: 'edgex-proxy-auth', edgex: 'security-proxy-auth', port: 59842 },
  nginx: { host: 'edgex-nginx', image: EDGEX_RELEASE.thirdParty.nginx, port: 8443 },
} as const;

/** A service's image at a release of the line. */
export function imageOf(service: keyof typeof EDGEX_SERVICES, version: EdgeXVersion): string {
  const s: { edgex?: string; image?: string } = EDGEX_SERVICES[service];
  return s.edgex !== undefined ? edgexImage(s.edgex, version) : s.image!;
}

/** The device services `--device` may name. */
export const EDGEX_DEVICE_SERVICES = ['device-virtual', 'device-rest', 'device-modbus', 'device-mqtt'] as const;
export type EdgeXDeviceService = (typeof EDGEX_DEVICE_SERVICES)[number];

/**
 * How many top-level objects EdgeX's own non-secure Compose file for the
 * release defines (14 services, 5 named volumes, 1 network): the peer of
 * the deployment benchmark.
 */
export const EDGEX_COMPOSE_OBJECTS = 20;
/** The same of its secure Compose file: 20 services, 14 named volumes, 1 network. */
export const EDGEX_SECURE_COMPOSE_OBJECTS = 35;
