/**
 * The request semantics of the Kubernetes API test server, apart from HTTP:
 * the registry of served types (built-ins and custom resources registered
 * from established CRDs), create / get / list / update / patch / delete with
 * kube-apiserver's rules, list paging and continue tokens, watches with
 * replay, selectors and bookmarks, the CRD lifecycle, namespaces' lifecycle,
 * and where in each write mutating admission runs (admission.ts calls the
 * webhooks).
 *
 * Rules: every failure is an `ErrKubeApiStatus` carrying the Status
 * kube-apiserver would answer; a dry run (`dryRun=All`) goes through the
 * same checks and writes nothing; objects handed out are copies. A write
 * given `admit` is admitted after decoding and before validation and the
 * write; an update, patch or delete whose object changed while its webhooks
 * were called starts again from the object as it is then (as
 * GuaranteedUpdate retries); writes the server makes itself (initial
 * namespaces, CRD status, the namespace and CRD cleanups) are not admitted.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { dns1123LabelProblem, dns1123SubdomainProblem } from '../../../core/kernel/index.ts';
import { parseLabelSelector, StoreErrors, type LabelSelector } from '../../../core/store/index.ts';
import { ADMISSION_REGISTRATION_GROUP, defaultWebhookConfiguration, MUTATING_WEBHOOK_CONFIGURATIONS, webhookConfigurationProblems, type Admit } from './admission.ts';
import { clusterIPsInUse, createService, updateService } from './services.ts';
import { ErrKubeApiStatus, type StatusCause, type StatusParams } from './errors.ts';
import { clone, jsonPatch, mergePatch, strategicMergePatch } from './patch.ts';
import {
  builtinTypes,
  fieldValue,
  groupVersion,
  qualifiedResource,
  typeKey,
  type JsonSchemaProps,
  type KubeObject,
  type ObjectMeta,
  type ResourceType,
} from './resources.ts';
import { pruneAndDefault, structuralProblems, validate } from './schema.ts';
import { MemoryEtcd, objectKey, type ChangeEvent } from './store.ts';

/** Namespaces that exist from the start and may not be deleted. */
export const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** The finalizer kube-apiserver puts on a CRD being deleted until its custom resources are gone. */
const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';
const CRD_TYPE_KEY = 'apiextensions.k8s.io/customresourcedefinitions';
const NAMESPACE_TYPE_KEY = '/namespaces';
const MWC_TYPE_KEY = `${ADMISSION_REGISTRATION_GROUP}/${MUTATING_WEBHOOK_CONFIGURATIONS}`;
const SERVICE_TYPE_KEY = '/services';
/** How often an update, patch or delete starts again when its object changed during admission, before a 409. */
const MAX_UPDATE_ATTEMPTS = 5;

/** Where a request points: a type, the version asked for, and optionally a namespace, a name and a subresource. */
export interface Target {
  type: ResourceType;
  version: string;
  namespace?: string;
  name?: string;
  subresource?: 'status';
}

/** Options common to writes. */
export interface WriteOptions {
  dryRun: boolean;
  /** `fieldValidation`: Strict, Warn (the default) or Ignore. */
  fieldValidation: 'Strict' | 'Warn' | 'Ignore';
  /** Mutating admission of this request (bound to its user); undefined: not admitted. */
  admit?: Admit;
}

/** Options of a delete. */
export type DeleteOptions = Pick<WriteOptions, 'dryRun' | 'admit'>;

/** The answer to a write: the object, and warnings for the `Warning` header. */
export interface WriteResult {
  object: KubeObject;
  warnings: string[];
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continueToken?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

/** One event as a watch stream carries it. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject | Record<string, unknown>;
}

export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
}

/** A running watch: stop it to unsubscribe. */
export interface WatchHandle {
  stop(): void;
}

export interface KubeApiOptions {
  historyLimit: number;
}

// ------------------------------------------------------------------ Status failures

function fail(p: StatusParams): never {
  throw new ErrKubeApiStatus(p);
}

function badRequest(message: string): never {
  return fail({ reason: 'BadRequest', code: 400, message });
}

function notFound(t: ResourceType, name: string): never {
  return fail({ reason: 'NotFound', code: 404, message: `${qualifiedResource(t)} "${name}" not found`, details: { name, group: t.group, kind: t.resource } });
}

function invalid(t: ResourceType, name: string, causes: StatusCause[]): never {
  const listed = causes.map((c) => (c.field !== undefined ? `${c.field}: ${c.message}` : c.message));
  const what = t.group === '' ? t.kind : `${t.kind}.${t.group}`;
  const message = `${what} "${name}" is invalid: ${listed.length === 1 ? listed[0] : `[${listed.join(', ')}]`}`;
  return fail({ reason: 'Invalid', code: 422, message, details: { name, group: t.group, kind: t.kind, causes } });
}

function conflict(t: ResourceType, name: string, why: string): never {
  return fail({
    reason: 'Conflict',
    code: 409,
    message: `Operation cannot be fulfilled on ${qualifiedResource(t)} "${name}": ${why}`,
    details: { name, group: t.group, kind: t.resource },
  });
}

/** The options object of an admission request (CreateOptions, ...), as kube-apiserver sends it. */
function operationOptions(kind: string, dryRun: boolean): Record<string, unknown> {
  return { kind, apiVersion: 'meta.k8s.io/v1', ...(dryRun ? { dryRun: ['All'] } : {}) };
}

/** The namespace of an admission request: the target's; a Namespace's own name (kube's RequestInfo); '' for none. */
function admissionNamespace(target: Target): string {
  const t = target.type;
  if (t.group === '' && t.resource === 'namespaces') return target.name ?? '';
  return t.namespaced ? (target.namespace ?? '') : '';
}

function expired(message: string, continueToken?: string): never {
  return fail({ reason: 'Expired', code: 410, message, ...(continueToken !== undefined ? { continueToken } : {}) });
}

// ------------------------------------------------------------------ helpers

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function metaOf(o: KubeObject): ObjectMeta {
  if (!isObject(o.metadata)) o.metadata = {};
  return o.metadata;
}

/** Seconds-precision RFC 3339, as Kubernetes writes timestamps. */
function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const NAME_SUFFIX_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += NAME_SUFFIX_CHARS.charAt(Math.floor(Math.random() * NAME_SUFFIX_CHARS.length));
  return s;
}

