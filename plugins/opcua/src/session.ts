/**
 * Shared OPC UA connections of the opcua plugin.
 *
 * `EndpointPool` keeps one OPCUAClient and one session per (endpoint URL,
 * security, user), reference-counted across the devices that use it, and one
 * subscription per publishing interval on that session.
 *
 * Recovery is node-opcua's: after a drop the client opens a new secure
 * channel (backing off without limit), reactivates the session and asks for
 * the notifications it missed (Republish). When the session is gone on the
 * server (the server restarted), node-opcua creates a new session on the same
 * ClientSession object and re-creates the subscriptions and their monitored
 * items, so the caller's ClientSubscription and ClientMonitoredItem objects
 * deliver again by themselves. This module makes that observable: `lost` when
 * the connection drops, `reconnecting` for each failed attempt (with a coded
 * error), `gap` when values may have been lost (session or subscription
 * re-created: the server's queued notifications are gone), then `restored`.
 * A `gap` always comes before the first value delivered after it.
 */
import {
  OPCUAClient,
  type ClientSession,
  type ClientSubscription,
  type OPCUAClientOptions,
} from 'node-opcua-client';
import { toErrorInfo, type ErrorInfo, type Logger } from '../../../core/sdk/index.ts';
import { ErrOpcuaAuth, ErrOpcuaConnect, ErrOpcuaSecurity, failureCause } from './errors.ts';
import { certificateInfo, userIdentity, type CertInfo, type ClientPki, type OpcuaSecurity, type OpcuaUser } from './security.ts';

// ---------------------------------------------------------------- options and events

export interface EndpointOptions {
  /** `opc.tcp://host:port/path`. */
  endpoint: string;
  security: OpcuaSecurity;
  /** Anonymous when absent. */
  user?: OpcuaUser;
  /** Timeout of each request (ms; node-opcua's default when absent). */
  requestTimeout?: number;
  /** Session timeout asked of the server (ms, default 60000). */
  sessionTimeout?: number;
  /** The Device protocol block's name, for field names in errors (default `opcua`). */
  protocolName?: string;
}

/** The key under which devices share an endpoint: same URL, security and user. */
export function endpointKey(o: EndpointOptions): string {
  return JSON.stringify([o.endpoint, o.security.mode, o.security.policy, o.user?.username ?? '', o.user?.passwordFile ?? '']);
}

export type GapReason = 'session-recreated' | 'subscription-recreated';

export interface EndpointEvents {
  /** The connection dropped; reconnection runs in the background. */
  lost: { kind: 'lost'; since: Date; reason: string };
  /** One reconnection step failed; the next follows after a back-off. */
  reconnecting: { kind: 'reconnecting'; since: Date; attempt: number; error: ErrorInfo };
  /**
   * Values may have been lost between `since` and now: the server no longer
   * had the session or subscription, so its queued notifications are gone.
   * `subscriptions` are the affected ones (all of the endpoint's for a new session).
   */
  gap: { kind: 'gap'; since: Date; reason: GapReason; subscriptions: ClientSubscription[] };
  /** The session works again; `sessionRecreated` when it is a new server session. */
  restored: { kind: 'restored'; since: Date; at: Date; sessionRecreated: boolean };
}
export type EndpointEventName = keyof EndpointEvents;

export interface EndpointHandle {
  readonly key: string;
  readonly endpoint: string;
  /** The endpoint's session; the same object for the handle's whole life (node-opcua repairs it in place). */
  readonly session: ClientSession;
  /** False from a drop until the session is restored. */
  readonly connected: boolean;
  /** The endpoint's subscription with this publishing interval, created on first use and shared. */
  subscribe(params: { publishingInterval: number }): Promise<ClientSubscription>;
  /** Returns a function that removes the listener. */
  on<E extends EndpointEventName>(event: E, listener: (e: EndpointEvents[E]) => void): () => void;
  /** Gives the handle back; the last release closes subscriptions, session and client. Idempotent. */
  release(): Promise<void>;
}

// ---------------------------------------------------------------- error classification

