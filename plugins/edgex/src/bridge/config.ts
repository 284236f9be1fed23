/**
 * The bridge's config (mode `bridge`): where the existing EdgeX's
 * core-metadata, core-command and message bus are, its secure-mode token,
 * how often its metadata is read again and how long a call may take. The
 * TypeBox schema checks the shapes; `resolveBridgeConfig` checks what a
 * schema cannot (a URL that parses, a Go duration) and names the field.
 * The token and the bus password are secrets: never logged.
 */
import { goDurationMs, goDurationProblem, Type, type Static } from '../../../../core/sdk/index.ts';
import { ErrEdgeXBridgeConfig } from '../errors.ts';

const Url = (description: string) => Type.String({ minLength: 1, maxLength: 2048, description });
const Duration = (def: string, description: string) => Type.String({ minLength: 1, maxLength: 64, default: def, description });

export const BridgeConfigSchema = Type.Object(
  {
    metadataUrl: Url("core-metadata's base URL, e.g. http://edgex-core-metadata:59881 (the bridge calls <url>/api/v3/...)."),
    commandUrl: Url("core-command's base URL, e.g. http://edgex-core-command:59882."),
    messageBus: Type.Optional(
      Type.Object(
        {
          url: Url("EdgeX's MQTT message bus, mqtt:// or mqtts://; the site broker when there is no messageBus."),
          baseTopic: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "Its MessageBus.BaseTopicPrefix; default the plugin's baseTopic." })),
          username: Type.Optional(Type.String({ maxLength: 256 })),
          password: Type.Optional(Type.String({ maxLength: 1024, description: 'A secret: never logged.' })),
        },
        { additionalProperties: false },
      ),
    ),
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 16384, description: "EdgeX secure mode: a JWT sent as 'Authorization: Bearer'. A secret: never logged." })),
    pollInterval: Duration('30s', 'How often core-metadata is read again for new and changed devices (Go duration).'),
    timeout: Duration('10s', 'How long one call to EdgeX may take (Go duration).'),
    maxRetryInterval: Duration('5m', 'The longest wait between retries while EdgeX does not answer (they start at 1s, or pollInterval if shorter, and double).'),
  },
  { additionalProperties: false },
);

export type BridgeConfig = Static<typeof BridgeConfigSchema>;

/** The bridge's config, checked: base URLs without a trailing '/', durations in ms. */
export interface ResolvedBridgeConfig {
  metadataUrl: string;
  commandUrl: string;
  messageBus?: { url: string; baseTopic?: string; username?: string; password?: string };
  token?: string;
  pollIntervalMs: number;
  timeoutMs: number;
  /** The first wait after a failure; doubled each failure in a row, up to maxRetryMs. */
  firstRetryMs: number;
  maxRetryMs: number;
}

function httpUrl(field: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ErrEdgeXBridgeConfig({ field, reason: `'${text}' is not a URL` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ErrEdgeXBridgeConfig({ field, reason: `must be http:// or https://, not ${url.protocol}//` });
  if (url.search !== '' || url.hash !== '') throw new ErrEdgeXBridgeConfig({ field, reason: 'must have no query or fragment' });
  if (url.username !== '' || url.password !== '') throw new ErrEdgeXBridgeConfig({ field, reason: 'must carry no credentials (use bridge.token)' });
  return url.href.replace(/\/+$/, '');
}

function duration(field: string, text: string, minMs: number): number {
  const problem = goDurationProblem(text);
  if (problem !== undefined) throw new ErrEdgeXBridgeConfig({ field, reason: problem });
  const ms = goDurationMs(text)!;
  if (ms < minMs) throw new ErrEdgeXBridgeConfig({ field, reason: `is ${text}; at least ${minMs} ms` });
  return ms;
}

/** Checks the bridge block of a plugin config in mode `bridge`; throws EDGE_ERR_EDGEX_BRIDGE_CONFIG naming the field. */
export function resolveBridgeConfig(bridge: BridgeConfig | undefined): ResolvedBridgeConfig {
  if (bridge === undefined) throw new ErrEdgeXBridgeConfig({ field: 'bridge', reason: "is required in mode 'bridge' (metadataUrl, commandUrl)" });
  const out: ResolvedBridgeConfig = {
    metadataUrl: httpUrl('bridge.metadataUrl', bridge.metadataUrl),
    commandUrl: httpUrl('bridge.commandUrl', bridge.commandUrl),
    pollIntervalMs: duration('bridge.pollInterval', bridge.pollInterval, 100),
    timeoutMs: duration('bridge.timeout', bridge.timeout, 10),
    firstRetryMs: 0,
    maxRetryMs: duration('bridge.maxRetryInterval', bridge.maxRetryInterval, 100),
  };
  out.firstRetryMs = Math.min(1000, out.pollIntervalMs, out.maxRetryMs);
  if (bridge.token !== undefined) out.token = bridge.token;
  const bus = bridge.messageBus;
  if (bus !== undefined) {
    let url: URL;
    try {
      url = new URL(bus.url);
    } catch {
      throw new ErrEdgeXBridgeConfig({ field: 'bridge.messageBus.url', reason: `'${bus.url}' is not a URL` });
    }
    if (!['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:'].includes(url.protocol)) {
      throw new ErrEdgeXBridgeConfig({ field: 'bridge.messageBus.url', reason: `must be an MQTT URL (mqtt://, mqtts://), not ${url.protocol}//` });
    }
    if (bus.password !== undefined && bus.username === undefined) throw new ErrEdgeXBridgeConfig({ field: 'bridge.messageBus.password', reason: 'needs bridge.messageBus.username' });
    out.messageBus = { ...bus };
  }
  return out;
}
