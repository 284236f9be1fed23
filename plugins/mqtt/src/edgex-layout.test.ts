/**
 * EdgeX device-mqtt's layout, the pure parts: the protocol block with
 * `layout` (defaults, the annotation of an imported Device, every bad field),
 * the profile as a model, a data message's routing and refusal reasons, and
 * the casts of device-mqtt's newResult for each valueType.
 */
import { describe, expect, it } from 'vitest';
import { EDGEX_NAME_ANNOTATION, type DriverCommand, type DriverResource } from '../../../core/sdk/index.ts';
import { castEdgeXValue, decodeEdgeXData, edgexDeviceTopics, formatGoFixed, goParseFloat, goParseInt, resolveEdgeXModel } from './edgex-layout.ts';
import { readProtocol, type EdgeXTarget } from './protocol.ts';

const imported = (protocol: Record<string, unknown>, edgexName = 'MQTT-test-device') => ({
  site: 'plant-a',
  name: 'mqtt-test-device',
  protocol,
  annotations: { [EDGEX_NAME_ANNOTATION]: edgexName },
});

describe('the protocol block, layout edgex', () => {
  it('is the default of a Device imported from EdgeX files, with device-mqtt v3 defaults and the EdgeX name in topics', () => {
    expect(readProtocol(imported({ CommandTopic: 'command/MQTT-test-device' }))).toEqual({
      layout: 'edgex',
      issues: [],
      target: {
        layout: 'edgex',
        qos: 0,
        commandTimeoutMs: 5000,
        commandTopic: 'command/MQTT-test-device',
        incomingTopic: 'incoming/data',
        responseTopic: 'command/response',
        deviceName: 'MQTT-test-device',
      },
    });
    // EdgeX's own forms of the topics (a trailing /#), a QoS as text, a name of one's own.
    const t = readProtocol(imported({ CommandTopic: 'cmd/x/#', IncomingTopic: 'plant/in/#', ResponseTopic: 'plant/resp/#', Qos: '1', deviceName: 'Sensor-7' })).target as EdgeXTarget;
    expect(t).toMatchObject({ commandTopic: 'cmd/x', incomingTopic: 'plant/in', responseTopic: 'plant/resp', qos: 1, deviceName: 'Sensor-7' });
    expect(edgexDeviceTopics(t)).toEqual({ publish: ['plant/in/Sensor-7/#', 'plant/resp/+'], subscribe: ['cmd/x/#'] });
  });

  it('is chosen by `layout` for a Device made here (its name in topics), and `layout: edgeadm` keeps an imported Device in the platform layout', () => {
    const own = readProtocol({ site: 'plant-a', name: 'dev-1', protocol: { layout: 'edgex', commandTopic: 'command/dev-1' } });
    expect(own.target).toMatchObject({ layout: 'edgex', deviceName: 'dev-1' });
    expect(readProtocol(imported({ layout: 'edgeadm', topic: 'plant/dev' })).target).toMatchObject({ layout: 'edgeadm', baseTopic: 'plant/dev' });
    expect(readProtocol({ site: 'plant-a', name: 'dev-1', protocol: {} }).target).toMatchObject({ layout: 'edgeadm' });
  });

  it('reports every bad field, naming it', () => {
    const r = readProtocol(imported({ layout: 'edgex', topic: 'x', incomingTopic: 'a/+/b', responseTopic: 7, deviceName: 'a/b' }));
    expect(r.target).toBeUndefined();
    expect(r.layout).toBe('edgex');
    expect(r.issues.map((i) => i.path).sort()).toEqual([
      'protocols.mqtt.CommandTopic',
      'protocols.mqtt.deviceName',
      'protocols.mqtt.incomingTopic',
      'protocols.mqtt.responseTopic',
      'protocols.mqtt.topic',
    ]);
    expect(r.issues.find((i) => i.path.endsWith('CommandTopic'))?.message).toMatch(/required with layout edgex/);
    expect(r.issues.every((i) => i.code === 'EDGE_ERR_MQTT_PROTOCOL_INVALID')).toBe(true);
    expect(readProtocol(imported({ layout: 'modbus', CommandTopic: 'c/x' })).issues.map((i) => [i.path, i.message])).toEqual([['protocols.mqtt.layout', 'layout must be edgeadm or edgex, got "modbus"']]);
    // An EdgeX name that cannot be a topic level: the annotation is named, and deviceName is the way out.
    const bad = readProtocol(imported({ CommandTopic: 'c/x' }, 'Hall/Sensor #1'));
    expect(bad.issues.map((i) => [i.path, i.message])).toEqual([['protocols.mqtt.deviceName', `the EdgeX name 'Hall/Sensor #1' (annotation ${EDGEX_NAME_ANNOTATION}) holds a /: it cannot be a topic level; set deviceName`]]);
    expect(readProtocol(imported({ CommandTopic: 'c/x', deviceName: 'hall-sensor-1' }, 'Hall/Sensor #1')).issues).toEqual([]);
    // The platform layout's own fields.
    expect(readProtocol({ site: 's', name: 'd', protocol: { deviceName: 'x' } }).issues.map((i) => i.path)).toEqual(['protocols.mqtt.deviceName']);
  });
});

