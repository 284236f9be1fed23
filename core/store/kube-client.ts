/**
 * A connection to kube-apiserver shared by what talks to it (the kube
 * store driver, the hub's tokens and commands in kube mode): the kubeconfig
 * loaded once, one connection pool for every call, the CRD installer, the
 * mapping of client-node's failures, and a reflector (list, then watch from
 * the list's resourceVersion, relist on 410 Gone, resume after a dropped
 * connection with backoff) for the caches built on kube's objects.
 *
 * Rules:
 * - @kubernetes/client-node is imported when a client opens, not with this
 *   module (it takes most of a second to load).
 * - client-node 2.0.1 makes a connection pool for every request: the first
 *   one is kept and handed to every later request of the client.
 * - `kubeConfig: 'in-cluster'` reads the pod's ServiceAccount (as
 *   client-go's rest.InClusterConfig does).
 * - A reflector's `onEvent` sees every change once in resourceVersion order
 *   of its collection; after a relist it sees the differences to what it had
 *   (ADDED, MODIFIED, DELETED), so a cache fed by it converges.
 */
import { existsSync } from 'node:fs';
import type * as ClientNodeModule from '@kubernetes/client-node';
import type { CoreV1Api, CustomObjectsApi, KubeConfig, RequestContext } from '@kubernetes/client-node';
import type { Logger } from '../kernel/index.ts';
import { ErrKube, ErrKubeOptions } from './errors.ts';

export type ClientNode = typeof ClientNodeModule;

/** Where a pod's ServiceAccount token is mounted (client-go's rest.InClusterConfig reads the same). */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeClient {
  readonly k8s: ClientNode;
  readonly kc: KubeConfig;
  /** Custom resources and CRDs (untyped: keeps x-kubernetes-* keys and unknown fields as sent). */
  readonly custom: CustomObjectsApi;
  /** Core objects (Secrets, ...). */
  readonly core: CoreV1Api;
  /** The server's URL, for messages. */
  readonly server: string;
  close(): Promise<void>;
}

/** A kube object as read off the wire. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string | Date;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** A kube Status, as in a failed call's body or a watch ERROR event. */
export interface KubeStatus {
  code?: number;
  reason?: string;
  message?: string;
  details?: { name?: string; kind?: string; causes?: { field?: string; message?: string; reason?: string }[] };
}

/** Loads the kubeconfig (a file, a loaded KubeConfig, or 'in-cluster') and makes the API clients on one connection pool. */
export async function openKubeClient(kubeConfig: KubeConfig | string): Promise<KubeClient> {
  const k8s: ClientNode = await import('@kubernetes/client-node');
  let kc: KubeConfig;
  if (typeof kubeConfig === 'string') {
    kc = new k8s.KubeConfig();
    if (kubeConfig === 'in-cluster' && !(process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT && existsSync(SERVICE_ACCOUNT_TOKEN))) {
      // client-node would make a client of https://undefined:undefined.
      throw new ErrKubeOptions({ field: 'kubeConfig', reason: `'in-cluster' needs a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT set and ${SERVICE_ACCOUNT_TOKEN} present` });
    }
    try {
      if (kubeConfig === 'in-cluster') kc.loadFromCluster();
      else kc.loadFromFile(kubeConfig);
    } catch (err) {
      throw new ErrKubeOptions({ field: 'kubeConfig', reason: `cannot load ${kubeConfig}: ${(err as Error).message}` }, { cause: err });
    }
  } else kc = kubeConfig;
  const cluster = kc.getCurrentCluster();
  if (cluster === null || !cluster.server) throw new ErrKubeOptions({ field: 'kubeConfig', reason: 'has no current cluster' });
  const pool: { dispatcher?: ReturnType<RequestContext['getDispatcher']> } = {};
  const auth = {
    getName: (): string => 'kubeconfig, one connection pool',
    async applySecurityAuthentication(ctx: RequestContext): Promise<void> {
      await kc.applySecurityAuthentication(ctx);
      const made = ctx.getDispatcher();
      if (made === undefined) return;
      pool.dispatcher ??= made;
      ctx.setDispatcher(pool.dispatcher);
    },
  };
  const config = k8s.createConfiguration({ baseServer: new k8s.ServerConfiguration(cluster.server, {}), authMethods: { default: auth } });
  return {
    k8s,
    kc,
    custom: new k8s.CustomObjectsApi(config),
    core: new k8s.CoreV1Api(config),
    server: cluster.server,
    async close() {
      await pool.dispatcher?.close();
    },
  };
}

