/**
 * The bus scheduler: one per physical link (busKey), shared by every device on
 * it. Requests run one at a time in arrival order (FIFO across unit ids),
 * each with its own timeout.
 *
 * Circuit breaker per unit id: after `failures` consecutive timeouts or
 * malformed replies a unit is skipped (EDGE_ERR_MODBUS_CIRCUIT_OPEN, no bus
 * time spent) for `openMs`; then one probe goes out. A failed probe doubles
 * the wait up to `maxOpenMs`; a good probe closes the breaker. Exception
 * replies prove the device is alive and reset the count. Requests already
 * queued for a unit whose breaker opens fail fast when their turn comes, so a
 * dead device costs the bus `failures` timeouts per backoff period and never
 * starves the live ones.
 *
 * Link loss: a broken link is reopened with backoff (`reconnect.minMs`
 * doubling to `reconnect.maxMs`), in the background as well as on demand.
 * While it is down, requests fail fast with EDGE_ERR_MODBUS_CONNECT instead of
 * waiting. A request that meets a connect attempt in progress waits for that
 * attempt (bounded by `connectTimeoutMs`).
 *
 * Late replies: Modbus TCP replies carry transaction ids, and the client
 * drops a reply whose request timed out. The client's ids are 8-bit, so a
 * TCP link is reopened before its ids come around to a request that timed
 * out; it is also reopened after a malformed reply (the byte stream may be
 * out of frame) and after two timeouts in a row with no good reply between.
 * RTU framing has no ids: on RTU and RTU over TCP the link is reopened after
 * every timeout or malformed reply, which discards whatever the device may
 * still send for the old request (a serial port stays closed for
 * RTU_QUIET_MS first, so a late reply arrives while it is closed).
 */
import type { Logger } from '../../../core/sdk/index.ts';
import { toErrorInfo } from '../../../core/sdk/index.ts';
import {
  ErrModbusAborted,
  ErrModbusBadReply,
  ErrModbusBusClosed,
  ErrModbusCircuitOpen,
  ErrModbusConnect,
  ErrModbusException,
  ErrModbusInvalidRequest,
  ErrModbusTimeout,
  failureCause,
} from './errors.ts';
import { busKey, openLink, validateEndpoint, validateRequest, type Endpoint, type Link, type ModbusFunction } from './transport.ts';

export interface Transaction {
  unitId: number;
  fn: ModbusFunction;
  address: number;
  /** Number of bits or registers to read (reads only). */
  count?: number;
  /** Values to write (writes only): booleans for coils, 16-bit integers for registers. */
  values?: number[] | boolean[];
  /** How long to wait for the reply once the request is on the wire. */
  timeoutMs: number;
  /** Aborts the caller's wait; a request already on the wire still holds the bus until it is answered or times out. */
  signal?: AbortSignal;
}

export interface BreakerOptions {
  /** Consecutive timeouts / malformed replies that open a unit's breaker. */
  failures: number;
  /** First skip period. */
  openMs: number;
  /** Cap of the doubling skip period. */
  maxOpenMs: number;
}

export interface BusOptions {
  logger: Logger;
  connectTimeoutMs?: number;
  breaker?: BreakerOptions;
  reconnect?: { minMs: number; maxMs: number };
}

export type LinkState = 'connected' | 'connecting' | 'down' | 'idle' | 'closed';

export interface UnitStats {
  unitId: number;
  breaker: 'closed' | 'open' | 'half-open';
  consecutiveFailures: number;
  /** Milliseconds until the next probe, when open. */
  retryInMs?: number;
  ok: number;
  timeouts: number;
  exceptions: number;
  badReplies: number;
  circuitRejects: number;
}

export interface BusStats {
  bus: string;
  link: LinkState;
  queued: number;
  inFlight: boolean;
  requests: number;
  ok: number;
  timeouts: number;
  exceptions: number;
  badReplies: number;
  connectErrors: number;
  circuitRejects: number;
  aborted: number;
  /** Links opened after the first one (reconnects and resyncs). */
  reopens: number;
  units: UnitStats[];
}