const R = (name: string, valueType: DriverResource['valueType'], readWrite: DriverResource['readWrite'] = 'RW'): DriverResource => ({ name, valueType, readWrite, attributes: {}, properties: {} });
const RESOURCES = [R('randfloat32', 'Float32'), R('randfloat64', 'Float64'), R('ping', 'String', 'R'), R('message', 'String'), R('reset', 'Bool', 'W')];
const COMMANDS: DriverCommand[] = [
  { name: 'testrandfloat32', readWrite: 'R', resources: ['randfloat32'] },
  { name: 'randfloat32andfloat64', readWrite: 'RW', resources: ['randfloat32', 'randfloat64'] },
  { name: 'doreset', readWrite: 'W', resources: ['reset'] },
];
const { model } = resolveEdgeXModel(RESOURCES, COMMANDS);
const msg = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

describe('the profile as a model', () => {
  it('reports duplicate resources, unknown valueTypes and commands naming resources the profile lacks', () => {
    const { issues } = resolveEdgeXModel(
      [R('a', 'Float32'), R('a', 'Int8'), { ...R('b', 'Int8'), valueType: 'Decimal' as never }],
      [{ name: 'c', readWrite: 'R', resources: ['a', 'zz'] }, { name: 'd', readWrite: 'X' as never, resources: [] }],
    );
    expect(issues.map((i) => [i.path, i.code])).toEqual([
      ['deviceResources[1](a).name', 'EDGE_ERR_MQTT_PROFILE_DUPLICATE'],
      ['deviceResources[2](b).properties.valueType', 'EDGE_ERR_MQTT_PROFILE_TYPE'],
      ['deviceCommands[0](c).resourceOperations[1].deviceResource', 'EDGE_ERR_MQTT_PROFILE_COMMAND'],
      ['deviceCommands[1](d).readWrite', 'EDGE_ERR_MQTT_PROFILE_COMMAND'],
    ]);
  });
});

describe('a data message', () => {
  it('of a resource source gives its value; of a command source one value per resource, in order', () => {
    expect(decodeEdgeXData(model, 'randfloat32', msg({ randfloat32: 27.5, other: 1 }))).toEqual({ values: [{ resource: model.resources.get('randfloat32'), value: 27.5 }] });
    const both = decodeEdgeXData(model, 'randfloat32andfloat64', msg({ randfloat64: '1.5e+00', randfloat32: '4.20e+01' }));
    expect('values' in both && both.values.map((v) => [v.resource.name, v.value])).toEqual([
      ['randfloat32', 42],
      ['randfloat64', 1.5],
    ]);
  });

  it('is refused as a whole, with its reason, as device-mqtt refuses it', () => {
    const reason = (source: string, payload: unknown): unknown => {
      const d = decodeEdgeXData(model, source, msg(payload));
      return 'refused' in d ? [d.refused.kind, d.refused.reason] : d;
    };
    expect(reason('randfloat32', 'not json')).toEqual(['malformed', expect.stringMatching(/^not JSON: /) as unknown]);
    expect(reason('randfloat32', [1, 2])).toEqual(['malformed', 'not a JSON object (an array)']);
    expect(reason('randfloat32', 'null')).toEqual(['malformed', 'not a JSON object (null)']);
    expect(reason('nosuch', { nosuch: 1 })).toEqual(['mismatched', "source 'nosuch' is neither a deviceCommand nor a deviceResource of the device"]);
    expect(reason('reset', { reset: true })).toEqual(['mismatched', "deviceResource 'reset' is not readable"]);
    expect(reason('doreset', { reset: true })).toEqual(['mismatched', "deviceCommand 'doreset' is not readable"]);
    expect(reason('randfloat32andfloat64', { randfloat32: 1 })).toEqual(['mismatched', "resource 'randfloat64' is not in the payload"]);
    expect(reason('randfloat32', { randfloat32: 'lots' })).toEqual(['mismatched', `resource 'randfloat32': "lots" is not a number as Go reads it (valueType Float32)`]);
    expect(reason('randfloat32', { randfloat32: 1e39 })).toEqual(['mismatched', "resource 'randfloat32': 1e+39 is outside the Float32 range (valueType Float32)"]);
  });
});

