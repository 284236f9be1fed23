/**
 * The site agent's own copy of its site's resources, in SQLite: what the hub
 * last replicated, with the hub's resourceVersion it reflects. Every sync step
 * is one transaction (objects and resourceVersion together), committed before
 * the agent acknowledges it, so a restart — online or offline — resumes from
 * exactly what was acknowledged. Commands received and their results are kept
 * too, so a command is applied once even if it is delivered twice.
 */
import Database from 'better-sqlite3';
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
    this.#db = new Database(file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, name));
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, body TEXT NOT NULL, result TEXT, reported_to_hub INTEGER NOT NULL DEFAULT 0);
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

  close(): void {
    this.#db.close();
  }
}
