/**
 * The edgex plugin's config (one TypeBox schema: the JSON Schema `edgeadm
 * addon edgex --set` checks against, the type, the defaults) and the rule
 * that names the device service a platform reading is published under.
 */
import { EDGEX_DEFAULT_BASE_TOPIC, Type, type Reading, type Static } from '../../../core/sdk/index.ts';
import { BridgeConfigSchema } from './bridge/config.ts';
import { EdgeXServicesSchema } from './deploy/services.ts';

/** A topic level: not empty, no `/`, no wildcard. */
const LEVEL = '[^/+#\\u0000]+';
const ServiceName = Type.String({ minLength: 1, maxLength: 128, pattern: `^${LEVEL}$`, description: 'An EdgeX device service name: one topic level.' });

export const EdgeXConfigSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('embedded'), Type.Literal('bridge')], {
      default: 'embedded',
      description: "embedded: the site speaks EdgeX's message bus on its own broker. bridge: also to an existing EdgeX at the site (see bridge).",
    }),
    bridge: Type.Optional(BridgeConfigSchema),
    services: Type.Optional(EdgeXServicesSchema),
    baseTopic: Type.String({
      default: EDGEX_DEFAULT_BASE_TOPIC,
      maxLength: 256,
      pattern: `^${LEVEL}(/${LEVEL})*$`,
      description: "EdgeX's MessageBus.BaseTopicPrefix: events go to <baseTopic>/events/device/<service>/<profile>/<device>/<source>.",
    }),
    publish: Type.Boolean({ default: true, description: 'Publish every reading the site stores as an EdgeX event.' }),
    subscribe: Type.Boolean({ default: true, description: "Take EdgeX device services' events as readings of the site's EdgeX devices (protocol 'edgex')." }),
    serviceName: Type.Object(
      {
        default: Type.Optional(ServiceName),
        profiles: Type.Record(Type.String({ minLength: 1 }), ServiceName, { default: {}, description: 'Service name by device profile.' }),
        devices: Type.Record(Type.String({ minLength: 1 }), ServiceName, { default: {}, description: 'Service name by device (before profiles).' }),
      },
      { default: {}, additionalProperties: false, description: 'The device service the readings are published as; default edgeadm-<site>.' },
    ),
    rest: Type.Object(
      {
        enabled: Type.Boolean({ default: false, description: "Serve EdgeX's core-metadata, core-data and core-command REST APIs (read the plugin's README)." }),
        host: Type.String({ default: '127.0.0.1', minLength: 1, description: 'Address the three listeners bind to.' }),
        ports: Type.Object(
          {
            metadata: Type.Integer({ minimum: 0, maximum: 65535, default: 59881 }),
            data: Type.Integer({ minimum: 0, maximum: 65535, default: 59880 }),
            command: Type.Integer({ minimum: 0, maximum: 65535, default: 59882 }),
          },
          { default: {}, additionalProperties: false, description: "Ports of core-metadata, core-data and core-command (EdgeX's by default)." },
        ),
        commandLogins: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Site logins that may PUT device commands (every login may read).' }),
        maxResultCount: Type.Integer({ minimum: 1, maximum: 100_000, default: 1024, description: "EdgeX's MaxResultCount: the most items one answer holds (limit=-1 means this many)." }),
        retention: Type.Object(
          {
            maxCount: Type.Integer({ minimum: 1, maximum: 100_000_000, default: 1_000_000, description: 'Readings kept for core-data queries; the oldest go first.' }),
            maxAge: Type.Integer({ minimum: 1000, default: 7 * 24 * 3600 * 1000, description: 'Milliseconds a reading is kept (by origin).' }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false, description: "EdgeX's REST API at the site, from the site's own resources, drivers and readings." },
    ),
    escapeNames: Type.Boolean({ default: false, description: "Encode names in topics as EdgeX does with Service.EnableNameFieldEscape." }),
    qos: Type.Union([Type.Literal(0), Type.Literal(1)], { default: 0, description: "MQTT QoS of the events, both ways (EdgeX's default is 0)." }),
    maxInFlight: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 10_000,
      description: 'QoS 1: events published and not yet acknowledged by the broker; beyond it events are dropped and counted.',
    }),
    maxBufferedBytes: Type.Integer({
      minimum: 1024,
      maximum: 1024 * 1024 * 1024,
      default: 8 * 1024 * 1024,
      description: 'Bytes written to the broker connection and not yet sent (a slow broker); beyond it events are dropped and counted.',
    }),
  },
  { default: {}, additionalProperties: false },
);

export type EdgeXConfig = Static<typeof EdgeXConfigSchema>;

/** The default device service of a site's readings. */
export function defaultServiceName(site: string): string {
  return `edgeadm-${site}`;
}

/** Which device service each reading is published as: by device, then by profile, then the default. */
export function serviceNamer(config: EdgeXConfig, site: string): { of: (r: Pick<Reading, 'device' | 'profile'>) => string; all: ReadonlySet<string> } {
  const fallback = config.serviceName.default ?? defaultServiceName(site);
  const { devices, profiles } = config.serviceName;
  return {
    of: (r) => devices[r.device] ?? profiles[r.profile] ?? fallback,
    all: new Set([fallback, ...Object.values(devices), ...Object.values(profiles)]),
  };
}