/** The HTTP status and kube Status of a failed client-node call (ApiException, or a plain error from fetch). */
export function kubeFailure(err: unknown): { status: number | null; body: KubeStatus | undefined; message: string } {
  const e = err as { code?: unknown; body?: unknown; statusCode?: unknown; message?: unknown };
  const status = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : null;
  let body: KubeStatus | undefined;
  if (typeof e.body === 'string') {
    try {
      body = JSON.parse(e.body) as KubeStatus;
    } catch {
      body = undefined;
    }
  } else if (e.body !== null && typeof e.body === 'object') body = e.body;
  const cause = (err as { cause?: { message?: unknown } }).cause?.message;
  const message = body?.message ?? (typeof e.message === 'string' ? e.message.split('\n')[0] ?? '' : String(err));
  return { status, body, message: typeof cause === 'string' && status === null ? `${message}: ${cause}` : message };
}

/** A failed call as EDGE_ERR_STORE_KUBE naming what was tried on what. */
export function kubeError(err: unknown, operation: string, target: string): InstanceType<typeof ErrKube> {
  const f = kubeFailure(err);
  return new ErrKube({ operation, target, status: f.status, reason: f.message }, { cause: err });
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Creates or updates each CRD and waits until kube reports it Established. */
export async function applyCrds(client: KubeClient, crds: readonly Record<string, unknown>[]): Promise<void> {
  // Through the untyped custom-objects client: client-node's typed CRD model would drop the
  // x-kubernetes-* keys of the schema (it serializes its own field names, not the wire ones).
  const target = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions' };
  for (const crd of crds) {
    const name = (crd.metadata as { name: string }).name;
    try {
      let existing: KubeObject | undefined;
      try {
        existing = (await client.custom.getClusterCustomObject({ ...target, name })) as KubeObject;
      } catch (err) {
        if (kubeFailure(err).status !== 404) throw err;
      }
      if (existing === undefined) await client.custom.createClusterCustomObject({ ...target, body: crd });
      else {
        const body = { ...crd, metadata: { ...(crd.metadata as object), resourceVersion: existing.metadata?.resourceVersion } };
        await client.custom.replaceClusterCustomObject({ ...target, name, body });
      }
      for (let i = 0; ; i++) {
        const got = (await client.custom.getClusterCustomObject({ ...target, name })) as { status?: { conditions?: { type?: string; status?: string }[] } };
        if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
        if (i >= 300) throw new Error('it was not Established within 30 s');
        await sleep(100);
      }
    } catch (err) {
      throw kubeError(err, 'install CRD', name);
    }
  }
}

/** One page of a list as `reflect` takes it. */
export interface ListPage {
  items: KubeObject[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/**
 * A typed client-node list (V1NodeList, V1SecretList, ...) as a ListPage:
 * the typed models name the continue token `_continue`, and a page read
 * without it would end the list after its first page.
 */
export function typedPage(l: { items: unknown[]; metadata?: { resourceVersion?: string; _continue?: string } }): ListPage {
  const metadata: NonNullable<ListPage['metadata']> = {};
  if (l.metadata?.resourceVersion !== undefined) metadata.resourceVersion = l.metadata.resourceVersion;
  if (l.metadata?._continue) metadata.continue = l.metadata._continue;
  return { items: l.items as KubeObject[], metadata };
}

/** A reflector's page request as client-node's list calls take it (their continue token is `_continue`). */
export function pageRequest(page: { limit: number; continue?: string }): { limit: number; _continue?: string } {
  return { limit: page.limit, ...(page.continue === undefined ? {} : { _continue: page.continue }) };
}

export interface ReflectOptions {
  client: KubeClient;
  /** The collection's URL path, e.g. `/api/v1/namespaces/hub/secrets`. */
  path: string;
  labelSelector?: string;
  /** One page of the list (client-node's typed or untyped list call). */
  list(page: { limit: number; continue?: string }): Promise<ListPage>;
  /** A change, in order; after a relist, the differences to what was seen before. */
  onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject): void;
  signal: AbortSignal;
  logger?: Logger;
  /** First and longest wait before a failed list or dropped watch is tried again. Default 100 ms and 5 s. */
  backoffMs?: { initial: number; max: number };
  /** Asks kube to end each watch after this long (it is resumed). Default 300 s. */
  watchTimeoutSeconds?: number;
}

/**
 * Keeps a collection's objects flowing into `onEvent` until `signal`
 * aborts. Resolves `ready` after the first complete list has been
 * delivered; rejects it when that list fails with a status that retrying
 * does not mend (401, 403, 404).
 */
export function reflect(o: ReflectOptions): { ready: Promise<void>; done: Promise<void> } {
  let markReady!: () => void;
  let failReady!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => undefined);
  const backoff = o.backoffMs ?? { initial: 100, max: 5000 };
  /** By namespace/name: a collection watched across namespaces holds objects of one name in several. */
  const seen = new Map<string, KubeObject>();
  const keyOf = (obj: KubeObject): string => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
  const done = (async () => {
    let delay = backoff.initial;
    let first = true;
    while (!o.signal.aborted) {
      // List: every page, then the differences to what was seen.
      let rv: string;
      try {
        const items: KubeObject[] = [];
        let cont: string | undefined;
        let listRv = '';
        do {
          const page = await o.list({ limit: 500, ...(cont === undefined ? {} : { continue: cont }) });
          items.push(...page.items);
          cont = page.metadata?.continue || undefined;
          listRv = page.metadata?.resourceVersion ?? listRv;
        } while (cont !== undefined);
        rv = listRv;
        const now = new Map(items.map((i) => [keyOf(i), i]));
        for (const [name, old] of seen) if (!now.has(name)) o.onEvent('DELETED', old);
        for (const [name, obj] of now) {
          const old = seen.get(name);
          if (old === undefined) o.onEvent('ADDED', obj);
          else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) o.onEvent('MODIFIED', obj);
        }
        seen.clear();
        for (const [name, obj] of now) seen.set(name, obj);
        if (first) {
          first = false;
          markReady();
        }
        delay = backoff.initial;
      } catch (err) {
        const f = kubeFailure(err);
        if (first && (f.status === 401 || f.status === 403 || f.status === 404)) {
          failReady(kubeError(err, 'list', o.path));
          return;
        }
        o.logger?.warn({ path: o.path, status: f.status, reason: f.message, delayMs: delay }, 'kube list failed; trying again');
        await sleep(delay, o.signal);
        delay = Math.min(backoff.max, delay * 2);
        continue;
      }
      // Watch from the list's revision until kube says it is gone (relist) or the signal aborts.
      const watcher = new o.client.k8s.Watch(o.client.kc);
      (watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = Math.max(60_000, ((o.watchTimeoutSeconds ?? 300) + 30) * 1000);
      for (;;) {
        if (o.signal.aborted) return;
        let gone = false;
        let progressed = false;
        const ended = await new Promise<unknown>((resolve) => {
          let ctl: AbortController | undefined;
          const onStop = (): void => ctl?.abort();
          o.signal.addEventListener('abort', onStop, { once: true });
          const finish = (err: unknown): void => {
            o.signal.removeEventListener('abort', onStop);
            resolve(err);
          };
          watcher
            .watch(
              o.path,
              { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: o.watchTimeoutSeconds ?? 300, ...(o.labelSelector === undefined ? {} : { labelSelector: o.labelSelector }) },
              (type: string, obj: unknown) => {
                if (type === 'ERROR') {
                  if ((obj as KubeStatus).code === 410) gone = true;
                  ctl?.abort();
                  return;
                }
                const k = obj as KubeObject;
                const text = k.metadata?.resourceVersion;
                if (text !== undefined) rv = text;
                progressed = true;
                if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
                if (type === 'DELETED') seen.delete(keyOf(k));
                else seen.set(keyOf(k), k);
                o.onEvent(type, k);
              },
              finish,
            )
            .then(
              (c) => {
                ctl = c;
                if (o.signal.aborted) c.abort();
              },
              finish,
            );
        });
        if (o.signal.aborted) return;
        if (gone || (ended !== null && ended !== undefined && kubeFailure(ended).status === 410)) break;
        if (progressed) delay = backoff.initial;
        o.logger?.debug({ path: o.path, resourceVersion: rv, delayMs: delay }, 'kube watch resuming');
        await sleep(delay, o.signal);
        delay = Math.min(backoff.max, delay * 2);
      }
      o.logger?.info({ path: o.path }, 'kube watch expired (410): listing again');
    }
  })();
  return { ready, done };
}