/** The parts of an object generation follows: everything but metadata (and status when it has its own subresource). */
function specPart(t: ResourceType, o: KubeObject): Record<string, unknown> {
  const { metadata: _m, status, apiVersion: _a, kind: _k, ...rest } = o;
  return t.statusSubresource ? rest : { ...rest, status };
}

function withoutRv(o: KubeObject): KubeObject {
  const c = clone(o);
  delete metaOf(c).resourceVersion;
  return c;
}

function parseRv(v: string, what: string): number {
  if (!/^[0-9]+$/.test(v)) badRequest(`invalid ${what} "${v}": must be a resource version`);
  return Number(v);
}

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(c: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: c.rv, start: c.start })).toString('base64url');
}

function decodeContinue(token: string): ContinueToken {
  try {
    const raw: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (isObject(raw) && typeof raw.rv === 'number' && typeof raw.start === 'string') return { rv: raw.rv, start: raw.start };
  } catch {
    // answered below
  }
  return badRequest(`invalid continue token "${token}"`);
}

interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Parses a field selector (`a=b`, `a==b`, `a!=b`, comma means AND) for `t`; an unsupported field is a 400. */
function parseFieldSelector(t: ResourceType, src: string): FieldRequirement[] {
  if (src.trim() === '') return [];
  return src.split(',').map((part) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
    if (m === null) return badRequest(`invalid field selector "${src}": cannot parse "${part}"`);
    const field = m[1] as string;
    if (field !== 'metadata.name' && field !== 'metadata.namespace' && !(field in t.fields)) {
      badRequest(`field label not supported: ${field}`);
    }
    return { field, op: m[2] === '!=' ? '!=' : '=', value: m[3] as string };
  });
}

function labelSelector(src: string | undefined): LabelSelector | undefined {
  if (src === undefined || src === '') return undefined;
  try {
    return parseLabelSelector(src);
  } catch (err) {
    if (StoreErrors.ErrSelector.is(err)) return badRequest(`unable to parse requirement: ${err.message}`);
    throw err;
  }
}

/** A predicate for list and watch: namespace, label selector, field selector. */
function matcher(t: ResourceType, namespace: string | undefined, o: WatchOptions): (obj: KubeObject) => boolean {
  const labels = labelSelector(o.labelSelector);
  const fields = parseFieldSelector(t, o.fieldSelector ?? '');
  return (obj) => {
    if (namespace !== undefined && obj.metadata?.namespace !== namespace) return false;
    if (labels !== undefined && !labels.matches(obj.metadata?.labels)) return false;
    return fields.every((f) => (fieldValue(t, obj, f.field) === f.value) === (f.op === '='));
  };
}

// ------------------------------------------------------------------ the API

export class KubeApi {
  readonly etcd: MemoryEtcd;
  private readonly types = new Map<string, ResourceType>();
  /** Called when a type stops being served (its CRD deleted): watches of it end. */
  private readonly typeRemovedListeners = new Set<(typeKey: string) => void>();

  constructor(opts: KubeApiOptions) {
    this.etcd = new MemoryEtcd({ historyLimit: opts.historyLimit, startRevision: 1000 });
    for (const t of builtinTypes()) this.types.set(typeKey(t), t);
    const ns = this.types.get(NAMESPACE_TYPE_KEY) as ResourceType;
    for (const name of INITIAL_NAMESPACES) {
      this.createNow({ type: ns, version: 'v1' }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, { dryRun: false, fieldValidation: 'Warn' });
    }
  }

  /** The types served now, built-ins first. */
  servedTypes(): ResourceType[] {
    return [...this.types.values()];
  }

  /** The type serving `resource` in `group/version`, or undefined. */
  lookup(group: string, version: string, resource: string): ResourceType | undefined {
    for (const t of this.types.values()) if (t.group === group && t.resource === resource && t.versions.includes(version)) return t;
    return undefined;
  }

  onTypeRemoved(l: (typeKey: string) => void): () => void {
    this.typeRemovedListeners.add(l);
    return () => void this.typeRemovedListeners.delete(l);
  }

  /** An object as served in `version`: a copy with apiVersion and kind set. */
  private served(t: ResourceType, version: string, o: KubeObject): KubeObject {
    const c = clone(o);
    return { ...c, apiVersion: groupVersion(t.group, version), kind: t.kind };
  }

  private key(t: ResourceType, namespace: string | undefined, name: string): string {
    return objectKey(typeKey(t), t.namespaced ? (namespace ?? '') : '', name);
  }

  private namespaceObject(name: string): KubeObject | undefined {
    return this.etcd.get(objectKey(NAMESPACE_TYPE_KEY, '', name));
  }

