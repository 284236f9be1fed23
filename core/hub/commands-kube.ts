/**
 * The hub's command queue as Command custom resources
 * (`edgeadm.io/v1alpha1`, plural `commands`) in its Kubernetes namespace
 * (kube mode), so every hub replica delivers and completes every command:
 * a write requested through one replica goes down the sync session another
 * replica holds, and its result reaches the request waiting on the first.
 *
 * Layout: `metadata.name` is the command id (a UUID), label
 * `edgeadm.io/site`; `spec` holds what was asked (site, device, kind,
 * resource and value or resources, createdAt, expiresAt, and `sequence`,
 * this replica's strictly increasing enqueue order in microseconds since
 * the epoch); `status` (the status subresource) holds `state` and `result`.
 *
 * Rules:
 * - Reads (`get`, `list`, `pending`) go to kube: read-your-writes on every
 *   replica. Lists are by site label, ordered by (sequence, name): two
 *   replicas enqueueing in the same microsecond have no order between them
 *   and need none (they answer different requests).
 * - State changes are status updates with the resourceVersion precondition:
 *   of two replicas delivering or completing one command, one wins and the
 *   other sees the new state (delivering twice is idempotent, completing a
 *   finished command is EDGE_ERR_HUB_COMMAND_STATE, as in SQLite).
 * - Overdue pending or delivered commands read as `expired` and are written
 *   so when read (a conflict there is left to the next reader).
 * - A reflector watches the namespace's Commands: `onEnqueue` fires for
 *   commands another replica made (this replica's own fire when made), and
 *   `onFinish` for commands another replica completed; each once.
 * - Finished commands older than `retentionSeconds` are deleted by a sweep
 *   every `sweepEveryMs` on each replica (deleting twice is harmless).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../kernel/index.ts';
import { GRID_KIND_NAMES, GRID_KINDS } from '../grid/index.ts';
import { applyCrds, commandCrd, crdFromSchema, COMMAND_GROUP as GROUP, COMMAND_PLURAL as PLURAL, COMMAND_VERSION as VERSION, kubeError, kubeFailure, openKubeClient, pageRequest, reflect, SITE_LABEL, StoreErrors, type KubeClient, type KubeObject } from '../store/index.ts';
import {
  DEFAULT_COMMAND_RETENTION_SECONDS,
  DEFAULT_COMMAND_TTL_SECONDS,
  MAX_LIST,
  notifyCommand,
  type Command,
  type CommandFilter,
  type CommandListener,
  type CommandQueue,
  type CommandResult,
  type CommandState,
  type EnqueueOptions,
} from './commands.ts';
import { ErrCommandNotFound, ErrCommandState, ErrStoreClosed } from './errors.ts';


/**
 * Creates or updates the hub's own CRDs (Command) and SuperEdge's unit and
 * grid kinds (its addon controller writes NodeUnits, NodeGroups and grids),
 * and waits until kube serves them; the store installs its kinds' CRDs itself.
 */
export async function installHubCrds(kubeConfig: Parameters<typeof openKubeClient>[0]): Promise<void> {
  const client = await openKubeClient(kubeConfig);
  try {
    await applyCrds(client, [commandCrd(), ...GRID_KIND_NAMES.map((k) => crdFromSchema(GRID_KINDS[k]))]);
  } finally {
    await client.close();
  }
}

export interface KubeCommandQueueOptions {
  /** A kubeconfig file, a loaded KubeConfig, or 'in-cluster'. */
  kubeConfig: Parameters<typeof openKubeClient>[0];
  /** The hub's namespace. It must exist, and kube must serve the Command CRD. */
  namespace: string;
  logger?: Logger;
  /** Clock (ms since epoch), for tests. */
  now?: () => number;
  /** Finished commands are kept this long after they expire. Default DEFAULT_COMMAND_RETENTION_SECONDS. */
  retentionSeconds?: number;
  /** Default 600 000. */
  sweepEveryMs?: number;
}

interface CommandObject extends KubeObject {
  spec?: {
    site: string;
    device: string;
    kind: 'write' | 'read';
    resource?: string;
    value?: unknown;
    resources?: string[];
    createdAt: string;
    expiresAt: string;
    sequence: number;
  };
  status?: { state?: CommandState; result?: CommandResult };
}