describe("values cast as device-mqtt's newResult casts them", () => {
  const cast = (t: DriverResource['valueType'], v: unknown): unknown => {
    const r = castEdgeXValue(t, v);
    return 'value' in r ? r.value : 'refused';
  };

  it('floats: JSON numbers, Go float text, booleans and null; NaN, infinities and out-of-range refused; Float32 rounded', () => {
    expect(cast('Float64', 12.64)).toBe(12.64);
    expect(cast('Float64', '4.20e+01')).toBe(42);
    expect(cast('Float64', ' 42')).toBe('refused');
    expect(cast('Float64', '1_000.5')).toBe(1000.5);
    expect(cast('Float64', '1__0')).toBe('refused');
    expect(cast('Float64', '0x1p-2')).toBe(0.25);
    expect(cast('Float64', '0x1.8p1')).toBe(3);
    expect(cast('Float64', '.5')).toBe(0.5);
    expect(cast('Float64', '5.')).toBe(5);
    expect(cast('Float64', true)).toBe(1);
    expect(cast('Float64', null)).toBe(0);
    for (const bad of ['NaN', 'Inf', '-infinity', '1e400', '', '1e', 'twelve', [1], { a: 1 }]) expect(cast('Float64', bad), JSON.stringify(bad)).toBe('refused');
    expect(cast('Float32', 12.123)).toBe(Math.fround(12.123));
    // Range first, on the float64 (checkValueInRange): Go's own text of the largest float32 is just beyond it.
    expect(cast('Float32', '3.4028234e+38')).toBe(Math.fround(3.4028234e38));
    expect(cast('Float32', '3.4028235e+38')).toBe('refused');
    expect(cast('Float32', 3.5e38)).toBe('refused');
  });

  it('integers: fractions cut, Go base prefixes, a zero decimal tail dropped, the range checked, negative unsigned refused', () => {
    expect(cast('Int8', 12.9)).toBe(12);
    expect(cast('Int8', -12.9)).toBe(-12);
    expect(cast('Int8', '42.000')).toBe(42);
    expect(cast('Int8', '42.5')).toBe('refused');
    expect(cast('Int16', '0x1F')).toBe(31);
    expect(cast('Int16', '017')).toBe(15);
    expect(cast('Int16', '0b101')).toBe(5);
    expect(cast('Int16', '0o17')).toBe(15);
    expect(cast('Int32', '1_000')).toBe(1000);
    expect(cast('Int8', '-128')).toBe(-128);
    expect(cast('Int8', 128)).toBe('refused');
    expect(cast('Int8', '300')).toBe('refused');
    expect(cast('Int8', true)).toBe(1);
    expect(cast('Int8', null)).toBe(0);
    expect(cast('Int64', '9223372036854775807')).toBe('9223372036854775807');
    expect(cast('Int64', '9223372036854775808')).toBe('refused');
    expect(cast('Uint8', 255)).toBe(255);
    expect(cast('Uint8', 256)).toBe('refused');
    expect(cast('Uint16', -1)).toBe('refused');
    expect(cast('Uint16', '-1')).toBe('refused');
    expect(cast('Uint64', 2 ** 60)).toBe('1152921504606846976');
    expect(cast('Int32', 'x12')).toBe('refused');
  });

  it('Bool as Go reads it; String from numbers in fixed notation; Object only an object; Array and Binary types refused', () => {
    expect(cast('Bool', 'TRUE')).toBe(true);
    expect(cast('Bool', 'f')).toBe(false);
    expect(cast('Bool', 'yes')).toBe('refused');
    expect(cast('Bool', 2)).toBe(true);
    expect(cast('Bool', 0)).toBe(false);
    expect(cast('Bool', null)).toBe(false);
    expect(cast('String', 'pong')).toBe('pong');
    expect(cast('String', 42.5)).toBe('42.5');
    expect(cast('String', 1e21)).toBe('1000000000000000000000');
    expect(cast('String', 1.5e-7)).toBe('0.00000015');
    expect(cast('String', false)).toBe('false');
    expect(cast('String', null)).toBe('');
    expect(cast('String', { a: 1 })).toBe('refused');
    expect(cast('Object', { a: [1] })).toEqual({ a: [1] });
    expect(cast('Object', 'x')).toBe('refused');
    expect(cast('Float32Array', [1])).toBe('refused');
    expect(cast('Binary', 'AAAA')).toBe('refused');
  });

  it("Go's number parsers and fixed formatting", () => {
    expect(goParseInt('0')).toBe(0n);
    expect(goParseInt('-0x_1F')).toBe(-31n);
    expect(goParseInt('0x')).toBeUndefined();
    expect(goParseInt('_1')).toBeUndefined();
    expect(goParseFloat('+Inf')).toBe(Infinity);
    expect(goParseFloat('-1.5E-3')).toBe(-0.0015);
    expect(formatGoFixed(-1.25e-10)).toBe('-0.000000000125');
    expect(formatGoFixed(1.5e300)).toBe(`15${'0'.repeat(299)}`);
  });
});
