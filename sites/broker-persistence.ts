/**
 * Durable persistence for the site broker (aedes), backed by one SQLite file.
 *
 * Lookups are served from memory with the same structures and semantics as
 * aedes-persistence's MemoryPersistence (a qlobber trie for subscriptions by
 * topic, per-client outgoing queues, incoming QoS 2 packets, retained messages
 * and wills). Every mutation is written through to SQLite before the method
 * resolves (while the disk takes writes; see below): the writes of one
 * event-loop turn share one transaction (group commit, each method's own
 * writes atomic in a savepoint of it), so a burst of QoS 1 traffic costs one
 * commit per turn, not per message. The file is created 0600. `setup()` loads
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
 *
 * A full or failing disk (SQLITE_FULL, SQLITE_IOERR*, ENOSPC...) never throws
 * out of a method and never stops the broker. Each change is one of two kinds:
 *
 *   - hard: what someone is told is stored (a message queued for a
 *     persistent session, a retained message, an incoming QoS 2 packet, a
 *     new subscription). Its method resolves only once it is committed; when
 *     the commit fails the method rejects, and the whole batch is undone in
 *     memory (re-read from the file), so nothing that is not on disk is
 *     acknowledged or delivered from the store.
 *   - soft: a deletion or a refresh (an acknowledged message leaving a queue,
 *     a message id assigned, a will, an unsubscription). It takes effect in
 *     memory at once and never fails for want of storage: when it cannot be
 *     written it waits and goes to the file with the next successful commit.
 *     Losing it to a crash costs a duplicate or a stale row, never a message.
 *
 * A failed write is reported to `storage` (`failed('broker', err)`), and
 * `failing()` tells the broker to refuse what would need a write; while it
 * fails a tiny probe write is tried every `probeIntervalMs`, so the first
 * success (`ok('broker')`) ends it without waiting for traffic.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { ensurePrivateFile, toErrorInfo, type Logger } from '../core/kernel/index.ts';
import { ErrBrokerPersistence, ErrBrokerPersistenceNoPacket, ErrBrokerPersistenceOption, ErrBrokerPersistenceState } from './errors.ts';
import { storageErrorCode, type StorageHealth } from './storage-health.ts';

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
  /** Why writes fail now (the storage is full or failing); undefined while they succeed. */
  failing(): Error | undefined;
  /** Whether a QoS > 0 publish to `topic` is queued for a persistent session, so publishing it needs a write. */
  storesFor(topic: string): boolean;
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
  /** Told of failed writes (`failed('broker', err)`) and of the first success after them (`ok('broker')`). */
  storage?: StorageHealth;
  /** While writes fail, a probe write is tried this often (default 2 s). */
  probeIntervalMs?: number;
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
const FAILURE_LOG_EVERY_MS = 60_000;
const DEFAULT_PROBE_INTERVAL_MS = 2_000;
/** Soft changes kept while the storage fails; beyond it the oldest are given up (a duplicate after a restart at worst). */
const MAX_PENDING = 100_000;
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

/**
 * A change that may reach the file after it took effect in memory (see
 * `#soft`): a deletion, or a refresh of what is already stored.
 */
interface SoftChange {
  /** Applies the change to memory. Idempotent: it is applied again after memory is re-read from the file. */
  memory(): void;
  /** Writes the change to the file. */
  disk(s: Statements): void;
}

/** The writes of one event-loop turn: one transaction, committed on the next turn. */
interface Batch {
  done: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
  /** Set when a write failed: the batch cannot commit, and later writes of the turn are refused. */
  error?: Error;
  /** Writes whose method resolves only once they are on disk: a failed batch undoes them in memory. */
  hard: number;
  /** Soft changes written in the batch: pending again when it fails. */
  soft: SoftChange[];
  /** Opened by the storage probe and holding nothing else. */
  probe: boolean;
}

/** What the file holds, read in full (at setup, and again after a failed write). */
interface Snapshot {
  dropped: number;
  retained: [topic: string, packet: PersistedPacket][];
  subscriptions: [clientId: string, topic: string, record: Omit<PersistenceSubscription, 'topic'>][];
  outgoing: [clientId: string, entry: QueueEntry][];
  incoming: [clientId: string, messageId: number, packet: PersistedPacket][];
  wills: [clientId: string, packet: PersistedPacket][];
}