function toCommand(o: CommandObject, now: number): Command {
  const spec = o.spec!;
  let state: CommandState = o.status?.state ?? 'pending';
  if ((state === 'pending' || state === 'delivered') && Date.parse(spec.expiresAt) <= now) state = 'expired';
  const common = { id: o.metadata?.name ?? '', site: spec.site, device: spec.device, createdAt: spec.createdAt, expiresAt: spec.expiresAt, state };
  const withResult = o.status?.result === undefined ? common : { ...common, result: o.status.result };
  return spec.kind === 'read' ? { ...withResult, kind: 'read', resources: spec.resources ?? [] } : { ...withResult, kind: 'write', resource: spec.resource ?? '', value: spec.value };
}

const order = (a: CommandObject, b: CommandObject): number => {
  const d = (a.spec?.sequence ?? 0) - (b.spec?.sequence ?? 0);
  if (d !== 0) return d;
  const an = a.metadata?.name ?? '';
  const bn = b.metadata?.name ?? '';
  return an < bn ? -1 : an > bn ? 1 : 0;
};

/** Opens the queue: checks kube serves Commands in the namespace and starts the reflector. */
export async function openKubeCommandQueue(opts: KubeCommandQueueOptions): Promise<CommandQueue> {
  const client = await openKubeClient(opts.kubeConfig);
  const q = new KubeCommands(client, opts);
  try {
    await q.started;
  } catch (err) {
    await q.close();
    if (kubeFailure((err as { cause?: unknown }).cause ?? err).status === 404) {
      throw new StoreErrors.ErrKubeNotServed({ resource: `${PLURAL}.${GROUP}`, namespace: opts.namespace }, { cause: err });
    }
    throw err;
  }
  return q;
}

class KubeCommands implements CommandQueue {
  readonly started: Promise<void>;
  readonly #client: KubeClient;
  readonly #ns: string;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #retentionMs: number;
  readonly #enqueueListeners = new Set<CommandListener>();
  readonly #finishListeners = new Set<CommandListener>();
  /** Commands this replica made or finished: their watch events are not news here. */
  readonly #ownMade = new Set<string>();
  readonly #ownFinished = new Set<string>();
  /** What the reflector has seen of each command: its state, to tell a finish from a later change. */
  readonly #states = new Map<string, CommandState>();
  readonly #stop = new AbortController();
  readonly #sweep: NodeJS.Timeout;
  #reflecting: Promise<void> = Promise.resolve();
  #lastSequence = 0;
  #closed = false;

  constructor(client: KubeClient, opts: KubeCommandQueueOptions) {
    this.#client = client;
    this.#ns = opts.namespace;
    this.#now = opts.now ?? Date.now;
    this.#logger = opts.logger;
    this.#retentionMs = (opts.retentionSeconds ?? DEFAULT_COMMAND_RETENTION_SECONDS) * 1000;
    const r = reflect({
      client,
      path: `/apis/${GROUP}/${VERSION}/namespaces/${this.#ns}/${PLURAL}`,
      list: async (page) => (await this.#api().listNamespacedCustomObject({ ...this.#where(), ...pageRequest(page) })) as { items: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } },
      onEvent: (type, obj) => this.#observed(type, obj),
      signal: this.#stop.signal,
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
    });
    this.started = r.ready;
    this.#reflecting = r.done;
    this.#sweep = setInterval(() => void this.sweep().catch((err: unknown) => this.#logger?.warn({ err }, 'command sweep failed')), opts.sweepEveryMs ?? 600_000);
    this.#sweep.unref();
  }

  #api(): KubeClient['custom'] {
    return this.#client.custom;
  }

  #where(): { group: string; version: string; namespace: string; plural: string } {
    return { group: GROUP, version: VERSION, namespace: this.#ns, plural: PLURAL };
  }

