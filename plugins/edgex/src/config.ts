/**
 * The edgex plugin's config (one TypeBox schema: the JSON Schema `edgeadm
 * addon edgex --set` checks against, the type, the defaults) and the rule
 * that names the device service a platform reading is published under.
 */
import { EDGEX_DEFAULT_BASE_TOPIC, Type, type Reading, type Static } from '../../../core/sdk/index.ts';

/** A topic level: not empty, no `/`, no wildcard. */
const LEVEL = '[^/+#\\u0000]+';
const ServiceName = Type.String({ minLength: 1, maxLength: 128, pattern: `^${LEVEL}$`, description: 'An EdgeX device service name: one topic level.' });

export const EdgeXConfigSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('embedded'), Type.Literal('bridge')], {
      default: 'embedded',
      description: "embedded: the site speaks EdgeX's message bus on its own broker. bridge (to an EdgeX of its own) is not available yet.",
    }),
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
