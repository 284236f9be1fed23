import { describe, expect, it } from 'vitest';
import type { DriverResource } from '../../../core/sdk/index.ts';
import { extract, originOf, parsePath, resolvePoints, select, valueTypeProblem } from './profile.ts';
import { parseDuration, readProtocol } from './protocol.ts';

function res(name: string, valueType: DriverResource['valueType'], attributes: Record<string, unknown>, extra: Partial<DriverResource> = {}): DriverResource {
  return { name, valueType, readWrite: 'R', attributes, properties: {}, ...extra };
}

describe('field paths', () => {
  it('parses dotted paths with indexes and rejects malformed ones', () => {
    expect(parsePath('a.b[0].c')).toEqual(['a', 'b', 0, 'c']);
    expect(parsePath('$.a[1][2]')).toEqual(['a', 1, 2]);
    expect(parsePath('[0].v')).toEqual([0, 'v']);
    expect(parsePath('')).toEqual([]);
    for (const bad of ['a..b', 'a.', '.a', 'a[x]', 'a[0]b', 'a[', 'a]']) expect(parsePath(bad), bad).toBeUndefined();
  });

  it('selects fields and reports missing ones', () => {
    const doc = { a: { b: [{ c: 21.5 }] }, n: null };
    expect(select(doc, ['a', 'b', 0, 'c'])).toEqual({ found: true, value: 21.5 });
    expect(select(doc, ['n'])).toEqual({ found: true, value: null });
    expect(select(doc, ['a', 'b', 1, 'c'])).toEqual({ found: false });
    expect(select(doc, ['a', 'toString'])).toEqual({ found: false });
  });
});

describe('value types', () => {
  it('accepts values of the valueType and names what is wrong otherwise', () => {
    expect(valueTypeProblem('Float64', 21.5)).toBeUndefined();
    expect(valueTypeProblem('Float64', '21.5')).toMatch(/string "21.5" is not a finite number/);
    expect(valueTypeProblem('Uint8', 256)).toMatch(/outside 0..255/);
    expect(valueTypeProblem('Int16', 1.5)).toMatch(/not an integer/);
    expect(valueTypeProblem('Bool', 1)).toMatch(/not a boolean/);
    expect(valueTypeProblem('Int32Array', [1, 2, 'x'])).toMatch(/item 2/);
    expect(valueTypeProblem('Object', { a: 1 })).toBeUndefined();
    expect(valueTypeProblem('Object', [1])).toMatch(/not an object/);
  });

  it('reads source times in s, ms, µs, ns and ISO 8601', () => {
    const ns = Date.UTC(2026, 0, 2, 3, 4, 5) * 1e6;
    expect(originOf(ns / 1e9)).toBe(ns);
    expect(originOf(ns / 1e6)).toBe(ns);
    expect(originOf(ns / 1e3)).toBe(ns);
    expect(originOf(ns)).toBe(ns);
    expect(originOf('2026-01-02T03:04:05Z')).toBe(ns);
    expect(originOf('yesterday')).toBeUndefined();
  });
});