interface ErrorContext {
  endpoint: string;
  protocolName: string;
  pki: ClientPki;
  user?: OpcuaUser;
  serverCertificate?: Buffer;
}

const AUTH_STATUS = /Bad(UserAccessDenied|IdentityTokenRejected|IdentityTokenInvalid|UserSignatureInvalid)/;

async function describeOwnCertificate(pki: ClientPki): Promise<string> {
  try {
    const c = await pki.certificate();
    const expired = Date.parse(c.notAfter) <= Date.now() ? `; it expired on ${c.notAfter}: restart the site agent to renew it` : '';
    return `this client's certificate ${c.file} (thumbprint ${c.thumbprint}, application URI ${c.applicationUri ?? 'none'})${expired}`;
  } catch {
    return `this client's certificate ${pki.certificateFile}`;
  }
}

/** Turns a node-opcua connect/session failure into one of the coded errors. */
async function classify(err: unknown, ctx: ErrorContext): Promise<Error> {
  const message = err instanceof Error ? err.message : String(err);
  const first = message.split('\n')[0]!.trim();
  const status = /Bad[A-Za-z]+/.exec(message)?.[0];
  if (/certificate verification failed/i.test(message) && ctx.serverCertificate) {
    const server = certInfoOf(ctx.serverCertificate);
    const thumbprint = server?.thumbprint ?? 'unknown';
    if (status === 'BadCertificateUntrusted') {
      const command = ctx.pki.trustCommand(thumbprint);
      return new ErrOpcuaSecurity(
        {
          endpoint: ctx.endpoint,
          thumbprint,
          command,
          reason: `its certificate (thumbprint ${thumbprint}${server ? `, subject ${server.subject}, application URI ${server.applicationUri ?? 'none'}` : ''}) is not trusted; it was put in ${ctx.pki.pkiDir}/rejected. If this is the right server, trust it with: ${command}`,
        },
        { cause: err },
      );
    }
    return new ErrOpcuaSecurity(
      { endpoint: ctx.endpoint, thumbprint, reason: `its certificate (thumbprint ${thumbprint}) is refused: ${status ?? first}${server ? ` (valid ${server.notBefore} to ${server.notAfter})` : ''}` },
      { cause: err },
    );
  }
  if (status && AUTH_STATUS.test(status)) {
    return new ErrOpcuaAuth({ endpoint: ctx.endpoint, user: userName(ctx.user), reason: `${status}: wrong user name or password, or a user it does not accept` }, { cause: err });
  }
  const noPolicy = /Cannot find (\w+) user token policy/i.exec(message);
  if (noPolicy) {
    const kind = noPolicy[1]!.toUpperCase();
    const reason =
      kind === 'ANONYMOUS'
        ? `the server accepts no anonymous session on this endpoint; set protocols.${ctx.protocolName}.username and passwordFile`
        : `the server accepts no ${kind.toLowerCase()} identity on this endpoint`;
    return new ErrOpcuaAuth({ endpoint: ctx.endpoint, user: userName(ctx.user), reason }, { cause: err });
  }
  if (status === 'BadCertificateUriInvalid' || (/rejected by server/i.test(message) && (status === 'BadSecurityChecksFailed' || (status?.startsWith('BadCertificate') ?? false)))) {
    const what = status === 'BadCertificateUriInvalid' ? 'the application URI of the client certificate does not match' : status;
    return new ErrOpcuaSecurity(
      {
        endpoint: ctx.endpoint,
        reason: `the server refused this client (${what}): it must trust ${await describeOwnCertificate(ctx.pki)}; put that file in the server's trusted certificates`,
      },
      { cause: err },
    );
  }
  if (status === 'BadSecurityPolicyRejected' || status === 'BadSecurityModeRejected' || /endpoint.*(not found|cannot find)|no endpoint/i.test(first)) {
    return new ErrOpcuaSecurity({ endpoint: ctx.endpoint, reason: `the server offers no endpoint with this security (${status ?? first})` }, { cause: err });
  }
  return new ErrOpcuaConnect({ endpoint: ctx.endpoint, reason: connectCause(message, ctx.endpoint) }, { cause: err });
}

