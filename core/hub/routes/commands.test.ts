import { describe, expect, it } from 'vitest';
import { valueProblem } from './commands.ts';

describe('valueProblem', () => {
  it('holds integers to their type range and the profile range', () => {
    expect(valueProblem('Int16', 32767)).toBeUndefined();
    expect(valueProblem('Int16', 40000)).toBe('must be within -32768..32767 for valueType Int16');
    expect(valueProblem('Uint8', -1)).toBe('must be within 0..255 for valueType Uint8');
    expect(valueProblem('Uint32', 4294967296)).toBe('must be within 0..4294967295 for valueType Uint32');
    expect(valueProblem('Int32', 1.5)).toBe('must be an integer for valueType Int32');
    expect(valueProblem('Uint16', 10, { minimum: 20 })).toBe('is below the resource minimum 20');
    expect(valueProblem('Float32', 260, { minimum: 200, maximum: 250 })).toBe('is above the resource maximum 250');
  });

  it('takes 64-bit integers as numbers or decimal strings', () => {
    expect(valueProblem('Int64', '-9223372036854775808')).toBeUndefined();
    expect(valueProblem('Uint64', '-1')).toBe('must not be negative for valueType Uint64');
    expect(valueProblem('Int64', 'x1')).toBe('must be an integer (or a decimal string) for valueType Int64');
  });

  it('checks arrays element by element and the other kinds by shape', () => {
    expect(valueProblem('Int8Array', [1, 200])).toBe('[1] must be within -128..127 for valueType Int8');
    expect(valueProblem('Bool', 'true')).toBe('must be true or false for valueType Bool');
    expect(valueProblem('Object', [])).toBe('must be an object for valueType Object');
    expect(valueProblem('String', 'ok')).toBeUndefined();
  });
});