class SqliteBrokerPersistence implements BrokerPersistence {
  readonly #file: string;
  readonly #log: Logger;
  readonly #maxQueued: number;
  readonly #sync: 'normal' | 'full';
  readonly #broadcastSubscriptions: boolean;
  readonly #storage: StorageHealth | undefined;
  readonly #probeIntervalMs: number;

  #db: Database.Database | undefined;
  /** Runs a callback inside one transaction (created once: better-sqlite3 transaction functions are reusable). */
  #tx: ((fn: (stmts: Statements) => unknown) => unknown) | undefined;
  /** The open group-commit transaction, if writes happened this turn. */
  #batch: Batch | undefined;
  /** Successful writes so far: tells a method whether it wrote anything. */
  #writes = 0;
  #destroyed = false;
  #broker: PersistenceBroker | undefined;
  #broadcast: BroadcastInstance | undefined;

  readonly #retained = new Map<string, PersistedPacket>();
  readonly #subscriptions = new Map<string, Map<string, Omit<PersistenceSubscription, 'topic'>>>();
  readonly #outgoing = new Map<string, QueueEntry[]>();
  readonly #incoming = new Map<string, Map<number, PersistedPacket>>();
  readonly #wills = new Map<string, PersistedPacket>();
  /** Clients whose stored will was left by a previous process (re-attributed to `<id>@previous`). */
  readonly #orphanWills = new Set<string>();
  readonly #trie = new QlobberSub(QLOBBER_OPTIONS);
  #queued = 0;
  #dropped = 0;
  /** Per client: when a drop was last logged, and drops since then. */
  readonly #dropLog = new Map<string, { at: number; unlogged: number }>();

  /** Soft changes not on disk yet (the storage failed when they were written), oldest first. */
  #pending: SoftChange[] = [];
  /** The storage failure that refuses writes now; undefined while writes succeed. */
  #failing: Error | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  /** Failed writes and dropped pending changes not logged yet (logged at most once a minute). */
  #unlogged = { failures: 0, pendingDropped: 0, at: -Infinity };

  constructor(opts: BrokerPersistenceOptions) {
    this.#file = opts.file;
    this.#log = opts.logger.child({ component: 'broker-persistence', file: opts.file });
    this.#maxQueued = opts.maxQueuedPerClient ?? DEFAULT_MAX_QUEUED;
    this.#sync = opts.sync ?? 'normal';
    this.#broadcastSubscriptions = opts.broadcastSubscriptions ?? false;
    this.#storage = opts.storage;
    this.#probeIntervalMs = opts.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
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
      // Only the agent's user may read it (its -wal and -shm files take its mode).
      ensurePrivateFile(file);
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
      const snapshot = this.#read(db);
      for (const [clientId, will] of snapshot.wills) {
        // The connection that left this will belonged to a previous process.
        if (will.brokerId === broker.id) {
          will.brokerId = `${broker.id}${PREVIOUS_SUFFIX}`;
          this.#orphanWills.add(clientId);
        }
      }
      this.#apply(snapshot);
      this.#tx = db.transaction((fn: (s: Statements) => unknown) => fn(stmts));
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

  /** Reads the whole file; throws when a row cannot be decoded. Touches no memory. */
  #read(db: Database.Database): Snapshot {
    const droppedRow = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'dropped'").get();
    const dropped = droppedRow ? Number(droppedRow.value) : 0;
    if (!Number.isSafeInteger(dropped) || dropped < 0) throw new Error(`meta 'dropped' is not a count: ${droppedRow?.value}`);
    const snapshot: Snapshot = { dropped, retained: [], subscriptions: [], outgoing: [], incoming: [], wills: [] };
    for (const row of db.prepare<[], PacketRow & { topic: string }>('SELECT topic, packet, kind, payload FROM retained ORDER BY id').all()) {
      snapshot.retained.push([row.topic, decodePacket(row)]);
    }
    for (const row of db.prepare<[], { client_id: string; topic: string; record: string }>('SELECT client_id, topic, record FROM subscriptions ORDER BY id').all()) {
      const record = decodeValue(JSON.parse(row.record)) as Omit<PersistenceSubscription, 'topic'>;
      if (typeof record !== 'object' || record === null || typeof record.qos !== 'number') throw new Error(`subscription '${row.topic}' of client '${row.client_id}' has no qos`);
      snapshot.subscriptions.push([row.client_id, row.topic, record]);
    }
    for (const row of db.prepare<[], PacketRow & { id: number; client_id: string }>('SELECT id, client_id, packet, kind, payload FROM outgoing ORDER BY id').all()) {
      snapshot.outgoing.push([row.client_id, { rowId: row.id, packet: decodePacket(row) }]);
    }
    for (const row of db.prepare<[], PacketRow & { client_id: string; message_id: number }>('SELECT client_id, message_id, packet, kind, payload FROM incoming').all()) {
      snapshot.incoming.push([row.client_id, row.message_id, decodePacket(row)]);
    }
    for (const row of db.prepare<[], PacketRow & { client_id: string }>('SELECT client_id, packet, kind, payload FROM wills ORDER BY id').all()) {
      snapshot.wills.push([row.client_id, decodePacket(row)]);
    }
    return snapshot;
  }

