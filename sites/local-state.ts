/**
 * The site agent's own copy of its site's resources, in SQLite: what the hub
 * last replicated, with the hub's resourceVersion it reflects. Every sync step
 * is one transaction (objects and resourceVersion together), committed before
 * the agent acknowledges it, so a restart — online or offline — resumes from
 * exactly what was acknowledged. Commands received and their results are kept
 * too, so a command is applied once even if it is delivered twice.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { ensurePrivateFile } from '../core/kernel/index.ts';
import type { Kind, Resource, SiteCommand } from '../core/store/index.ts';

export interface CommandResult {
  ok: boolean;
  reported?: unknown;
  error?: { code: string; message: string };
}

export class LocalState {
  readonly #db: Database.Database;
  readonly #stmts;

  constructor(file: string) {
    ensurePrivateFile(file);
    this.#db = new Database(file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, name));
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, body TEXT NOT NULL, result TEXT, reported_to_hub INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS announcements (key TEXT PRIMARY KEY, body TEXT NOT NULL, digest TEXT NOT NULL, sent_digest TEXT, sent_at INTEGER);
    `);
    this.#stmts = {
      getMeta: this.#db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.#db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      put: this.#db.prepare('INSERT INTO objects (kind, name, body) VALUES (?, ?, ?) ON CONFLICT(kind, name) DO UPDATE SET body = excluded.body'),
      del: this.#db.prepare('DELETE FROM objects WHERE kind = ? AND name = ?'),
      clear: this.#db.prepare('DELETE FROM objects'),
      get: this.#db.prepare<[string, string], { body: string }>('SELECT body FROM objects WHERE kind = ? AND name = ?'),
      list: this.#db.prepare<[string], { body: string }>('SELECT body FROM objects WHERE kind = ? ORDER BY name'),
      have: this.#db.prepare<[], { kind: string; name: string }>('SELECT kind, name FROM objects ORDER BY kind, name'),
      getCommand: this.#db.prepare<[string], { body: string; result: string | null; reported_to_hub: number }>('SELECT body, result, reported_to_hub FROM commands WHERE id = ?'),
      putCommand: this.#db.prepare('INSERT OR IGNORE INTO commands (id, body) VALUES (?, ?)'),
      setResult: this.#db.prepare('UPDATE commands SET result = ? WHERE id = ?'),
      setReported: this.#db.prepare('UPDATE commands SET reported_to_hub = 1 WHERE id = ?'),
      unreported: this.#db.prepare<[], { id: string; result: string }>('SELECT id, result FROM commands WHERE result IS NOT NULL AND reported_to_hub = 0'),
      getAnnouncement: this.#db.prepare<[string], { digest: string; sent_digest: string | null; sent_at: number | null }>('SELECT digest, sent_digest, sent_at FROM announcements WHERE key = ?'),
      putAnnouncement: this.#db.prepare(
        'INSERT INTO announcements (key, body, digest) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET body = excluded.body, digest = excluded.digest, sent_digest = CASE WHEN announcements.digest = excluded.digest THEN announcements.sent_digest ELSE NULL END',
      ),
      resendAnnouncement: this.#db.prepare('UPDATE announcements SET sent_digest = NULL WHERE key = ?'),
      unsentAnnouncements: this.#db.prepare<[], { key: string; body: string; digest: string }>('SELECT key, body, digest FROM announcements WHERE sent_digest IS NULL OR sent_digest != digest ORDER BY key'),
      markAnnouncementSent: this.#db.prepare('UPDATE announcements SET sent_digest = ?, sent_at = ? WHERE key = ?'),
    };
  }

  /** The hub resourceVersion this replica reflects; null before the first snapshot. */
  resourceVersion(): string | null {
    return this.#stmts.getMeta.get('resourceVersion')?.value ?? null;
  }

  get<R extends Resource = Resource>(kind: Kind, name: string): R | undefined {
    const row = this.#stmts.get.get(kind, name);
    return row ? (JSON.parse(row.body) as R) : undefined;
  }

  list<R extends Resource = Resource>(kind: Kind): R[] {
    return this.#stmts.list.all(kind).map((r) => JSON.parse(r.body) as R);
  }

  have(): { kind: string; name: string }[] {
    return this.#stmts.have.all();
  }

  /** Replaces the whole replica with a snapshot, in one transaction. */
  replaceAll(items: readonly Resource[], resourceVersion: string): void {
    this.#db.transaction(() => {
      this.#stmts.clear.run();
      for (const o of items) this.#stmts.put.run(o.kind, o.metadata.name, JSON.stringify(o));
      this.#stmts.setMeta.run('resourceVersion', resourceVersion);
    })();
  }

  /** Applies one replicated event and advances the resourceVersion, in one transaction. */
  applyEvent(event: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Resource, resourceVersion: string): void {
    this.#db.transaction(() => {
      if (event === 'DELETED') this.#stmts.del.run(obj.kind, obj.metadata.name);
      else this.#stmts.put.run(obj.kind, obj.metadata.name, JSON.stringify(obj));
      this.#stmts.setMeta.run('resourceVersion', resourceVersion);
    })();
  }

  /** A small write that needs free pages: succeeds once the disk takes writes again. */
  probe(): void {
    this.#stmts.setMeta.run('probe', randomBytes(2048).toString('base64'));
  }

  setResourceVersion(resourceVersion: string): void {
    this.#stmts.setMeta.run('resourceVersion', resourceVersion);
  }

  /** Records a received command; returns its stored result when it was already executed. */
  receiveCommand(cmd: SiteCommand): { fresh: boolean; result?: CommandResult } {
    const row = this.#stmts.getCommand.get(cmd.id);
    if (row) return row.result ? { fresh: false, result: JSON.parse(row.result) as CommandResult } : { fresh: false };
    this.#stmts.putCommand.run(cmd.id, JSON.stringify(cmd));
    return { fresh: true };
  }

  saveCommandResult(id: string, result: CommandResult): void {
    this.#stmts.setResult.run(JSON.stringify(result), id);
  }

  markResultReported(id: string): void {
    this.#stmts.setReported.run(id);
  }

  /** Results not yet confirmed sent to the hub. */
  unreportedResults(): { id: string; result: CommandResult }[] {
    return this.#stmts.unreported.all().map((r) => ({ id: r.id, result: JSON.parse(r.result) as CommandResult }));
  }

  /**
   * Keeps a device announcement to report to the hub. Returns whether it must
   * be sent: it is new or changed, or it was last delivered over
   * `resendAfterMs` ago.
   */
  putAnnouncement(key: string, body: unknown, digest: string, resendAfterMs: number): boolean {
    const row = this.#stmts.getAnnouncement.get(key);
    if (row && row.digest === digest && row.sent_digest === digest && row.sent_at !== null && Date.now() - row.sent_at < resendAfterMs) return false;
    this.#db.transaction(() => {
      this.#stmts.putAnnouncement.run(key, JSON.stringify(body), digest);
      if (row && row.digest === digest) this.#stmts.resendAnnouncement.run(key);
    })();
    return true;
  }

  unsentAnnouncements(): { key: string; body: unknown; digest: string }[] {
    return this.#stmts.unsentAnnouncements.all().map((r) => ({ key: r.key, body: JSON.parse(r.body) as unknown, digest: r.digest }));
  }

  markAnnouncementSent(key: string, digest: string): void {
    this.#stmts.markAnnouncementSent.run(digest, Date.now(), key);
  }

  close(): void {
    this.#db.close();
  }
}
