/**
 * EdgeX's REST API at the site: core-metadata, core-data and core-command
 * (v3, the subset EdgeX's UI and tools use), each on its own listener as
 * EdgeX runs them (59881, 59880, 59882 by default, on 127.0.0.1), answered
 * from the site's own parts: its catalog (the replica of the hub's Devices
 * and DeviceProfiles, in EdgeX's form), its device commands (live reads and
 * writes through the drivers) and the readings the plugin keeps (store.ts).
 *
 * Rules:
 * - Bodies are EdgeX's DTOs (go-mod-core-contracts v3): BaseResponse
 *   `{ apiVersion, statusCode, message? }`, every error in that shape too.
 * - Authentication: everything but ping needs a site login (the site's
 *   BrokerCredentials, checked locally: works offline), as HTTP Basic or as
 *   `Authorization: Bearer <username>:<password>` (where EdgeX's secure mode
 *   sends its JWT). Device commands that write need a login listed in
 *   `rest.commandLogins`.
 * - Profiles and devices are the hub's: the site never writes them itself.
 *   Every write goes to the hub with the caller's own hub token
 *   (`Authorization: Bearer <token>`): the hub decides, a site login may not
 *   (403); the hub unreachable answers 503, its refusal keeps its status.
 *   Adds (POST of AddDeviceRequest / AddDeviceProfileRequest arrays, PUT of
 *   profiles, profile YAML uploads as multipart `file`, at most
 *   MAX_UPLOAD_BYTES: 413) go to the hub's EdgeX import, the files as they
 *   came; deletes of devices and profiles to its resource routes.
 * - Updates (PATCH of devices and profile basic info, resource and
 *   deviceCommand adds, updates and deletes) are merged into the site's
 *   current EdgeX form of each (updates.ts: EdgeX's merge rules) and the
 *   merged forms go through the hub's EdgeX import, in one import per
 *   request. 207 with one BaseResponse per item (its requestId): what the
 *   site does not have is that item's 404 (a name already there its 409)
 *   and is not sent; the hub refusing the import is the whole request's
 *   error.
 * - A write forwarded to the hub answers once the site's catalog shows what
 *   it changed (at most REPLICA_WAIT_MS): a reload, and the next merge, see it.
 * - Device services are the site's drivers and this plugin's publishing
 *   names, set by Addons: their writes answer 405 with an Allow header.
 * - operatingState and lastConnected are live (deviceStatesRef). A LOCKED
 *   device's commands answer 423. `ds-pushevent=true` stores a GET's
 *   readings as the site's (once); otherwise they go to the caller only.
 * - Lists: `offset` (default 0), `limit` (default 20; -1: up to
 *   maxResultCount); newest first for events and readings; `start`/`end`
 *   in nanoseconds, inclusive.
 */
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import {
  EDGEX_API_VERSION,
  edgexEventOf,
  isEdgeError,
  MAX_ORIGIN,
  parseEdgeXValue,
  toErrorInfo,
  type DeviceCommands,
  type DeviceStates,
  type Logger,
  type ReadingValue,
  type SiteCatalog,
  type SiteCatalogEntry,
  type SiteHub,
  type SiteLogins,
  type ValueType,
} from '../../../../core/sdk/index.ts';
import {
  ErrEdgeXRestAuth,
  ErrEdgeXRestCommand,
  ErrEdgeXRestConflict,
  ErrEdgeXRestForbidden,
  ErrEdgeXRestHub,
  ErrEdgeXRestLocked,
  ErrEdgeXRestNotFound,
  ErrEdgeXRestReadOnly,
  ErrEdgeXRestRequest,
  ErrEdgeXRestTooLarge,
} from '../errors.ts';
import type { ReadingStore, StoreQuery } from './store.ts';
import {
  ADD_COMMAND,
  ADD_RESOURCE,
  editProfile,
  mergeFields,
  parseUpdates,
  UPDATE_BASIC_INFO,
  UPDATE_COMMAND,
  UPDATE_DEVICE,
  UPDATE_RESOURCE,
  type RequestShape,
  type UpdateItem,
} from './updates.ts';

/** The version `/api/v3/version` reports (the EdgeX release whose API this follows). */
export const EDGEX_REST_VERSION = '3.1.0';
const PREFIX = `/api/${EDGEX_API_VERSION}`;
/** EdgeX's default page size. */
const DEFAULT_LIMIT = 20;
/** How long a write forwarded to the hub may take. */
const HUB_TIMEOUT_MS = 30_000;
/** Longest name in a path (fastify's default of 100 answers 414 beyond it). */
const MAX_PARAM_LENGTH = 512;
/** How long a write's answer waits for the site's replica to show it (then it answers anyway: the hub has it). */
const REPLICA_WAIT_MS = 5_000;
const REPLICA_POLL_MS = 25;
/** Largest profile file an upload takes (the hub takes the import body up to its own limit). */
export const MAX_UPLOAD_BYTES = 512 * 1024;
const MS_NS = 1_000_000;

