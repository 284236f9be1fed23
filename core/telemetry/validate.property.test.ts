/**
 * Property tests of the telemetry input checks shared by the site's outbox
 * and the hub's store: a valid reading of any valueType passes; a value that
 * does not fit its valueType, an origin outside the plausible window or an
 * unsafe seq is refused with EDGE_ERR_TELEMETRY_INVALID naming the index and
 * the field; and any JSON at all, as a batch or as a reading, gets either
 * that coded error or acceptance, never another exception.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEdgeError } from '../kernel/index.ts';
import { INTEGER_RANGES, MAX_ORIGIN, QUALITIES, readingValueProblem, SCALAR_VALUE_TYPES, type Reading, type ValueType } from '../sdk/index.ts';
import { streamKey, tempDir } from './fixtures/helpers.ts';
import { openTelemetryStore, TelemetryErrors, type TelemetryStore } from './index.ts';
import { validateBatch } from './validate.ts';

const RUNS = { numRuns: 200, seed: 20261204 } as const;
const SITE = 'plant-a';

/** A value that fits a scalar valueType. */
function scalarValue(t: ValueType): fc.Arbitrary<unknown> {
  const range = INTEGER_RANGES[t];
  if (t === 'Int64' || t === 'Uint64') {
    return fc.oneof(
      fc.integer({ min: t === 'Uint64' ? 0 : Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      fc.bigInt({ min: t === 'Uint64' ? 0n : -(2n ** 63n), max: t === 'Uint64' ? 2n ** 64n - 1n : 2n ** 63n - 1n }).map(String),
    );
  }
  if (range) return fc.integer({ min: range[0], max: range[1] });
  switch (t) {
    case 'Float32':
      return fc.float({ noNaN: true, noDefaultInfinity: true });
    case 'Float64':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'Bool':
      return fc.boolean();
    case 'String':
      return fc.string({ maxLength: 50 });
    case 'Binary':
      return fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b).toString('base64'));
    default:
      return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
  }
}

/** A valueType and a value that fits it (arrays of the scalar types too). */
const typedValue: fc.Arbitrary<{ valueType: ValueType; value: unknown }> = fc.constantFrom(...SCALAR_VALUE_TYPES).chain((t) =>
  fc.oneof(
    scalarValue(t).map((value) => ({ valueType: t, value })),
    t === 'Object' || t === 'Binary'
      ? scalarValue(t).map((value) => ({ valueType: t, value }))
      : fc.array(scalarValue(t), { maxLength: 5 }).map((value) => ({ valueType: `${t}Array` as ValueType, value })),
  ),
);

const validReading = (seq: number): fc.Arbitrary<Reading> =>
  fc.record({
    tv: typedValue,
    device: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
    resource: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,20}$/),
    origin: fc.integer({ min: 0, max: MAX_ORIGIN }),
    quality: fc.constantFrom(...QUALITIES),
  }).map(({ tv, device, resource, origin, quality }) => ({ site: SITE, device, profile: 'p', resource, value: tv.value as Reading['value'], valueType: tv.valueType, origin, quality, seq }));

/** Runs `fn`; returns the coded telemetry error it threw, or undefined when it did not throw. Anything else fails the property. */
function codedOrNothing(fn: () => unknown): { code: string; params: Record<string, unknown> } | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (!isEdgeError(err) || !err.code.startsWith('EDGE_ERR_TELEMETRY_')) throw err;
    return { code: err.code, params: err.params as Record<string, unknown> };
  }
}

/** As codedOrNothing, for a call that refuses by rejecting its promise. */
async function codedOrNothingAsync(fn: () => Promise<unknown>): Promise<{ code: string; params: Record<string, unknown> } | undefined> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    if (!isEdgeError(err) || !err.code.startsWith('EDGE_ERR_TELEMETRY_')) throw err;
    return { code: err.code, params: err.params as Record<string, unknown> };
  }
}

describe('telemetry input checks (properties)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: TelemetryStore;
  beforeAll(() => {
    tmp = tempDir();
    store = openTelemetryStore({ file: tmp.file('hub.db') });
  });
  afterAll(async () => {
    await store.close();
    tmp.remove();
  });

  it('accepts every valid reading, of every valueType, in the outbox check and in the hub store', async () => {
    let seq = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { minLength: 1, maxLength: 8 }).chain((xs) => fc.tuple(...xs.map(() => validReading(++seq)))), async (batch) => {
        expect(() => validateBatch(batch, SITE, 'reading', 'test')).not.toThrow();
        const r = await store.ingest(streamKey(SITE, batch), batch);
        expect(r.accepted + r.duplicates).toBe(batch.length);
      }),
      RUNS,
    );
  });

  it('refuses a value that does not fit its valueType, naming the reading and the field', () => {
    const mismatched = fc
      .tuple(typedValue, fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(...QUALITIES))
      .filter(([tv, other, quality]) => readingValueProblem(tv.valueType, other, quality) !== undefined);
    fc.assert(
      fc.property(validReading(1), mismatched, fc.nat({ max: 3 }), (base, [tv, value, quality], at) => {
        const batch: Reading[] = Array.from({ length: at + 1 }, (_, i) => ({ ...base, seq: i + 1 }));
        batch[at] = { ...batch[at]!, valueType: tv.valueType, value: value as Reading['value'], quality };
        const err = codedOrNothing(() => validateBatch(batch, SITE, 'reading', 'test'));
        expect(err).toMatchObject({ code: TelemetryErrors.ErrInvalid.code, params: { index: at } });
        expect(['value', 'valueType']).toContain(err!.params.field);
      }),
      RUNS,
    );
  });

  it('refuses origins outside 0..2100 and seqs that are not safe positive integers', () => {
    const badOrigin = fc.oneof(fc.double({ min: MAX_ORIGIN * 1.01, noNaN: true }), fc.integer({ max: -1 }), fc.double({ noNaN: true, noInteger: true }).filter((x) => Number.isFinite(x)));
    const badSeq = fc.oneof(fc.constant(0), fc.integer({ max: -1 }), fc.double({ min: 2 ** 53, max: 1e300, noNaN: true }), fc.double({ min: 0.5, max: 1e6, noNaN: true, noInteger: true }));
    fc.assert(
      fc.property(validReading(1), badOrigin, badSeq, fc.boolean(), (r, origin, seq, which) => {
        const bad = which ? { ...r, origin } : { ...r, seq };
        const err = codedOrNothing(() => validateBatch([bad], SITE, 'reading', 'test'));
        expect(err).toMatchObject({ code: TelemetryErrors.ErrInvalid.code, params: { index: 0, field: which ? 'origin' : 'seq' } });
      }),
      RUNS,
    );
  });

  it('answers any JSON at all with acceptance or a coded telemetry error, and writes nothing it refuses', async () => {
    const anyBatch = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      fc.array(fc.oneof(fc.jsonValue({ maxDepth: 3 }), validReading(1).chain((r) => fc.record({ key: fc.constantFrom(...Object.keys(r)), v: fc.jsonValue({ maxDepth: 2 }) }).map(({ key, v }) => ({ ...r, [key]: v })))), { maxLength: 5 }),
    );
    await fc.assert(
      fc.asyncProperty(anyBatch, async (batch) => {
        const before = await store.count();
        const err = await codedOrNothingAsync(() => store.ingest(streamKey(SITE, [], { id: 'fuzz-stream', lastSeq: Number.MAX_SAFE_INTEGER }), batch as Reading[]));
        if (err) expect(await store.count()).toBe(before);
      }),
      RUNS,
    );
  });
});
