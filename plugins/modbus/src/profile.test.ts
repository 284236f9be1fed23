import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { DriverResource, ValueType } from '../../../core/sdk/index.ts';
import { PROFILE_ISSUE } from './errors.ts';
import { resolvePoints, type ModbusPoint } from './profile.ts';

interface EdgeXResource {
  name: string;
  attributes?: Record<string, unknown>;
  properties: Record<string, unknown> & { valueType: ValueType; readWrite: string; units?: string };
}

/** An EdgeX profile file as the site agent hands its resources to a driver. */
function loadProfile(file: string): DriverResource[] {
  const doc = parse(readFileSync(new URL(`./fixtures/${file}`, import.meta.url), 'utf8')) as { deviceResources: EdgeXResource[] };
  return doc.deviceResources.map((r) => {
    const { valueType, readWrite, units, ...properties } = r.properties;
    return {
      name: r.name,
      valueType,
      readWrite: readWrite === 'WR' ? 'RW' : (readWrite as 'R' | 'W' | 'RW'),
      ...(units ? { units } : {}),
      attributes: r.attributes ?? {},
      properties,
    };
  });
}

function res(name: string, valueType: ValueType, attributes: Record<string, unknown>, properties: Record<string, unknown> = {}, readWrite: 'R' | 'W' | 'RW' = 'RW'): DriverResource {
  return { name, valueType, readWrite, attributes, properties };
}

function one(r: DriverResource): ModbusPoint {
  const { points, issues } = resolvePoints([r]);
  expect(issues).toEqual([]);
  return points[0]!;
}

describe('resolvePoints: EdgeX sample profiles', () => {
  it('loads device-modbus-go modbus.test.device.profile.yml (v3 form) with no issues', () => {
    const { points, issues } = resolvePoints(loadProfile('edgex-v3-modbus.test.device.profile.yml'));
    expect(issues).toEqual([]);
    const base = { byteSwap: false, wordSwap: false, transform: {} };
    expect(points).toEqual([
      { ...base, resource: 'SwitchA', table: 'COILS', address: 0, rawType: 'Bool', valueType: 'Bool', registers: 1, readWrite: 'RW' },
      { ...base, resource: 'SwitchB', table: 'COILS', address: 14, rawType: 'Bool', valueType: 'Bool', registers: 1, readWrite: 'RW' },
      { ...base, resource: 'OperationMode', table: 'HOLDING_REGISTERS', address: 1, rawType: 'Int16', valueType: 'Int16', registers: 1, readWrite: 'RW', minimum: 0, maximum: 11 },
      // YAML 10.10 is the number 10.1; EdgeX reads it through two decimals: register 10, bit 10.
      { ...base, resource: 'CommunicationFailure', table: 'HOLDING_REGISTERS', address: 10, bit: 10, rawType: 'Bool', valueType: 'Bool', registers: 1, readWrite: 'R' },
      { ...base, resource: 'FanSpeed', table: 'HOLDING_REGISTERS', address: 2, rawType: 'Int32', valueType: 'Int32', registers: 2, readWrite: 'RW', minimum: 0, maximum: 9 },
      { ...base, resource: 'RoomTemperature', table: 'INPUT_REGISTERS', address: 3, rawType: 'Int16', valueType: 'Float32', registers: 1, readWrite: 'R', transform: { scale: 0.1 } },
      { ...base, resource: 'Temperature', table: 'HOLDING_REGISTERS', address: 5, rawType: 'Int16', valueType: 'Float32', registers: 1, readWrite: 'RW', transform: { scale: 0.1 } },
    ]);
  });

  it('loads the v2 form of the same profile (numbers as strings) with no issues', () => {
    const { points, issues } = resolvePoints(loadProfile('edgex-v2-modbus.test.device.profile.yml'));
    expect(issues).toEqual([]);
    expect(points.map((p) => [p.resource, p.table, p.address, p.rawType, p.valueType, p.registers, p.transform, p.minimum, p.maximum])).toEqual([
      ['SwitchA', 'COILS', 1, 'Bool', 'Bool', 1, {}, undefined, undefined],
      ['SwitchB', 'COILS', 15, 'Bool', 'Bool', 1, {}, undefined, undefined],
      ['OperationMode', 'HOLDING_REGISTERS', 2, 'Int16', 'Int16', 1, {}, 0, 11],
      ['FanSpeed', 'HOLDING_REGISTERS', 3, 'Int32', 'Int32', 2, {}, 0, 9],
      ['RoomTemperature', 'INPUT_REGISTERS', 4, 'Float32', 'Float32', 2, {}, undefined, undefined],
      ['Temperature', 'HOLDING_REGISTERS', 5, 'Float64', 'Float64', 4, { scale: 0.1 }, undefined, undefined],
    ]);
  });

  it('loads the string profile: stringRegisterSize sets the register count', () => {
    const { points, issues } = resolvePoints(loadProfile('edgex-modbus.test.device.string.profile.yml'));
    expect(issues).toEqual([]);
    expect(points.map((p) => [p.resource, p.table, p.address, p.registers, p.stringRegisterSize, p.readWrite])).toEqual([
      ['StringA', 'INPUT_REGISTERS', 1, 1, 1, 'R'],
      ['StringB', 'HOLDING_REGISTERS', 15, 5, 5, 'RW'],
    ]);
  });
});

