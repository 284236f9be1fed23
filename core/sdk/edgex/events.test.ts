/**
 * EdgeX v3 events both ways, against fixtures/edgex-v3-events.json: what
 * EdgeX's own DTOs marshal to (one event per valueType, a Binary, an Object, a
 * null reading and a deviceCommand event) read back as platform readings with
 * the same valueTypes, platform readings written exactly as EdgeX writes them,
 * any valid reading surviving the round trip, and every malformed event
 * refused with a coded error naming its field.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readingValueProblem, VALUE_TYPES, type Reading, type ValueType } from '../reading.ts';
import { unwrapEdgeXEnvelope } from './bus.ts';
import { EDGEX_NULL_READING_DETAIL, edgexAddEventRequest, edgexEventOf, edgexToReadings, readingToEdgeX, type EdgeXAddEventRequest, type EdgeXDecodedReading } from './events.ts';

const here = path.dirname(new URL(import.meta.url).pathname);

interface Fixture {
  name: string;
  topic: string;
  request: EdgeXAddEventRequest;
  envelope: string;
}
const fixtures = (JSON.parse(readFileSync(path.join(here, 'fixtures/edgex-v3-events.json'), 'utf8')) as { events: Fixture[] }).events;
const fixture = (name: string): Fixture => fixtures.find((f) => f.name === name)!;

/** The fixtures' origin as JSON.parse reads it (a double: ns since the epoch are beyond 2^53). */
const ORIGIN = Number('1733300000123456789');
const r = (resource: string, valueType: ValueType, value: Reading['value'], extra: Partial<EdgeXDecodedReading> = {}): EdgeXDecodedReading => ({
  device: 'boiler-1',
  profile: 'boiler',
  resource,
  valueType,
  value,
  origin: ORIGIN,
  quality: 'good',
  ...extra,
});

/** What each fixture event is as platform readings. */
const expected: Record<string, EdgeXDecodedReading[]> = {
  Bool: [r('on', 'Bool', true)],
  String: [r('label', 'String', 'boiler room "A"')],
  Uint8: [r('u8', 'Uint8', 255)],
  Uint16: [r('u16', 'Uint16', 65535)],
  Uint32: [r('u32', 'Uint32', 4294967295)],
  Uint64: [r('u64', 'Uint64', '18446744073709551615')],
  Int8: [r('i8', 'Int8', -128)],
  Int16: [r('i16', 'Int16', -32768)],
  Int32: [r('i32', 'Int32', -2147483648)],
  Int64: [r('i64', 'Int64', '-9223372036854775808')],
  'Int64 safe': [r('i64s', 'Int64', 9007199254740991)],
  Float32: [r('temperature', 'Float32', 21.7, { units: 'degC' })],
  Float64: [r('pressure', 'Float64', 1 / 3)],
  BoolArray: [r('flags', 'BoolArray', [true, false, true])],
  StringArray: [r('names', 'StringArray', ['a', 'b'])],
  Uint8Array: [r('bytes', 'Uint8Array', [0, 1, 255])],
  Uint16Array: [r('u16a', 'Uint16Array', [0, 65535])],
  Uint32Array: [r('u32a', 'Uint32Array', [4294967295])],
  Uint64Array: [r('u64a', 'Uint64Array', [1, '18446744073709551615'])],
  Int8Array: [r('i8a', 'Int8Array', [-128, 127])],
  Int16Array: [r('i16a', 'Int16Array', [-1, 1])],
  Int32Array: [r('i32a', 'Int32Array', [])],
  Int64Array: [r('i64a', 'Int64Array', ['-9223372036854775808', 42])],
  Float32Array: [r('f32a', 'Float32Array', [1.1, -0.5, 3.4028234663852886e38])],
  Float64Array: [r('f64a', 'Float64Array', [0.1, 5e-324])],
  Binary: [r('snapshot', 'Binary', '/9j/ABA=')],
  Object: [r('status', 'Object', { mode: 'auto', level: 3, alarms: ['low-water'] })],
  null: [r('temperature', 'Float32', null, { quality: 'bad', qualityDetail: EDGEX_NULL_READING_DETAIL })],
  command: [r('temperature', 'Float32', 21.5), r('pressure', 'Float64', 1.25), r('on', 'Bool', false)],
};

const withoutIds = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (k, v: unknown) => (k === 'id' ? undefined : v)));