export type RestService = 'metadata' | 'data' | 'command';

export interface RestServerOptions {
  /** The site's name (the hub's import route is per site). */
  site: string;
  /** Where the site reaches its hub, for the writes forwarded there. */
  hub: SiteHub;
  host: string;
  ports: Readonly<Record<RestService, number>>;
  catalog: SiteCatalog;
  commands: DeviceCommands;
  /** The devices' operating states (a device's operatingState and lastConnected). */
  states: DeviceStates;
  logins: SiteLogins;
  store: ReadingStore;
  /** Usernames that may PUT device commands. */
  commandLogins: readonly string[];
  maxResultCount: number;
  /** The device service a device's readings are published as (config.ts). */
  serviceOf: (r: { device: string; profile: string }) => string;
  /** Every device service name the site publishes as. */
  services: ReadonlySet<string>;
  logger: Logger;
}

export interface RestServers {
  /** Base URLs (`http://host:port`) of the three services. */
  readonly urls: Readonly<Record<RestService, string>>;
  close(): Promise<void>;
}

type Obj = Record<string, unknown>;
type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string | undefined> }>;

const SERVICE_NAMES: Record<RestService, string> = { metadata: 'core-metadata', data: 'core-data', command: 'core-command' };

/** BaseResponse. */
function base(statusCode: number, message?: string): Obj {
  return message === undefined ? { apiVersion: EDGEX_API_VERSION, statusCode } : { apiVersion: EDGEX_API_VERSION, message, statusCode };
}

/** An integer parameter in [min, max] (max: the largest safe integer, or for times in ns the latest origin a reading may have). */
function integer(text: string | undefined, field: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined || text === '') return fallback;
  if (!/^-?\d{1,19}$/.test(text)) throw new ErrEdgeXRestRequest({ field, problem: `'${text}' is not an integer` });
  const n = Number(text);
  if (n < min || n > max) throw new ErrEdgeXRestRequest({ field, problem: `${text} is out of range (${min} to ${max})` });
  return n;
}