describe('resolvePoints: attribute forms', () => {
  it('takes tables in any case, EdgeX\'s DISCRETES_INPUT spelling, string numbers and string booleans', () => {
    const p = one(res('v', 'Uint32', { primaryTable: 'holding_registers', startingAddress: '0x10', isByteSwap: 'true', isWordSwap: 'FALSE' }));
    expect(p).toMatchObject({ table: 'HOLDING_REGISTERS', address: 16, byteSwap: true, wordSwap: false, registers: 2 });
    expect(one(res('d', 'Bool', { primaryTable: 'DISCRETES_INPUT', startingAddress: 3 }, {}, 'R'))).toMatchObject({ table: 'DISCRETE_INPUTS', address: 3 });
    expect(one(res('w', 'Float64', { primaryTable: 'INPUT_REGISTERS', startingAddress: 0, isWordSwap: true }, {}, 'R'))).toMatchObject({ wordSwap: true, registers: 4 });
  });

  it('reads "reg.bit" strings and fractional numbers as EdgeX does', () => {
    expect(one(res('a', 'Bool', { primaryTable: 'HOLDING_REGISTERS', startingAddress: '7.3' }))).toMatchObject({ address: 7, bit: 3 });
    expect(one(res('b', 'Bool', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 7.15 }))).toMatchObject({ address: 7, bit: 15 });
    expect(one(res('c', 'Bool', { primaryTable: 'INPUT_REGISTERS', startingAddress: '7.0' }, {}, 'R'))).toMatchObject({ address: 7, bit: 0 });
  });

  it('sizes every valueType and honours rawType', () => {
    const sizes = (['Int8', 'Uint8', 'Int16', 'Uint16', 'Int32', 'Uint32', 'Float32', 'Int64', 'Uint64', 'Float64'] as const).map(
      (vt) => one(res(vt, vt, { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0 })).registers,
    );
    expect(sizes).toEqual([1, 1, 1, 1, 2, 2, 2, 4, 4, 4]);
    expect(one(res('t', 'Float64', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0, rawType: 'INT32' }))).toMatchObject({ rawType: 'Int32', registers: 2 });
    expect(one(res('u', 'Int32', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0, rawType: 'uint16' }))).toMatchObject({ rawType: 'Uint16', registers: 1 });
  });

  it('drops EdgeX\'s identity transforms and parses the others', () => {
    const p = one(res('t', 'Uint16', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0 }, { scale: '1', offset: '0', base: '0', mask: '0', shift: '0' }));
    expect(p.transform).toEqual({});
    const q = one(res('t', 'Uint16', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0 }, { scale: '0.5', offset: -3, base: '2', mask: '0xFF00', shift: '-8' }));
    expect(q.transform).toEqual({ scale: 0.5, offset: -3, base: 2, mask: 0xff00n, shift: -8 });
  });
});

