import { describe, expect, it } from 'vitest';
import { ARRAY_TYPE, BUILTIN, conform, fromVariant, naturalValueType, toVariant } from './datatypes.ts';

const scalar = (dataType: number, value: unknown) => ({ dataType, arrayType: ARRAY_TYPE.Scalar, value });

describe('opcua values read', () => {
  it('turns 64-bit [high, low] pairs into numbers when safe, decimal strings beyond', () => {
    expect(fromVariant(scalar(BUILTIN.Int64, [0xffffffff, 0xffffffc0]))).toBe(-64);
    expect(fromVariant(scalar(BUILTIN.UInt64, [0x001fffff, 0xffffffff]))).toBe(Number.MAX_SAFE_INTEGER);
    expect(fromVariant(scalar(BUILTIN.UInt64, [0x00200000, 0]))).toBe('9007199254740992');
    expect(fromVariant(scalar(BUILTIN.UInt64, [0xffffffff, 0xffffffff]))).toBe('18446744073709551615');
    expect(fromVariant(scalar(BUILTIN.Int64, [0x80000000, 0]))).toBe('-9223372036854775808');
    expect(fromVariant({ dataType: BUILTIN.Int64, arrayType: ARRAY_TYPE.Array, value: [[0, 1], [0xffffffff, 0xffffffff]] })).toEqual([1, -1]);
  });

  it('gives text, base64 and JSON for the other built-in types', () => {
    expect(fromVariant(scalar(BUILTIN.DateTime, new Date('2024-05-06T07:08:09.010Z')))).toBe('2024-05-06T07:08:09.010Z');
    expect(fromVariant(scalar(BUILTIN.ByteString, Buffer.from([1, 2, 255])))).toBe('AQL/');
    expect(fromVariant(scalar(BUILTIN.LocalizedText, { text: 'Ein', locale: 'de' }))).toBe('Ein');
    expect(fromVariant(scalar(BUILTIN.QualifiedName, { namespaceIndex: 2, name: 'Speed' }))).toBe('2:Speed');
    expect(fromVariant(scalar(BUILTIN.ExtensionObject, { a: 1n, b: 'x' }))).toEqual({ a: '1', b: 'x' });
    expect(fromVariant({ dataType: BUILTIN.Float, arrayType: ARRAY_TYPE.Array, value: new Float32Array([0.5, 1.5]) })).toEqual([0.5, 1.5]);
    expect(fromVariant({ dataType: BUILTIN.Int16, arrayType: ARRAY_TYPE.Matrix, value: new Int16Array([1, 2, 3, 4]), dimensions: [2, 2] })).toEqual({ dimensions: [2, 2], values: [1, 2, 3, 4] });
  });

  it('fits values to the profile valueType or says why not', () => {
    expect(conform(300, 'Uint16')).toEqual({ value: 300 });
    expect(conform(70_000, 'Uint16')).toEqual({ problem: '70000 is outside the range of Uint16' });
    expect(conform('18446744073709551615', 'Uint64')).toEqual({ value: '18446744073709551615' });
    expect(conform('-5', 'Int64')).toEqual({ value: -5 });
    expect(conform(1.5, 'Int32')).toEqual({ problem: '1.5 is not an integer' });
    expect(conform(7, 'Float32')).toEqual({ value: 7 });
    expect(conform(1, 'Bool')).toEqual({ problem: '1 is not a boolean' });
    expect(conform(12, 'String')).toEqual({ value: '12' });
    expect(conform([1, 2], 'Int8Array')).toEqual({ value: [1, 2] });
    expect(conform([1, 300], 'Int8Array')).toEqual({ problem: 'item 1: 300 is outside the range of Int8' });
    expect(conform(3, 'Float64Array')).toMatchObject({ problem: expect.stringMatching(/needs an array/) });
    expect(conform([3], 'Float64')).toMatchObject({ problem: expect.stringMatching(/is a scalar/) });
  });

  it('names the natural valueType of a node', () => {
    expect(naturalValueType({ builtin: BUILTIN.UInt16, valueRank: -1 })).toBe('Uint16');
    expect(naturalValueType({ builtin: BUILTIN.Double, valueRank: 1 })).toBe('Float64Array');
    expect(naturalValueType({ builtin: BUILTIN.ByteString, valueRank: -1 })).toBe('Binary');
    expect(naturalValueType({ builtin: BUILTIN.ExtensionObject, valueRank: -1 })).toBe('Object');
    expect(naturalValueType({ builtin: BUILTIN.Int32, valueRank: 2 })).toBe('Object');
  });
});

