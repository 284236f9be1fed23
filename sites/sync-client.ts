/**
 * The agent side of the sync session: dials the hub's sync WebSocket with the
 * site's credential, says where its replica stands, persists every snapshot,
 * event and bookmark before acknowledging it, and hands commands to the
 * agent: writes one at a time, each recorded with its result so it runs
 * once; live reads beside them, answered and not recorded. Reconnects with
 * exponential backoff and full jitter, forever.
 *
 * A step that cannot be persisted (a full or failing disk) is never
 * acknowledged: the failure goes to the agent's storage health and the
 * replica stalls. The session stays open (the site stays Online, its
 * reports go on) while the steps that follow are left unacknowledged; a
 * probe write every `stallProbeMs` finds out when the disk takes writes
 * again, and the session is then dialled again at once, so the hub sends
 * the same steps again from the last acknowledged resourceVersion. The
 * agent keeps running what its replica already holds. It also reports its health and its
 * outbox's counts to the hub (`status` messages), so the hub can tell what
 * the site sent from what it holds.
 */
import WebSocket from 'ws';
import { describeError, toErrorInfo, type Logger } from '../core/kernel/index.ts';
import {
  parseHubMessage,
  type AgentReport,
  SYNC_MAX_FRAME_BYTES,
  SYNC_PROTOCOL,
  type AgentMessage,
  type HubMessage,
  type SiteCommand,
} from '../core/store/index.ts';
import type { CommandResult, LocalState } from './local-state.ts';
import type { StorageHealth } from './storage-health.ts';



export interface SyncClientOptions {
  hubUrl: string;
  token: string;
  site: string;
  agentVersion: string;
  state: LocalState;
  logger: Logger;
  /** Called after the replica changed (snapshot or event persisted). */
  onChange: () => void;
  /** Executes a command; the result is persisted and reported to the hub. */
  onCommand: (cmd: SiteCommand) => Promise<CommandResult>;
  backoff?: { initialMs: number; maxMs: number };
  /**
   * A session on which nothing arrived from the hub (no message, no ping)
   * for this long is dropped and dialled again: the hub pings every 15 s, so
   * silence means the hub or the path to it is gone. Default 45 s.
   */
  hubSilenceMs?: number;
  /** Where failures to persist the replica or commands are reported (component `replica`). */
  storage?: StorageHealth;
  /** The agent's report to the hub: sent on every session open, then every `reportEveryMs` and when `reportNow()` is called. */
  report?: () => AgentReport;
  /** Default 30 s. */
  reportEveryMs?: number;
  /** While the replica cannot be written, a probe write is tried this often. Default 2 s. */
  stallProbeMs?: number;
}

export const DEFAULT_HUB_SILENCE_MS = 45_000;

export interface SyncStatus {
  connected: boolean;
  resourceVersion: string | null;
  lastError?: string;
  connects: number;
}

export class SyncClient {
  readonly #o: SyncClientOptions;
  #ws: WebSocket | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #commands: Promise<void> = Promise.resolve();
  /** Set while the replica cannot be written: replication steps are left unacknowledged until a probe write succeeds. */
  #stallProbe: NodeJS.Timeout | undefined;
  #status: SyncStatus;
  readonly #listeners = new Set<(s: SyncStatus) => void>();

  constructor(opts: SyncClientOptions) {
    this.#o = opts;
    this.#status = { connected: false, resourceVersion: opts.state.resourceVersion(), connects: 0 };
  }