export interface Bus {
  readonly key: string;
  execute(t: Transaction): Promise<number[] | boolean[]>;
  stats(): BusStats;
  close(): Promise<void>;
}

export const DEFAULT_BREAKER: Readonly<BreakerOptions> = Object.freeze({ failures: 3, openMs: 1000, maxOpenMs: 30_000 });
const DEFAULT_RECONNECT = Object.freeze({ minMs: 100, maxMs: 10_000 });
/** modbus-serial's TCP transaction ids run modulo 256; reopen before a timed-out id can come around. */
const TCP_ID_WINDOW = 250;
/** A serial port stays closed this long after a resync, so a late reply lands while nobody listens. */
const RTU_QUIET_MS = 100;

interface Job {
  t: Transaction;
  resolve(v: number[] | boolean[]): void;
  reject(err: Error): void;
  settled: boolean;
  onAbort?: () => void;
}

interface UnitState extends UnitStats {
  openUntil: number;
  currentOpenMs: number;
  /** The cause of the failure that last opened the breaker. */
  lastFailure?: string;
}

function positive(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ErrModbusInvalidRequest({ field, value: String(v), expected: 'a positive number of milliseconds' });
  }
}

/** Opens a bus on an endpoint. The link is opened at once in the background; `execute` waits for that first attempt. */
export function openBus(endpoint: Endpoint, opts: BusOptions): Bus {
  return new ModbusBus(validateEndpoint(endpoint), opts);
}

class ModbusBus implements Bus {
  readonly key: string;
  private readonly log: Logger;
  private readonly breaker: BreakerOptions;
  private readonly reconnect: { minMs: number; maxMs: number };
  private readonly connectTimeoutMs: number;

  private readonly queue: Job[] = [];
  private running = false;
  private inFlight = false;
  private isClosed = false;

  private link: Link | undefined;
  private connecting: Promise<Link> | undefined;
  private downUntil = 0;
  private downReason = '';
  private reconnectDelay: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private linksOpened = 0;
  /** TCP: requests sent since the oldest timed-out one on this link (undefined: none timed out). */
  private sinceTimeout: number | undefined;
  private linkTimeoutsInRow = 0;
  private quietUntil = 0;

  private readonly units = new Map<number, UnitState>();
  private readonly counters = { requests: 0, ok: 0, timeouts: 0, exceptions: 0, badReplies: 0, connectErrors: 0, circuitRejects: 0, aborted: 0 };

  constructor(
    private readonly endpoint: Endpoint,
    opts: BusOptions,
  ) {
    this.key = busKey(endpoint);
    this.log = opts.logger.child({ component: 'modbus-bus', bus: this.key });
    this.breaker = { ...DEFAULT_BREAKER, ...opts.breaker };
    positive('breaker.openMs', this.breaker.openMs);
    positive('breaker.maxOpenMs', this.breaker.maxOpenMs);
    if (!Number.isInteger(this.breaker.failures) || this.breaker.failures < 1) {
      throw new ErrModbusInvalidRequest({ field: 'breaker.failures', value: String(this.breaker.failures), expected: 'an integer >= 1' });
    }
    this.reconnect = { ...DEFAULT_RECONNECT, ...opts.reconnect };
    positive('reconnect.minMs', this.reconnect.minMs);
    positive('reconnect.maxMs', this.reconnect.maxMs);
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    positive('connectTimeoutMs', this.connectTimeoutMs);
    this.reconnectDelay = this.reconnect.minMs;
    this.connect().catch(() => undefined);
  }

