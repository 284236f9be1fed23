/**
 * Durable persistence for the site broker (aedes), backed by one SQLite file.
 *
 * Lookups are served from memory with the same structures and semantics as
 * aedes-persistence's MemoryPersistence (a qlobber trie for subscriptions by
 * topic, per-client outgoing queues, incoming QoS 2 packets, retained messages
 * and wills). Every mutation is written through to SQLite before the method
 * resolves: the writes of one event-loop turn share one transaction (group
 * commit, each method's own writes atomic in a savepoint of it), so a burst
 * of QoS 1 traffic costs one commit per turn, not per message. `setup()` loads
 * the file back into memory before the broker uses it. A broker restarted on
 * the same file therefore resumes every persistent session: subscriptions of
 * `clean: false` clients, QoS 1/2 messages queued for offline clients, packets
 * in flight both ways, retained messages and wills.
 *
 * Durability: `sync: 'normal'` (synchronous=NORMAL in WAL) survives a process
 * crash once a method has resolved; `sync: 'full'` also survives power loss.
 *
 * Wills: a will read back from the file belongs to a connection of a previous
 * process, which is gone. aedes publishes wills whose broker is not alive
 * (`streamWill(brokers)`, checked every 4 heartbeat intervals) and deletes
 * them; a broker gets a fresh random id per start, so those wills are
 * delivered once. When a broker is started with a fixed id, restored wills are
 * re-attributed to `<id>@previous` so they are still seen as orphaned.
 *
 * Each offline client's queue is bounded (`maxQueuedPerClient`): beyond it the
 * oldest message not yet in flight is dropped, the drop is counted (also in
 * the file) and logged at most once per client per minute.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { createError, toErrorInfo, type Logger } from '../core/kernel/index.ts';

export const ErrBrokerPersistence = createError(
  'EDGE_ERR_BROKER_PERSISTENCE',
  (p: { file: string; reason: string }) => `broker persistence file '${p.file}' cannot be used: ${p.reason}`,
);

export const ErrBrokerPersistenceOption = createError(
  'EDGE_ERR_BROKER_PERSISTENCE_OPTION',
  (p: { option: string; reason: string }) => `broker persistence option '${p.option}' ${p.reason}`,
  { statusCode: 400 },
);

export const ErrBrokerPersistenceState = createError(
  'EDGE_ERR_BROKER_PERSISTENCE_STATE',
  (p: { file: string; state: 'not set up' | 'destroyed' }) => `broker persistence '${p.file}' is ${p.state}`,
  { statusCode: 503 },
);

export const ErrBrokerPersistenceNoPacket = createError(
  'EDGE_ERR_BROKER_PERSISTENCE_NO_PACKET',
  (p: { clientId: string; messageId: unknown }) => `no stored packet with messageId ${String(p.messageId)} for client '${p.clientId}'`,
  { statusCode: 404 },
);

/** An MQTT packet as aedes hands it to the persistence (aedes-packet plus mqtt-packet fields). */
export interface PersistedPacket {
  cmd?: string;
  topic?: string;
  payload?: Buffer | Uint8Array | string;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  clientId?: string;
  properties?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface PersistenceClient {
  id: string;
}

export interface PersistenceSubscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

/** What `subscriptionsByTopic` yields: a QoS > 0 subscription with its client. */
export interface TopicSubscription {
  clientId: string;
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}

/** The part of the aedes broker the persistence uses. */
export interface PersistenceBroker {
  id: string;
}

export interface BrokerPersistenceStats {
  /** Messages (and QoS 2 PUBREL markers) queued for clients with a persistent session. */
  queued: number;
  /** Messages dropped because a client's queue was full, over the life of the file. */
  dropped: number;
  /** Clients with a stored session (at least one stored subscription). */
  clients: number;
}

/**
 * The aedes 1.x async persistence contract (aedes-persistence 11's
 * MemoryPersistence interface), plus `stats()`. Pass it as
 * `Aedes.createBroker({ persistence })`.
 */
export interface BrokerPersistence {
  readonly broker: PersistenceBroker | undefined;
  setup(broker: PersistenceBroker): Promise<void>;
  storeRetained(packet: PersistedPacket): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
  addSubscriptions(client: PersistenceClient, subs: PersistenceSubscription[]): Promise<void>;
  removeSubscriptions(client: PersistenceClient, topics: string[]): Promise<void>;
  subscriptionsByClient(client: PersistenceClient): Promise<PersistenceSubscription[]>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  subscriptionsByTopic(pattern: string): Promise<TopicSubscription[]>;
  cleanSubscriptions(client: PersistenceClient): Promise<void>;
  outgoingEnqueue(sub: { clientId: string }, packet: PersistedPacket): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: PersistedPacket): Promise<void>;
  outgoingUpdate(client: PersistenceClient, packet: PersistedPacket): Promise<void>;
  outgoingClearMessageId(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket | undefined>;
  outgoingStream(client: PersistenceClient): Readable;
  incomingStorePacket(client: PersistenceClient, packet: PersistedPacket): Promise<void>;
  incomingGetPacket(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket>;
  incomingDelPacket(client: PersistenceClient, packet: PersistedPacket): Promise<void>;
  cleanIncoming(client: PersistenceClient): Promise<void>;
  putWill(client: PersistenceClient, packet: PersistedPacket): Promise<void>;
  getWill(client: PersistenceClient): Promise<PersistedPacket | undefined>;
  delWill(client: PersistenceClient): Promise<PersistedPacket | undefined>;
  streamWill(brokers?: Record<string, unknown>): Readable;
  getClientList(topic: string): Readable;
  /** Closes the database; later calls do nothing. */
  destroy(): Promise<void>;
  stats(): BrokerPersistenceStats;
}

export interface BrokerPersistenceOptions {
  /** SQLite file; created when missing. One file per broker. */
  file: string;
  logger: Logger;
  /** Bound on each client's queue; the oldest queued messages are dropped beyond it. Default 10,000. */
  maxQueuedPerClient?: number;
  /** 'normal': durable across a process crash; 'full': also across power loss. Default 'normal'. */
  sync?: 'normal' | 'full';
  /** Share subscriptions between brokers on one mqemitter (aedes clusters), as MemoryPersistence does. Default false. */
  broadcastSubscriptions?: boolean;
}

// ---------------------------------------------------------------------------
// Helpers shared with aedes-persistence: the qlobber trie and aedes-packet are
// resolved from where aedes itself resolves them, so both use the same copies.

interface QlobberSubInstance {
  subscriptionsCount: number;
  add(topic: string, value: TopicSubscription): void;
  remove(topic: string, value: { clientId: string; topic: string }): void;
  match(topic: string): TopicSubscription[];
}
interface QlobberTrueInstance {
  add(topic: string): void;
  test(topic: string): boolean;
}
interface QlobberOptions {
  wildcard_one: string;
  wildcard_some: string;
  separator: string;
}
interface BroadcastInstance {
  brokerSubscribe(): Promise<void>;
  brokerUnsubscribe(): Promise<void>;
  addedSubscriptions(client: PersistenceClient, subs: PersistenceSubscription[]): Promise<unknown>;
  removedSubscriptions(client: PersistenceClient, topics: string[]): Promise<unknown>;
}
type PacketCtor = new (original: object, broker?: object) => PersistedPacket;

const requireHere = createRequire(import.meta.url);
const requireFromPersistence = createRequire(requireHere.resolve('aedes-persistence', { paths: [path.dirname(requireHere.resolve('aedes'))] }));
const QlobberSub = requireFromPersistence('qlobber/aedes/qlobber-sub') as new (o: QlobberOptions) => QlobberSubInstance;
const { QlobberTrue } = requireFromPersistence('qlobber') as { QlobberTrue: new (o: QlobberOptions) => QlobberTrueInstance };
const Packet = requireFromPersistence('aedes-packet') as PacketCtor;
const BroadcastPersistence = requireFromPersistence('./broadcastPersistence.js') as new (broker: PersistenceBroker, trie: QlobberSubInstance) => BroadcastInstance;

const QLOBBER_OPTIONS: QlobberOptions = { wildcard_one: '+', wildcard_some: '#', separator: '/' };
const DEFAULT_MAX_QUEUED = 10_000;
const DROP_LOG_EVERY_MS = 60_000;
const SCHEMA_VERSION = 1;
const PREVIOUS_SUFFIX = '@previous';

// ---------------------------------------------------------------------------
// Lossless packet encoding: the payload goes to a BLOB column (kind 1: Buffer,
// 2: string); everything else is JSON where Buffers (e.g. MQTT 5 correlation
// data) and explicitly undefined fields (e.g. an unassigned messageId) are
// tagged so they come back as they were.

const TAG_BUFFER = '$edgeadm:buffer';
const TAG_UNDEFINED = '$edgeadm:undefined';
const PAYLOAD_BUFFER = 1;
const PAYLOAD_STRING = 2;

function encodeValue(v: unknown): unknown {
  if (v === undefined) return { [TAG_UNDEFINED]: 1 };
  if (v instanceof Uint8Array) return { [TAG_BUFFER]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (Array.isArray(v)) return v.map(encodeValue);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'function') out[k] = encodeValue(val);
    }
    return out;
  }
  return v;
}

function decodeValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      if (keys[0] === TAG_UNDEFINED) return undefined;
      if (keys[0] === TAG_BUFFER && typeof o[TAG_BUFFER] === 'string') return Buffer.from(o[TAG_BUFFER], 'base64');
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = decodeValue(o[k]);
    return out;
  }
  return v;
}

interface EncodedPacket {
  json: string;
  kind: number | null;
  payload: Buffer | null;
}

function encodePacket(packet: PersistedPacket): EncodedPacket {
  const { payload, ...rest } = packet;
  const hasPayload = Object.prototype.hasOwnProperty.call(packet, 'payload');
  if (typeof payload === 'string') return { json: JSON.stringify(encodeValue(rest)), kind: PAYLOAD_STRING, payload: Buffer.from(payload, 'utf8') };
  if (payload instanceof Uint8Array) {
    return { json: JSON.stringify(encodeValue(rest)), kind: PAYLOAD_BUFFER, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength) };
  }
  return { json: JSON.stringify(encodeValue(hasPayload ? packet : rest)), kind: null, payload: null };
}

function encodeRest(packet: PersistedPacket): string {
  const { payload, ...rest } = packet;
  const inColumn = typeof payload === 'string' || payload instanceof Uint8Array;
  return JSON.stringify(encodeValue(inColumn ? rest : packet));
}