/** Parses a credential: HTTP Basic, or a bearer `username:password`. */
function credential(header: string | undefined): { username: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const m = /^(Basic|Bearer)\s+(\S+)$/i.exec(header.trim());
  if (!m) return undefined;
  const text = m[1]!.toLowerCase() === 'basic' ? Buffer.from(m[2]!, 'base64').toString('utf8') : m[2]!;
  const i = text.indexOf(':');
  if (i <= 0) return undefined;
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

interface ProfileResource {
  name: string;
  isHidden?: boolean;
  properties?: { valueType?: string; readWrite?: string };
}
interface ProfileCommand {
  name: string;
  isHidden?: boolean;
  readWrite?: string;
  resourceOperations?: { deviceResource: string }[];
}

/** A device's core commands (core-command's DeviceCoreCommand), from its profile's EdgeX form. */
function coreCommands(device: SiteCatalogEntry, profile: SiteCatalogEntry | undefined, baseUrl: string): Obj {
  const edgexName = device.edgexName;
  const resources = ((profile?.edgex.deviceResources ?? []) as ProfileResource[]).filter((r) => !r.isHidden);
  const typeOf = new Map(resources.map((r) => [r.name, r.properties?.valueType ?? 'String']));
  const entry = (name: string, rw: string, params: string[]): Obj => ({
    name,
    get: rw.includes('R'),
    set: rw.includes('W'),
    path: `${PREFIX}/device/name/${encodeURIComponent(edgexName)}/${encodeURIComponent(name)}`,
    url: baseUrl,
    parameters: params.map((p) => ({ resourceName: p, valueType: typeOf.get(p) ?? 'String' })),
  });
  const commands = [
    ...((profile?.edgex.deviceCommands ?? []) as ProfileCommand[])
      .filter((c) => !c.isHidden)
      .map((c) => entry(c.name, c.readWrite ?? 'R', (c.resourceOperations ?? []).map((o) => o.deviceResource))),
    ...resources.map((r) => entry(r.name, r.properties?.readWrite ?? 'R', [r.name])),
  ];
  const out: Obj = { deviceName: edgexName, profileName: profile?.edgexName ?? String(device.spec.profile) };
  if (commands.length > 0) out.coreCommands = commands;
  return out;
}

/** Starts the three listeners; closes those already started when one fails. */
export async function startRestServers(o: RestServerOptions): Promise<RestServers> {
  const log = o.logger;
  const page = (q: Req['query']): StoreQuery => {
    const offset = integer(q.offset, 'offset', 0, 0);
    const limit = integer(q.limit, 'limit', DEFAULT_LIMIT, -1);
    return { offset, limit: limit === -1 || limit > o.maxResultCount ? o.maxResultCount : limit };
  };
  const labelled = (q: Req['query'], e: SiteCatalogEntry): boolean => {
    if (q.labels === undefined || q.labels === '') return true;
    const have = (e.edgex.labels ?? []) as string[];
    return q.labels.split(',').every((l) => have.includes(l));
  };
  const find = (kind: 'Device' | 'DeviceProfile', name: string): SiteCatalogEntry => {
    const e = o.catalog.list(kind).find((x) => x.edgexName === name || x.name === name);
    if (!e) throw new ErrEdgeXRestNotFound({ kind: kind === 'Device' ? 'device' : 'device profile', name });
    return e;
  };
  const profileOf = (d: SiteCatalogEntry): SiteCatalogEntry | undefined => o.catalog.list('DeviceProfile').find((p) => p.name === d.spec.profile);
  /** core-metadata's Device: its EdgeX form, its operatingState and lastConnected (ms) live from the site's device runtime. */
  const deviceDto = (d: SiteCatalogEntry): Obj => {
    const { operatingState: _imported, lastConnected: _then, ...form } = d.edgex;
    const live = o.states.get(d.name);
    return {
      adminState: 'UNLOCKED',
      serviceName: o.serviceOf({ device: d.name, profile: String(d.spec.profile) }),
      protocols: {},
      ...form,
      operatingState: live?.state ?? 'UNKNOWN',
      ...(live?.lastReading === undefined ? {} : { lastConnected: Math.floor(live.lastReading / MS_NS) }),
    };
  };
  const serviceNames = (): string[] => [...new Set([...o.services, ...o.catalog.list('Device').map((d) => String(deviceDto(d).serviceName))])].sort();
  /** The platform device a path's name means: the EdgeX name or the resource name; a name the site no longer has is taken as it is. */
  const readingsDevice = (name: string): string => o.catalog.list('Device').find((x) => x.edgexName === name || x.name === name)?.name ?? name;

  const apps: Partial<Record<RestService, FastifyInstance>> = {};
  const urls: Partial<Record<RestService, string>> = {};
  const closeAll = async (): Promise<void> => {
    for (const app of Object.values(apps)) await app.close();
  };

  const make = (service: RestService): FastifyInstance => {
    const app = Fastify({ logger: false, routerOptions: { maxParamLength: MAX_PARAM_LENGTH } });
    app.setErrorHandler((err: unknown, req, reply) => {
      // The hub's refusal keeps the hub's status (401, 403, 400 ...).
      const status = ErrEdgeXRestHub.is(err)
        ? err.params.status
        : isEdgeError(err)
          ? err.statusCode
          : typeof (err as { statusCode?: unknown }).statusCode === 'number'
            ? (err as { statusCode: number }).statusCode
            : 500;
      if (status >= 500) log.warn({ service: SERVICE_NAMES[service], url: req.url, error: toErrorInfo(err) }, 'edgex rest: request failed');
      void reply.code(status).send(base(status, err instanceof Error ? err.message : String(err)));
    });
    app.setNotFoundHandler((req, reply) => {
      void reply.code(404).send(base(404, `${req.method} ${req.url.split('?')[0] ?? ''} is not served by ${SERVICE_NAMES[service]} here`));
    });
    app.addHook('onRequest', async (req) => {
      if (req.url === `${PREFIX}/ping` || req.url.startsWith(`${PREFIX}/ping?`)) return;
      if (service === 'metadata' && req.method !== 'GET') {
        // A write of the hub's resources: the hub judges the caller's own hub token; a site login may not.
        const header = req.headers.authorization;
        if (header === undefined) throw new ErrEdgeXRestAuth({ reason: 'no credential' });
        const c = credential(header);
        if (c || !/^Bearer\s+\S+$/i.test(header.trim())) throw new ErrEdgeXRestForbidden({ username: c?.username ?? '-', action: 'change profiles or devices: send an admin hub token as Authorization: Bearer <token>' });
        return;
      }
      const c = credential(req.headers.authorization);
      if (!c) throw new ErrEdgeXRestAuth({ reason: req.headers.authorization === undefined ? 'no credential' : 'the credential is not HTTP Basic or a bearer username:password' });
      if (!(await o.logins.verify(c.username, c.password))) throw new ErrEdgeXRestAuth({ reason: `login '${c.username}' is not a site login or its password is wrong` });
      (req as FastifyRequest & { login?: string }).login = c.username;
    });
    app.get(`${PREFIX}/ping`, () => ({ apiVersion: EDGEX_API_VERSION, timestamp: new Date().toUTCString(), serviceName: SERVICE_NAMES[service] }));
    app.get(`${PREFIX}/version`, () => ({ apiVersion: EDGEX_API_VERSION, version: EDGEX_REST_VERSION, serviceName: SERVICE_NAMES[service] }));
    apps[service] = app;
    return app;
  };

  const list = <T>(items: readonly T[], q: StoreQuery): { totalCount: number; items: T[] } => ({ totalCount: items.length, items: items.slice(q.offset, q.offset + q.limit) });

  // core-metadata
  const metadata = make('metadata');
  void metadata.register(multipart, { limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 10, parts: 11 } });
  metadata.get(`${PREFIX}/deviceprofile/all`, (req: Req) => {
    const q = page(req.query);
    const r = list(o.catalog.list('DeviceProfile').filter((p) => labelled(req.query, p)), q);
    return { ...base(200), totalCount: r.totalCount, profiles: r.items.map((p) => p.edgex) };
  });
  metadata.get(`${PREFIX}/deviceprofile/name/:name`, (req: Req) => ({ ...base(200), profile: find('DeviceProfile', req.params.name!).edgex }));
  metadata.get(`${PREFIX}/device/all`, (req: Req) => {
    const q = page(req.query);
    const r = list(o.catalog.list('Device').filter((d) => labelled(req.query, d)), q);
    return { ...base(200), totalCount: r.totalCount, devices: r.items.map(deviceDto) };
  });
  metadata.get(`${PREFIX}/device/name/:name`, (req: Req) => ({ ...base(200), device: deviceDto(find('Device', req.params.name!)) }));
  metadata.get(`${PREFIX}/device/profile/name/:name`, (req: Req) => {
    const profile = find('DeviceProfile', req.params.name!);
    const r = list(o.catalog.list('Device').filter((d) => d.spec.profile === profile.name), page(req.query));
    return { ...base(200), totalCount: r.totalCount, devices: r.items.map(deviceDto) };
  });
  metadata.get(`${PREFIX}/device/service/name/:name`, (req: Req) => {
    const r = list(o.catalog.list('Device').map(deviceDto).filter((d) => d.serviceName === req.params.name), page(req.query));
    return { ...base(200), totalCount: r.totalCount, devices: r.items };
  });
  const serviceDto = (name: string): Obj => ({ name, baseAddress: urls.command ?? '', adminState: 'UNLOCKED' });
  metadata.get(`${PREFIX}/deviceservice/all`, (req: Req) => {
    const r = list(serviceNames(), page(req.query));
    return { ...base(200), totalCount: r.totalCount, services: r.items.map(serviceDto) };
  });
  metadata.get(`${PREFIX}/deviceservice/name/:name`, (req: Req) => {
    const name = req.params.name!;
    if (!serviceNames().includes(name)) throw new ErrEdgeXRestNotFound({ kind: 'device service', name });
    return { ...base(200), service: serviceDto(name) };
  });
  /** Device service writes: refused for good (405, with the methods the resource has). */
  const readOnly =
    (allow: string) =>
    (req: FastifyRequest, reply: FastifyReply): never => {
      void reply.header('allow', allow);
      throw new ErrEdgeXRestReadOnly({ method: req.method, path: req.url.split('?')[0] ?? '' });
    };
  /** Sends a request to the hub with the caller's Authorization; the hub's error becomes EdgeX's error body with its status. */
  const toHub = async (req: FastifyRequest, method: string, p: string, body?: unknown): Promise<unknown> => {
    const hub = o.hub.url();
    if (hub === undefined) throw new ErrEdgeXRestHub({ status: 503, reason: 'the site has no hub address yet' });
    let res: Response;
    try {
      res = await fetch(`${hub}${p}`, {
        method,
        headers: { authorization: req.headers.authorization ?? '', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(HUB_TIMEOUT_MS),
      });
    } catch (err) {
      throw new ErrEdgeXRestHub({ status: 503, reason: `the hub is not reachable (${err instanceof Error ? err.message : String(err)})` }, { cause: err });
    }
    const text = await res.text();
    if (res.ok) {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return undefined;
      }
    }
    let message = text;
    try {
      const b = JSON.parse(text) as { message?: unknown };
      if (typeof b.message === 'string') message = b.message;
    } catch {
      // not JSON: the text itself
    }
    throw new ErrEdgeXRestHub({ status: res.status, reason: message.slice(0, 2000) });
  };
  type Kind = 'Device' | 'DeviceProfile';
  /** A resource a write changed at the hub (`gone`: deleted). */
  interface Changed {
    kind: Kind;
    name: string;
    gone?: boolean;
  }
  const catalogNow = (): Record<Kind, readonly SiteCatalogEntry[]> => ({ Device: o.catalog.list('Device'), DeviceProfile: o.catalog.list('DeviceProfile') });
  /**
   * Waits (at most REPLICA_WAIT_MS) until the site's catalog shows each
   * change against `before`, so the answer, the caller's next read and its
   * next merge see the write.
   */
  const replicated = async (before: Record<Kind, readonly SiteCatalogEntry[]>, changed: readonly Changed[]): Promise<void> => {
    const shows = (c: Changed): boolean => {
      const now = o.catalog.list(c.kind).find((x) => x.name === c.name);
      if (c.gone === true) return now === undefined;
      if (!now) return false;
      const then = before[c.kind].find((x) => x.name === c.name);
      return then === undefined || !isDeepStrictEqual(then.edgex, now.edgex) || !isDeepStrictEqual(then.spec, now.spec);
    };
    const deadline = Date.now() + REPLICA_WAIT_MS;
    let pending = changed.filter((c) => !shows(c));
    while (pending.length > 0 && Date.now() < deadline) {
      await sleep(REPLICA_POLL_MS);
      pending = pending.filter((c) => !shows(c));
    }
    if (pending.length > 0) log.info({ pending: pending.map((c) => `${c.kind}/${c.name}`), waitedMs: REPLICA_WAIT_MS }, 'edgex rest: the hub took the write; the site has not replicated it yet');
  };
  /** The resources the hub's import answer says it created or updated. */
  const importChanged = (answer: unknown): Changed[] => {
    const a = (answer ?? {}) as { created?: unknown; updated?: unknown };
    return [a.created, a.updated]
      .flatMap((list) => (Array.isArray(list) ? (list as { kind?: unknown; name?: unknown }[]) : []))
      .filter((r): r is Changed => (r.kind === 'Device' || r.kind === 'DeviceProfile') && typeof r.name === 'string')
      .map((r) => ({ kind: r.kind, name: r.name }));
  };
  /** Files to the hub's EdgeX import for this site (all or nothing), as `edgeadm device import` sends them; answers once the site shows what it changed. */
  const importFiles = async (req: FastifyRequest, files: { name: string; content: string }[]): Promise<void> => {
    const before = catalogNow();
    const answer = await toHub(req, 'POST', `/api/v1/sites/${encodeURIComponent(o.site)}/edgex/import`, { files });
    await replicated(before, importChanged(answer));
  };
  /** EdgeX forms to the hub's import as core-metadata add requests (AddDeviceRequest / AddDeviceProfileRequest). */
  const importForms = (req: FastifyRequest, inner: 'device' | 'profile', forms: readonly Obj[]): Promise<void> =>
    importFiles(req, [{ name: 'request.json', content: JSON.stringify(forms.map((f) => ({ apiVersion: EDGEX_API_VERSION, [inner]: f }))) }]);
  /** One BaseResponse of a 207 answer. */
  const itemAnswer = (requestId: unknown, statusCode: number, message?: string): Obj => ({
    apiVersion: EDGEX_API_VERSION,
    ...(typeof requestId === 'string' ? { requestId } : {}),
    ...(message === undefined ? {} : { message }),
    statusCode,
  });
  /** POST/PUT of AddDeviceRequest / AddDeviceProfileRequest arrays: the hub's EdgeX import, as `edgeadm device import` sends it. */
  const importAdd = async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const items = Array.isArray(req.body) ? (req.body as unknown[]) : [req.body];
    if (items.length === 0) throw new ErrEdgeXRestRequest({ field: 'body', problem: 'an empty list' });
    await importFiles(req, [{ name: 'request.json', content: JSON.stringify(items) }]);
    const status = req.method === 'POST' ? 201 : 200;
    void reply.code(207);
    return items.map((it) => itemAnswer((it as { requestId?: unknown } | null)?.requestId, status));
  };
  /**
   * A batch of update requests: `apply` merges each into the EdgeX forms being
   * changed (keyed by resource name; a coded error answers that request alone
   * and changes nothing), then every changed form goes to the hub in one
   * import. 207, one answer per request; the hub refusing is the whole
   * request's error (its import wrote nothing).
   */
  const batch = async (req: FastifyRequest, reply: FastifyReply, items: readonly UpdateItem[], inner: 'device' | 'profile', ok: number, apply: (item: UpdateItem, forms: Map<string, Obj>) => void): Promise<Obj[]> => {
    const forms = new Map<string, Obj>();
    const answers = items.map((item) => {
      try {
        apply(item, forms);
        return itemAnswer(item.requestId, ok);
      } catch (err) {
        if (!isEdgeError(err)) throw err;
        return itemAnswer(item.requestId, err.statusCode, err.message);
      }
    });
    if (forms.size > 0) await importForms(req, inner, [...forms.values()]);
    void reply.code(207);
    return answers;
  };
  /** The catalog entry an update names: by `id` (its EdgeX id) when given, else by name; a renaming is refused. */
  const target = (kind: 'Device' | 'DeviceProfile', item: UpdateItem, field: string): SiteCatalogEntry => {
    const { id, name } = item.value;
    const e = typeof id === 'string' ? o.catalog.list(kind).find((x) => x.edgex.id === id) : find(kind, String(name));
    if (!e) throw new ErrEdgeXRestNotFound({ kind: kind === 'Device' ? 'device' : 'device profile', name: `id ${String(id)}` });
    if (typeof name === 'string' && name !== e.edgexName && name !== e.name) {
      throw new ErrEdgeXRestRequest({ field: `[${item.index}].${field}.name`, problem: `renaming '${e.edgexName}' to '${name}' is not served: add it under the new name, then delete the old one` });
    }
    return e;
  };
  /** A profile's form as this batch has it so far. */
  const profileForm = (forms: Map<string, Obj>, p: SiteCatalogEntry): Obj => forms.get(p.name) ?? p.edgex;
  metadata.patch(`${PREFIX}/device`, (req: Req, reply) =>
    batch(req, reply, parseUpdates(req.body, UPDATE_DEVICE), 'device', 200, (item, forms) => {
      const d = target('Device', item, 'device');
      forms.set(d.name, mergeFields(forms.get(d.name) ?? d.edgex, item.value));
    }),
  );
  metadata.patch(`${PREFIX}/deviceprofile/basicinfo`, (req: Req, reply) =>
    batch(req, reply, parseUpdates(req.body, UPDATE_BASIC_INFO), 'profile', 200, (item, forms) => {
      const p = target('DeviceProfile', item, 'basicinfo');
      forms.set(p.name, mergeFields(profileForm(forms, p), item.value));
    }),
  );
  const profileEdits = (section: 'deviceResources' | 'deviceCommands', add: RequestShape, update: RequestShape, path: string, param: string): void => {
    const edit = (shape: RequestShape, ok: number, op: (v: Obj) => { add: Obj } | { update: Obj }) => (req: Req, reply: FastifyReply) =>
      batch(req, reply, parseUpdates(req.body, shape), 'profile', ok, (item, forms) => {
        const p = find('DeviceProfile', item.profileName!);
        forms.set(p.name, editProfile(profileForm(forms, p), section, op(item.value)));
      });
    metadata.post(`${PREFIX}/deviceprofile/${path}`, edit(add, 201, (v) => ({ add: v })));
    metadata.patch(`${PREFIX}/deviceprofile/${path}`, edit(update, 200, (v) => ({ update: v })));
    metadata.delete(`${PREFIX}/deviceprofile/name/:name/${path}/:${param}`, async (req: Req) => {
      const p = find('DeviceProfile', req.params.name!);
      await importForms(req, 'profile', [editProfile(p.edgex, section, { delete: req.params[param]! })]);
      return base(200);
    });
  };
  profileEdits('deviceResources', ADD_RESOURCE, UPDATE_RESOURCE, 'resource', 'resourceName');
  profileEdits('deviceCommands', ADD_COMMAND, UPDATE_COMMAND, 'deviceCommand', 'commandName');
  /** A profile as an EdgeX YAML file (multipart field `file`): its text goes to the hub's import unchanged. POST adds (409 when it is there), PUT replaces (404 when it is not). */
  const upload = async (req: FastifyRequest, reply: FastifyReply): Promise<Obj> => {
    if (!req.isMultipart()) throw new ErrEdgeXRestRequest({ field: 'file', problem: 'send the profile as multipart/form-data, in a part named file' });
    const part = await req.file();
    if (!part) throw new ErrEdgeXRestRequest({ field: 'file', problem: 'is required: the device profile YAML file' });
    if (part.fieldname !== 'file') throw new ErrEdgeXRestRequest({ field: part.fieldname, problem: "is not a field of this request: send the profile in a part named 'file'" });
    let content: string;
    try {
      content = (await part.toBuffer()).toString('utf8');
    } catch (err) {
      if ((err as { code?: unknown }).code === 'FST_REQ_FILE_TOO_LARGE') throw new ErrEdgeXRestTooLarge({ field: 'file', limit: MAX_UPLOAD_BYTES }, { cause: err });
      throw err;
    }
    if (content.trim() === '') throw new ErrEdgeXRestRequest({ field: 'file', problem: 'is empty' });
    // The name only, for EdgeX's 409 and 404; the hub's import reads the file and reports its problems.
    let name: string | undefined;
    try {
      const doc = parseYaml(content) as unknown;
      if (doc !== null && typeof doc === 'object' && typeof (doc as Obj).name === 'string') name = (doc as Obj).name as string;
    } catch {
      // not YAML: the hub's import says where
    }
    const have = name === undefined ? undefined : o.catalog.list('DeviceProfile').find((x) => x.edgexName === name || x.name === name);
    if (req.method === 'POST' && have) throw new ErrEdgeXRestConflict({ kind: 'device profile', name: have.edgexName, reason: 'already exists: PUT the file to replace it' });
    if (req.method === 'PUT' && name !== undefined && !have) throw new ErrEdgeXRestNotFound({ kind: 'device profile', name });
    await importFiles(req, [{ name: part.filename || 'profile.yaml', content }]);
    const status = req.method === 'POST' ? 201 : 200;
    void reply.code(status);
    return base(status);
  };
  metadata.post(`${PREFIX}/deviceprofile/uploadfile`, upload);
  metadata.put(`${PREFIX}/deviceprofile/uploadfile`, upload);
  metadata.post(`${PREFIX}/device`, importAdd);
  metadata.post(`${PREFIX}/deviceprofile`, importAdd);
  metadata.put(`${PREFIX}/deviceprofile`, importAdd);
  const remove = (kind: 'Device' | 'DeviceProfile', plural: string) => async (req: Req): Promise<Obj> => {
    const e = find(kind, req.params.name!);
    const before = catalogNow();
    await toHub(req, 'DELETE', `/api/v1/${plural}/${encodeURIComponent(e.name)}`);
    await replicated(before, [{ kind, name: e.name, gone: true }]);
    return base(200);
  };
  metadata.delete(`${PREFIX}/device/name/:name`, remove('Device', 'devices'));
  metadata.delete(`${PREFIX}/deviceprofile/name/:name`, remove('DeviceProfile', 'deviceprofiles'));
  metadata.route({ method: ['POST', 'PUT', 'PATCH'], url: `${PREFIX}/deviceservice`, handler: readOnly('') });
  metadata.delete(`${PREFIX}/deviceservice/name/:name`, readOnly('GET'));

  // core-data
  const data = make('data');
  const window = (req: Req): StoreQuery => {
    const q = page(req.query);
    if (req.params.start === undefined) return q;
    const start = integer(req.params.start, 'start', 0, 0, MAX_ORIGIN);
    const end = integer(req.params.end, 'end', 0, 0, MAX_ORIGIN);
    if (end < start) throw new ErrEdgeXRestRequest({ field: 'end', problem: `${end} is before start ${start}` });
    return { ...q, start, end };
  };
  const events = (req: Req): Obj => {
    const r = o.store.events(req.params.name === undefined ? undefined : readingsDevice(req.params.name), window(req));
    return { ...base(200), totalCount: r.totalCount, events: r.items };
  };
  data.get(`${PREFIX}/event/all`, events);
  data.get(`${PREFIX}/event/device/name/:name`, events);
  data.get(`${PREFIX}/event/start/:start/end/:end`, events);
  data.get(`${PREFIX}/event/device/name/:name/start/:start/end/:end`, events);
  data.get(`${PREFIX}/event/count`, () => ({ ...base(200), Count: o.store.size }));
  const readings = (req: Req): Obj => {
    const device = req.params.name === undefined ? undefined : readingsDevice(req.params.name);
    const r = o.store.readings(device, req.params.resourceName, window(req));
    return { ...base(200), totalCount: r.totalCount, readings: r.items };
  };
  data.get(`${PREFIX}/reading/all`, readings);
  data.get(`${PREFIX}/reading/device/name/:name`, readings);
  data.get(`${PREFIX}/reading/start/:start/end/:end`, readings);
  data.get(`${PREFIX}/reading/device/name/:name/start/:start/end/:end`, readings);
  data.get(`${PREFIX}/reading/device/name/:name/resourceName/:resourceName`, readings);
  data.get(`${PREFIX}/reading/device/name/:name/resourceName/:resourceName/start/:start/end/:end`, readings);
  data.get(`${PREFIX}/reading/count`, () => ({ ...base(200), Count: o.store.size }));

  // core-command
  const command = make('command');
  const commandsOf = (d: SiteCatalogEntry): Obj => coreCommands(d, profileOf(d), urls.command ?? '');
  command.get(`${PREFIX}/device/all`, (req: Req) => {
    const r = list(o.catalog.list('Device'), page(req.query));
    return { ...base(200), totalCount: r.totalCount, deviceCoreCommands: r.items.map(commandsOf) };
  });
  command.get(`${PREFIX}/device/name/:name`, (req: Req) => ({ ...base(200), deviceCoreCommand: commandsOf(find('Device', req.params.name!)) }));
  const commandOf = (req: Req, want: 'get' | 'set'): { device: SiteCatalogEntry; profile: SiteCatalogEntry | undefined; name: string; params: { resourceName: string; valueType: string }[] } => {
    const device = find('Device', req.params.name!);
    const profile = profileOf(device);
    const name = req.params.command!;
    if (device.spec.adminState === 'LOCKED') throw new ErrEdgeXRestLocked({ device: device.edgexName, command: name });
    const c = ((coreCommands(device, profile, '').coreCommands ?? []) as Obj[]).find((x) => x.name === name);
    if (!c) throw new ErrEdgeXRestNotFound({ kind: 'command', name: `${device.edgexName}/${name}` });
    if (c[want] !== true) throw new ErrEdgeXRestRequest({ field: 'command', problem: `'${name}' of device '${device.edgexName}' is not a ${want.toUpperCase()} command` });
    return { device, profile, name, params: c.parameters as { resourceName: string; valueType: string }[] };
  };
  const flag = (q: Req['query'], field: string, fallback: boolean): boolean => {
    const v = q[field];
    if (v === undefined || v === '') return fallback;
    if (v === 'true' || v === 'yes') return true;
    if (v === 'false' || v === 'no') return false;
    throw new ErrEdgeXRestRequest({ field, problem: `'${v}' is not true or false` });
  };
  command.get(`${PREFIX}/device/name/:name/:command`, async (req: Req, reply: FastifyReply) => {
    const returnEvent = flag(req.query, 'ds-returnevent', true);
    // EdgeX's device service sends the event to core-data only when asked: here, the site's readings (outbox, hub, bus, core-data).
    const pushEvent = flag(req.query, 'ds-pushevent', false);
    const { device, profile, name } = commandOf(req, 'get');
    const res = await o.commands.read(device.name, [name], { store: pushEvent });
    if (!res.ok) throw new ErrEdgeXRestCommand({ device: device.edgexName, command: name, code: res.error?.code ?? 'unknown', reason: res.error?.message ?? 'no reason given' });
    if (!returnEvent) return base(200);
    const readingsOf = (res.samples ?? []).map((s) => ({ ...s, device: device.name, profile: String(device.spec.profile) }));
    if (readingsOf.length === 0) throw new ErrEdgeXRestCommand({ device: device.edgexName, command: name, code: 'EDGE_ERR_EDGEX_REST_COMMAND', reason: 'the read returned no value' });
    const event = edgexEventOf(readingsOf, { sourceName: name });
    void reply.code(200);
    return { ...base(200), event: { ...event, deviceName: device.edgexName, profileName: profile?.edgexName ?? event.profileName, readings: event.readings.map((r) => ({ ...r, deviceName: device.edgexName, profileName: profile?.edgexName ?? r.profileName })) } };
  });
  command.put(`${PREFIX}/device/name/:name/:command`, async (req: Req) => {
    const login = (req as FastifyRequest & { login?: string }).login ?? '';
    if (!o.commandLogins.includes(login)) throw new ErrEdgeXRestForbidden({ username: login, action: 'write to devices (rest.commandLogins lists the logins that may)' });
    const { device, name, params } = commandOf(req, 'set');
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ErrEdgeXRestRequest({ field: 'body', problem: 'must be a JSON object of resource names and values' });
    const given = body as Obj;
    for (const key of Object.keys(given)) {
      if (!params.some((p) => p.resourceName === key)) throw new ErrEdgeXRestRequest({ field: `body.${key}`, problem: `command '${name}' has no resource '${key}'` });
    }
    for (const p of params) {
      const v = given[p.resourceName];
      if (v === undefined) continue;
      const value: ReadingValue =
        p.valueType === 'Object' ? (v as ReadingValue) : parseEdgeXValue(p.valueType as ValueType, typeof v === 'string' ? v : JSON.stringify(v), `body.${p.resourceName}`);
      const res = await o.commands.write(device.name, p.resourceName, value);
      if (!res.ok) throw new ErrEdgeXRestCommand({ device: device.edgexName, command: name, code: res.error?.code ?? 'unknown', reason: res.error?.message ?? 'no reason given' });
    }
    return base(200);
  });

  try {
    for (const service of ['metadata', 'data', 'command'] as const) {
      const app = apps[service]!;
      await app.listen({ host: o.host, port: o.ports[service] });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : o.ports[service];
      urls[service] = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
      log.info({ service: SERVICE_NAMES[service], url: urls[service] }, 'edgex rest: listening');
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { urls: urls as Record<RestService, string>, close: closeAll };
}