describe('resolvePoints: issues', () => {
  const HR = 'HOLDING_REGISTERS';
  const cases: [string, DriverResource, { path: string; code: string; message: RegExp }][] = [
    ['unknown table', res('x', 'Int16', { primaryTable: 'REGISTERS', startingAddress: 0 }), { path: 'attributes.primaryTable', code: PROFILE_ISSUE.table, message: /'REGISTERS' is not one of COILS/ }],
    ['missing table', res('x', 'Int16', { startingAddress: 0 }), { path: 'attributes.primaryTable', code: PROFILE_ISSUE.table, message: /required/ }],
    ['address above 65535', res('x', 'Int16', { primaryTable: HR, startingAddress: 65536 }), { path: 'attributes.startingAddress', code: PROFILE_ISSUE.address, message: /0\.\.65535, is 65536/ }],
    ['negative address', res('x', 'Int16', { primaryTable: HR, startingAddress: -1 }), { path: 'attributes.startingAddress', code: PROFILE_ISSUE.address, message: /zero-based/ }],
    ['missing address', res('x', 'Int16', { primaryTable: HR }), { path: 'attributes.startingAddress', code: PROFILE_ISSUE.address, message: /required/ }],
    ['text address', res('x', 'Int16', { primaryTable: HR, startingAddress: 'ten' }), { path: 'attributes.startingAddress', code: PROFILE_ISSUE.address, message: /'ten'/ }],
    ['value past the last register', res('x', 'Float64', { primaryTable: HR, startingAddress: 65533 }), { path: 'attributes.startingAddress', code: PROFILE_ISSUE.address, message: /4-register value at 65533 runs past/ }],
    ['bit above 15', res('x', 'Bool', { primaryTable: HR, startingAddress: '3.16' }), { path: 'attributes.startingAddress', code: PROFILE_ISSUE.bit, message: /bit 16 .* outside 0\.\.15/ }],
    ['bit on a non-Bool', res('x', 'Int16', { primaryTable: HR, startingAddress: '3.1' }), { path: 'attributes.startingAddress', code: PROFILE_ISSUE.bit, message: /needs valueType Bool/ }],
    ['bit on coils', res('x', 'Bool', { primaryTable: 'COILS', startingAddress: '3.1' }), { path: 'attributes.startingAddress', code: PROFILE_ISSUE.bit, message: /not COILS/ }],
    ['Bool on registers without a bit', res('x', 'Bool', { primaryTable: HR, startingAddress: 3 }), { path: 'attributes.startingAddress', code: PROFILE_ISSUE.type, message: /needs a bit.*"3\.0"/ }],
    ['4-register value in COILS', res('x', 'Float64', { primaryTable: 'COILS', startingAddress: 0 }), { path: 'properties.valueType', code: PROFILE_ISSUE.type, message: /COILS hold single bits: valueType must be Bool/ }],
    ['valueType Modbus cannot carry', res('x', 'Binary', { primaryTable: HR, startingAddress: 0 }), { path: 'properties.valueType', code: PROFILE_ISSUE.type, message: /'Binary' cannot be carried/ }],
    ['unknown rawType', res('x', 'Float32', { primaryTable: HR, startingAddress: 0, rawType: 'Int12' }), { path: 'attributes.rawType', code: PROFILE_ISSUE.type, message: /'Int12' is not one of/ }],
    ['float rawType for an integer value', res('x', 'Int16', { primaryTable: HR, startingAddress: 0, rawType: 'Float32' }), { path: 'attributes.rawType', code: PROFILE_ISSUE.type, message: /cannot hold a Float32 encoding/ }],
    ['rawType wider than the integer value', res('x', 'Int16', { primaryTable: HR, startingAddress: 0, rawType: 'Int32' }), { path: 'attributes.rawType', code: PROFILE_ISSUE.type, message: /cannot hold every Int32/ }],
    ['signed rawType for an unsigned value', res('x', 'Uint32', { primaryTable: HR, startingAddress: 0, rawType: 'Int16' }), { path: 'attributes.rawType', code: PROFILE_ISSUE.type, message: /cannot hold every Int16/ }],
    ['rawType on a String', res('x', 'String', { primaryTable: HR, startingAddress: 0, rawType: 'Int16', stringRegisterSize: 2 }), { path: 'attributes.rawType', code: PROFILE_ISSUE.type, message: /String reading cannot be encoded as Int16/ }],
    ['Float64 encoding for a Float32 value', res('x', 'Float32', { primaryTable: HR, startingAddress: 0, rawType: 'Float64' }), { path: 'attributes.rawType', code: PROFILE_ISSUE.type, message: /Float32 reading cannot hold a Float64/ }],
    ['write on input registers', res('x', 'Int16', { primaryTable: 'INPUT_REGISTERS', startingAddress: 0 }, {}, 'RW'), { path: 'properties.readWrite', code: PROFILE_ISSUE.readWrite, message: /INPUT_REGISTERS, which Modbus can only read/ }],
    ['write on discrete inputs', res('x', 'Bool', { primaryTable: 'DISCRETE_INPUTS', startingAddress: 0 }, {}, 'W'), { path: 'properties.readWrite', code: PROFILE_ISSUE.readWrite, message: /DISCRETE_INPUTS/ }],
    ['String without stringRegisterSize', res('x', 'String', { primaryTable: HR, startingAddress: 0 }), { path: 'attributes.stringRegisterSize', code: PROFILE_ISSUE.stringSize, message: /1\.\.123/ }],
    ['stringRegisterSize 124', res('x', 'String', { primaryTable: HR, startingAddress: 0, stringRegisterSize: 124 }), { path: 'attributes.stringRegisterSize', code: PROFILE_ISSUE.stringSize, message: /is 124/ }],
    ['stringRegisterSize 0', res('x', 'String', { primaryTable: HR, startingAddress: 0, stringRegisterSize: '0' }), { path: 'attributes.stringRegisterSize', code: PROFILE_ISSUE.stringSize, message: /is '0'/ }],
    ['stringRegisterSize on a number', res('x', 'Int16', { primaryTable: HR, startingAddress: 0, stringRegisterSize: 2 }), { path: 'attributes.stringRegisterSize', code: PROFILE_ISSUE.stringSize, message: /not to Int16/ }],
    ['swap not a boolean', res('x', 'Int32', { primaryTable: HR, startingAddress: 0, isByteSwap: 'yes' }), { path: 'attributes.isByteSwap', code: PROFILE_ISSUE.swap, message: /'yes'/ }],
    ['word swap of a 16-bit value', res('x', 'Int16', { primaryTable: HR, startingAddress: 0, isWordSwap: true }), { path: 'attributes.isWordSwap', code: PROFILE_ISSUE.swap, message: /32- and 64-bit/ }],
    ['swap on coils', res('x', 'Bool', { primaryTable: 'COILS', startingAddress: 0, isByteSwap: true }), { path: 'attributes.isByteSwap', code: PROFILE_ISSUE.swap, message: /no bytes or words/ }],
    ['scale not a number', res('x', 'Int16', { primaryTable: HR, startingAddress: 0 }, { scale: 'x' }), { path: 'properties.scale', code: PROFILE_ISSUE.transform, message: /'x'/ }],
    ['scale on a String', res('x', 'String', { primaryTable: HR, startingAddress: 0, stringRegisterSize: 1 }, { scale: 2 }), { path: 'properties.scale', code: PROFILE_ISSUE.transform, message: /cannot apply to a String/ }],
    ['mask on a signed value', res('x', 'Int16', { primaryTable: HR, startingAddress: 0 }, { mask: 255 }), { path: 'properties.mask', code: PROFILE_ISSUE.transform, message: /cannot apply to a Int16/ }],
    ['mask wider than the value', res('x', 'Uint16', { primaryTable: HR, startingAddress: 0 }, { mask: 65536 }), { path: 'properties.mask', code: PROFILE_ISSUE.transform, message: /does not fit Uint16/ }],
    ['shift too far', res('x', 'Uint16', { primaryTable: HR, startingAddress: 0 }, { shift: 16 }), { path: 'properties.shift', code: PROFILE_ISSUE.transform, message: /between -15 and 15/ }],
    ['base 1', res('x', 'Float32', { primaryTable: HR, startingAddress: 0 }, { base: 1 }), { path: 'properties.base', code: PROFILE_ISSUE.transform, message: /positive and not 1/ }],
    ['minimum not a number', res('x', 'Int16', { primaryTable: HR, startingAddress: 0 }, { minimum: 'low' }), { path: 'properties.minimum', code: PROFILE_ISSUE.range, message: /'low'/ }],
    ['minimum above maximum', res('x', 'Int16', { primaryTable: HR, startingAddress: 0 }, { minimum: 5, maximum: '1' }), { path: 'properties.minimum', code: PROFILE_ISSUE.range, message: /5 exceeds maximum 1/ }],
  ];

  it.each(cases)('%s', (_label, resource, want) => {
    const { points, issues } = resolvePoints([resource]);
    expect(points).toEqual([]);
    expect(issues).toEqual([{ path: `deviceResources[0].${want.path}`, code: want.code, message: expect.stringMatching(want.message) }]);
    expect(issues[0]!.message).toMatch(/^resource 'x': /);
  });

  it('reports every problem of every resource at once, and keeps the good resources', () => {
    const { points, issues } = resolvePoints([
      res('good', 'Uint16', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0 }),
      res('bad', 'Float64', { primaryTable: 'COILS', startingAddress: 70000, isWordSwap: 'maybe' }),
      res('worse', 'Int16', { primaryTable: 'TABLES', startingAddress: 1 }, { scale: 'x', minimum: 3, maximum: 2 }),
      res('good', 'Uint16', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 1 }),
    ]);
    expect(points.map((p) => p.resource)).toEqual(['good']);
    expect(issues.map((i) => [i.path, i.code])).toEqual([
      ['deviceResources[1].attributes.startingAddress', PROFILE_ISSUE.address],
      ['deviceResources[1].properties.valueType', PROFILE_ISSUE.type],
      ['deviceResources[1].attributes.isWordSwap', PROFILE_ISSUE.swap],
      ['deviceResources[2].attributes.primaryTable', PROFILE_ISSUE.table],
      ['deviceResources[2].properties.scale', PROFILE_ISSUE.transform],
      ['deviceResources[2].properties.minimum', PROFILE_ISSUE.range],
      ['deviceResources[3].name', PROFILE_ISSUE.duplicate],
    ]);
  });
});