describe('EdgeX v3 events', () => {
  it('covers every platform valueType in the fixtures', () => {
    const types = new Set(Object.values(expected).flatMap((rs) => rs.map((x) => x.valueType)));
    expect([...VALUE_TYPES].filter((t) => !types.has(t))).toEqual([]);
    expect(Object.keys(expected).sort()).toEqual(fixtures.map((f) => f.name).sort());
  });

  it("reads EdgeX's own events (from their envelopes) as platform readings with the same valueTypes", () => {
    for (const f of fixtures) {
      const { envelope, payload } = unwrapEdgeXEnvelope(Buffer.from(f.envelope), f.topic);
      expect(envelope).toMatchObject({ apiVersion: 'v3', receivedTopic: f.topic, contentType: 'application/json', errorCode: 0 });
      expect(payload, f.name).toEqual(f.request);
      const got = edgexToReadings(payload);
      expect(got, f.name).toMatchObject({ id: f.request.event.id, deviceName: 'boiler-1', profileName: 'boiler', sourceName: f.request.event.sourceName });
      expect(got.readings, f.name).toEqual(expected[f.name]);
      for (const x of got.readings) expect(readingValueProblem(x.valueType, x.value, x.quality), f.name).toBeUndefined();
    }
  });

  it('writes platform readings exactly as EdgeX writes them', () => {
    for (const f of fixtures) {
      if (f.name === 'command') continue;
      const platform = expected[f.name]![0]!;
      const written = readingToEdgeX(platform, f.name === 'Binary' ? { mediaType: 'image/jpeg' } : {});
      expect(written.id).toMatch(/^[0-9a-f-]{36}$/);
      const want = withoutIds(f.request.event.readings[0]) as Record<string, unknown>;
      // EdgeX readings have no quality: a reading that is not good says so in its tags.
      if (f.name === 'null') want.tags = { quality: 'bad', qualityDetail: EDGEX_NULL_READING_DETAIL };
      expect(withoutIds(written), f.name).toEqual(want);
    }
    // A deviceCommand's readings in one event: the newest origin, one device and profile.
    const command = fixture('command');
    const event = edgexEventOf(expected.command!, { sourceName: 'readings' });
    expect(withoutIds(event)).toEqual(withoutIds(command.request.event));
    const request = edgexAddEventRequest(event);
    expect(request).toMatchObject({ apiVersion: 'v3', event });
    expect(request.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps quality in the tags: uncertain and bad readings, with their detail, come back as they were', () => {
    const uncertain = r('temperature', 'Float64', 80.5, { quality: 'uncertain', qualityDetail: 'MODBUS_STALE' });
    const bad = r('temperature', 'Float64', null, { quality: 'bad', qualityDetail: 'EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED' });
    const badValue = r('temperature', 'Float64', 999, { quality: 'bad' });
    for (const x of [uncertain, bad, badValue]) {
      const written = readingToEdgeX(x);
      expect(written.tags).toEqual({ quality: x.quality, ...(x.qualityDetail ? { qualityDetail: x.qualityDetail } : {}) });
      const back = edgexToReadings(JSON.parse(JSON.stringify(edgexAddEventRequest(edgexEventOf([x])))));
      expect(back.readings).toEqual([x]);
    }
    // A good reading carries no tags.
    expect(readingToEdgeX(r('t', 'Float64', 1))).not.toHaveProperty('tags');
  });

  it('reads payloads EdgeX optimised (EDGEX_OPTIMIZE_EVENT_PAYLOAD), bare events, and valueTypes in any case', () => {
    const event = {
      apiVersion: 'v3',
      id: '4f0fbb3c-6a44-4f5c-8b41-6d0f1e1a9c11',
      deviceName: 'boiler-1',
      profileName: 'boiler',
      sourceName: 'temperature',
      origin: ORIGIN,
      readings: [{ valueType: 'float32', value: '2.15e+01' }],
    };
    expect(edgexToReadings(event).readings).toEqual([r('temperature', 'Float32', 21.5)]);
    const two = { ...event, sourceName: 'cmd', readings: [{ resourceName: 'a', valueType: 'INT8', value: '-1', origin: 5 }, { resourceName: 'b', valueType: 'Bool', value: 'T' }] };
    expect(edgexToReadings({ apiVersion: 'v3', requestId: '', event: two }).readings).toEqual([r('a', 'Int8', -1, { origin: 5 }), r('b', 'Bool', true)]);
  });

  it('refuses a malformed event with a coded error naming the field, whatever is wrong', () => {
    const good = (): Record<string, unknown> => structuredClone(fixture('command').request) as unknown as Record<string, unknown>;
    const ev = (o: Record<string, unknown>): Record<string, unknown> => o.event as Record<string, unknown>;
    const reading = (o: Record<string, unknown>, i = 0): Record<string, unknown> => (ev(o).readings as Record<string, unknown>[])[i]!;
    const cases: [string, (o: Record<string, unknown>) => unknown, string, string][] = [
      ['not an object', () => 'event', 'EDGE_ERR_EDGEX_FIELD', 'payload'],
      ['request apiVersion', (o) => ({ ...o, apiVersion: 'v2' }), 'EDGE_ERR_EDGEX_FIELD', 'request.apiVersion'],
      ['event not an object', (o) => ({ ...o, event: [] }), 'EDGE_ERR_EDGEX_FIELD', 'request.event'],
      ['event apiVersion', (o) => (delete ev(o).apiVersion, o), 'EDGE_ERR_EDGEX_FIELD', 'event.apiVersion'],
      ['no id', (o) => (delete ev(o).id, o), 'EDGE_ERR_EDGEX_FIELD', 'event.id'],
      ['no deviceName', (o) => (delete ev(o).deviceName, o), 'EDGE_ERR_EDGEX_FIELD', 'event.deviceName'],
      ['deviceName a number', (o) => ((ev(o).deviceName = 7), o), 'EDGE_ERR_EDGEX_FIELD', 'event.deviceName'],
      ['no profileName', (o) => ((ev(o).profileName = ''), o), 'EDGE_ERR_EDGEX_FIELD', 'event.profileName'],
      ['no sourceName', (o) => (delete ev(o).sourceName, o), 'EDGE_ERR_EDGEX_FIELD', 'event.sourceName'],
      ['no origin', (o) => (delete ev(o).origin, o), 'EDGE_ERR_EDGEX_FIELD', 'event.origin'],
      ['origin text', (o) => ((ev(o).origin = '1733300000'), o), 'EDGE_ERR_EDGEX_FIELD', 'event.origin'],
      ['origin after 2100', (o) => ((ev(o).origin = 5e18), o), 'EDGE_ERR_EDGEX_FIELD', 'event.origin'],
      ['no readings', (o) => (delete ev(o).readings, o), 'EDGE_ERR_EDGEX_FIELD', 'event.readings'],
      ['empty readings', (o) => ((ev(o).readings = []), o), 'EDGE_ERR_EDGEX_FIELD', 'event.readings'],
      ['a reading not an object', (o) => ((ev(o).readings = [1]), o), 'EDGE_ERR_EDGEX_FIELD', 'event.readings[0]'],
      ['another device', (o) => ((reading(o, 1).deviceName = 'other'), o), 'EDGE_ERR_EDGEX_FIELD', 'event.readings[1].deviceName'],
      ['another profile', (o) => ((reading(o, 2).profileName = 'other'), o), 'EDGE_ERR_EDGEX_FIELD', 'event.readings[2].profileName'],
      ['no resourceName', (o) => (delete reading(o, 1).resourceName, o), 'EDGE_ERR_EDGEX_FIELD', 'event.readings[1].resourceName'],
      ['no valueType', (o) => (delete reading(o).valueType, o), 'EDGE_ERR_EDGEX_FIELD', 'event.readings[0].valueType'],
      ['unknown valueType', (o) => ((reading(o).valueType = 'Float128'), o), 'EDGE_ERR_EDGEX_VALUE_TYPE', 'event.readings[0].valueType'],
      ['ObjectArray', (o) => ((reading(o).valueType = 'ObjectArray'), o), 'EDGE_ERR_EDGEX_VALUE_TYPE', 'event.readings[0].valueType'],
      ['value not text', (o) => ((reading(o).value = 21.5), o), 'EDGE_ERR_EDGEX_VALUE', 'event.readings[0].value'],
      ['value not its type', (o) => ((reading(o, 2).value = 'maybe'), o), 'EDGE_ERR_EDGEX_VALUE', 'event.readings[2].value'],
      ['binaryValue not base64', (o) => Object.assign(reading(o), { valueType: 'Binary', binaryValue: 'not base64!' }) && o, 'EDGE_ERR_EDGEX_VALUE', 'event.readings[0].binaryValue'],
      ['objectValue not an object', (o) => Object.assign(reading(o), { valueType: 'Object', objectValue: [1, 2] }) && o, 'EDGE_ERR_EDGEX_VALUE', 'event.readings[0].objectValue'],
      ['units not text', (o) => ((reading(o).units = 3), o), 'EDGE_ERR_EDGEX_FIELD', 'event.readings[0].units'],
      ['reading origin negative', (o) => ((reading(o).origin = -5), o), 'EDGE_ERR_EDGEX_FIELD', 'event.readings[0].origin'],
    ];
    for (const [what, change, code, field] of cases) {
      let caught: unknown;
      try {
        edgexToReadings(change(good()));
      } catch (err) {
        caught = err;
      }
      expect(caught, what).toMatchObject({ code, params: expect.objectContaining({ field }) });
      expect((caught as Error).message, what).toContain(field);
    }
  });

  it('refuses to write a reading whose value does not fit its valueType, or an event of several devices', () => {
    expect(() => readingToEdgeX(r('t', 'Uint8', 300))).toThrow(/reading of 'boiler-1' resource 't' cannot be an EdgeX reading: 300 is outside 0\.\.255/);
    expect(() => edgexEventOf([])).toThrow(/at least one reading/);
    expect(() => edgexEventOf([r('a', 'Bool', true), { ...r('b', 'Bool', true), device: 'boiler-2' }], { sourceName: 's' })).toThrow(/one device and profile/);
    expect(() => edgexEventOf([r('a', 'Bool', true), r('b', 'Bool', true)])).toThrow(/2 readings in one event need a sourceName/);
  });

  it('brings any valid reading back unchanged through an EdgeX event (Float32 to float32 precision)', () => {
    const scalar: Record<string, fc.Arbitrary<Reading['value']>> = {
      Bool: fc.boolean(),
      String: fc.string(),
      Uint8: fc.integer({ min: 0, max: 255 }),
      Uint16: fc.integer({ min: 0, max: 65535 }),
      Uint32: fc.integer({ min: 0, max: 4294967295 }),
      Uint64: fc.oneof(fc.maxSafeNat(), fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }).map((b) => b.toString())),
      Int8: fc.integer({ min: -128, max: 127 }),
      Int16: fc.integer({ min: -32768, max: 32767 }),
      Int32: fc.integer({ min: -2147483648, max: 2147483647 }),
      Int64: fc.oneof(fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 63n), max: -(2n ** 53n) }).map((b) => b.toString())),
      Float32: fc.float({ noNaN: true, noDefaultInfinity: true }).map((f) => (Object.is(f, -0) ? 0 : f)),
      Float64: fc.double({ noNaN: true, noDefaultInfinity: true }).map((f) => (Object.is(f, -0) ? 0 : f)),
    };
    // EdgeX's array text cannot hold a space or a comma inside an item.
    const arrayItem: Record<string, fc.Arbitrary<Reading['value']>> = { ...scalar, String: fc.stringMatching(/^[^\s,[\]]+$/) };
    const typed = fc.constantFrom(...VALUE_TYPES).chain((valueType): fc.Arbitrary<[ValueType, Reading['value']]> => {
      if (valueType === 'Binary') return fc.uint8Array({ maxLength: 64 }).map((b) => [valueType, Buffer.from(b).toString('base64')]);
      if (valueType === 'Object') return fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Reading['value']>).map((o) => [valueType, JSON.parse(JSON.stringify(o)) as Reading['value']]);
      if (valueType.endsWith('Array')) return fc.array(arrayItem[valueType.slice(0, -5)]!, { maxLength: 6 }).map((a) => [valueType, a]);
      return scalar[valueType]!.map((v) => [valueType, v]);
    });
    fc.assert(
      fc.property(typed, fc.constantFrom('good', 'uncertain', 'bad'), fc.option(fc.stringMatching(/^[a-z ]{1,20}$/), { nil: undefined }), ([valueType, value], quality, units) => {
        const reading = r('res', valueType, value, { quality, ...(units === undefined ? {} : { units }) });
        if (readingValueProblem(valueType, value, quality) !== undefined) return;
        const wire = JSON.parse(JSON.stringify(edgexAddEventRequest(edgexEventOf([reading])))) as unknown;
        const [back] = edgexToReadings(wire).readings;
        if (valueType === 'Float32') expect(Math.fround(back!.value as number)).toBe(Math.fround(value as number));
        else if (valueType === 'Float32Array') expect((back!.value as number[]).map(Math.fround)).toEqual((value as number[]).map(Math.fround));
        else expect(back).toEqual(reading);
      }),
      { numRuns: 2000 },
    );
  });
});