/**
 * The cause in a node-opcua connect failure, once: the socket's own error
 * when it names one (`... Err = (connect ECONNREFUSED 127.0.0.1:4840)` gives
 * `connect ECONNREFUSED 127.0.0.1:4840`), else its first line without the
 * endpoint, which ErrOpcuaConnect's message already names.
 */
export function connectCause(message: string, endpoint: string): string {
  const inner = /Err = \((.+)\)\s*$/m.exec(message)?.[1];
  if (inner) return inner.replace(/\s+/g, ' ').trim();
  const first = message.split('\n')[0]!.split(endpoint).join('').replace(/\s+/g, ' ');
  return first.replace(/\s+([.,;:])/g, '$1').replace(/\s*(with )?(server)?\s*\.$/i, '').trim() || 'the connection failed';
}

function userName(user: OpcuaUser | undefined): string {
  return user ? `user '${user.username}'` : 'the anonymous session';
}

function certInfoOf(cert: Buffer): CertInfo | undefined {
  try {
    return certificateInfo(cert, 'server certificate');
  } catch {
    return undefined;
  }
}

function firstCertificate(c: Buffer | Buffer[] | undefined): Buffer | undefined {
  return Array.isArray(c) ? c[0] : c;
}

/**
 * The certificate the server presents, read from its endpoint list over an
 * unsecured discovery connection (GetEndpoints needs no trust); undefined
 * when that fails too.
 */