  execute(t: Transaction): Promise<number[] | boolean[]> {
    try {
      validateRequest(t);
      positive('timeoutMs', t.timeoutMs);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.isClosed) return Promise.reject(new ErrModbusBusClosed({ bus: this.key }));
    if (t.signal?.aborted) return Promise.reject(this.aborted(t));
    const open = this.circuitError(t.unitId);
    if (open) return Promise.reject(open);
    return new Promise((resolve, reject) => {
      const job: Job = { t, resolve, reject, settled: false };
      if (t.signal) {
        const signal = t.signal;
        job.onAbort = () => {
          const i = this.queue.indexOf(job);
          if (i >= 0) this.queue.splice(i, 1);
          this.settle(job, this.aborted(t));
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      void this.pump();
    });
  }

  private aborted(t: Transaction): Error {
    this.counters.aborted++;
    return new ErrModbusAborted({ bus: this.key, unitId: t.unitId, fn: t.fn }, { cause: t.signal?.reason });
  }

  private settle(job: Job, result: Error | number[] | boolean[]): void {
    if (job.settled) return;
    job.settled = true;
    if (job.onAbort) job.t.signal?.removeEventListener('abort', job.onAbort);
    if (result instanceof Error) job.reject(result);
    else job.resolve(result);
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let job = this.queue.shift(); job; job = this.queue.shift()) {
        if (job.settled) continue;
        await this.run(job);
      }
    } finally {
      this.running = false;
    }
  }

  private async run(job: Job): Promise<void> {
    const { t } = job;
    const open = this.circuitError(t.unitId);
    if (open) return this.settle(job, open);
    let link: Link;
    try {
      link = await this.ready();
    } catch (err) {
      this.counters.connectErrors++;
      return this.settle(job, err as Error);
    }
    if (job.settled || this.isClosed) {
      if (this.isClosed) this.settle(job, new ErrModbusBusClosed({ bus: this.key }));
      return;
    }
    const unit = this.unit(t.unitId);
    if (unit.breaker === 'open') unit.breaker = 'half-open';
    this.counters.requests++;
    this.inFlight = true;
    if (this.sinceTimeout !== undefined) this.sinceTimeout++;
    try {
      const values = await link.request(t, t.timeoutMs);
      this.counters.ok++;
      unit.ok++;
      this.linkTimeoutsInRow = 0;
      this.succeeded(unit);
      this.settle(job, values);
    } catch (err) {
      this.failed(link, unit, err);
      this.settle(job, this.isClosed && ErrModbusConnect.is(err) ? new ErrModbusBusClosed({ bus: this.key }) : (err as Error));
    } finally {
      this.inFlight = false;
    }
  }

  private succeeded(unit: UnitState): void {
    if (unit.breaker !== 'closed') this.log.info({ unitId: unit.unitId }, 'modbus unit answers again; breaker closed');
    unit.breaker = 'closed';
    unit.consecutiveFailures = 0;
    unit.currentOpenMs = this.breaker.openMs;
  }

  private failed(link: Link, unit: UnitState, err: unknown): void {
    if (ErrModbusException.is(err)) {
      this.counters.exceptions++;
      unit.exceptions++;
      this.linkTimeoutsInRow = 0;
      this.succeeded(unit);
      return;
    }
    const timeout = ErrModbusTimeout.is(err);
    const badReply = ErrModbusBadReply.is(err);
    if (!timeout && !badReply) {
      if (ErrModbusConnect.is(err)) this.counters.connectErrors++;
      return;
    }
    if (timeout) {
      this.counters.timeouts++;
      unit.timeouts++;
    } else {
      this.counters.badReplies++;
      unit.badReplies++;
    }
    this.tripIfNeeded(unit, err);
    // Resynchronise the link so a late or misframed reply cannot answer the next request.
    if (!link.transactionIds || badReply) {
      this.resync(link, timeout ? 'timeout' : 'malformed reply');
      return;
    }
    this.linkTimeoutsInRow++;
    this.sinceTimeout ??= 0;
    if (this.linkTimeoutsInRow >= 2) this.resync(link, 'consecutive timeouts');
  }