describe('opcua values written', () => {
  const meta = (builtin: number, valueRank = -1) => ({ builtin, valueRank });

  it('encodes to the node DataType, accepting the strings EdgeX sends', () => {
    expect(toVariant('r', '42', meta(BUILTIN.Int16))).toEqual({ dataType: BUILTIN.Int16, arrayType: 0, value: 42 });
    expect(toVariant('r', 'TRUE', meta(BUILTIN.Boolean)).value).toBe(true);
    expect(toVariant('r', '-1', meta(BUILTIN.Int64)).value).toEqual([0xffffffff, 0xffffffff]);
    expect(toVariant('r', '18446744073709551615', meta(BUILTIN.UInt64)).value).toEqual([0xffffffff, 0xffffffff]);
    expect(toVariant('r', 2.5e38, meta(BUILTIN.Float)).value).toBe(2.5e38);
    expect(toVariant('r', 'AQL/', meta(BUILTIN.ByteString)).value).toEqual(Buffer.from([1, 2, 255]));
    expect(toVariant('r', 'hi', meta(BUILTIN.LocalizedText)).value).toEqual({ text: 'hi' });
    expect(toVariant('r', 0, meta(BUILTIN.DateTime)).value).toEqual(new Date(0));
    const arr = toVariant('r', '[1, 2, 3]', meta(BUILTIN.Int32, 1));
    expect(arr.arrayType).toBe(ARRAY_TYPE.Array);
    expect(arr.value).toEqual(new Int32Array([1, 2, 3]));
    // ValueRank Any: the value's shape decides.
    expect(toVariant('r', [1], meta(BUILTIN.Double, -2)).arrayType).toBe(ARRAY_TYPE.Array);
    expect(toVariant('r', 1, meta(BUILTIN.Double, -2)).arrayType).toBe(ARRAY_TYPE.Scalar);
  });

  it('refuses values out of range or of the wrong type with a coded error naming the resource', () => {
    const fail = (fn: () => unknown): { code: string; message: string } => {
      try {
        fn();
      } catch (err) {
        return err as { code: string; message: string };
      }
      throw new Error('no error');
    };
    expect(fail(() => toVariant('speed', 40_000, meta(BUILTIN.Int16)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_RANGE', message: "resource 'speed': 40000 is outside the range of Int16 (-32768..32767)" });
    expect(fail(() => toVariant('speed', -1, meta(BUILTIN.Byte)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_RANGE' });
    expect(fail(() => toVariant('speed', '18446744073709551616', meta(BUILTIN.UInt64)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_RANGE' });
    expect(fail(() => toVariant('speed', 1e39, meta(BUILTIN.Float)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_RANGE' });
    expect(fail(() => toVariant('speed', 2.5, meta(BUILTIN.Int32)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_TYPE', message: "resource 'speed': 2.5 is not a Int32 value (not an integer)" });
    expect(fail(() => toVariant('speed', 'fast', meta(BUILTIN.Double)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_TYPE' });
    expect(fail(() => toVariant('flag', 2, meta(BUILTIN.Boolean)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_TYPE' });
    expect(fail(() => toVariant('name', 5, meta(BUILTIN.String)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_TYPE' });
    expect(fail(() => toVariant('list', 5, meta(BUILTIN.Double, 1)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_TYPE', message: expect.stringContaining('the node holds an array') });
    expect(fail(() => toVariant('list', [1, 'x'], meta(BUILTIN.Double, 1)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_TYPE', message: expect.stringContaining("'list[1]'") });
    expect(fail(() => toVariant('one', [1], meta(BUILTIN.Double)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_TYPE', message: expect.stringContaining('scalar') });
    expect(fail(() => toVariant('m', [1], meta(BUILTIN.Double, 2)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_WRITE_UNSUPPORTED' });
    expect(fail(() => toVariant('s', {}, meta(BUILTIN.ExtensionObject)))).toMatchObject({ code: 'EDGE_ERR_OPCUA_WRITE_UNSUPPORTED' });
    expect(fail(() => toVariant('sp', 11, meta(BUILTIN.Double), { maximum: 10 }))).toMatchObject({ code: 'EDGE_ERR_OPCUA_VALUE_RANGE', message: "resource 'sp': 11 is above the maximum 10" });
  });
});