  #target(id?: string): string {
    return `${PLURAL}.${GROUP}${id === undefined ? '' : `/${id}`} in namespace ${this.#ns}`;
  }

  #open(): void {
    if (this.#closed) throw new ErrStoreClosed({ store: 'command' });
  }

  /** A change seen by the reflector: news from other replicas reach this one's listeners. */
  #observed(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: CommandObject): void {
    const id = obj.metadata?.name ?? '';
    if (type === 'DELETED') {
      this.#states.delete(id);
      this.#ownMade.delete(id);
      this.#ownFinished.delete(id);
      return;
    }
    if (obj.spec === undefined) return;
    const before = this.#states.get(id);
    const state = obj.status?.state ?? 'pending';
    this.#states.set(id, state);
    const command = toCommand(obj, this.#now());
    if (before === undefined && type === 'ADDED') {
      if (this.#ownMade.delete(id)) return;
      // A relist after a long cut also lists old commands: only pending ones are news to a sync session.
      if (command.state === 'pending') notifyCommand(this.#enqueueListeners, command, this.#logger);
    }
    if ((state === 'succeeded' || state === 'failed') && before !== state) {
      if (this.#ownFinished.delete(id)) return;
      if (before !== undefined) notifyCommand(this.#finishListeners, command, this.#logger);
    }
  }

  async enqueue(o: EnqueueOptions): Promise<Command> {
    this.#open();
    if (o.kind !== 'read' && o.value === undefined) throw new TypeError('command value must not be undefined');
    const id = randomUUID();
    const createdAt = this.#now();
    const expiresAt = createdAt + (o.ttlSeconds ?? DEFAULT_COMMAND_TTL_SECONDS) * 1000;
    this.#lastSequence = Math.max(this.#lastSequence + 1, createdAt * 1000);
    const spec: CommandObject['spec'] = {
      site: o.site,
      device: o.device,
      kind: o.kind === 'read' ? 'read' : 'write',
      createdAt: new Date(createdAt).toISOString(),
      expiresAt: new Date(expiresAt).toISOString(),
      sequence: this.#lastSequence,
      ...(o.kind === 'read' ? { resources: [...o.resources] } : { resource: o.resource, value: o.value }),
    };
    const body = { apiVersion: `${GROUP}/${VERSION}`, kind: 'Command', metadata: { name: id, labels: { [SITE_LABEL]: o.site } }, spec };
    this.#ownMade.add(id);
    let made: CommandObject;
    try {
      // Made without a status (kube drops one sent on create): no state reads as pending.
      made = (await this.#api().createNamespacedCustomObject({ ...this.#where(), body })) as CommandObject;
    } catch (err) {
      this.#ownMade.delete(id);
      throw kubeError(err, 'create', this.#target(id));
    }
    const command = toCommand(made, this.#now());
    notifyCommand(this.#enqueueListeners, command, this.#logger);
    return command;
  }

  async #read(id: string): Promise<CommandObject | undefined> {
    try {
      return (await this.#api().getNamespacedCustomObject({ ...this.#where(), name: id })) as CommandObject;
    } catch (err) {
      if (kubeFailure(err).status === 404) return undefined;
      throw kubeError(err, 'get', this.#target(id));
    }
  }

  /** Writes `expired` for an overdue open command read as expired; a conflict is left to the next reader. */
  #persistExpiry(obj: CommandObject, c: Command): void {
    const stored = obj.status?.state ?? 'pending';
    if (c.state !== 'expired' || stored === 'expired') return;
    this.#api()
      .replaceNamespacedCustomObjectStatus({ ...this.#where(), name: c.id, body: { ...obj, status: { state: 'expired' } } })
      .catch((err: unknown) => {
        const status = kubeFailure(err).status;
        if (status !== 409 && status !== 404) this.#logger?.debug({ command: c.id, reason: kubeFailure(err).message }, 'expiry of a command not recorded');
      });
  }

  async get(id: string): Promise<Command | undefined> {
    this.#open();
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(id) || id.length > 253) return undefined;
    const obj = await this.#read(id);
    if (obj?.spec === undefined) return undefined;
    const c = toCommand(obj, this.#now());
    this.#persistExpiry(obj, c);
    return c;
  }

  async #listObjects(site: string | undefined): Promise<CommandObject[]> {
    const out: CommandObject[] = [];
    let cont: string | undefined;
    do {
      const page = (await this.#api()
        .listNamespacedCustomObject({ ...this.#where(), ...(site === undefined ? {} : { labelSelector: `${SITE_LABEL}=${site}` }), limit: 1000, ...(cont === undefined ? {} : { _continue: cont }) })
        .catch((err: unknown) => {
          throw kubeError(err, 'list', this.#target());
        })) as { items: CommandObject[]; metadata?: { continue?: string } };
      out.push(...page.items.filter((i) => i.spec !== undefined));
      cont = page.metadata?.continue || undefined;
    } while (cont !== undefined);
    return out.sort(order);
  }

  async list(f: CommandFilter = {}): Promise<Command[]> {
    this.#open();
    if (f.site !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(f.site)) return [];
    const limit = Math.min(Math.max(1, f.limit ?? 1000), MAX_LIST);
    const now = this.#now();
    const out: Command[] = [];
    for (const obj of await this.#listObjects(f.site)) {
      const c = toCommand(obj, now);
      this.#persistExpiry(obj, c);
      if (f.device !== undefined && c.device !== f.device) continue;
      if (f.state !== undefined && c.state !== f.state) continue;
      out.push(c);
      if (out.length >= limit) break;
    }
    return out;
  }

  pending(site: string): Promise<Command[]> {
    return this.list({ site, state: 'pending', limit: MAX_LIST });
  }

  /** Moves a command on with the resourceVersion precondition; on a conflict, decides again on what is stored now. */
  async #transition(id: string, action: 'deliver' | 'complete', next: (c: Command) => { state: CommandState; result?: CommandResult } | undefined): Promise<Command> {
    for (let attempt = 0; ; attempt++) {
      const obj = await this.#read(id);
      if (obj?.spec === undefined) throw new ErrCommandNotFound({ id });
      const c = toCommand(obj, this.#now());
      this.#persistExpiry(obj, c);
      const status = next(c);
      if (status === undefined) return c;
      if (action === 'complete') this.#ownFinished.add(id);
      try {
        const written = (await this.#api().replaceNamespacedCustomObjectStatus({ ...this.#where(), name: id, body: { ...obj, status } })) as CommandObject;
        return toCommand(written, this.#now());
      } catch (err) {
        if (action === 'complete') this.#ownFinished.delete(id);
        if (kubeFailure(err).status === 409 && attempt < 20) continue;
        if (kubeFailure(err).status === 404) throw new ErrCommandNotFound({ id });
        throw kubeError(err, 'update status', this.#target(id));
      }
    }
  }

  async markDelivered(id: string): Promise<Command> {
    this.#open();
    return this.#transition(id, 'deliver', (c) => {
      if (c.state === 'delivered') return undefined;
      if (c.state !== 'pending') throw new ErrCommandState({ id, state: c.state, action: 'deliver' });
      return { state: 'delivered' };
    });
  }

  async complete(id: string, result: CommandResult): Promise<Command> {
    this.#open();
    const stored: CommandResult = {};
    if (result.reported !== undefined) stored.reported = result.reported;
    if (result.error !== undefined) stored.error = { code: result.error.code, message: result.error.message };
    const done = await this.#transition(id, 'complete', (c) => {
      if (c.state !== 'pending' && c.state !== 'delivered') throw new ErrCommandState({ id, state: c.state, action: 'complete' });
      return { state: result.error === undefined ? 'succeeded' : 'failed', result: stored };
    });
    notifyCommand(this.#finishListeners, done, this.#logger);
    return done;
  }

  onEnqueue(listener: CommandListener): () => void {
    this.#enqueueListeners.add(listener);
    return () => {
      this.#enqueueListeners.delete(listener);
    };
  }

  onFinish(listener: CommandListener): () => void {
    this.#finishListeners.add(listener);
    return () => {
      this.#finishListeners.delete(listener);
    };
  }

  /** Deletes finished commands that expired more than the retention ago; returns how many. */
  async sweep(): Promise<number> {
    this.#open();
    const before = this.#now() - this.#retentionMs;
    let n = 0;
    for (const obj of await this.#listObjects(undefined)) {
      const c = toCommand(obj, this.#now());
      if (c.state === 'pending' || c.state === 'delivered' || Date.parse(c.expiresAt) > before) continue;
      try {
        await this.#api().deleteNamespacedCustomObject({ ...this.#where(), name: c.id });
        n++;
      } catch (err) {
        if (kubeFailure(err).status !== 404) throw kubeError(err, 'delete', this.#target(c.id));
      }
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#enqueueListeners.clear();
    this.#finishListeners.clear();
    this.#stop.abort();
    await this.#reflecting.catch(() => undefined);
    await this.#client.close();
  }
}