interface PacketRow {
  packet: string;
  kind: number | null;
  payload: Buffer | null;
}

function decodePacket(row: PacketRow): PersistedPacket {
  const decoded = decodeValue(JSON.parse(row.packet));
  if (decoded === null || typeof decoded !== 'object' || Array.isArray(decoded)) throw new TypeError('stored packet is not an object');
  const packet = decoded as PersistedPacket;
  if (row.kind === PAYLOAD_BUFFER) packet.payload = row.payload ?? Buffer.alloc(0);
  else if (row.kind === PAYLOAD_STRING) packet.payload = (row.payload ?? Buffer.alloc(0)).toString('utf8');
  return packet;
}

function subscriptionRecord(sub: PersistenceSubscription): Omit<PersistenceSubscription, 'topic'> {
  const record: Omit<PersistenceSubscription, 'topic'> = { qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
  if (sub.subscriptionIdentifier !== undefined) record.subscriptionIdentifier = sub.subscriptionIdentifier;
  return record;
}

function payloadLength(p: PersistedPacket['payload']): number {
  return p === undefined ? 0 : p.length;
}

function* retainedByPattern(retained: Map<string, PersistedPacket>, pattern: string): Generator<PersistedPacket> {
  const q = new QlobberTrue(QLOBBER_OPTIONS);
  q.add(pattern);
  for (const [topic, packet] of retained) if (q.test(topic)) yield packet;
}

/**
 * Removes and returns the `n` entries to drop from a full queue: the oldest
 * messages not yet in flight first, then the oldest entries of any kind.
 */
function takeOldest(queue: QueueEntry[], n: number): QueueEntry[] {
  const taken: QueueEntry[] = [];
  for (let i = 0; i < queue.length && taken.length < n; ) {
    const e = queue[i]!;
    if (e.packet.cmd === 'publish' && e.packet.messageId === undefined) {
      taken.push(e);
      queue.splice(i, 1);
    } else i++;
  }
  while (taken.length < n && queue.length > 0) taken.push(queue.shift()!);
  return taken;
}

// ---------------------------------------------------------------------------

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS retained (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL UNIQUE, packet TEXT NOT NULL, kind INTEGER, payload BLOB);
  CREATE TABLE IF NOT EXISTS subscriptions (id INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL, topic TEXT NOT NULL, record TEXT NOT NULL, UNIQUE (client_id, topic));
  CREATE TABLE IF NOT EXISTS outgoing (id INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL, packet TEXT NOT NULL, kind INTEGER, payload BLOB);
  CREATE INDEX IF NOT EXISTS outgoing_client ON outgoing (client_id, id);
  CREATE TABLE IF NOT EXISTS incoming (client_id TEXT NOT NULL, message_id INTEGER NOT NULL, packet TEXT NOT NULL, kind INTEGER, payload BLOB, PRIMARY KEY (client_id, message_id));
  CREATE TABLE IF NOT EXISTS wills (id INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL UNIQUE, packet TEXT NOT NULL, kind INTEGER, payload BLOB);
`;

function prepare(db: Database.Database) {
  return {
    setMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    putRetained: db.prepare<[string, string, number | null, Buffer | null]>(
      'INSERT INTO retained (topic, packet, kind, payload) VALUES (?, ?, ?, ?) ON CONFLICT(topic) DO UPDATE SET packet = excluded.packet, kind = excluded.kind, payload = excluded.payload',
    ),
    delRetained: db.prepare<[string]>('DELETE FROM retained WHERE topic = ?'),
    putSub: db.prepare<[string, string, string]>(
      'INSERT INTO subscriptions (client_id, topic, record) VALUES (?, ?, ?) ON CONFLICT(client_id, topic) DO UPDATE SET record = excluded.record',
    ),
    delSub: db.prepare<[string, string]>('DELETE FROM subscriptions WHERE client_id = ? AND topic = ?'),
    delSubs: db.prepare<[string]>('DELETE FROM subscriptions WHERE client_id = ?'),
    addOut: db.prepare<[string, string, number | null, Buffer | null]>('INSERT INTO outgoing (client_id, packet, kind, payload) VALUES (?, ?, ?, ?)'),
    setOutPacket: db.prepare<[string, number]>('UPDATE outgoing SET packet = ? WHERE id = ?'),
    replaceOut: db.prepare<[string, number | null, Buffer | null, number]>('UPDATE outgoing SET packet = ?, kind = ?, payload = ? WHERE id = ?'),
    delOut: db.prepare<[number]>('DELETE FROM outgoing WHERE id = ?'),
    putIn: db.prepare<[string, number, string, number | null, Buffer | null]>(
      'INSERT INTO incoming (client_id, message_id, packet, kind, payload) VALUES (?, ?, ?, ?, ?) ON CONFLICT(client_id, message_id) DO UPDATE SET packet = excluded.packet, kind = excluded.kind, payload = excluded.payload',
    ),
    delIn: db.prepare<[string, number]>('DELETE FROM incoming WHERE client_id = ? AND message_id = ?'),
    delIns: db.prepare<[string]>('DELETE FROM incoming WHERE client_id = ?'),
    putWill: db.prepare<[string, string, number | null, Buffer | null]>(
      'INSERT INTO wills (client_id, packet, kind, payload) VALUES (?, ?, ?, ?) ON CONFLICT(client_id) DO UPDATE SET packet = excluded.packet, kind = excluded.kind, payload = excluded.payload',
    ),
    delWill: db.prepare<[string]>('DELETE FROM wills WHERE client_id = ?'),
  };
}

type Statements = ReturnType<typeof prepare>;

interface QueueEntry {
  rowId: number;
  packet: PersistedPacket;
}

class SqliteBrokerPersistence implements BrokerPersistence {
  readonly #file: string;
  readonly #log: Logger;
  readonly #maxQueued: number;
  readonly #sync: 'normal' | 'full';
  readonly #broadcastSubscriptions: boolean;

  #db: Database.Database | undefined;
  /** Runs a callback inside one transaction (created once: better-sqlite3 transaction functions are reusable). */
  #tx: ((fn: (stmts: Statements) => unknown) => unknown) | undefined;
  /** The open group-commit transaction, if writes happened this turn. */
  #batch: { done: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;
  #destroyed = false;
  #broker: PersistenceBroker | undefined;
  #broadcast: BroadcastInstance | undefined;

  readonly #retained = new Map<string, PersistedPacket>();
  readonly #subscriptions = new Map<string, Map<string, Omit<PersistenceSubscription, 'topic'>>>();
  readonly #outgoing = new Map<string, QueueEntry[]>();
  readonly #incoming = new Map<string, Map<number, PersistedPacket>>();
  readonly #wills = new Map<string, PersistedPacket>();
  readonly #trie = new QlobberSub(QLOBBER_OPTIONS);
  #queued = 0;
  #dropped = 0;
  /** Per client: when a drop was last logged, and drops since then. */
  readonly #dropLog = new Map<string, { at: number; unlogged: number }>();

  constructor(opts: BrokerPersistenceOptions) {
    this.#file = opts.file;
    this.#log = opts.logger.child({ component: 'broker-persistence', file: opts.file });
    this.#maxQueued = opts.maxQueuedPerClient ?? DEFAULT_MAX_QUEUED;
    this.#sync = opts.sync ?? 'normal';
    this.#broadcastSubscriptions = opts.broadcastSubscriptions ?? false;
  }

  get broker(): PersistenceBroker | undefined {
    return this.#broker;
  }

  async setup(broker: PersistenceBroker): Promise<void> {
    if (this.#destroyed) throw new ErrBrokerPersistenceState({ file: this.#file, state: 'destroyed' });
    this.#broker = broker;
    if (!this.#db) this.#open(broker);
    if (this.#broadcastSubscriptions) {
      this.#broadcast = new BroadcastPersistence(broker, this.#trie);
      await this.#broadcast.brokerSubscribe();
    }
  }

  #open(broker: PersistenceBroker): void {
    const file = this.#file;
    let db: Database.Database | undefined;
    let stage = 'open';
    try {
      db = new Database(file);
      stage = 'read';
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${this.#sync === 'full' ? 'FULL' : 'NORMAL'}`);
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new Error(`schema version ${version} is newer than this program's (${SCHEMA_VERSION})`);
      db.exec(SCHEMA);
      if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      stage = 'restore';
      const stmts = prepare(db);
      this.#tx = db.transaction((fn: (s: Statements) => unknown) => fn(stmts));
      this.#restore(db, broker);
    } catch (err) {
      db?.close();
      this.#tx = undefined;
      this.#clearMemory();
      const reason =
        stage === 'open'
          ? `cannot open it (${describe(err)})`
          : stage === 'read'
            ? `not a readable broker database (${describe(err)})`
            : `its stored state is unreadable (${describe(err)})`;
      const error = new ErrBrokerPersistence({ file, reason }, { cause: err });
      this.#log.error({ error: toErrorInfo(error) }, 'broker persistence unusable');
      throw error;
    }
    this.#db = db;
  }

  #restore(db: Database.Database, broker: PersistenceBroker): void {
    const dropped = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'dropped'").get();
    this.#dropped = dropped ? Number(dropped.value) : 0;
    if (!Number.isSafeInteger(this.#dropped) || this.#dropped < 0) throw new Error(`meta 'dropped' is not a count: ${dropped?.value}`);

    for (const row of db.prepare<[], PacketRow & { topic: string }>('SELECT topic, packet, kind, payload FROM retained ORDER BY id').all()) {
      this.#retained.set(row.topic, decodePacket(row));
    }
    for (const row of db.prepare<[], { client_id: string; topic: string; record: string }>('SELECT client_id, topic, record FROM subscriptions ORDER BY id').all()) {
      const record = decodeValue(JSON.parse(row.record)) as Omit<PersistenceSubscription, 'topic'>;
      if (typeof record !== 'object' || record === null || typeof record.qos !== 'number') throw new Error(`subscription '${row.topic}' of client '${row.client_id}' has no qos`);
      this.#memAddSubscription(row.client_id, row.topic, record);
    }
    for (const row of db.prepare<[], PacketRow & { id: number; client_id: string }>('SELECT id, client_id, packet, kind, payload FROM outgoing ORDER BY id').all()) {
      this.#queueOf(row.client_id).push({ rowId: row.id, packet: decodePacket(row) });
      this.#queued++;
    }
    for (const row of db.prepare<[], PacketRow & { client_id: string; message_id: number }>('SELECT client_id, message_id, packet, kind, payload FROM incoming').all()) {
      this.#incomingOf(row.client_id).set(row.message_id, decodePacket(row));
    }
    for (const row of db.prepare<[], PacketRow & { client_id: string }>('SELECT client_id, packet, kind, payload FROM wills ORDER BY id').all()) {
      const will = decodePacket(row);
      // The connection that left this will belonged to a previous process.
      if (will.brokerId === broker.id) will.brokerId = `${broker.id}${PREVIOUS_SUFFIX}`;
      this.#wills.set(row.client_id, will);
    }
    this.#log.info(
      {
        retained: this.#retained.size,
        sessions: this.#subscriptions.size,
        queued: this.#queued,
        incoming: [...this.#incoming.values()].reduce((n, m) => n + m.size, 0),
        wills: this.#wills.size,
      },
      'broker state restored',
    );
  }

  #clearMemory(): void {
    this.#retained.clear();
    this.#subscriptions.clear();
    this.#outgoing.clear();
    this.#incoming.clear();
    this.#wills.clear();
    this.#queued = 0;
  }

  /**
   * Runs `fn` (which writes through the statements) atomically; the database
   * must be open. Writes of one event-loop turn share one transaction (group
   * commit): each `fn` runs in its own savepoint of it, and the transaction
   * commits on the next turn. Methods resolve only after that commit
   * (`#durable`), so "resolved" still means "on disk".
   */
  #write<T>(fn: (stmts: Statements) => T): T {
    const tx = this.#tx;
    const db = this.#db;
    if (!tx || !db) throw new ErrBrokerPersistenceState({ file: this.#file, state: this.#destroyed ? 'destroyed' : 'not set up' });
    if (!this.#batch) {
      db.exec('BEGIN');
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      done.catch(() => undefined);
      this.#batch = { done, resolve, reject };
      setImmediate(() => this.#commit());
    }
    // Inside an open transaction better-sqlite3 runs a transaction function as a savepoint.
    return tx(fn) as T;
  }

  #commit(): void {
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = undefined;
    try {
      this.#db?.exec('COMMIT');
      batch.resolve();
    } catch (err) {
      try {
        if (this.#db?.inTransaction) this.#db.exec('ROLLBACK');
      } catch {
        // The rollback's own failure adds nothing to the commit's.
      }
      const error = new ErrBrokerPersistence({ file: this.#file, reason: `a commit failed (${describe(err)}); state since the last commit is not on disk` }, { cause: err });
      this.#log.error({ error: toErrorInfo(error) }, 'broker persistence commit failed');
      batch.reject(error);
    }
  }

  /** Runs `fn` now and resolves with its result once what it wrote is committed. */
  #durable<T>(fn: () => T): Promise<T> {
    try {
      const value = fn();
      const batch = this.#batch;
      return batch ? batch.done.then(() => value) : Promise.resolve(value);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  // --- retained ------------------------------------------------------------

  storeRetained(pkt: PersistedPacket): Promise<void> {
    return this.#durable(() => {
      const packet = { ...pkt };
      if (payloadLength(packet.payload) === 0) {
        this.#write((s) => s.delRetained.run(packet.topic ?? ''));
        this.#retained.delete(packet.topic ?? '');
      } else {
        const enc = encodePacket(packet);
        this.#write((s) => s.putRetained.run(packet.topic ?? '', enc.json, enc.kind, enc.payload));
        this.#retained.set(packet.topic ?? '', packet);
      }
    });
  }

  createRetainedStream(pattern: string): Readable {
    return Readable.from(retainedByPattern(this.#retained, pattern));
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    const retained = this.#retained;
    return Readable.from(
      (function* () {
        for (const p of patterns) yield* retainedByPattern(retained, p);
      })(),
    );
  }

  // --- subscriptions ---------------------------------------------------------

  #memAddSubscription(clientId: string, topic: string, record: Omit<PersistenceSubscription, 'topic'>): void {
    let stored = this.#subscriptions.get(clientId);
    if (!stored) {
      stored = new Map();
      this.#subscriptions.set(clientId, stored);
    }
    const previous = stored.get(topic);
    if (record.qos > 0) {
      this.#trie.add(topic, { clientId, topic, qos: record.qos, rh: record.rh, rap: record.rap, nl: record.nl });
    } else if (previous !== undefined && previous.qos > 0) {
      this.#trie.remove(topic, { clientId, topic });
    }
    stored.set(topic, record);
  }

  async addSubscriptions(client: PersistenceClient, subs: PersistenceSubscription[]): Promise<void> {
    const records = subs.map((sub) => ({ topic: sub.topic, record: subscriptionRecord(sub) }));
    // Later entries for one topic replace earlier ones, as in memory: the row keeps the last.
    this.#write((s) => {
      for (const { topic, record } of records) s.putSub.run(client.id, topic, JSON.stringify(encodeValue(record)));
    });
    for (const { topic, record } of records) this.#memAddSubscription(client.id, topic, record);
    await this.#batch?.done;
    if (this.#broadcast) await this.#broadcast.addedSubscriptions(client, subs);
  }

  async removeSubscriptions(client: PersistenceClient, topics: string[]): Promise<void> {
    const stored = this.#subscriptions.get(client.id);
    if (stored) {
      const present = topics.filter((t) => stored.has(t));
      if (present.length > 0) {
        this.#write((s) => {
          for (const topic of present) s.delSub.run(client.id, topic);
        });
      }
      for (const topic of present) {
        const sub = stored.get(topic);
        if (sub !== undefined && sub.qos > 0) this.#trie.remove(topic, { clientId: client.id, topic });
        stored.delete(topic);
      }
      if (stored.size === 0) this.#subscriptions.delete(client.id);
    }
    await this.#batch?.done;
    if (this.#broadcast) await this.#broadcast.removedSubscriptions(client, topics);
  }

  subscriptionsByClient(client: PersistenceClient): Promise<PersistenceSubscription[]> {
    const stored = this.#subscriptions.get(client.id);
    const subs: PersistenceSubscription[] = [];
    if (stored) for (const [topic, record] of stored) subs.push({ topic, ...record });
    return Promise.resolve(subs);
  }

  countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return Promise.resolve({ subsCount: this.#trie.subscriptionsCount, clientsCount: this.#subscriptions.size });
  }

  subscriptionsByTopic(pattern: string): Promise<TopicSubscription[]> {
    return this.#durable(() => this.#trie.match(pattern));
  }

  cleanSubscriptions(client: PersistenceClient): Promise<void> {
    return this.#durable(() => {
      const stored = this.#subscriptions.get(client.id);
      if (!stored) return;
      this.#write((s) => s.delSubs.run(client.id));
      for (const [topic, record] of stored) {
        if (record.qos > 0) this.#trie.remove(topic, { clientId: client.id, topic });
      }
      this.#subscriptions.delete(client.id);
    });
  }

  // --- outgoing --------------------------------------------------------------

  #queueOf(clientId: string): QueueEntry[] {
    let q = this.#outgoing.get(clientId);
    if (!q) {
      q = [];
      this.#outgoing.set(clientId, q);
    }
    return q;
  }

  #enqueue(clientIds: readonly string[], packet: PersistedPacket): void {
    if (clientIds.length === 0) return;
    const enc = encodePacket(new Packet(packet));
    // Queues are changed on copies and swapped in once the transaction has committed.
    const staged = new Map<string, QueueEntry[]>();
    const drops = new Map<string, number>();
    let droppedNow = 0;
    this.#write((s) => {
      for (const id of clientIds) {
        let queue = staged.get(id);
        if (!queue) {
          queue = this.#outgoing.get(id)?.slice() ?? [];
          staged.set(id, queue);
        }
        const rowId = Number(s.addOut.run(id, enc.json, enc.kind, enc.payload).lastInsertRowid);
        queue.push({ rowId, packet: new Packet(packet) });
        if (queue.length > this.#maxQueued) {
          const victims = takeOldest(queue, queue.length - this.#maxQueued);
          for (const v of victims) s.delOut.run(v.rowId);
          droppedNow += victims.length;
          drops.set(id, (drops.get(id) ?? 0) + victims.length);
        }
      }
      if (droppedNow > 0) s.setMeta.run('dropped', String(this.#dropped + droppedNow));
    });
    for (const [id, queue] of staged) {
      this.#queued += queue.length - (this.#outgoing.get(id)?.length ?? 0);
      this.#outgoing.set(id, queue);
    }
    this.#dropped += droppedNow;
    for (const [id, count] of drops) this.#noteDrops(id, count);
  }

  #noteDrops(clientId: string, count: number): void {
    const now = Date.now();
    const entry = this.#dropLog.get(clientId);
    if (entry && now - entry.at < DROP_LOG_EVERY_MS) {
      entry.unlogged += count;
      return;
    }
    const dropped = count + (entry?.unlogged ?? 0);
    this.#dropLog.set(clientId, { at: now, unlogged: 0 });
    for (const [id, e] of this.#dropLog) if (now - e.at >= DROP_LOG_EVERY_MS && e.unlogged === 0) this.#dropLog.delete(id);
    this.#log.warn({ clientId, dropped, maxQueuedPerClient: this.#maxQueued, droppedTotal: this.#dropped }, 'client queue full, oldest messages dropped');
  }

  outgoingEnqueue(sub: { clientId: string }, packet: PersistedPacket): Promise<void> {
    return this.#durable(() => this.#enqueue([sub.clientId], packet));
  }

  outgoingEnqueueCombi(subs: { clientId: string }[], packet: PersistedPacket): Promise<void> {
    return this.#durable(() =>
      this.#enqueue(
        subs.map((s) => s.clientId),
        packet,
      ),
    );
  }

  outgoingUpdate(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    return this.#durable(() => {
      const queue = this.#outgoing.get(client.id) ?? [];
      for (const entry of queue) {
        const temp = entry.packet;
        if (temp.brokerId === packet.brokerId) {
          if (temp.brokerCounter === packet.brokerCounter) {
            const updated = { ...temp, messageId: packet.messageId };
            this.#write((s) => s.setOutPacket.run(encodeRest(updated), entry.rowId));
            temp.messageId = packet.messageId;
            return;
          }
          // messageIds wrap at 65535: a different brokerCounter with the same
          // messageId is another message; keep searching.
        } else if (temp.messageId === packet.messageId) {
          const enc = encodePacket(packet);
          this.#write((s) => s.replaceOut.run(enc.json, enc.kind, enc.payload, entry.rowId));
          entry.packet = packet;
          return;
        }
      }
      throw new ErrBrokerPersistenceNoPacket({ clientId: client.id, messageId: packet.messageId });
    });
  }

  outgoingClearMessageId(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket | undefined> {
    return this.#durable(() => {
      const queue = this.#outgoing.get(client.id);
      if (!queue) return undefined;
      const messageId = (packet as PersistedPacket | undefined)?.messageId;
      const i = queue.findIndex((e) => e.packet.messageId === messageId);
      if (i < 0) return undefined;
      const entry = queue[i]!;
      this.#write((s) => s.delOut.run(entry.rowId));
      queue.splice(i, 1);
      this.#queued--;
      if (queue.length === 0) this.#outgoing.delete(client.id);
      return entry.packet;
    });
  }

  outgoingStream(client: PersistenceClient): Readable {
    // a snapshot: the queue changes while the stream is consumed
    return Readable.from((this.#outgoing.get(client.id) ?? []).map((e) => e.packet));
  }

  // --- incoming --------------------------------------------------------------

  #incomingOf(clientId: string): Map<number, PersistedPacket> {
    let m = this.#incoming.get(clientId);
    if (!m) {
      m = new Map();
      this.#incoming.set(clientId, m);
    }
    return m;
  }

  incomingStorePacket(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    return this.#durable(() => {
      const stored = new Packet(packet);
      stored.messageId = packet.messageId;
      const messageId = packet.messageId ?? 0;
      const enc = encodePacket(stored);
      this.#write((s) => s.putIn.run(client.id, messageId, enc.json, enc.kind, enc.payload));
      this.#incomingOf(client.id).set(messageId, stored);
    });
  }

  incomingGetPacket(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket> {
    return this.#durable(() => {
      const stored = this.#incoming.get(client.id)?.get(packet.messageId ?? 0);
      if (!stored) throw new ErrBrokerPersistenceNoPacket({ clientId: client.id, messageId: packet.messageId });
      return stored;
    });
  }

  incomingDelPacket(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    return this.#durable(() => {
      const m = this.#incoming.get(client.id);
      const messageId = packet.messageId ?? 0;
      if (!m?.has(messageId)) throw new ErrBrokerPersistenceNoPacket({ clientId: client.id, messageId: packet.messageId });
      this.#write((s) => s.delIn.run(client.id, messageId));
      m.delete(messageId);
      if (m.size === 0) this.#incoming.delete(client.id);
    });
  }

  cleanIncoming(client: PersistenceClient): Promise<void> {
    return this.#durable(() => {
      if (!this.#incoming.has(client.id)) return;
      this.#write((s) => s.delIns.run(client.id));
      this.#incoming.delete(client.id);
    });
  }

  // --- wills -----------------------------------------------------------------

  putWill(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    return this.#durable(() => {
      const brokerId = this.#broker?.id;
      if (brokerId === undefined) throw new ErrBrokerPersistenceState({ file: this.#file, state: 'not set up' });
      const enc = encodePacket({ ...packet, brokerId, clientId: client.id });
      this.#write((s) => s.putWill.run(client.id, enc.json, enc.kind, enc.payload));
      packet.brokerId = brokerId;
      packet.clientId = client.id;
      this.#wills.set(client.id, packet);
    });
  }

  getWill(client: PersistenceClient): Promise<PersistedPacket | undefined> {
    return Promise.resolve(this.#wills.get(client.id));
  }

  delWill(client: PersistenceClient): Promise<PersistedPacket | undefined> {
    return this.#durable(() => {
      const will = this.#wills.get(client.id);
      if (will === undefined) return undefined;
      this.#write((s) => s.delWill.run(client.id));
      this.#wills.delete(client.id);
      return will;
    });
  }

  streamWill(brokers: Record<string, unknown> = {}): Readable {
    const wills = [...this.#wills.values()].filter((w) => !brokers[w.brokerId ?? '']);
    return Readable.from(wills);
  }

  getClientList(topic: string): Readable {
    const ids: string[] = [];
    for (const [clientId, topics] of this.#subscriptions) if (topics.has(topic)) ids.push(clientId);
    return Readable.from(ids);
  }

  // --- lifecycle -------------------------------------------------------------

  stats(): BrokerPersistenceStats {
    return { queued: this.#queued, dropped: this.#dropped, clients: this.#subscriptions.size };
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const broadcast = this.#broadcast;
    this.#broadcast = undefined;
    try {
      if (broadcast) await broadcast.brokerUnsubscribe();
    } finally {
      this.#commit();
      const db = this.#db;
      this.#db = undefined;
      this.#tx = undefined;
      db?.close();
      this.#clearMemory();
      this.#dropLog.clear();
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs a synchronous step as a promise: a throw becomes a rejection. */

/**
 * A durable aedes persistence on the SQLite file `opts.file`. The file is
 * opened (and its state loaded) by `setup()`, which aedes calls from
 * `createBroker`; an unusable file rejects there with EDGE_ERR_BROKER_PERSISTENCE.
 */
export function openBrokerPersistence(opts: BrokerPersistenceOptions): BrokerPersistence {
  if (typeof opts.file !== 'string' || opts.file.length === 0) throw new ErrBrokerPersistenceOption({ option: 'file', reason: 'must be a non-empty path' });
  const max = opts.maxQueuedPerClient;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) {
    throw new ErrBrokerPersistenceOption({ option: 'maxQueuedPerClient', reason: `must be a positive integer, got ${String(max)}` });
  }
  if (opts.sync !== undefined && opts.sync !== 'normal' && opts.sync !== 'full') {
    throw new ErrBrokerPersistenceOption({ option: 'sync', reason: `must be 'normal' or 'full', got '${String(opts.sync)}'` });
  }
  return new SqliteBrokerPersistence(opts);
}