  status(): SyncStatus {
    return { ...this.#status, resourceVersion: this.#o.state.resourceVersion() };
  }

  onStatus(fn: (s: SyncStatus) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #setStatus(patch: Partial<SyncStatus>): void {
    this.#status = { ...this.#status, ...patch };
    for (const fn of this.#listeners) fn(this.status());
  }

  start(): void {
    this.#connect();
  }

  #url(): string {
    const u = new URL(`/api/v1/sites/${encodeURIComponent(this.#o.site)}/sync`, this.#o.hubUrl);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  #connect(): void {
    if (this.#stopped) return;
    const ws = new WebSocket(this.#url(), SYNC_PROTOCOL, {
      headers: { authorization: `Bearer ${this.#o.token}` },
      maxPayload: SYNC_MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
    });
    this.#ws = ws;
    const silenceMs = this.#o.hubSilenceMs ?? DEFAULT_HUB_SILENCE_MS;
    let silence: NodeJS.Timeout | undefined;
    let reportTimer: NodeJS.Timeout | undefined;
    const heard = (): void => {
      clearTimeout(silence);
      silence = setTimeout(() => {
        this.#o.logger.warn({ silenceMs }, 'nothing from the hub for too long: reconnecting');
        this.#setStatus({ lastError: `nothing from the hub for ${silenceMs} ms` });
        ws.terminate();
      }, silenceMs);
    };
    ws.on('ping', heard);
    ws.on('message', heard);
    ws.on('open', heard);
    ws.on('open', () => {
      this.#attempt = 0;
      this.#setStatus({ connected: true, connects: this.#status.connects + 1 });
      this.#o.logger.info({ hub: this.#o.hubUrl, resourceVersion: this.#o.state.resourceVersion() }, 'sync session open');
      this.#send({
        type: 'hello',
        protocol: SYNC_PROTOCOL,
        site: this.#o.site,
        resourceVersion: this.#o.state.resourceVersion(),
        have: this.#o.state.have(),
        agentVersion: this.#o.agentVersion,
      });
      for (const { id, result } of this.#o.state.unreportedResults()) this.#sendResult(id, result);
      this.reportNow();
      const every = this.#o.reportEveryMs ?? 30_000;
      if (this.#o.report) reportTimer = setInterval(() => this.reportNow(), every);
    });
    // Each message is persisted (synchronously) before the next is read.
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(isBinary ? '' : data.toString('utf8')));
    ws.on('unexpected-response', (_req, res) => {
      const reason = `hub answered ${res.statusCode ?? '?'} to the sync request`;
      this.#setStatus({ lastError: reason });
      this.#o.logger.warn({ status: res.statusCode }, 'sync session refused');
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => {
      this.#setStatus({ lastError: describeError(err) });
      this.#o.logger.debug({ error: toErrorInfo(err) }, 'sync connection error');
    });
    ws.on('close', (code, reason) => {
      clearTimeout(silence);
      clearInterval(reportTimer);
      this.#unstall();
      if (this.#ws === ws) this.#ws = undefined;
      const wasConnected = this.#status.connected;
      this.#setStatus({ connected: false });
      if (wasConnected) this.#o.logger.warn({ code, reason: reason.toString() }, 'sync session closed');
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#stopped) return;
    const { initialMs, maxMs } = this.#o.backoff ?? { initialMs: 200, maxMs: 15_000 };
    const cap = Math.min(maxMs, initialMs * 2 ** this.#attempt);
    this.#attempt++;
    const delay = Math.random() * cap;
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  #send(msg: AgentMessage): void {
    const ws = this.#ws;
    if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  #sendResult(id: string, result: CommandResult): void {
    if (this.#ws?.readyState !== WebSocket.OPEN) return;
    this.#ws.send(JSON.stringify({ type: 'command-result', id, ...result } satisfies AgentMessage), (err) => {
      // Unrecorded, the result is reported again on the next session: the hub ignores a repeat.
      if (!err) this.#persist(() => this.#o.state.markResultReported(id));
    });
  }

  #onMessage(raw: string): void {
    let msg: HubMessage;
    try {
      msg = parseHubMessage(raw);
    } catch (err) {
      this.#o.logger.error({ error: toErrorInfo(err) }, 'bad message from the hub; reconnecting');
      this.#ws?.close(4400, 'bad message');
      return;
    }
    const { state } = this.#o;
    // Stalled: nothing more is applied (or acknowledged) until the session starts over from the last acknowledged step.
    if (this.#stallProbe && (msg.type === 'snapshot' || msg.type === 'event' || msg.type === 'bookmark')) return;
    switch (msg.type) {
      case 'snapshot':
        if (!this.#persist(() => state.replaceAll(msg.items, msg.resourceVersion))) return;
        this.#send({ type: 'ack', resourceVersion: msg.resourceVersion });
        this.#o.onChange();
        return;
      case 'event':
        if (!this.#persist(() => state.applyEvent(msg.event, msg.object, msg.resourceVersion))) return;
        this.#send({ type: 'ack', resourceVersion: msg.resourceVersion });
        this.#o.onChange();
        return;
      case 'bookmark':
        if (!this.#persist(() => state.setResourceVersion(msg.resourceVersion))) return;
        this.#send({ type: 'ack', resourceVersion: msg.resourceVersion });
        return;
      case 'command':
        // Commands run beside the stream, never blocking it: one may wait for the replica to catch up.
        if (msg.command.kind === 'read') void this.#runRead(msg.command, msg.notBefore);
        else this.#commands = this.#commands.then(() => this.#runCommand(msg.command, msg.notBefore));
        return;
      case 'error':
        this.#o.logger.error({ code: msg.code, message: msg.message }, 'hub reported a sync error');
        this.#setStatus({ lastError: `[${msg.code}] ${msg.message}` });
        return;
    }
  }

  /**
   * Runs a write to the replica. When it fails, nothing is acknowledged: the
   * failure is reported, the replica stalls (see the file's header) and false
   * is returned.
   */
  #persist(write: () => void): boolean {
    try {
      write();
    } catch (err) {
      this.#stall(err);
      return false;
    }
    this.#o.storage?.ok('replica');
    return true;
  }

  #stall(err: unknown): void {
    const problem = this.#o.storage?.failed('replica', err);
    if (problem === undefined || problem.failures === 1) {
      this.#o.logger.error({ error: toErrorInfo(err) }, 'cannot persist the replica; changes wait unacknowledged until the disk takes writes again');
    }
    this.#setStatus({ lastError: `replica not persisted: ${describeError(err)}` });
    if (this.#stallProbe) return;
    const ws = this.#ws;
    this.#stallProbe = setInterval(() => {
      try {
        this.#o.state.probe();
      } catch {
        return; // still failing
      }
      this.#o.logger.info('the replica can be written again: the session starts over from the last acknowledged change');
      this.#unstall();
      this.#attempt = 0;
      ws?.close(4000, 'replica resumes');
    }, this.#o.stallProbeMs ?? 2_000);
  }

  #unstall(): void {
    clearInterval(this.#stallProbe);
    this.#stallProbe = undefined;
  }

  /** Sends the agent's report now, if a session is open. */
  reportNow(): void {
    const report = this.#o.report?.();
    if (report) this.#send({ type: 'status', ...report });
  }

  async #runCommand(cmd: SiteCommand, notBefore: string): Promise<void> {
    try {
      await this.#runCommandOnce(cmd, notBefore);
    } catch (err) {
      // Recording the command failed (the disk): unanswered, the hub delivers it again on the next session.
      this.#o.logger.error({ command: cmd.id, error: toErrorInfo(err) }, 'cannot record a command; it will be delivered again');
      this.#stall(err);
    }
  }

  async #runCommandOnce(cmd: SiteCommand, notBefore: string): Promise<void> {
    const { state } = this.#o;
    const seen = state.receiveCommand(cmd);
    if (seen.result) {
      this.#sendResult(cmd.id, seen.result);
      return;
    }
    // Received before but never finished (the agent stopped mid-way): a write of a desired value is safe to repeat.
    await this.#caughtUp(notBefore);
    const result = await this.#execute(cmd);
    state.saveCommandResult(cmd.id, result);
    this.#sendResult(cmd.id, result);
  }

  /**
   * A live read: run once the replica has caught up, answered, and not
   * recorded. It changes nothing at the device, and only the request waiting
   * at the hub wants its result: one lost with the session is asked again.
   */
  async #runRead(cmd: SiteCommand, notBefore: string): Promise<void> {
    await this.#caughtUp(notBefore);
    const result = await this.#execute(cmd);
    this.#send({ type: 'command-result', id: cmd.id, ...result });
  }

  /** Waits (30 s at most) until the replica holds what the hub held when it sent a command: the command may name a device created just before. */
  async #caughtUp(notBefore: string): Promise<void> {
    const until = Date.now() + 30_000;
    while (BigInt(this.#o.state.resourceVersion() ?? '0') < BigInt(notBefore) && Date.now() < until && !this.#stopped) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The command's result; a throw becomes a failed result with the error's code. */
  #execute(cmd: SiteCommand): Promise<CommandResult> {
    return this.#o.onCommand(cmd).catch((err: unknown): CommandResult => {
      const info = toErrorInfo(err);
      return { ok: false, error: { code: info.code, message: info.message } };
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#unstall();
    const ws = this.#ws;
    if (!ws) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'agent stopping');
      setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000).unref();
    });
  }
}
