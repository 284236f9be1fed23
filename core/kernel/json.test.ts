import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_JSON_DEPTH, ErrJsonForbiddenKey, ErrJsonNumberRange, ErrJsonSyntax, ErrJsonTooDeep, isEdgeError, parseJson } from './index.ts';

const nestedObjects = (depth: number, leaf = '1'): string => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
const nestedArrays = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

function refusal(text: string, opts?: Parameters<typeof parseJson>[1]): { code: string; message: string; params: Record<string, unknown> } {
  try {
    parseJson(text, opts);
  } catch (err) {
    if (!isEdgeError(err)) throw err;
    expect(err.statusCode).toBe(400);
    return { code: err.code, message: err.message, params: err.params as Record<string, unknown> };
  }
  throw new Error(`parseJson accepted ${text.slice(0, 80)}`);
}

describe('parseJson', () => {
  it('parses what JSON.parse parses, within the bounds', () => {
    const doc = { spec: { config: { a: [1, 2.5, -3e10, 'x"y\\z', null, true, { b: {} }] } }, constructor: 'a string is fine' };
    expect(parseJson(JSON.stringify(doc))).toEqual(doc);
    expect(parseJson('\ufeff{"a":1}')).toEqual({ a: 1 });
    expect(parseJson('  7 ')).toBe(7);
    expect(parseJson('[1.7976931348623157e+308, -0, 5e-400]')).toEqual([Number.MAX_VALUE, -0, 0]);
  });

  it(`takes ${DEFAULT_MAX_JSON_DEPTH} levels of nesting and refuses one more, naming the path and the limit`, () => {
    expect(parseJson(nestedObjects(DEFAULT_MAX_JSON_DEPTH))).toBeTypeOf('object');
    expect(parseJson(nestedArrays(DEFAULT_MAX_JSON_DEPTH))).toBeInstanceOf(Array);

    const deep = refusal(nestedObjects(DEFAULT_MAX_JSON_DEPTH + 1), { what: 'payload of topic t' });
    expect(deep.code).toBe(ErrJsonTooDeep.code);
    expect(deep.params).toMatchObject({ limit: DEFAULT_MAX_JSON_DEPTH, what: 'payload of topic t', offset: 5 * DEFAULT_MAX_JSON_DEPTH });
    expect(deep.params.path).toBe(Array.from({ length: DEFAULT_MAX_JSON_DEPTH }, () => 'a').join('.'));
    expect(deep.message).toMatch(/^payload of topic t nests arrays and objects deeper than 64 levels, at a\.a\.a/);

    const arrays = refusal(nestedArrays(3), { maxDepth: 2 });
    expect(arrays.params).toMatchObject({ limit: 2, path: '[0][0]', offset: 2 });
  });

  it('names the exact field where the limit is crossed, through keys, indexes and escapes', () => {
    const text = `{"spec":{"config":{"x":[1,"[[[",{"q\\"z":${nestedArrays(10)}}]}}}`;
    const r = refusal(text, { maxDepth: 8 });
    expect(r.params.path).toBe('spec.config.x[2].q"z[0][0][0]');
    expect(text[r.params.offset as number]).toBe('[');
  });

  it('is not fooled by brackets, quotes and backslashes inside strings', () => {
    const tricky = { a: '[[[[[[[[[[', b: '\\', c: '\\"[[[[[', d: '"]]]]]]]]]]{{{{{{' };
    expect(parseJson(JSON.stringify(tricky), { maxDepth: 1 })).toEqual(tricky);
  });

  it('refuses very deep text without building it (16 MiB of brackets in well under a second)', () => {
    const started = performance.now();
    const r = refusal(nestedArrays(8 * 1024 * 1024));
    expect(r.code).toBe(ErrJsonTooDeep.code);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses __proto__ and constructor.prototype keys anywhere, also written with escapes', () => {
    for (const [text, path, key] of [
      ['{"a":{"__proto__":{"polluted":1}}}', 'a.__proto__', '__proto__'],
      ['{"a":[{"\\u005f_proto__":1}]}', 'a[0].__proto__', '__proto__'],
      ['[{"constructor":{"prototype":{"polluted":1}}}]', '[0].constructor.prototype', 'constructor.prototype'],
      ['{"x":{"\\u0063onstructor":{"\\u0070rototype":{}}}}', 'x.constructor.prototype', 'constructor.prototype'],
    ] as const) {
      const r = refusal(text);
      expect(r.code).toBe(ErrJsonForbiddenKey.code);
      expect(r.params).toMatchObject({ path, key });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(parseJson('{"constructor":{"name":"x"},"proto":1}')).toEqual({ constructor: { name: 'x' }, proto: 1 });
  });

  it('refuses numbers beyond a 64-bit float instead of turning them into Infinity', () => {
    for (const [text, path] of [
      ['{"v":[1,1e400]}', 'v[1]'],
      ['{"v":-1E+309}', 'v'],
      [`{"w":{"n":${'9'.repeat(400)}}}`, 'w.n'],
    ] as const) {
      const r = refusal(text);
      expect(r.code).toBe(ErrJsonNumberRange.code);
      expect(r.params.path).toBe(path);
    }
    expect(parseJson(`[${'1'.repeat(300)}, 1e308, 1e-999]`)).toHaveLength(3);
  });

  it('reports syntax errors and empty text as EDGE_ERR_JSON_SYNTAX', () => {
    expect(refusal('').code).toBe(ErrJsonSyntax.code);
    expect(refusal(' \n').params.reason).toBe('it is empty');
    const bad = refusal('{"a":}', { what: 'request body' });
    expect(bad.code).toBe(ErrJsonSyntax.code);
    expect(bad.message).toMatch(/^request body is not valid JSON: /);
    expect(refusal(`${nestedArrays(3)}]]]`).code).toBe(ErrJsonSyntax.code);
  });

  it('agrees with JSON.parse on any JSON value within the depth limit (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const text = JSON.stringify(value);
        const hasProtoKey = /"__proto__":/.test(text);
        let parsed: unknown;
        try {
          parsed = parseJson(text);
        } catch (err) {
          // fast-check generates __proto__ keys on purpose; they are the only refusal here.
          expect(hasProtoKey || ErrJsonForbiddenKey.is(err)).toBe(true);
          return;
        }
        expect(parsed).toEqual(JSON.parse(text));
      }),
      { seed: 20240611, numRuns: 300 },
    );
  });

  it('finds the depth exactly like a recursive count would (property)', () => {
    const depthOf = (v: unknown): number =>
      v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v as Record<string, unknown>).map(depthOf)) : 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), (value, maxDepth) => {
        const text = JSON.stringify(value);
        if (/"__proto__":/.test(text)) return;
        const within = depthOf(value) <= maxDepth;
        try {
          parseJson(text, { maxDepth });
          expect(within).toBe(true);
        } catch (err) {
          expect(ErrJsonTooDeep.is(err) && !within).toBe(true);
        }
      }),
      { seed: 20240612, numRuns: 300 },
    );
  });
});
