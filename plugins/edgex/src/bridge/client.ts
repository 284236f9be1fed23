/**
 * EdgeX v3's REST API as the bridge uses it, as EdgeX's own Go clients
 * (go-mod-core-contracts clients/http) call it:
 *
 *   core-metadata  GET /api/v3/deviceprofile/all?offset=&limit=   MultiDeviceProfilesResponse {totalCount, profiles}
 *                  GET /api/v3/device/all?offset=&limit=          MultiDevicesResponse {totalCount, devices}
 *   core-command   GET /api/v3/device/name/{name}/{command}?ds-pushevent=false&ds-returnevent=true   EventResponse {event}
 *                  PUT /api/v3/device/name/{name}/{command}       body {resource: value as text}; BaseResponse
 *
 * Rules:
 * - Lists are read page by page (offset, limit) until totalCount is reached
 *   or a page comes back short.
 * - Secure mode: the token goes in `Authorization: Bearer`; it is never logged
 *   nor put in an error. A token from the bridge's secret-store identity is
 *   asked for at each call (the identity keeps it until it nears expiry);
 *   the identity's failure is the call's (EDGE_ERR_EDGEX_SECRET_STORE).
 * - No answer (refused, reset, timed out), and core-metadata's 5xx, are
 *   EDGE_ERR_EDGEX_BRIDGE_UNREACHABLE (the caller retries with backoff); a
 *   command's 404, 423 and other refusals (500 and 503 included: the device
 *   service behind core-command failed it) are coded errors naming the
 *   device and the command, with EdgeX's own message (its error bodies carry
 *   `statusCode` and `message`).
 */
import { isEdgeError } from '../../../../core/sdk/index.ts';
import { ErrEdgeXBridgeAnswer, ErrEdgeXBridgeUnreachable, ErrEdgeXCommandFailed, ErrEdgeXCommandLocked, ErrEdgeXCommandNotFound } from '../errors.ts';

/** Entries asked for per page. */
export const EDGEX_PAGE_LIMIT = 100;
/** The most pages read of one list (a total that keeps growing never loops for ever). */
const MAX_PAGES = 10_000;

export type EdgeXService = 'core-metadata' | 'core-command';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface EdgeXRestOptions {
  metadataUrl: string;
  commandUrl: string;
  /** Secure mode's JWT: as given, or from the bridge's secret-store identity at each call (it renews them). */
  token?: string | (() => Promise<string>);
  timeoutMs: number;
}

/** What core-command answered a write with, or a read with (the event, as EdgeX sent it). */
export interface EdgeXRestClient {
  /** Every device profile (DTOs as core-metadata sends them). */
  profiles(signal?: AbortSignal): Promise<Obj[]>;
  /** Every device. */
  devices(signal?: AbortSignal): Promise<Obj[]>;
  /** Reads a command (a deviceCommand or a deviceResource) of a device; resolves with the event of the EventResponse. */
  read(device: string, command: string, signal?: AbortSignal): Promise<unknown>;
  /** Sets a command of a device: `values` by resource, as EdgeX's text. */
  write(device: string, command: string, values: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<void>;
}

interface Answer {
  status: number;
  body: unknown;
}

/** A reason for an error that names no secret: the error's message, its cause's code. */
export function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return 'timed out';
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (cause && typeof cause.code === 'string') return `${cause.code}${typeof cause.message === 'string' ? ` (${cause.message})` : ''}`;
  return err.message;
}

export function createEdgeXRestClient(o: EdgeXRestOptions): EdgeXRestClient {
  const token = o.token;
  const headersOf = async (): Promise<Record<string, string>> => {
    const jwt = typeof token === 'function' ? await token() : token;
    return jwt === undefined ? { accept: 'application/json' } : { accept: 'application/json', authorization: `Bearer ${jwt}` };
  };

  async function call(service: EdgeXService, base: string, method: 'GET' | 'PUT', path: string, body: unknown, signal?: AbortSignal): Promise<Answer> {
    const url = `${base}${path}`;
    const timeout = AbortSignal.timeout(o.timeoutMs);
    const headers = await headersOf();
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new ErrEdgeXBridgeUnreachable({ service, url, reason: reasonOf(err) }, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed };
  }

  function messageOf(body: unknown): string {
    return isObj(body) && typeof body.message === 'string' ? body.message.slice(0, 1024) : '';
  }

  async function list(path: string, field: 'profiles' | 'devices', signal?: AbortSignal): Promise<Obj[]> {
    const out: Obj[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const url = `${o.metadataUrl}${path}?offset=${out.length}&limit=${EDGEX_PAGE_LIMIT}`;
      const a = await call('core-metadata', o.metadataUrl, 'GET', `${path}?offset=${out.length}&limit=${EDGEX_PAGE_LIMIT}`, undefined, signal);
      const reason = `answered ${a.status}${messageOf(a.body) ? `: ${messageOf(a.body)}` : ''}`;
      if (a.status >= 500) throw new ErrEdgeXBridgeUnreachable({ service: 'core-metadata', url, reason });
      if (a.status !== 200) throw new ErrEdgeXBridgeAnswer({ service: 'core-metadata', url, reason });
      if (!isObj(a.body) || !Array.isArray(a.body[field]) || typeof a.body.totalCount !== 'number') {
        throw new ErrEdgeXBridgeAnswer({ service: 'core-metadata', url, reason: `the body has no ${field} array and totalCount` });
      }
      const items = a.body[field] as unknown[];
      for (const [i, item] of items.entries()) {
        if (!isObj(item) || typeof item.name !== 'string') throw new ErrEdgeXBridgeAnswer({ service: 'core-metadata', url, reason: `${field}[${i}] is no object with a name` });
        out.push(item);
      }
      if (items.length === 0 || items.length < EDGEX_PAGE_LIMIT || out.length >= a.body.totalCount) return out;
    }
    return out;
  }

  function commandPath(device: string, command: string): string {
    return `/api/v3/device/name/${encodeURIComponent(device)}/${encodeURIComponent(command)}`;
  }

  /** A command's refusal as the coded error naming the device and the command. */
  function refused(a: Answer, device: string, command: string): Error {
    const message = messageOf(a.body) || `status ${a.status}`;
    if (a.status === 404) return new ErrEdgeXCommandNotFound({ device, command, message });
    if (a.status === 423) return new ErrEdgeXCommandLocked({ device, command, message });
    return new ErrEdgeXCommandFailed({ device, command, status: a.status, message });
  }

  return {
    profiles: (signal) => list('/api/v3/deviceprofile/all', 'profiles', signal),
    devices: (signal) => list('/api/v3/device/all', 'devices', signal),
    async read(device, command, signal) {
      const path = `${commandPath(device, command)}?ds-pushevent=false&ds-returnevent=true`;
      const a = await call('core-command', o.commandUrl, 'GET', path, undefined, signal);
      if (a.status !== 200) throw refused(a, device, command);
      if (!isObj(a.body) || !isObj(a.body.event)) throw new ErrEdgeXBridgeAnswer({ service: 'core-command', url: `${o.commandUrl}${path}`, reason: 'the body is no EventResponse with an event' });
      return a.body.event;
    },
    async write(device, command, values, signal) {
      const a = await call('core-command', o.commandUrl, 'PUT', commandPath(device, command), values, signal);
      if (a.status !== 200) throw refused(a, device, command);
    },
  };
}

/** True for an error the bridge retries with backoff: EdgeX did not answer, or answered 5xx. */
export function isUnreachable(err: unknown): boolean {
  return isEdgeError(err) && ErrEdgeXBridgeUnreachable.is(err);
}
