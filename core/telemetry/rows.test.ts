/**
 * The valueType and quality codes stored on disk: every code is pinned here,
 * files written with them read back the same, and a code this version does
 * not know is a coded error, not a reading without a type.
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QUALITIES, VALUE_TYPES, type ReadingValue, type ValueType } from '../sdk/index.ts';
import { BASE_ORIGIN, createV1StoreFile, input, tempDir } from './fixtures/helpers.ts';
import { openOutbox, openTelemetryStore, TelemetryErrors } from './index.ts';
import { QUALITY_CODES, readingFromColumns, VALUE_TYPE_CODES } from './rows.ts';

/**
 * The codes as outbox and store files hold them. Never edit a line of this
 * table: a changed code would misread every existing file. A new valueType
 * or quality gets a new line with the next unused number.
 */
const PINNED_VALUE_TYPE_CODES: [ValueType, number][] = [
  ['Bool', 0],
  ['String', 1],
  ['Uint8', 2],
  ['Uint16', 3],
  ['Uint32', 4],
  ['Uint64', 5],
  ['Int8', 6],
  ['Int16', 7],
  ['Int32', 8],
  ['Int64', 9],
  ['Float32', 10],
  ['Float64', 11],
  ['Binary', 12],
  ['Object', 13],
  ['BoolArray', 14],
  ['StringArray', 15],
  ['Uint8Array', 16],
  ['Uint16Array', 17],
  ['Uint32Array', 18],
  ['Uint64Array', 19],
  ['Int8Array', 20],
  ['Int16Array', 21],
  ['Int32Array', 22],
  ['Int64Array', 23],
  ['Float32Array', 24],
  ['Float64Array', 25],
];
const PINNED_QUALITY_CODES = [
  ['good', 0],
  ['uncertain', 1],
  ['bad', 2],
] as const;

/** A value of each valueType, as a reading carries it. */
const SAMPLE: Record<ValueType, ReadingValue> = {
  Bool: true,
  String: 'open',
  Uint8: 200,
  Uint16: 60_000,
  Uint32: 4_000_000_000,
  Uint64: '18446744073709551615',
  Int8: -100,
  Int16: -30_000,
  Int32: -2_000_000_000,
  Int64: '-9223372036854775808',
  Float32: 1.5,
  Float64: -2.25,
  Binary: 'AQID',
  Object: { a: [1, 'x', null] },
  BoolArray: [true, false],
  StringArray: ['a', 'b'],
  Uint8Array: [1, 255],
  Uint16Array: [2, 65_535],
  Uint32Array: [3],
  Uint64Array: [4, '18446744073709551615'],
  Int8Array: [-5],
  Int16Array: [-6],
  Int32Array: [-7],
  Int64Array: [-8],
  Float32Array: [0.5],
  Float64Array: [0.25, -1e300],
};

const SITE = 'plant-a';
let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  tmp.remove();
});