describe('resource mapping', () => {
  const base = 'edgeadm/plant-a/meter-1';

  it('resolves relative, absolute and default topics', () => {
    const { points, issues } = resolvePoints(
      [res('Temp', 'Float64', { topic: 'telemetry', path: 'env.temp' }), res('Raw', 'Float32', { topic: '/legacy/raw', payload: 'number' }), res('Name', 'String', { payload: 'text' }), res('Setpoint', 'Float64', {}, { readWrite: 'W' })],
      base,
    );
    expect(issues).toEqual([]);
    expect(points.map((p) => p.topic)).toEqual([`${base}/telemetry`, 'legacy/raw', `${base}/Name`, undefined]);
  });

  it('reports every profile problem at once, each naming the resource and field', () => {
    const { points, issues } = resolvePoints(
      [
        res('A', 'Float64', { topic: 'x/+/y' }),
        res('B', 'Float64', { payload: 'xml' }),
        res('C', 'Bool', { payload: 'number' }),
        res('D', 'Float64', { payload: 'json', path: 'a..b' }),
        res('E', 'Int32', { payload: 'number', path: 'a' }),
        res('F', 'Float64', { topic: 7 }),
        res('G', 'Float64', {}),
        res('G', 'Float64', {}),
        res('H', 'Nope' as DriverResource['valueType'], {}),
      ],
      base,
    );
    expect(points.map((p) => p.resource)).toEqual(['G']);
    expect(issues.map((i) => [i.path, i.code])).toEqual([
      ['deviceResources[0](A).attributes.topic', 'EDGE_ERR_MQTT_PROFILE_TOPIC'],
      ['deviceResources[1](B).attributes.payload', 'EDGE_ERR_MQTT_PROFILE_PAYLOAD'],
      ['deviceResources[2](C).attributes.payload', 'EDGE_ERR_MQTT_PROFILE_PAYLOAD'],
      ['deviceResources[3](D).attributes.path', 'EDGE_ERR_MQTT_PROFILE_PATH'],
      ['deviceResources[4](E).attributes.path', 'EDGE_ERR_MQTT_PROFILE_PATH'],
      ['deviceResources[5](F).attributes.topic', 'EDGE_ERR_MQTT_PROFILE_TOPIC'],
      ['deviceResources[7](G).name', 'EDGE_ERR_MQTT_PROFILE_DUPLICATE'],
      ['deviceResources[8](H).properties.valueType', 'EDGE_ERR_MQTT_PROFILE_TYPE'],
    ]);
    expect(issues[0]!.message).toMatch(/wildcard/);
  });

  it('extracts json fields, numbers and text, and refuses values of the wrong type', () => {
    const { points } = resolvePoints(
      [res('T', 'Float64', { path: 'a[0].t', timestampPath: 'ts' }), res('N', 'Int16', { payload: 'number' }), res('S', 'String', { payload: 'text' }), res('Q', 'Float64', { path: 'q' })],
      base,
    );
    const [t, n, s, q] = points as [never, never, never, never];
    const doc = { a: [{ t: 20.5 }], ts: 1_700_000_000_000, q: 'high' };
    expect(extract(t, Buffer.from(''), doc)).toEqual({ ok: true, value: 20.5, origin: 1_700_000_000_000 * 1e6 });
    expect(extract(n, Buffer.from(' -12\n'), undefined)).toEqual({ ok: true, value: -12 });
    expect(extract(n, Buffer.from('twelve'), undefined)).toMatchObject({ ok: false, detail: 'EDGE_ERR_MQTT_VALUE_TYPE' });
    expect(extract(n, Buffer.from('40000'), undefined)).toMatchObject({ ok: false, detail: 'EDGE_ERR_MQTT_VALUE_TYPE' });
    expect(extract(s, Buffer.from('running'), undefined)).toEqual({ ok: true, value: 'running' });
    expect(extract(q, Buffer.from(''), doc)).toMatchObject({ ok: false, detail: 'EDGE_ERR_MQTT_VALUE_TYPE' });
    expect(extract(q, Buffer.from(''), {})).toMatchObject({ ok: false, detail: 'EDGE_ERR_MQTT_PATH_MISSING' });
    expect(extract(t, Buffer.from(''), { a: [{ t: 1 }], ts: 'soon' })).toMatchObject({ ok: true, value: 1, originProblem: expect.stringMatching(/not a time/) as unknown });
  });
});

describe('protocol block', () => {
  const dev = (protocol: Record<string, unknown>): { site: string; name: string; protocol: Record<string, unknown> } => ({ site: 'plant-a', name: 'meter-1', protocol });

  it('applies defaults and EdgeX field names', () => {
    expect(readProtocol(dev({})).target).toEqual({
      layout: 'edgeadm',
      baseTopic: 'edgeadm/plant-a/meter-1',
      qos: 0,
      commandTopic: 'edgeadm/plant-a/meter-1/command',
      responseTopic: 'edgeadm/plant-a/meter-1/response',
      commandTimeoutMs: 5000,
    });
    expect(readProtocol(dev({ Topic: 'devices/m1', CommandTopic: 'cmd/m1', QoS: '1', commandTimeout: '1.5s', brokerUrl: 'mqtt://127.0.0.1:1883' })).target).toEqual({
      layout: 'edgeadm',
      baseTopic: 'devices/m1',
      qos: 1,
      commandTopic: 'cmd/m1',
      responseTopic: 'devices/m1/response',
      commandTimeoutMs: 1500,
      brokerUrl: 'mqtt://127.0.0.1:1883',
    });
  });

  it('reports every bad field', () => {
    const { target, issues } = readProtocol(dev({ topic: 'a/#', qos: 2, commandTimeout: 'soon', brokerUrl: 'http://x', responseTopic: 5 }));
    expect(target).toBeUndefined();
    expect(issues.map((i) => i.path).sort()).toEqual(['protocols.mqtt.brokerUrl', 'protocols.mqtt.commandTimeout', 'protocols.mqtt.qos', 'protocols.mqtt.responseTopic', 'protocols.mqtt.topic']);
    expect(issues.every((i) => i.code === 'EDGE_ERR_MQTT_PROTOCOL_INVALID')).toBe(true);
  });

  it('parses durations: Go durations or milliseconds, never negative', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration(' 5s ')).toBe(5000);
    expect(parseDuration('1500us')).toBe(2);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration(40)).toBe(40);
    for (const bad of ['5 parsecs', '5 s', '500', '-1s', '1d', '', -1, Number.NaN, true]) expect(parseDuration(bad), String(bad)).toBeUndefined();
  });
});
