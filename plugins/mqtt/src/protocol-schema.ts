/**
 * The MQTT protocol block as a JSON schema (`definePlugin({ protocols })`):
 * the console's forms and the hub's check of Device writes. The layouts,
 * bounds, defaults and forms here are the ones protocol.ts reads blocks
 * with. Light on purpose: the hub loads it without the MQTT library.
 *
 * What one field cannot say alone is the driver's to check: which fields
 * each layout takes (`topic` only edgeadm's; `incomingTopic`, `deviceName`
 * only edgex's, which requires `CommandTopic`), a trailing `/#` only with
 * layout edgex, a topic's length in bytes.
 */
import { DURATION_KEYWORD, Type, type TSchema } from '../../../core/sdk/index.ts';

export const MQTT_PROTOCOLS = ['mqtt'] as const;

/** The topic layouts a device may speak. */
export const MQTT_LAYOUTS = ['edgeadm', 'edgex'] as const;
export type MqttLayout = (typeof MQTT_LAYOUTS)[number];

/** Bounds of the duration fields (ms), and their defaults where the driver has one. */
export const MQTT_DURATIONS = {
  commandTimeout: { minimum: 10, maximum: 600_000, default: 5000 },
  staleAfter: { minimum: 1, maximum: 30 * 86_400_000 },
} as const;

/** The broker URL's form (a prefix: the rest is the client library's). */
export const BROKER_URL_FORM = '^(mqtts?|wss?|tcp|ssl)://[^/\\s]+';

/** An exact topic: levels without wildcards or NUL, none empty; a leading / is dropped; a trailing /# (layout edgex) too. */
const TOPIC_PATTERN = '^/?[^+#/\\u0000]+(/[^+#/\\u0000]+)*(/#)?$';
/** One topic level. */
const LEVEL_PATTERN = '^[^+#/\\u0000]+$';

const topic = (description: string): TSchema => Type.Optional(Type.String({ pattern: TOPIC_PATTERN, description }));
const duration = (name: keyof typeof MQTT_DURATIONS, description: string): TSchema =>
  Type.Optional(Type.Number({ ...MQTT_DURATIONS[name], [DURATION_KEYWORD]: 'go', description: `${description} A Go duration ('500ms', '5s') or a number of milliseconds.` }));

/** The JSON schema of the `mqtt` protocol block. */
export const MQTT_PROTOCOL_SCHEMA: TSchema = Type.Object(
  {
    layout: Type.Optional(
      Type.Union(MQTT_LAYOUTS.map((l) => Type.Literal(l)), {
        description: "The topics the device speaks: edgeadm (the platform's own; default for a Device made here) or edgex (EdgeX device-mqtt v3's; default for a Device imported from EdgeX files).",
      }),
    ),
    topic: topic('Layout edgeadm: the base topic (default edgeadm/<site>/<device>).'),
    CommandTopic: topic('Where commands go. Layout edgeadm: default <topic>/command; layout edgex: required, e.g. command/<device>.'),
    responseTopic: topic('Where the device answers. Layout edgeadm: default <topic>/response; layout edgex: default command/response.'),
    incomingTopic: topic('Layout edgex: the prefix of <incomingTopic>/<deviceName>/<source> (default incoming/data).'),
    deviceName: Type.Optional(Type.String({ pattern: LEVEL_PATTERN, description: "Layout edgex: the device's name in topics (default its EdgeX name)." })),
    qos: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)], { default: 0, description: 'MQTT QoS of commands and subscriptions: 0 or 1.' })),
    commandTimeout: duration('commandTimeout', 'How long a command waits for its answer.'),
    staleAfter: duration('staleAfter', 'Readings older than this are marked stale.'),
    brokerUrl: Type.Optional(Type.String({ pattern: BROKER_URL_FORM, description: 'Another broker than the site broker: mqtt://, mqtts://, ws:// or wss://.' })),
  },
  { description: 'Keys match in any letter case (EdgeX device-mqtt writes CommandTopic); numbers may be strings, as EdgeX writes them. Fields not listed are ignored.' },
);
