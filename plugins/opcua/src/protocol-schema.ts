/**
 * The OPC UA protocol block as a JSON schema (`definePlugin({ protocols })`):
 * the console's forms and the hub's check of Device writes. The bounds,
 * defaults, choices and the endpoint's form here are the ones protocol.ts
 * and security.ts read blocks with. Light on purpose: the hub loads it
 * without node-opcua.
 *
 * What one field cannot say alone is the driver's to check: a policy other
 * than None needs securityMode Sign or SignAndEncrypt (and the other way
 * round), username and passwordFile go together (an absolute path), a
 * password is never in the block, a Percent deadbandValue is at most 100.
 */
import { DURATION_KEYWORD, Type, type TSchema } from '../../../core/sdk/index.ts';

export const OPCUA_PROTOCOLS = ['opcua'] as const;

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export type SecurityModeName = (typeof SECURITY_MODES)[number];
export const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep'] as const;
export type SecurityPolicyName = (typeof SECURITY_POLICIES)[number];
export const DEADBAND_TYPES = ['None', 'Absolute', 'Percent'] as const;
export type DeadbandTypeName = (typeof DEADBAND_TYPES)[number];

/** Bounds of the duration fields (ms), and their defaults where the driver has one. */
export const OPCUA_DURATIONS = {
  publishingInterval: { minimum: 10, maximum: 3_600_000, default: 1000 },
  samplingInterval: { minimum: 0, maximum: 3_600_000 },
  requestTimeout: { minimum: 100, maximum: 600_000 },
  sessionTimeout: { minimum: 1000, maximum: 86_400_000 },
} as const;
export const QUEUE_SIZE = { minimum: 1, maximum: 100_000, default: 10 } as const;

/** Letters in either case, for JSON Schema patterns (which take no flags). */
const caseless = (text: string): string => text.replace(/[a-z]/gi, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`);

/** An opc.tcp URL's form: host (name, address or [IPv6]), optional port, optional path; the port's range is checked apart. */
export const ENDPOINT_FORM = `${caseless('opc')}\\.${caseless('tcp')}://(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9._-]+)(?::(\\d{1,5}))?(/[^\\s]*)?`;
/** The same, with the port from 1 to 65535, blanks around allowed: the schema's pattern. */
const ENDPOINT_PATTERN = `^\\s*${caseless('opc')}\\.${caseless('tcp')}://(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9._-]+)(?::(?=\\d{1,5}(?:/|\\s*$))0*(?:6553[0-5]|655[0-2]\\d|65[0-4]\\d{2}|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3}))?(/[^\\s]*)?\\s*$`;

/** One of `choices` in any letter case, or a URI ending in `#<choice>` (a policy URI). */
const choice = (choices: readonly string[], dflt: string, description: string): TSchema =>
  Type.Optional(
    Type.Union([...choices.map((c) => Type.Literal(c)), Type.String({ pattern: `#\\s*(?:${choices.map(caseless).join('|')})\\s*$` })], { default: dflt, description }),
  );

const duration = (name: keyof typeof OPCUA_DURATIONS, description: string): TSchema =>
  Type.Optional(Type.Number({ ...OPCUA_DURATIONS[name], [DURATION_KEYWORD]: 'ms', description: `${description} Milliseconds: a number, a numeric string or a Go duration ('500ms', '2s').` }));

/** The JSON schema of the `opcua` protocol block. */
export const OPCUA_PROTOCOL_SCHEMA: TSchema = Type.Object(
  {
    endpoint: Type.String({ pattern: ENDPOINT_PATTERN, description: 'The server endpoint, opc.tcp://host:port/path.', examples: ['opc.tcp://10.0.0.7:4840/UA/Server'] }),
    securityMode: choice(SECURITY_MODES, 'None', 'None, Sign or SignAndEncrypt (Sign and SignAndEncrypt need a securityPolicy other than None).'),
    securityPolicy: choice(SECURITY_POLICIES, 'None', 'None, Basic256Sha256 or Aes128_Sha256_RsaOaep (a policy URI ending in #<policy> too); other than None needs securityMode Sign or SignAndEncrypt.'),
    username: Type.Optional(Type.String({ description: 'A user to log in as (with passwordFile); anonymous without.' })),
    passwordFile: Type.Optional(Type.String({ description: "The absolute path, on the site node, of the file holding the user's password (never the password itself)." })),
    allowPasswordWithoutSecurity: Type.Optional(Type.Boolean({ default: false, description: 'Send the password with securityMode None, to a server certificate nobody checks.' })),
    publishingInterval: duration('publishingInterval', "The subscription's publishing interval."),
    samplingInterval: duration('samplingInterval', 'Default sampling interval of monitored items (0: as fast as the server can); default the publishing interval.'),
    queueSize: Type.Optional(Type.Integer({ ...QUEUE_SIZE, description: 'Default queue size of monitored items.' })),
    deadbandType: Type.Optional(Type.Union(DEADBAND_TYPES.map((t) => Type.Literal(t)), { default: 'None', description: 'None, Absolute or Percent (of the EURange).' })),
    deadbandValue: Type.Optional(Type.Number({ minimum: 0, description: 'The deadband (Percent: 0 to 100).' })),
    requestTimeout: duration('requestTimeout', 'Timeout of each service call; default the client library\'s.'),
    sessionTimeout: duration('sessionTimeout', "Requested session timeout; default the client library's."),
  },
  { description: 'Keys match in any letter case (EdgeX device-opcua writes Endpoint); numbers may be strings, as EdgeX writes them. Fields not listed are ignored.' },
);