  /** Replaces memory with `s`. */
  #apply(s: Snapshot): void {
    this.#clearMemory();
    this.#dropped = s.dropped;
    for (const [topic, packet] of s.retained) this.#retained.set(topic, packet);
    for (const [clientId, topic, record] of s.subscriptions) this.#memAddSubscription(clientId, topic, record);
    for (const [clientId, entry] of s.outgoing) {
      this.#queueOf(clientId).push(entry);
      this.#queued++;
    }
    for (const [clientId, messageId, packet] of s.incoming) this.#incomingOf(clientId).set(messageId, packet);
    const brokerId = this.#broker?.id;
    for (const [clientId, will] of s.wills) {
      if (brokerId !== undefined && will.brokerId === brokerId && this.#orphanWills.has(clientId)) will.brokerId = `${brokerId}${PREVIOUS_SUFFIX}`;
      this.#wills.set(clientId, will);
    }
  }

  #clearMemory(): void {
    for (const [clientId, stored] of this.#subscriptions) {
      for (const [topic, record] of stored) if (record.qos > 0) this.#trie.remove(topic, { clientId, topic });
    }
    this.#retained.clear();
    this.#subscriptions.clear();
    this.#outgoing.clear();
    this.#incoming.clear();
    this.#wills.clear();
    this.#queued = 0;
  }

  /** Throws unless the file is open. */
  #ready(): void {
    if (!this.#db || !this.#tx) throw new ErrBrokerPersistenceState({ file: this.#file, state: this.#destroyed ? 'destroyed' : 'not set up' });
  }

  /**
   * Runs `fn` (which writes through the statements) atomically; the database
   * must be open. Writes of one event-loop turn share one transaction (group
   * commit): each `fn` runs in its own savepoint of it, and the transaction
   * commits on the next turn. A hard write's method resolves only after that
   * commit (`#durable`), so "resolved" still means "on disk". A write that
   * fails for lack of storage (or one after which SQLite has rolled back the
   * transaction) fails the whole batch: it cannot commit any more.
   */
  #write<T>(fn: (stmts: Statements) => T, change: 'hard' | 'probe' | SoftChange): T {
    this.#ready();
    const db = this.#db!;
    const batch = this.#batch ?? this.#openBatch(change === 'probe');
    if (batch.error) throw batch.error;
    if (change !== 'probe') batch.probe = false;
    try {
      const out = this.#tx!(fn) as T;
      this.#writes++;
      if (change === 'hard') batch.hard++;
      else if (change !== 'probe') batch.soft.push(change);
      return out;
    } catch (err) {
      if (storageErrorCode(err) !== undefined || !db.inTransaction) {
        batch.error = new ErrBrokerPersistence({ file: this.#file, reason: `a write failed (${describe(err)}); nothing written since the last commit is kept` }, { cause: err });
        throw batch.error;
      }
      throw err;
    }
  }

  /** Begins the turn's transaction, with the soft changes still pending first. */
  #openBatch(probe: boolean): Batch {
    const db = this.#db!;
    try {
      db.exec('BEGIN');
    } catch (err) {
      throw new ErrBrokerPersistence({ file: this.#file, reason: `cannot begin a write (${describe(err)})` }, { cause: err });
    }
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => undefined);
    const batch: Batch = { done, resolve, reject, hard: 0, soft: [], probe };
    this.#batch = batch;
    setImmediate(() => this.#commit());
    const pending = this.#pending.splice(0);
    if (pending.length > 0) {
      try {
        this.#tx!((s) => {
          for (const c of pending) c.disk(s);
        });
        batch.soft.push(...pending);
      } catch (err) {
        if (storageErrorCode(err) !== undefined || !db.inTransaction) {
          batch.soft.push(...pending);
          batch.error = new ErrBrokerPersistence({ file: this.#file, reason: `a write failed (${describe(err)}); nothing written since the last commit is kept` }, { cause: err });
        } else {
          // Not the storage: these changes can never be written; keeping them would fail every batch.
          this.#log.error({ changes: pending.length, error: toErrorInfo(err) }, 'broker persistence dropped changes it cannot write');
        }
      }
    }
    return batch;
  }

  #commit(): void {
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = undefined;
    const db = this.#db;
    let error = batch.error;
    if (!error && db) {
      try {
        db.exec('COMMIT');
      } catch (err) {
        error = new ErrBrokerPersistence({ file: this.#file, reason: `a commit failed (${describe(err)}); nothing written since the last commit is kept` }, { cause: err });
      }
    }
    if (!error) {
      this.#recovered();
      batch.resolve();
      return;
    }
    try {
      if (db?.inTransaction) db.exec('ROLLBACK');
    } catch {
      // The rollback's own failure adds nothing to the commit's.
    }
    // Soft changes wait for the next successful commit, in their order.
    this.#pending = [...batch.soft, ...this.#pending];
    this.#boundPending();
    if (batch.hard > 0) this.#reload();
    this.#failed(error, batch.probe);
    batch.reject(error);
  }

  /** Memory again as the file has it (the failed batch undone), plus the soft changes still pending. */
  #reload(): void {
    const db = this.#db;
    if (!db) return;
    try {
      this.#apply(this.#read(db));
      for (const c of this.#pending) c.memory();
    } catch (err) {
      this.#log.error({ error: toErrorInfo(err) }, 'broker state could not be re-read after a failed write; memory may hold what the file does not');
    }
  }

  #failed(error: Error, probe: boolean): void {
    const code = storageErrorCode(error);
    if (code === undefined) {
      this.#log.error({ error: toErrorInfo(error) }, 'broker persistence commit failed');
      return;
    }
    if (!probe) this.#storage?.failed('broker', error);
    if (this.#failing === undefined) {
      this.#failing = error;
      this.#log.error({ code, error: toErrorInfo(error) }, 'broker storage failing: publishes that need it are refused until a write succeeds');
      this.#unlogged = { failures: 0, pendingDropped: 0, at: Date.now() };
      if (!this.#destroyed) {
        this.#probeTimer = setInterval(() => this.#probe(), this.#probeIntervalMs);
        this.#probeTimer.unref();
      }
      return;
    }
    this.#failing = error;
    if (probe) return;
    this.#unlogged.failures++;
    this.#logStillFailing(code);
  }

  #logStillFailing(code: string): void {
    const now = Date.now();
    if (now - this.#unlogged.at < FAILURE_LOG_EVERY_MS) return;
    const { failures, pendingDropped } = this.#unlogged;
    this.#unlogged = { failures: 0, pendingDropped: 0, at: now };
    this.#log.warn({ code, failures, pending: this.#pending.length, pendingDropped }, 'broker storage still failing');
  }

  /** A commit succeeded: the storage works (again). */
  #recovered(): void {
    if (this.#failing === undefined) return;
    this.#failing = undefined;
    clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
    this.#storage?.ok('broker');
    this.#log.info({}, 'broker storage writes again');
  }

  /** While the storage fails: a tiny write (with the pending changes) tells when it works again. */
  #probe(): void {
    if (this.#failing === undefined || !this.#db || this.#batch) return;
    try {
      this.#write((s) => s.setMeta.run('probe', new Date().toISOString()), 'probe');
    } catch {
      // The batch has failed already; its commit reports it.
    }
  }

  #boundPending(): void {
    const over = this.#pending.length - MAX_PENDING;
    if (over <= 0) return;
    // The oldest go: a lost deletion or refresh costs a duplicate or a stale row after a restart, never a message.
    this.#pending.splice(0, over);
    this.#unlogged.pendingDropped += over;
  }

  /** Runs `fn` now (a hard write) and resolves with its result once what it wrote is committed. */
  #durable<T>(fn: () => T): Promise<T> {
    const before = this.#writes;
    try {
      const value = fn();
      const batch = this.#batch;
      if (!batch) return Promise.resolve(value);
      // Nothing written: the result does not depend on the commit, only its order does.
      if (this.#writes === before) return batch.done.then(() => value, () => value);
      return batch.done.then(() => value);
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  /**
   * A soft change: a deletion, or a refresh of what is stored. It takes effect
   * in memory at once and is written with the turn's batch; when that fails
   * (or while the storage is failing) it waits in `#pending` and is written
   * with the next successful commit. It never fails for lack of storage:
   * losing it to a crash costs a duplicate delivery or a stale row after a
   * restart, never a message.
   */
  #soft(change: SoftChange): Promise<void> {
    try {
      this.#ready();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    change.memory();
    if (this.#failing !== undefined) {
      this.#pending.push(change);
      this.#boundPending();
      return this.#settled();
    }
    try {
      this.#write((st) => change.disk(st), change);
    } catch (err) {
      if (!this.#batch?.error) return Promise.reject(asError(err));
      this.#pending.push(change);
      this.#boundPending();
    }
    return this.#settled();
  }

  /** Resolves once the open batch, if any, has committed or failed. */
  #settled(): Promise<void> {
    const batch = this.#batch;
    return batch ? batch.done.then(noop, noop) : Promise.resolve();
  }

  /** Evaluates `fn` once the open batch has settled, so that it sees only what was committed. */
  #afterBatch<T>(fn: () => T): Promise<T> {
    const batch = this.#batch;
    if (batch) return batch.done.then(fn, fn);
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  // --- retained ------------------------------------------------------------

  storeRetained(pkt: PersistedPacket): Promise<void> {
    const packet = { ...pkt };
    const topic = packet.topic ?? '';
    if (payloadLength(packet.payload) === 0) {
      if (!this.#retained.has(topic)) return this.#whenReady();
      return this.#soft({ memory: () => void this.#retained.delete(topic), disk: (s) => s.delRetained.run(topic) });
    }
    return this.#durable(() => {
      const enc = encodePacket(packet);
      this.#write((s) => s.putRetained.run(topic, enc.json, enc.kind, enc.payload), 'hard');
      this.#retained.set(topic, packet);
    });
  }

  /** Resolves (after the open batch, keeping the order) when the file is open; rejects when not. */
  #whenReady(): Promise<void> {
    try {
      this.#ready();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return this.#settled();
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

  #memRemoveSubscriptions(clientId: string, topics: Iterable<string>): void {
    const stored = this.#subscriptions.get(clientId);
    if (!stored) return;
    for (const topic of topics) {
      const sub = stored.get(topic);
      if (sub === undefined) continue;
      if (sub.qos > 0) this.#trie.remove(topic, { clientId, topic });
      stored.delete(topic);
    }
    if (stored.size === 0) this.#subscriptions.delete(clientId);
  }

  async addSubscriptions(client: PersistenceClient, subs: PersistenceSubscription[]): Promise<void> {
    // Later entries for one topic replace earlier ones, as in memory.
    const records = new Map(subs.map((sub) => [sub.topic, subscriptionRecord(sub)]));
    const stored = this.#subscriptions.get(client.id);
    // A session resumed with the subscriptions it has (every reconnect of a persistent client) writes nothing.
    const changed = [...records].filter(([topic, record]) => {
      const current = stored?.get(topic);
      return current === undefined || JSON.stringify(encodeValue(current)) !== JSON.stringify(encodeValue(record));
    });
    if (changed.length > 0) {
      this.#write((s) => {
        for (const [topic, record] of changed) s.putSub.run(client.id, topic, JSON.stringify(encodeValue(record)));
      }, 'hard');
      for (const [topic, record] of changed) this.#memAddSubscription(client.id, topic, record);
      await this.#batch?.done;
    } else {
      await this.#whenReady();
    }
    if (this.#broadcast) await this.#broadcast.addedSubscriptions(client, subs);
  }

  async removeSubscriptions(client: PersistenceClient, topics: string[]): Promise<void> {
    const stored = this.#subscriptions.get(client.id);
    const present = stored ? topics.filter((t) => stored.has(t)) : [];
    if (present.length > 0) {
      await this.#soft({
        memory: () => this.#memRemoveSubscriptions(client.id, present),
        disk: (s) => {
          for (const topic of present) s.delSub.run(client.id, topic);
        },
      });
    } else {
      await this.#whenReady();
    }
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
    // Answered now and never rejected: aedes cannot recover from a failed lookup here (it emits 'error' and
    // drops the publish). The enqueue that follows joins this turn's batch, so a subscription that batch
    // loses loses the enqueue with it.
    return Promise.resolve(this.#trie.match(pattern));
  }

  storesFor(topic: string): boolean {
    return this.#trie.match(topic).length > 0;
  }

  cleanSubscriptions(client: PersistenceClient): Promise<void> {
    const stored = this.#subscriptions.get(client.id);
    if (!stored) return this.#whenReady();
    const topics = [...stored.keys()];
    return this.#soft({ memory: () => this.#memRemoveSubscriptions(client.id, topics), disk: (s) => s.delSubs.run(client.id) });
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

  #entry(clientId: string, rowId: number): QueueEntry | undefined {
    return this.#outgoing.get(clientId)?.find((e) => e.rowId === rowId);
  }

  #enqueue(clientIds: readonly string[], packet: PersistedPacket): void {
    if (clientIds.length === 0) return;
    const enc = encodePacket(new Packet(packet));
    // Queues are changed on copies and swapped in once the savepoint has succeeded.
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
    }, 'hard');
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
    const clientId = client.id;
    for (const entry of this.#outgoing.get(clientId) ?? []) {
      const temp = entry.packet;
      const rowId = entry.rowId;
      if (temp.brokerId === packet.brokerId) {
        if (temp.brokerCounter === packet.brokerCounter) {
          const messageId = packet.messageId;
          const json = encodeRest({ ...temp, messageId });
          return this.#soft({
            memory: () => {
              const e = this.#entry(clientId, rowId);
              if (e) e.packet.messageId = messageId;
            },
            disk: (s) => s.setOutPacket.run(json, rowId),
          });
        }
        // messageIds wrap at 65535: a different brokerCounter with the same
        // messageId is another message; keep searching.
      } else if (temp.messageId === packet.messageId) {
        const enc = encodePacket(packet);
        return this.#soft({
          memory: () => {
            const e = this.#entry(clientId, rowId);
            if (e) e.packet = packet;
          },
          disk: (s) => s.replaceOut.run(enc.json, enc.kind, enc.payload, rowId),
        });
      }
    }
    return Promise.reject(new ErrBrokerPersistenceNoPacket({ clientId, messageId: packet.messageId }));
  }

  outgoingClearMessageId(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket | undefined> {
    const clientId = client.id;
    const messageId = (packet as PersistedPacket | undefined)?.messageId;
    const entry = this.#outgoing.get(clientId)?.find((e) => e.packet.messageId === messageId);
    if (!entry) return this.#whenReady().then(() => undefined);
    const { rowId } = entry;
    return this.#soft({
      memory: () => {
        const queue = this.#outgoing.get(clientId);
        const i = queue ? queue.findIndex((e) => e.rowId === rowId) : -1;
        if (!queue || i < 0) return;
        queue.splice(i, 1);
        this.#queued--;
        if (queue.length === 0) this.#outgoing.delete(clientId);
      },
      disk: (s) => s.delOut.run(rowId),
    }).then(() => entry.packet);
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

  #memDelIncoming(clientId: string, messageId?: number): void {
    const m = this.#incoming.get(clientId);
    if (!m) return;
    if (messageId === undefined) m.clear();
    else m.delete(messageId);
    if (m.size === 0) this.#incoming.delete(clientId);
  }

  incomingStorePacket(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    return this.#durable(() => {
      const stored = new Packet(packet);
      stored.messageId = packet.messageId;
      const messageId = packet.messageId ?? 0;
      const enc = encodePacket(stored);
      this.#write((s) => s.putIn.run(client.id, messageId, enc.json, enc.kind, enc.payload), 'hard');
      this.#incomingOf(client.id).set(messageId, stored);
    });
  }

  incomingGetPacket(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket> {
    return this.#afterBatch(() => {
      const stored = this.#incoming.get(client.id)?.get(packet.messageId ?? 0);
      if (!stored) throw new ErrBrokerPersistenceNoPacket({ clientId: client.id, messageId: packet.messageId });
      return stored;
    });
  }

  incomingDelPacket(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    const clientId = client.id;
    const messageId = packet.messageId ?? 0;
    if (!this.#incoming.get(clientId)?.has(messageId)) return Promise.reject(new ErrBrokerPersistenceNoPacket({ clientId, messageId: packet.messageId }));
    return this.#soft({ memory: () => this.#memDelIncoming(clientId, messageId), disk: (s) => s.delIn.run(clientId, messageId) });
  }

  cleanIncoming(client: PersistenceClient): Promise<void> {
    const clientId = client.id;
    if (!this.#incoming.has(clientId)) return this.#whenReady();
    return this.#soft({ memory: () => this.#memDelIncoming(clientId), disk: (s) => s.delIns.run(clientId) });
  }

  // --- wills -----------------------------------------------------------------

  putWill(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    const brokerId = this.#broker?.id;
    if (brokerId === undefined) return Promise.reject(new ErrBrokerPersistenceState({ file: this.#file, state: 'not set up' }));
    const clientId = client.id;
    const enc = encodePacket({ ...packet, brokerId, clientId });
    // A will matters only after a crash; a client is not refused for want of storing one.
    return this.#soft({
      memory: () => {
        packet.brokerId = brokerId;
        packet.clientId = clientId;
        this.#orphanWills.delete(clientId);
        this.#wills.set(clientId, packet);
      },
      disk: (s) => s.putWill.run(clientId, enc.json, enc.kind, enc.payload),
    });
  }

  getWill(client: PersistenceClient): Promise<PersistedPacket | undefined> {
    return Promise.resolve(this.#wills.get(client.id));
  }

  delWill(client: PersistenceClient): Promise<PersistedPacket | undefined> {
    const clientId = client.id;
    const will = this.#wills.get(clientId);
    if (will === undefined) return this.#whenReady().then(() => undefined);
    return this.#soft({
      memory: () => {
        this.#orphanWills.delete(clientId);
        this.#wills.delete(clientId);
      },
      disk: (s) => s.delWill.run(clientId),
    }).then(() => will);
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

  failing(): Error | undefined {
    return this.#failing;
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
    const broadcast = this.#broadcast;
    this.#broadcast = undefined;
    try {
      if (broadcast) await broadcast.brokerUnsubscribe();
    } finally {
      this.#commit();
      clearInterval(this.#probeTimer);
      this.#probeTimer = undefined;
      if (this.#pending.length > 0) this.#log.warn({ changes: this.#pending.length }, 'broker persistence closed with changes the storage did not take');
      this.#pending = [];
      const db = this.#db;
      this.#db = undefined;
      this.#tx = undefined;
      db?.close();
      this.#clearMemory();
      this.#dropLog.clear();
    }
  }
}

function noop(): void {}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}


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
  const probe = opts.probeIntervalMs;
  if (probe !== undefined && (!Number.isSafeInteger(probe) || probe < 1)) {
    throw new ErrBrokerPersistenceOption({ option: 'probeIntervalMs', reason: `must be a positive integer, got ${String(probe)}` });
  }
  return new SqliteBrokerPersistence(opts);
}