  private tripIfNeeded(unit: UnitState, err: unknown): void {
    unit.consecutiveFailures++;
    const now = Date.now();
    if (unit.breaker === 'half-open') {
      unit.currentOpenMs = Math.min(unit.currentOpenMs * 2, this.breaker.maxOpenMs);
    } else if (unit.consecutiveFailures < this.breaker.failures) {
      return;
    }
    unit.breaker = 'open';
    unit.openUntil = now + unit.currentOpenMs;
    unit.lastFailure = failureCause(err);
    this.log.warn(
      { unitId: unit.unitId, failures: unit.consecutiveFailures, openMs: unit.currentOpenMs, error: toErrorInfo(err) },
      'modbus unit skipped; breaker open',
    );
  }

  private circuitError(unitId: number): Error | undefined {
    const unit = this.units.get(unitId);
    if (!unit || unit.breaker !== 'open') return undefined;
    const retryInMs = unit.openUntil - Date.now();
    if (retryInMs <= 0) return undefined;
    unit.circuitRejects++;
    this.counters.circuitRejects++;
    return new ErrModbusCircuitOpen({ bus: this.key, unitId, retryInMs, failures: unit.consecutiveFailures, ...(unit.lastFailure ? { last: unit.lastFailure } : {}) });
  }

  private unit(unitId: number): UnitState {
    let u = this.units.get(unitId);
    if (!u) {
      u = {
        unitId,
        breaker: 'closed',
        consecutiveFailures: 0,
        ok: 0,
        timeouts: 0,
        exceptions: 0,
        badReplies: 0,
        circuitRejects: 0,
        openUntil: 0,
        currentOpenMs: this.breaker.openMs,
      };
      this.units.set(unitId, u);
    }
    return u;
  }

  // ---- link management ----