async function fetchServerCertificate(pki: ClientPki, endpoint: string, security: OpcuaSecurity): Promise<Buffer | undefined> {
  const client = OPCUAClient.create({ ...pki.clientOptions({ mode: 'None', policy: 'None' }), connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 } });
  try {
    await client.connect(endpoint);
    const endpoints = await client.getEndpoints();
    const modeName = (m: unknown): string => ({ 1: 'None', 2: 'Sign', 3: 'SignAndEncrypt' } as Record<string, string>)[String(m)] ?? '';
    const match = endpoints.find((e) => modeName(e.securityMode) === security.mode && (e.securityPolicyUri ?? '').endsWith(`#${security.policy}`)) ?? endpoints.find((e) => e.serverCertificate);
    return match?.serverCertificate ? firstCertificate(match.serverCertificate) : undefined;
  } catch {
    return undefined;
  } finally {
    await client.disconnect().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- the pool

type Listener = (e: unknown) => void;

interface SharedSubscription {
  interval: number;
  ready: Promise<ClientSubscription>;
  users: Set<number>;
}

interface Entry {
  key: string;
  options: EndpointOptions;
  logger: Logger;
  client?: OPCUAClient;
  session?: ClientSession;
  opening: Promise<void>;
  handles: Set<number>;
  listeners: Map<number, Map<EndpointEventName, Set<Listener>>>;
  subscriptions: Map<number, SharedSubscription>;
  connected: boolean;
  closing?: Promise<void>;
  outage?: { since: Date; sessionToken: string; attempt: number; reported: Set<ClientSubscription> };
}

export interface EndpointPoolOptions {
  pki: ClientPki;
  logger: Logger;
}

/** Lifetime of a subscription without publish requests, as a count of publishing intervals: at least 5 minutes. */
function lifetimeCount(interval: number, keepAlive: number): number {
  return Math.max(3 * keepAlive, Math.ceil(300_000 / Math.max(interval, 1)));
}

export class EndpointPool {
  readonly #pki: ClientPki;
  readonly #logger: Logger;
  readonly #entries = new Map<string, Entry>();
  #nextHandle = 1;
  #closed = false;

  constructor(o: EndpointPoolOptions) {
    this.#pki = o.pki;
    this.#logger = o.logger.child({ component: 'opcua-endpoints' });
  }

  /** Endpoints open now (for status and tests). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * A handle on the endpoint's shared session, connecting (client, secure
   * channel, session) on first use. `key` is `endpointKey(opts)`. Rejects with
   * EDGE_ERR_OPCUA_CONNECT, EDGE_ERR_OPCUA_SECURITY, EDGE_ERR_OPCUA_AUTH or
   * EDGE_ERR_OPCUA_PASSWORD_FILE; a failed endpoint is not kept, so the next
   * acquire tries again.
   */
  async acquire(key: string, opts: EndpointOptions, signal?: AbortSignal): Promise<EndpointHandle> {
    if (this.#closed) throw new ErrOpcuaConnect({ endpoint: opts.endpoint, reason: 'the endpoint pool is closed' });
    signal?.throwIfAborted();
    let entry = this.#entries.get(key);
    while (entry?.closing) {
      await entry.closing;
      entry = this.#entries.get(key);
    }
    if (!entry) {
      entry = this.#newEntry(key, opts);
      this.#entries.set(key, entry);
    }
    const id = this.#nextHandle++;
    entry.handles.add(id);
    entry.listeners.set(id, new Map());
    try {
      await (signal ? abortable(entry.opening, signal) : entry.opening);
    } catch (err) {
      entry.handles.delete(id);
      entry.listeners.delete(id);
      if (entry.handles.size === 0 && this.#entries.get(key) === entry && !entry.session) this.#entries.delete(key);
      throw err;
    }
    return this.#handle(entry, id);
  }

  /** Closes every endpoint, whatever its handles. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#entries.values()].map((e) => this.#shutdown(e)));
  }

  #newEntry(key: string, options: EndpointOptions): Entry {
    const entry: Entry = {
      key,
      options,
      logger: this.#logger.child({ endpoint: options.endpoint, securityMode: options.security.mode, securityPolicy: options.security.policy }),
      opening: Promise.resolve(),
      handles: new Set(),
      listeners: new Map(),
      subscriptions: new Map(),
      connected: false,
    };
    entry.opening = this.#open(entry).catch((err: unknown) => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
      throw err;
    });
    // Each acquire awaits `opening`; this keeps an unobserved failure from being reported as unhandled.
    entry.opening.catch(() => undefined);
    return entry;
  }

  async #open(entry: Entry): Promise<void> {
    const o = entry.options;
    const identity = await userIdentity(o.user, o.protocolName);
    const clientOptions: OPCUAClientOptions = {
      ...this.#pki.clientOptions(o.security),
      clientName: `edgeadm ${o.endpoint}`,
      keepSessionAlive: true,
      requestedSessionTimeout: o.sessionTimeout ?? 60_000,
      ...(o.requestTimeout !== undefined ? { defaultTransactionTimeout: o.requestTimeout } : {}),
    };
    const client = OPCUAClient.create(clientOptions);
    entry.client = client;
    const ctx = (): ErrorContext => ({ endpoint: o.endpoint, protocolName: o.protocolName ?? 'opcua', pki: this.#pki, ...(o.user ? { user: o.user } : {}), ...(client.serverCertificate ? { serverCertificate: firstCertificate(client.serverCertificate) } : {}) });
    try {
      await client.connect(o.endpoint);
    } catch (err) {
      entry.client = undefined;
      const context = ctx();
      await client.disconnect().catch(() => undefined);
      if (!context.serverCertificate && /certificate verification failed/i.test(toErrorInfo(err).message)) {
        const cert = await fetchServerCertificate(this.#pki, o.endpoint, o.security);
        if (cert) context.serverCertificate = cert;
      }
      const coded = await classify(err, context);
      entry.logger.warn({ error: toErrorInfo(coded) }, 'opcua connect failed');
      throw coded;
    }
    let session: ClientSession;
    try {
      session = await client.createSession(identity);
    } catch (err) {
      entry.client = undefined;
      const context = ctx();
      await client.disconnect().catch(() => undefined);
      const coded = await classify(err, context);
      entry.logger.warn({ error: toErrorInfo(coded) }, 'opcua session failed');
      throw coded;
    }
    entry.session = session;
    entry.connected = true;
    this.#watch(entry, client, session, ctx);
    entry.logger.info({ user: o.user?.username ?? '(anonymous)', sessionId: session.sessionId.toString() }, 'opcua session open');
  }

  #watch(entry: Entry, client: OPCUAClient, session: ClientSession, ctx: () => ErrorContext): void {
    const token = (): string => `${session.sessionId.toString()}|${session.authenticationToken?.toString() ?? ''}`;
    const beginOutage = (reason: string): void => {
      if (entry.outage || entry.closing) return;
      entry.connected = false;
      entry.outage = { since: new Date(), sessionToken: token(), attempt: 0, reported: new Set() };
      entry.logger.warn({ reason }, 'opcua connection lost');
      this.#emit(entry, 'lost', { kind: 'lost', since: entry.outage.since, reason });
    };
    const failedStep = (err: unknown): void => {
      if (!entry.outage || entry.closing) return;
      entry.outage.attempt++;
      const outage = entry.outage;
      void classify(err, ctx()).then((coded) => {
        if (entry.closing) return;
        const error = toErrorInfo(coded);
        entry.logger.warn({ attempt: outage.attempt, error }, 'opcua reconnection attempt failed');
        this.#emit(entry, 'reconnecting', { kind: 'reconnecting', since: outage.since, attempt: outage.attempt, error });
      });
    };
    client.on('connection_lost', () => beginOutage('connection lost'));
    client.on('start_reconnection', () => beginOutage('reconnecting'));
    client.on('reconnection_attempt_has_failed', (err: Error) => failedStep(err));
    session.on('session_repaired_failed', (err: Error) => failedStep(err));
    session.on('keepalive_failure', () => entry.logger.debug({}, 'opcua keep-alive failed'));
    const restored = (): void => {
      const outage = entry.outage;
      if (!outage || entry.closing) return;
      entry.outage = undefined;
      entry.connected = true;
      const recreated = token() !== outage.sessionToken;
      if (recreated) {
        const rest: ClientSubscription[] = [];
        for (const s of entry.subscriptions.values()) {
          const sub = settled.get(s);
          if (sub && !outage.reported.has(sub)) rest.push(sub);
        }
        this.#emit(entry, 'gap', { kind: 'gap', since: outage.since, reason: 'session-recreated', subscriptions: rest });
      }
      const at = new Date();
      entry.logger.info({ downtimeMs: at.getTime() - outage.since.getTime(), sessionRecreated: recreated }, 'opcua session restored');
      this.#emit(entry, 'restored', { kind: 'restored', since: outage.since, at, sessionRecreated: recreated });
    };
    // session_repaired comes first, before publishing resumes; session_restored follows.
    session.on('session_repaired', restored);
    session.on('session_restored', restored);
    session.on('session_closed', (status: unknown) => {
      if (!entry.closing) entry.logger.warn({ status: String(status) }, 'opcua session closed by the server');
    });
  }

  #handle(entry: Entry, id: number): EndpointHandle {
    let released = false;
    const session = entry.session!;
    return {
      key: entry.key,
      endpoint: entry.options.endpoint,
      session,
      get connected() {
        return entry.connected && !released;
      },
      subscribe: async ({ publishingInterval }) => {
        if (released) throw new ErrOpcuaConnect({ endpoint: entry.options.endpoint, reason: 'the endpoint handle has been released' });
        if (!Number.isFinite(publishingInterval) || publishingInterval <= 0) {
          throw new ErrOpcuaConnect({ endpoint: entry.options.endpoint, reason: `publishingInterval ${publishingInterval} is not a positive number of milliseconds` });
        }
        return this.#subscription(entry, id, publishingInterval);
      },
      on: (event, listener) => {
        const byEvent = entry.listeners.get(id);
        if (!byEvent || released) return () => undefined;
        let set = byEvent.get(event);
        if (!set) byEvent.set(event, (set = new Set()));
        const l = listener as Listener;
        set.add(l);
        return () => void set.delete(l);
      },
      release: async () => {
        if (released) return;
        released = true;
        entry.handles.delete(id);
        entry.listeners.delete(id);
        const unused: ClientSubscription[] = [];
        for (const [interval, s] of entry.subscriptions) {
          if (s.users.delete(id) && s.users.size === 0) {
            entry.subscriptions.delete(interval);
            const sub = settled.get(s);
            if (sub) unused.push(sub);
          }
        }
        if (entry.handles.size === 0) {
          await this.#shutdown(entry);
          return;
        }
        for (const sub of unused) await sub.terminate().catch((err: unknown) => entry.logger.warn({ error: toErrorInfo(err) }, 'opcua subscription terminate failed'));
      },
    };
  }

  async #subscription(entry: Entry, id: number, interval: number): Promise<ClientSubscription> {
    let shared = entry.subscriptions.get(interval);
    if (!shared) {
      const keepAlive = 10;
      const created: SharedSubscription = {
        interval,
        users: new Set(),
        ready: entry.session!.createSubscription2({
          requestedPublishingInterval: interval,
          requestedLifetimeCount: lifetimeCount(interval, keepAlive),
          requestedMaxKeepAliveCount: keepAlive,
          maxNotificationsPerPublish: 0,
          publishingEnabled: true,
          priority: 10,
        }),
      };
      shared = created;
      entry.subscriptions.set(interval, created);
      created.ready.then(
        (sub) => {
          settled.set(created, sub);
          sub.on('error', (err: Error) => entry.logger.warn({ publishingInterval: interval, error: toErrorInfo(err) }, 'opcua subscription error'));
          sub.on('internal_error', (err: Error) => entry.logger.warn({ publishingInterval: interval, error: toErrorInfo(err) }, 'opcua subscription internal error'));
          sub.on('subscriptionId_changed', () => {
            const outage = entry.outage;
            const since = outage?.since ?? new Date();
            outage?.reported.add(sub);
            entry.logger.info({ publishingInterval: interval, subscriptionId: sub.subscriptionId }, 'opcua subscription re-created');
            this.#emit(entry, 'gap', { kind: 'gap', since, reason: 'subscription-recreated', subscriptions: [sub] });
          });
        },
        () => {
          if (entry.subscriptions.get(interval) === created) entry.subscriptions.delete(interval);
        },
      );
    }
    shared.users.add(id);
    try {
      return await shared.ready;
    } catch (err) {
      shared.users.delete(id);
      throw new ErrOpcuaConnect({ endpoint: entry.options.endpoint, reason: `cannot create a subscription (publishing interval ${interval} ms): ${failureCause(err)}` }, { cause: err });
    }
  }

  #emit<E extends EndpointEventName>(entry: Entry, event: E, payload: EndpointEvents[E]): void {
    for (const byEvent of [...entry.listeners.values()]) {
      for (const l of [...(byEvent.get(event) ?? [])]) {
        try {
          l(payload);
        } catch (err) {
          entry.logger.error({ event, error: toErrorInfo(err) }, 'opcua endpoint listener failed');
        }
      }
    }
  }

  #shutdown(entry: Entry): Promise<void> {
    if (entry.closing) return entry.closing;
    entry.closing = (async () => {
      entry.connected = false;
      await entry.opening.catch(() => undefined);
      const subs = [...entry.subscriptions.values()];
      entry.subscriptions.clear();
      const session = entry.session;
      const client = entry.client;
      if (session) {
        for (const s of subs) {
          const sub = settled.get(s);
          if (sub && !entry.outage) await sub.terminate().catch(() => undefined);
        }
        // Closing a session whose server is gone would wait for the request timeout.
        if (!entry.outage) await session.close(true).catch(() => undefined);
      }
      if (client) await client.disconnect().catch((err: unknown) => entry.logger.warn({ error: toErrorInfo(err) }, 'opcua disconnect failed'));
      entry.logger.info({}, 'opcua endpoint closed');
    })().finally(() => {
      if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
    });
    return entry.closing;
  }
}

/** The subscription each shared entry settled to, for synchronous use in event handlers. */
const settled = new WeakMap<SharedSubscription, ClientSubscription>();

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