  /** A namespace's labels (a copy), or undefined when it does not exist: for admission's namespaceSelector. */
  namespaceLabels(name: string): Record<string, string> | undefined {
    const ns = this.namespaceObject(name);
    return ns === undefined ? undefined : { ...(ns.metadata?.labels ?? {}) };
  }

  // ---------------------------------------------------------------- read

  get(target: Target): KubeObject {
    const { type: t, name } = target;
    const o = this.etcd.get(this.key(t, target.namespace, name as string));
    if (o === undefined) return notFound(t, name as string);
    return this.served(t, target.version, o);
  }

  /** A list with kube-apiserver's resourceVersion, paging and continue semantics. */
  list(target: Target, o: ListOptions): KubeObject {
    const t = target.type;
    const current = this.etcd.revision;
    const compacted = this.etcd.compactedRevision;
    let at = current;
    let start = '';
    if (o.resourceVersionMatch !== undefined && o.resourceVersion === undefined) {
      badRequest('resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided');
    }
    if (o.continueToken !== undefined && o.continueToken !== '') {
      if (o.resourceVersion !== undefined && o.resourceVersion !== '') badRequest('specifying resource version is not allowed when using continue');
      const c = decodeContinue(o.continueToken);
      if (c.rv < compacted) {
        // A fresh token continuing from the same key at the current revision: the rest of an inconsistent list.
        expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
          encodeContinue({ rv: current, start: c.start }),
        );
      }
      at = c.rv;
      start = c.start;
    } else if (o.resourceVersion !== undefined && o.resourceVersion !== '') {
      const rv = parseRv(o.resourceVersion, 'resourceVersion');
      const match = o.resourceVersionMatch ?? '';
      if (match !== '' && match !== 'Exact' && match !== 'NotOlderThan') badRequest(`resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`);
      if (rv > current) fail({ reason: 'Timeout', code: 504, message: `Too large resource version: ${rv}, current: ${current}`, details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 } });
      if (match === 'Exact') {
        if (rv < compacted) fail({ reason: 'Gone', code: 410, message: `The resourceVersion for the provided list is too old.` });
        at = rv;
      }
    }
    const keep = matcher(t, t.namespaced ? target.namespace : undefined, o);
    const all = this.etcd.snapshot(typeKey(t), at).filter(([k, obj]) => k > start && keep(obj));
    const limit = o.limit !== undefined && o.limit > 0 ? o.limit : all.length;
    const page = all.slice(0, limit);
    const metadata: Record<string, unknown> = { resourceVersion: String(at) };
    if (page.length < all.length) {
      metadata.continue = encodeContinue({ rv: at, start: (page[page.length - 1] as [string, KubeObject])[0] });
      // kube-apiserver counts the rest only when no selector filters it.
      if ((o.labelSelector ?? '') === '' && (o.fieldSelector ?? '') === '') metadata.remainingItemCount = all.length - page.length;
    }
    return {
      apiVersion: groupVersion(t.group, target.version),
      kind: `${t.kind}List`,
      metadata,
      items: page.map(([, obj]) => this.served(t, target.version, obj)),
    };
  }

  /**
   * Starts a watch: `send` gets the events in order. Without a
   * resourceVersion (or with "0") it first gets ADDED for every matching
   * object; with one, the events after it, replayed from history, or a
   * single ERROR (410 Expired) when history no longer reaches back there.
   * An object that stops (starts) matching the selectors arrives as DELETED
   * (ADDED), as kube-apiserver's watch cache sends it.
   */
  watch(target: Target, o: WatchOptions, send: (e: WatchEvent) => void, end: () => void): WatchHandle {
    const t = target.type;
    const tk = typeKey(t);
    const filters = matcher(t, t.namespaced ? target.namespace : undefined, {
      ...o,
      ...(target.name !== undefined ? { fieldSelector: [o.fieldSelector, `metadata.name=${target.name}`].filter((s) => s !== undefined && s !== '').join(',') } : {}),
    });
    const out = (type: WatchEvent['type'], obj: KubeObject): void => send({ type, object: this.served(t, target.version, obj) });
    const deliver = (e: ChangeEvent): void => {
      if (e.typeKey !== tk) return;
      const now = filters(e.object);
      const before = e.prev !== undefined && filters(e.prev);
      if (e.type === 'DELETED') {
        if (now || before) out('DELETED', e.object);
      } else if (e.type === 'ADDED') {
        if (now) out('ADDED', e.object);
      } else if (now && before) out('MODIFIED', e.object);
      else if (now) out('ADDED', e.object);
      else if (before) out('DELETED', e.object);
    };
    const rvText = o.resourceVersion ?? '';
    if (rvText === '' || rvText === '0') {
      for (const [, obj] of this.etcd.snapshot(tk, this.etcd.revision)) if (filters(obj)) out('ADDED', obj);
    } else {
      const rv = parseRv(rvText, 'resourceVersion');
      if (rv < this.etcd.compactedRevision) {
        send({
          type: 'ERROR',
          object: {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: `too old resource version: ${rv} (${this.etcd.compactedRevision + 1})`,
            reason: 'Expired',
            code: 410,
          },
        });
        end();
        return { stop: () => undefined };
      }
      for (const e of this.etcd.eventsAfter(rv)) deliver(e);
    }
    const unlisten = this.etcd.listen(deliver);
    const unType = this.onTypeRemoved((removed) => {
      if (removed === tk) end();
    });
    return {
      stop: () => {
        unlisten();
        unType();
      },
    };
  }

  // ---------------------------------------------------------------- write

  /**
   * POST, in kube-apiserver's order: the body decoded (kind, namespace, a
   * custom resource pruned and defaulted), the namespace's lifecycle
   * checked, mutating admission (`w.admit`), then the name, system fields,
   * validation and the write.
   */
  async create(target: Target, body: unknown, w: WriteOptions): Promise<WriteResult> {
    const t = target.type;
    const { obj, warnings } = this.decodeCreate(target, body, w);
    if (w.admit === undefined) return this.commitCreate(target, obj, false, warnings, w);
    const r = await w.admit({
      operation: 'CREATE',
      type: t,
      version: target.version,
      namespace: t.namespaced ? (target.namespace as string) : '',
      name: obj.metadata?.name ?? '',
      object: this.served(t, target.version, obj),
      oldObject: null,
      dryRun: w.dryRun,
      options: operationOptions('CreateOptions', w.dryRun),
    });
    return this.commitCreate(target, r.object as KubeObject, r.patched, [...warnings, ...r.warnings], w);
  }

  /** A create without admission, for the server's own objects. */
  private createNow(target: Target, body: unknown, w: WriteOptions): WriteResult {
    const { obj, warnings } = this.decodeCreate(target, body, w);
    return this.commitCreate(target, obj, false, warnings, w);
  }

  /** What kube-apiserver does before admission on a create: decoding, the request's namespace, the NamespaceLifecycle check. */
  private decodeCreate(target: Target, body: unknown, w: WriteOptions): { obj: KubeObject; warnings: string[] } {
    const t = target.type;
    if (!isObject(body)) badRequest(`the body of a create of ${qualifiedResource(t)} must be a JSON object`);
    const obj = clone(body) as KubeObject;
    this.checkKind(t, target.version, obj);
    const meta = metaOf(obj);
    if (t.namespaced) {
      const ns = target.namespace as string;
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== ns) {
        badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = ns;
    } else {
      delete meta.namespace;
    }
    const warnings = this.pruneCustom(t, target.version, obj, w.fieldValidation);
    if (t.namespaced) {
      const ns = target.namespace as string;
      const nsObj = this.namespaceObject(ns);
      if (nsObj === undefined) fail({ reason: 'NotFound', code: 404, message: `namespaces "${ns}" not found`, details: { name: ns, kind: 'namespaces' } });
      if (nsObj.metadata?.deletionTimestamp !== undefined) {
        fail({
          reason: 'Forbidden',
          code: 403,
          message: `${qualifiedResource(t)} "${meta.name ?? meta.generateName ?? ''}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
        });
      }
    }
    return { obj, warnings };
  }

  /** The rest of a create, after admission: name, uniqueness, system fields, validation, the write. */
  private commitCreate(target: Target, obj: KubeObject, patched: boolean, warnings: string[], w: WriteOptions): WriteResult {
    const t = target.type;
    // A patched object is pruned and defaulted again, silently, as kube-apiserver does after mutating admission.
    if (patched) this.pruneCustom(t, target.version, obj, 'Ignore');
    const meta = metaOf(obj);
    if (t.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== target.namespace) {
        badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = target.namespace;
    } else {
      delete meta.namespace;
    }
    if ((meta.name === undefined || meta.name === '') && typeof meta.generateName === 'string' && meta.generateName !== '') {
      meta.name = `${meta.generateName}${randomSuffix()}`;
    }
    const name = meta.name ?? '';
    if (name === '') invalid(t, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    const problem = t.resource === 'namespaces' ? dns1123LabelProblem(name) : dns1123SubdomainProblem(name);
    if (problem !== undefined) invalid(t, name, [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": ${problem}` }]);
    const key = this.key(t, meta.namespace, name);
    if (this.etcd.get(key) !== undefined) {
      fail({ reason: 'AlreadyExists', code: 409, message: `${qualifiedResource(t)} "${name}" already exists`, details: { name, group: t.group, kind: t.resource } });
    }
    for (const f of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink']) delete meta[f];
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    if (t.generation) meta.generation = 1;
    if (t.statusSubresource) delete obj.status;
    if (t.resource === 'namespaces' && t.group === '') obj.status = { phase: 'Active' };
    if (typeKey(t) === CRD_TYPE_KEY) this.checkCrd(obj, name);
    if (typeKey(t) === MWC_TYPE_KEY) this.checkWebhookConfiguration(obj, name);
    if (typeKey(t) === SERVICE_TYPE_KEY) {
      const causes = createService(obj, clusterIPsInUse(this.etcd.snapshot(SERVICE_TYPE_KEY, this.etcd.revision).map(([, o]) => o)));
      if (causes.length > 0) invalid(t, name, causes);
    }
    this.validateCustom(t, target.version, obj);
    const stored = { ...obj, apiVersion: groupVersion(t.group, t.versions[0] as string), kind: t.kind };
    if (w.dryRun) return { object: this.served(t, target.version, stored), warnings };
    metaOf(stored).resourceVersion = String(this.etcd.nextRevision);
    this.etcd.write('ADDED', typeKey(t), key, stored);
    if (typeKey(t) === CRD_TYPE_KEY) setImmediate(() => this.establish(name));
    return { object: this.served(t, target.version, stored), warnings };
  }

  /** PUT: a full replacement of the object (or of its status, on the status subresource). */
  async update(target: Target, body: unknown, w: WriteOptions): Promise<WriteResult> {
    const t = target.type;
    const name = target.name as string;
    if (!isObject(body)) badRequest(`the body of an update of ${qualifiedResource(t)} must be a JSON object`);
    return await this.guaranteedUpdate(target, w, 'UpdateOptions', () => {
      const incoming = clone(body) as KubeObject;
      this.checkKind(t, target.version, incoming);
      const meta = metaOf(incoming);
      if (meta.name !== undefined && meta.name !== name) badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`);
      if (t.namespaced && meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== target.namespace) {
        badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      return incoming;
    });
  }

  /** PATCH: merge patch or JSON patch on the object as served in the request's version. */
  patch(target: Target, contentType: string, body: unknown, w: WriteOptions): Promise<WriteResult> {
    const t = target.type;
    const name = target.name as string;
    return this.guaranteedUpdate(target, w, 'PatchOptions', (existing) => {
      const base = this.served(t, target.version, existing);
      let patched: unknown;
      if (contentType === 'application/json-patch+json') patched = jsonPatch(base, body);
      else if (contentType === 'application/merge-patch+json') patched = mergePatch(base, body);
      else if (contentType === 'application/strategic-merge-patch+json' && t.crd === undefined) patched = strategicMergePatch(base, body, t.mergeKeys);
      else {
        fail({
          reason: 'UnsupportedMediaType',
          code: 415,
          message: `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json${t.crd === undefined ? ', application/strategic-merge-patch+json' : ''}`,
        });
      }
      if (!isObject(patched)) badRequest('the patched object is not a JSON object');
      const incoming = patched as KubeObject;
      const meta = metaOf(incoming);
      if (meta.name !== name) badRequest(`metadata.name: Invalid value: "${String(meta.name)}": field is immutable`);
      return incoming;
    });
  }

  /**
   * The shared path of update and patch, as kube-apiserver's
   * GuaranteedUpdate: the new object built from the stored one, decoded,
   * admitted (UPDATE, with the stored object as oldObject), then checked
   * and written; when the object was written meanwhile (during the webhook
   * calls), all of it again from the object as it is then.
   */
  private async guaranteedUpdate(target: Target, w: WriteOptions, optionsKind: 'UpdateOptions' | 'PatchOptions', build: (existing: KubeObject) => KubeObject): Promise<WriteResult> {
    const t = target.type;
    const name = target.name as string;
    const key = this.key(t, target.namespace, name);
    for (let attempt = 1; ; attempt++) {
      const existing = this.etcd.get(key);
      if (existing === undefined) return notFound(t, name);
      const incoming = build(existing);
      const meta = metaOf(incoming);
      if (t.namespaced) meta.namespace = target.namespace;
      else delete meta.namespace;
      const warnings = this.pruneCustom(t, target.version, incoming, w.fieldValidation);
      if (w.admit === undefined) return this.commitReplace(target, existing, incoming, false, warnings, w);
      const r = await w.admit({
        operation: 'UPDATE',
        type: t,
        version: target.version,
        ...(target.subresource !== undefined ? { subresource: target.subresource } : {}),
        namespace: admissionNamespace(target),
        name,
        object: this.served(t, target.version, incoming),
        oldObject: this.served(t, target.version, existing),
        dryRun: w.dryRun,
        options: operationOptions(optionsKind, w.dryRun),
      });
      if (this.etcd.get(key) !== existing) {
        if (attempt < MAX_UPDATE_ATTEMPTS) continue;
        conflict(t, name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      return this.commitReplace(target, existing, r.object as KubeObject, r.patched, [...warnings, ...r.warnings], w);
    }
  }

  /** The end of update and patch, after admission: preconditions, status rules, generation, finalizers, the write. */
  private commitReplace(target: Target, existing: KubeObject, incoming: KubeObject, patched: boolean, warnings: string[], w: WriteOptions): WriteResult {
    const t = target.type;
    const name = target.name as string;
    const key = this.key(t, target.namespace, name);
    const old = existing.metadata as ObjectMeta;
    if (patched) this.pruneCustom(t, target.version, incoming, 'Ignore');
    const rv = incoming.metadata?.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.resourceVersion) {
      conflict(t, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    let next: KubeObject;
    if (target.subresource === 'status') {
      // Only status changes through the status subresource; everything else is kept as stored.
      next = clone(existing);
      if ('status' in incoming) next.status = incoming.status;
      else delete next.status;
    } else {
      next = clone(incoming);
      const meta = metaOf(next);
      for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'namespace'] as const) {
        if (old[f] === undefined) delete meta[f];
        else meta[f] = old[f] as never;
      }
      meta.name = name;
      if (t.statusSubresource) {
        if ('status' in existing) next.status = clone(existing.status);
        else delete next.status;
      }
      if (old.deletionTimestamp !== undefined) {
        const added = (meta.finalizers ?? []).filter((f) => !(old.finalizers ?? []).includes(f));
        if (added.length > 0) {
          invalid(t, name, [{ reason: 'FieldValueForbidden', field: 'metadata.finalizers', message: 'Forbidden: no new finalizers can be added if the object is being deleted' }]);
        }
      }
    }
    next.apiVersion = groupVersion(t.group, t.versions[0] as string);
    next.kind = t.kind;
    if (typeKey(t) === CRD_TYPE_KEY && target.subresource !== 'status') this.checkCrd(next, name);
    if (typeKey(t) === MWC_TYPE_KEY) this.checkWebhookConfiguration(next, name);
    if (typeKey(t) === SERVICE_TYPE_KEY && target.subresource !== 'status') {
      const causes = updateService(existing, next);
      if (causes.length > 0) invalid(t, name, causes);
    }
    this.validateCustom(t, target.version, next);
    if (t.generation && !isDeepStrictEqual(specPart(t, existing), specPart(t, next))) metaOf(next).generation = (old.generation ?? 0) + 1;
    metaOf(next).resourceVersion = old.resourceVersion;
    if (isDeepStrictEqual(withoutRv(existing), withoutRv(next))) return { object: this.served(t, target.version, existing), warnings };
    if (w.dryRun) return { object: this.served(t, target.version, next), warnings };
    metaOf(next).resourceVersion = String(this.etcd.nextRevision);
    const finalizers = next.metadata?.finalizers ?? [];
    if (next.metadata?.deletionTimestamp !== undefined && finalizers.length === 0) {
      this.etcd.write('DELETED', typeKey(t), key, next);
      this.afterDelete(t, next);
    } else {
      this.etcd.write('MODIFIED', typeKey(t), key, next);
      if (typeKey(t) === CRD_TYPE_KEY) this.refreshCustomType(next);
    }
    return { object: this.served(t, target.version, next), warnings };
  }

  /**
   * DELETE: preconditions, then mutating admission (DELETE: no object, the
   * stored one as oldObject), then: an object with finalizers gets
   * deletionTimestamp and stays until an update empties them; one without
   * is removed at once. Answers the object as it is after the call.
   * `inCollection`: an item of a deletecollection (admitted without a name,
   * as kube-apiserver does).
   */
  async delete(target: Target, options: unknown, w: DeleteOptions, inCollection = false): Promise<KubeObject> {
    const t = target.type;
    const name = target.name as string;
    const key = this.key(t, target.namespace, name);
    for (let attempt = 1; ; attempt++) {
      const existing = this.etcd.get(key);
      if (existing === undefined) return notFound(t, name);
      this.checkDelete(t, name, existing, options);
      if (w.admit === undefined) return this.deleteExisting(target, existing, w.dryRun);
      await w.admit({
        operation: 'DELETE',
        type: t,
        version: target.version,
        namespace: admissionNamespace(target),
        name: inCollection ? '' : name,
        object: null,
        oldObject: this.served(t, target.version, existing),
        dryRun: w.dryRun,
        options: { ...(isObject(options) ? clone(options) : {}), ...operationOptions('DeleteOptions', w.dryRun) },
      });
      if (this.etcd.get(key) === existing) return this.deleteExisting(target, existing, w.dryRun);
      if (attempt >= MAX_UPDATE_ATTEMPTS) conflict(t, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
  }

  /** A delete's preconditions (uid, resourceVersion) and the namespaces that may not be deleted. */
  private checkDelete(t: ResourceType, name: string, existing: KubeObject, options: unknown): void {
    const meta = existing.metadata as ObjectMeta;
    if (isObject(options) && isObject(options.preconditions)) {
      const pre = options.preconditions;
      if (typeof pre.uid === 'string' && pre.uid !== meta.uid) {
        conflict(t, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${meta.uid}`);
      }
      if (typeof pre.resourceVersion === 'string' && pre.resourceVersion !== meta.resourceVersion) {
        conflict(t, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${meta.resourceVersion}`);
      }
    }
    if (t.resource === 'namespaces' && t.group === '' && INITIAL_NAMESPACES.includes(name)) {
      fail({ reason: 'Forbidden', code: 403, message: `namespaces "${name}" is forbidden: this namespace may not be deleted` });
    }
  }

  /** The end of a delete, after admission (and the namespace controller's deletes, which are not admitted). */
  private deleteExisting(target: Target, existing: KubeObject, dryRun: boolean): KubeObject {
    const t = target.type;
    const name = target.name as string;
    const key = this.key(t, target.namespace, name);
    const meta = existing.metadata as ObjectMeta;
    const isCrd = typeKey(t) === CRD_TYPE_KEY;
    const isNamespace = key === objectKey(NAMESPACE_TYPE_KEY, '', name);
    const finalizers = meta.finalizers ?? [];
    // A CRD keeps its cleanup finalizer and a namespace its Terminating phase until what they hold is gone.
    if (finalizers.length > 0 || isCrd || isNamespace) {
      if (meta.deletionTimestamp !== undefined) return this.served(t, target.version, existing);
      const next = clone(existing);
      const m = metaOf(next);
      m.deletionTimestamp = now();
      m.deletionGracePeriodSeconds = 0;
      if (t.generation) m.generation = (m.generation ?? 0) + 1;
      if (isCrd && !finalizers.includes(CRD_CLEANUP_FINALIZER)) m.finalizers = [...finalizers, CRD_CLEANUP_FINALIZER];
      if (isNamespace) next.status = { ...(isObject(next.status) ? next.status : {}), phase: 'Terminating' };
      if (dryRun) return this.served(t, target.version, next);
      m.resourceVersion = String(this.etcd.nextRevision);
      this.etcd.write('MODIFIED', typeKey(t), key, next);
      if (isCrd) setImmediate(() => this.cleanupCrd(name));
      if (isNamespace) setImmediate(() => this.drainNamespace(name));
      return this.served(t, target.version, next);
    }
    const gone = clone(existing);
    if (dryRun) return this.served(t, target.version, gone);
    metaOf(gone).resourceVersion = String(this.etcd.nextRevision);
    this.etcd.write('DELETED', typeKey(t), key, gone);
    this.afterDelete(t, gone);
    return this.served(t, target.version, gone);
  }

  /**
   * DELETE on a collection: deletes each matching object as `delete` would
   * (each admitted), in order, stopping at the first failure; an object
   * gone meanwhile is skipped. Answers the list of them.
   */
  async deleteCollection(target: Target, o: ListOptions, options: unknown, w: DeleteOptions): Promise<KubeObject> {
    const t = target.type;
    const listed = this.list(target, { ...(o.labelSelector !== undefined ? { labelSelector: o.labelSelector } : {}), ...(o.fieldSelector !== undefined ? { fieldSelector: o.fieldSelector } : {}) });
    const items: KubeObject[] = [];
    for (const obj of listed.items as KubeObject[]) {
      const name = obj.metadata?.name as string;
      try {
        items.push(await this.delete({ ...target, namespace: obj.metadata?.namespace, name }, options, w, true));
      } catch (err) {
        if (ErrKubeApiStatus.is(err) && err.params.reason === 'NotFound' && err.params.details?.name === name && err.params.details.kind === t.resource) continue;
        throw err;
      }
    }
    return { apiVersion: groupVersion(t.group, target.version), kind: `${t.kind}List`, metadata: { resourceVersion: String(this.etcd.revision) }, items };
  }

  // ---------------------------------------------------------------- checks

  private checkKind(t: ResourceType, version: string, obj: KubeObject): void {
    if (obj.kind !== undefined && obj.kind !== t.kind) {
      badRequest(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${t.kind})`);
    }
    const want = groupVersion(t.group, version);
    if (obj.apiVersion !== undefined && obj.apiVersion !== want) {
      badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${want})`);
    }
  }

  /**
   * For a custom resource, as kube-apiserver decodes one: prunes and
   * defaults it against its CRD version's schema. Unknown fields: a 400
   * under Strict, a warning under Warn, silently dropped under Ignore.
   */
  private pruneCustom(t: ResourceType, version: string, obj: KubeObject, mode: WriteOptions['fieldValidation']): string[] {
    const schema = t.schemas?.[version];
    if (t.crd === undefined || schema === undefined) return [];
    const unknown = pruneAndDefault(obj, schema);
    if (unknown.length > 0 && mode === 'Strict') {
      badRequest(`${t.kind} in version "${version}" cannot be handled as a ${t.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
    }
    return mode === 'Warn' ? unknown.map((u) => `unknown field "${u}"`) : [];
  }

  /** For a custom resource: validates it against its CRD version's schema (422 naming each field). */
  private validateCustom(t: ResourceType, version: string, obj: KubeObject): void {
    const schema = t.schemas?.[version];
    if (t.crd === undefined || schema === undefined) return;
    const causes = validate(obj, schema);
    if (causes.length > 0) invalid(t, obj.metadata?.name ?? '', causes);
  }

  /** A MutatingWebhookConfiguration: kube's v1 defaults set, then its validation (422 naming each field). */
  private checkWebhookConfiguration(obj: KubeObject, name: string): void {
    defaultWebhookConfiguration(obj);
    const causes = webhookConfigurationProblems(obj);
    if (causes.length > 0) invalid(this.types.get(MWC_TYPE_KEY) as ResourceType, name, causes);
  }

  /** A CRD's own validation: names, scope, versions (exactly one storage), structural schemas. */
  private checkCrd(obj: KubeObject, name: string): void {
    const t = this.types.get(CRD_TYPE_KEY) as ResourceType;
    const causes: StatusCause[] = [];
    const spec = isObject(obj.spec) ? obj.spec : {};
    const names = isObject(spec.names) ? spec.names : {};
    const group = spec.group;
    const need = (ok: boolean, field: string, message: string, reason = 'FieldValueRequired'): void => {
      if (!ok) causes.push({ reason, field, message });
    };
    need(typeof group === 'string' && group.includes('.'), 'spec.group', `Invalid value: ${JSON.stringify(group)}: should be a domain with at least one dot`, 'FieldValueInvalid');
    need(typeof names.plural === 'string' && names.plural !== '', 'spec.names.plural', 'Required value');
    need(typeof names.kind === 'string' && names.kind !== '', 'spec.names.kind', 'Required value');
    need(spec.scope === 'Namespaced' || spec.scope === 'Cluster', 'spec.scope', `Unsupported value: ${JSON.stringify(spec.scope)}: supported values: "Cluster", "Namespaced"`, 'FieldValueNotSupported');
    if (typeof names.plural === 'string' && typeof group === 'string') {
      need(name === `${names.plural}.${group}`, 'metadata.name', `Invalid value: "${name}": must be spec.names.plural+"."+spec.group`, 'FieldValueInvalid');
    }
    const versions = Array.isArray(spec.versions) ? spec.versions : [];
    need(versions.length > 0, 'spec.versions', 'Invalid value: null: must have exactly one version marked as storage version', 'FieldValueInvalid');
    const storage = versions.filter((v) => isObject(v) && v.storage === true).length;
    if (versions.length > 0) need(storage === 1, 'spec.versions', `Invalid value: ${JSON.stringify(versions)}: must have exactly one version marked as storage version`, 'FieldValueInvalid');
    versions.forEach((v, i) => {
      if (!isObject(v)) return;
      need(typeof v.name === 'string' && v.name !== '', `spec.versions[${i}].name`, 'Required value');
      const schema = isObject(v.schema) ? v.schema.openAPIV3Schema : undefined;
      causes.push(...structuralProblems(schema, `spec.versions[${i}].schema.openAPIV3Schema`));
    });
    if (causes.length > 0) invalid(t, name, causes);
  }

  // ---------------------------------------------------------------- CRD and namespace lifecycle

  /** The custom resource type a CRD defines. */
  private customType(crd: KubeObject): ResourceType {
    const spec = crd.spec as Record<string, unknown>;
    const names = spec.names as Record<string, unknown>;
    const versions = (spec.versions as Record<string, unknown>[]).filter((v) => v.served !== false);
    versions.sort((a, b) => (a.storage === true ? -1 : b.storage === true ? 1 : 0));
    const schemas: Record<string, JsonSchemaProps | undefined> = {};
    for (const v of versions) schemas[v.name as string] = (v.schema as { openAPIV3Schema?: JsonSchemaProps } | undefined)?.openAPIV3Schema;
    const status = versions.some((v) => isObject(v.subresources) && isObject(v.subresources.status));
    return {
      group: spec.group as string,
      versions: versions.map((v) => v.name as string),
      resource: names.plural as string,
      singular: typeof names.singular === 'string' ? names.singular : (names.kind as string).toLowerCase(),
      kind: names.kind as string,
      namespaced: spec.scope === 'Namespaced',
      shortNames: Array.isArray(names.shortNames) ? (names.shortNames as string[]) : [],
      statusSubresource: status,
      generation: true,
      fields: {},
      schemas,
      crd: crd.metadata?.name,
    };
  }

  /** What kube's CRD controllers do after a create: accept the names, mark it Established, serve the type. */
  private establish(name: string): void {
    const key = objectKey(CRD_TYPE_KEY, '', name);
    const crd = this.etcd.get(key);
    if (crd === undefined || crd.metadata?.deletionTimestamp !== undefined) return;
    const next = clone(crd);
    const spec = next.spec as Record<string, unknown>;
    const storage = (spec.versions as Record<string, unknown>[]).find((v) => v.storage === true)?.name as string;
    const at = now();
    next.status = {
      conditions: [
        { type: 'NamesAccepted', status: 'True', lastTransitionTime: at, reason: 'NoConflicts', message: 'no conflicts found' },
        { type: 'Established', status: 'True', lastTransitionTime: at, reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
      ],
      acceptedNames: clone(spec.names),
      storedVersions: [storage],
    };
    metaOf(next).resourceVersion = String(this.etcd.nextRevision);
    this.etcd.write('MODIFIED', CRD_TYPE_KEY, key, next);
    this.refreshCustomType(next);
  }

  /** Serves (again) the type of an established CRD, with its current versions and schemas. */
  private refreshCustomType(crd: KubeObject): void {
    const conditions = isObject(crd.status) && Array.isArray(crd.status.conditions) ? (crd.status.conditions as Record<string, unknown>[]) : [];
    if (!conditions.some((c) => c.type === 'Established' && c.status === 'True') || crd.metadata?.deletionTimestamp !== undefined) return;
    const t = this.customType(crd);
    this.types.set(typeKey(t), t);
  }

  /** A deleted CRD: stop serving its type, remove its custom resources, then drop the cleanup finalizer. */
  private cleanupCrd(name: string): void {
    const key = objectKey(CRD_TYPE_KEY, '', name);
    const crd = this.etcd.get(key);
    if (crd === undefined) return;
    const t = this.customType(crd);
    const tk = typeKey(t);
    // Removed while still served, so their watchers see each DELETED before their watch ends.
    for (const [k, obj] of this.etcd.snapshot(tk, this.etcd.revision)) {
      const gone = clone(obj);
      metaOf(gone).resourceVersion = String(this.etcd.nextRevision);
      this.etcd.write('DELETED', tk, k, gone);
    }
    if (this.types.get(tk)?.crd === name) {
      this.types.delete(tk);
      for (const l of [...this.typeRemovedListeners]) l(tk);
    }
    const next = clone(crd);
    const m = metaOf(next);
    m.finalizers = (m.finalizers ?? []).filter((f) => f !== CRD_CLEANUP_FINALIZER);
    m.resourceVersion = String(this.etcd.nextRevision);
    this.etcd.write(m.finalizers.length === 0 ? 'DELETED' : 'MODIFIED', CRD_TYPE_KEY, key, next);
  }

  /** A terminating namespace: delete what it holds (finalizers honoured); remove it once empty. */
  private drainNamespace(ns: string): void {
    for (const t of this.types.values()) {
      if (!t.namespaced) continue;
      for (const [, obj] of this.etcd.snapshot(typeKey(t), this.etcd.revision)) {
        if (obj.metadata?.namespace === ns && obj.metadata.deletionTimestamp === undefined) {
          this.deleteExisting({ type: t, version: t.versions[0] as string, namespace: ns, name: obj.metadata.name }, obj, false);
        }
      }
    }
    this.removeNamespaceIfEmpty(ns);
  }

  private removeNamespaceIfEmpty(ns: string): void {
    const key = objectKey(NAMESPACE_TYPE_KEY, '', ns);
    const nsObj = this.etcd.get(key);
    if (nsObj?.metadata?.deletionTimestamp === undefined || (nsObj.metadata.finalizers ?? []).length > 0) return;
    for (const t of this.types.values()) {
      if (!t.namespaced) continue;
      if (this.etcd.snapshot(typeKey(t), this.etcd.revision).some(([, o]) => o.metadata?.namespace === ns)) return;
    }
    const gone = clone(nsObj);
    metaOf(gone).resourceVersion = String(this.etcd.nextRevision);
    this.etcd.write('DELETED', NAMESPACE_TYPE_KEY, key, gone);
  }

  private afterDelete(t: ResourceType, obj: KubeObject): void {
    if (t.namespaced && obj.metadata?.namespace !== undefined) this.removeNamespaceIfEmpty(obj.metadata.namespace);
  }
}