describe('stored valueType and quality codes', () => {
  it('keep every code they were first written with', () => {
    expect(Object.entries(VALUE_TYPE_CODES)).toEqual(PINNED_VALUE_TYPE_CODES);
    expect(Object.entries(QUALITY_CODES)).toEqual(PINNED_QUALITY_CODES);
  });

  it('give every valueType and quality its own code', () => {
    expect(Object.keys(VALUE_TYPE_CODES).sort()).toEqual([...VALUE_TYPES].sort());
    expect(new Set(Object.values(VALUE_TYPE_CODES)).size).toBe(VALUE_TYPES.length);
    expect(Object.keys(QUALITY_CODES).sort()).toEqual([...QUALITIES].sort());
    expect(new Set(Object.values(QUALITY_CODES)).size).toBe(QUALITIES.length);
  });

  it('are what the outbox writes to its file', () => {
    const file = tmp.file('outbox.db');
    const outbox = openOutbox({ file, site: SITE });
    outbox.append(PINNED_VALUE_TYPE_CODES.map(([valueType], i) => input(SITE, i, { valueType, value: SAMPLE[valueType], quality: (['good', 'uncertain', 'bad'] as const)[i % 3] })));
    outbox.close();
    const db = new Database(file, { readonly: true });
    const rows = db.prepare<[], { seq: number; vt: number; q: number }>('SELECT seq, vt, q FROM outbox ORDER BY seq').all();
    db.close();
    expect(rows.map((r) => r.vt)).toEqual(PINNED_VALUE_TYPE_CODES.map(([, code]) => code));
    expect(rows.map((r) => r.q)).toEqual(rows.map((_, i) => i % 3));
  });

  it('read back an outbox file written with them, row by row', () => {
    const file = tmp.file('outbox.db');
    // The file as the outbox has written it since streams were added: the codes are bare numbers in it.
    const db = new Database(file);
    db.exec(`
      CREATE TABLE outbox_meta (site TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, acked_seq INTEGER NOT NULL, stream TEXT, dropped INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE outbox_streams (id TEXT PRIMARY KEY, from_seq INTEGER NOT NULL, started_at INTEGER NOT NULL, reason TEXT NOT NULL);
      CREATE TABLE outbox (seq INTEGER PRIMARY KEY, origin INTEGER NOT NULL, size INTEGER NOT NULL, device TEXT NOT NULL, profile TEXT NOT NULL,
        resource TEXT NOT NULL, vt INTEGER NOT NULL, q INTEGER NOT NULL, value TEXT NOT NULL, units TEXT, detail TEXT);
    `);
    db.prepare('INSERT INTO outbox_meta (site, last_seq, acked_seq, stream) VALUES (?, ?, 0, ?)').run(SITE, PINNED_VALUE_TYPE_CODES.length, 'AAAAAAAAAAAAAAAAAAAAAA');
    db.prepare('INSERT INTO outbox_streams (id, from_seq, started_at, reason) VALUES (?, 1, 0, ?)').run('AAAAAAAAAAAAAAAAAAAAAA', 'created');
    const ins = db.prepare('INSERT INTO outbox VALUES (?, ?, 100, ?, ?, ?, ?, ?, ?, NULL, ?)');
    PINNED_VALUE_TYPE_CODES.forEach(([valueType, code], i) => {
      const q = PINNED_QUALITY_CODES[i % 3]!;
      ins.run(i + 1, BASE_ORIGIN + i, 'meter-1', 'meter', `r-${valueType}`, code, q[1], JSON.stringify(SAMPLE[valueType]), q[0] === 'good' ? null : 'STALE');
    });
    db.close();

    const outbox = openOutbox({ file, site: SITE });
    try {
      const read = outbox.peek(0, 100);
      expect(read.map((r) => [r.resource, r.valueType, r.value, r.quality])).toEqual(
        PINNED_VALUE_TYPE_CODES.map(([valueType], i) => [`r-${valueType}`, valueType, SAMPLE[valueType], PINNED_QUALITY_CODES[i % 3]![0]]),
      );
    } finally {
      outbox.close();
    }
  });

  it("read back a hub store file written with them (the first version's, migrated on open)", async () => {
    const file = tmp.file('telemetry.db');
    const db = createV1StoreFile(file);
    const ins = db.prepare('INSERT INTO telemetry VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)');
    PINNED_VALUE_TYPE_CODES.forEach(([valueType, code], i) => {
      ins.run(SITE, i + 1, BASE_ORIGIN + i, 'meter-1', 'meter', `r-${valueType}`, code, PINNED_QUALITY_CODES[i % 3]![1], JSON.stringify(SAMPLE[valueType]));
    });
    db.close();

    const store = openTelemetryStore({ file });
    try {
      const items = (await store.query({ site: SITE, limit: 100 })).items;
      expect(items.map((r) => [r.seq, r.valueType, r.value, r.quality])).toEqual(
        PINNED_VALUE_TYPE_CODES.map(([valueType], i) => [i + 1, valueType, SAMPLE[valueType], PINNED_QUALITY_CODES[i % 3]![0]]),
      );
    } finally {
      await store.close();
    }
  });

  it('refuses a code it does not know, naming the row, instead of a reading without a type', () => {
    const row = (vt: number, q: number) => [7, BASE_ORIGIN, 'meter-1', 'meter', 'voltage', vt, q, '1', null, null] as Parameters<typeof readingFromColumns>[1];
    expect(readingFromColumns(SITE, row(11, 0))).toMatchObject({ seq: 7, valueType: 'Float64', quality: 'good', value: 1 });
    expect(() => readingFromColumns(SITE, row(26, 0))).toThrow(TelemetryErrors.ErrStoredCode);
    expect(() => readingFromColumns(SITE, row(26, 0))).toThrow("stored reading seq 7 of site 'plant-a' has valueType code 26");
    expect(() => readingFromColumns(SITE, row(0, 3))).toThrow("has quality code 3");
  });
});