  /** The open link, a link being opened, or a fast EDGE_ERR_MODBUS_CONNECT while the link is down. */
  private async ready(): Promise<Link> {
    if (this.isClosed) throw new ErrModbusBusClosed({ bus: this.key });
    if (this.link && !this.link.closed) {
      if (this.link.transactionIds && this.sinceTimeout !== undefined && this.sinceTimeout >= TCP_ID_WINDOW) {
        this.resync(this.link, 'transaction id window');
      } else {
        return this.link;
      }
    }
    if (this.connecting) return this.connecting;
    const quietMs = this.quietUntil - Date.now();
    if (quietMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, quietMs));
      if (this.isClosed) throw new ErrModbusBusClosed({ bus: this.key });
      if (this.connecting) return this.connecting;
    }
    const waitMs = this.downUntil - Date.now();
    if (waitMs > 0) throw new ErrModbusConnect({ bus: this.key, reason: this.downReason, retryInMs: waitMs });
    return this.connect();
  }

  private connect(): Promise<Link> {
    if (this.connecting) return this.connecting;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const attempt = openLink(this.endpoint, { connectTimeoutMs: this.connectTimeoutMs }).then(
      (link) => {
        this.connecting = undefined;
        if (this.isClosed) {
          void link.close();
          throw new ErrModbusBusClosed({ bus: this.key });
        }
        if (this.downReason) this.log.info('modbus link reopened');
        this.downReason = '';
        this.linksOpened++;
        this.reconnectDelay = this.reconnect.minMs;
        this.link = link;
        this.sinceTimeout = undefined;
        this.linkTimeoutsInRow = 0;
        link.onClose((reason) => this.lost(link, reason));
        return link;
      },
      (err: unknown) => {
        this.connecting = undefined;
        if (this.isClosed) throw new ErrModbusBusClosed({ bus: this.key });
        const delay = this.reconnectDelay;
        this.reconnectDelay = Math.min(delay * 2, this.reconnect.maxMs);
        this.downUntil = Date.now() + delay;
        // The cause alone: the next fast failure wraps it in an EDGE_ERR_MODBUS_CONNECT of its own.
        const reason = failureCause(err);
        // Warn when the link goes down or its failure changes; repeated identical attempts log at debug.
        const level = reason === this.downReason ? 'debug' : 'warn';
        this.downReason = reason;
        this.log[level]({ error: toErrorInfo(err), retryInMs: delay }, 'modbus link connect failed');
        this.scheduleReconnect(delay);
        throw err;
      },
    );
    this.connecting = attempt;
    return attempt;
  }

  private scheduleReconnect(delay: number): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.isClosed && !this.link && !this.connecting) this.connect().catch(() => undefined);
    }, delay);
    // Retrying a dead link is no reason to keep the process alive; close() clears it anyway.
    this.reconnectTimer.unref();
  }

  /** The link went away under us (peer closed it, port error): reopen at once, then with backoff. */
  private lost(link: Link, reason: string): void {
    if (this.link !== link) return;
    this.link = undefined;
    if (this.isClosed) return;
    this.log.warn({ reason }, 'modbus link lost');
    this.downReason = reason;
    this.downUntil = 0;
    this.connect().catch(() => undefined);
  }

  /** Drops a healthy link on purpose; the next request opens a fresh one. */
  private resync(link: Link, why: string): void {
    if (this.link !== link) return;
    this.log.debug({ why }, 'modbus link dropped to resynchronise');
    // Cleared first, so the close below is not taken for a lost link.
    this.link = undefined;
    if (this.endpoint.kind === 'rtu') this.quietUntil = Date.now() + RTU_QUIET_MS;
    void link.close();
  }

  stats(): BusStats {
    const now = Date.now();
    let state: LinkState;
    if (this.isClosed) state = 'closed';
    else if (this.link && !this.link.closed) state = 'connected';
    else if (this.connecting) state = 'connecting';
    else if (this.downUntil > now) state = 'down';
    else state = 'idle';
    return {
      bus: this.key,
      link: state,
      queued: this.queue.length,
      inFlight: this.inFlight,
      ...this.counters,
      reopens: Math.max(0, this.linksOpened - 1),
      units: [...this.units.values()].map((u) => {
        const s: UnitStats = {
          unitId: u.unitId,
          breaker: u.breaker === 'open' && u.openUntil <= now ? 'half-open' : u.breaker,
          consecutiveFailures: u.consecutiveFailures,
          ok: u.ok,
          timeouts: u.timeouts,
          exceptions: u.exceptions,
          badReplies: u.badReplies,
          circuitRejects: u.circuitRejects,
        };
        if (u.breaker === 'open' && u.openUntil > now) s.retryInMs = u.openUntil - now;
        return s;
      }),
    };
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const closedErr = new ErrModbusBusClosed({ bus: this.key });
    for (const job of this.queue.splice(0)) this.settle(job, closedErr);
    const link = this.link;
    this.link = undefined;
    await link?.close();
    // An attempt in progress closes its link itself once it sees the bus closed.
    await this.connecting?.catch(() => undefined);
  }
}

/** A bus shared by reference count: every device on the same link acquires the same bus; the last release closes it. */
export interface BusLease {
  readonly bus: Bus;
  /** Idempotent; safe to call unbound. */
  readonly release: () => Promise<void>;
}

export class BusPool {
  private readonly entries = new Map<string, { bus: Bus; refs: number }>();

  constructor(private readonly opts: BusOptions) {}

  acquire(endpoint: Endpoint): BusLease {
    const e = validateEndpoint(endpoint);
    const key = busKey(e);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { bus: openBus(e, this.opts), refs: 0 };
      this.entries.set(key, entry);
    }
    entry.refs++;
    const held = entry;
    let released = false;
    return {
      bus: held.bus,
      release: async () => {
        if (released) return;
        released = true;
        held.refs--;
        if (held.refs === 0 && this.entries.get(key) === held) {
          this.entries.delete(key);
          await held.bus.close();
        }
      },
    };
  }

  /** Buses currently open, by busKey. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.bus.close()));
  }
}
