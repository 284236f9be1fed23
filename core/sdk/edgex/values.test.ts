/**
 * Reading values as EdgeX v3 writes them in a reading's `value` text, against
 * what Go writes (fixtures/go-formatfloat.txt: Go's strconv.FormatFloat, as
 * EdgeX formats Float32 and Float64) and as Go's strconv parses them back.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatEdgeXValue, formatGoFloat, parseEdgeXValue } from './values.ts';

const here = path.dirname(new URL(import.meta.url).pathname);

describe('EdgeX value text', () => {
  it("writes Float32 and Float64 exactly as Go's FormatFloat(v, 'e', -1, bits): ties, powers of two, random floats", () => {
    const lines = readFileSync(path.join(here, 'fixtures/go-formatfloat.txt'), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines.length).toBeGreaterThan(1000);
    const wrong = lines.filter((l) => {
      const [bits, v, want] = l.split(' ');
      return formatGoFloat(Number(v), Number(bits) as 32 | 64) !== want;
    });
    expect(wrong).toEqual([]);
    // Seen in EdgeX's own readings: the value is rounded to float32 first.
    expect(formatGoFloat(21.7, 32)).toBe('2.17e+01');
    expect(formatGoFloat(0.1 + 0.2, 32)).toBe('3e-01');
    expect(formatGoFloat(0.1 + 0.2, 64)).toBe('3.0000000000000004e-01');
    expect(formatGoFloat(-0, 64)).toBe('-0e+00');
    expect(formatGoFloat(0, 32)).toBe('0e+00');
    expect(formatGoFloat(1e21, 64)).toBe('1e+21');
    expect(formatGoFloat(1e100, 64)).toBe('1e+100');
  });

  it('writes integers, booleans, strings and arrays as fmt.Sprintf("%v") does, arrays with ", "', () => {
    expect(formatEdgeXValue('Bool', true)).toBe('true');
    expect(formatEdgeXValue('String', 'a b')).toBe('a b');
    expect(formatEdgeXValue('Uint64', '18446744073709551615')).toBe('18446744073709551615');
    expect(formatEdgeXValue('Int64', '-0')).toBe('0');
    expect(formatEdgeXValue('Int64', -9007199254740991)).toBe('-9007199254740991');
    expect(formatEdgeXValue('Int8Array', [-128, 0, 127])).toBe('[-128, 0, 127]');
    expect(formatEdgeXValue('Uint64Array', [0, '18446744073709551615'])).toBe('[0, 18446744073709551615]');
    expect(formatEdgeXValue('BoolArray', [true, false])).toBe('[true, false]');
    expect(formatEdgeXValue('Float32Array', [1.1, -0.5])).toBe('[1.1e+00, -5e-01]');
    expect(formatEdgeXValue('Int32Array', [])).toBe('[]');
    // Go's output for []string{"a", "b c", "d,e"}: EdgeX's format does not keep spaces or commas inside items.
    expect(formatEdgeXValue('StringArray', ['a', 'b c', 'd,e'])).toBe('[a, b, c, d,e]');
  });

  it("reads values back as Go's strconv does, in each type's range", () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseEdgeXValue('Bool', t, 'v')).toBe(true);
    for (const t of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(parseEdgeXValue('Bool', t, 'v')).toBe(false);
    expect(parseEdgeXValue('Int16', '+5', 'v')).toBe(5);
    expect(parseEdgeXValue('Int16', '007', 'v')).toBe(7);
    expect(parseEdgeXValue('Uint64', '18446744073709551615', 'v')).toBe('18446744073709551615');
    expect(parseEdgeXValue('Uint64', '9007199254740991', 'v')).toBe(9007199254740991);
    expect(parseEdgeXValue('Int64', '-9223372036854775808', 'v')).toBe('-9223372036854775808');
    expect(parseEdgeXValue('Float32', '3.4028235e+38', 'v')).toBe(3.4028234663852886e38);
    expect(parseEdgeXValue('Float32', '2.17e+01', 'v')).toBe(21.7);
    expect(parseEdgeXValue('Float64', '.5', 'v')).toBe(0.5);
    expect(parseEdgeXValue('Float64', '5.', 'v')).toBe(5);
    expect(parseEdgeXValue('Float64', '1.5E3', 'v')).toBe(1500);
    expect(parseEdgeXValue('Float64Array', '[1e-01, 5e-324]', 'v')).toEqual([0.1, 5e-324]);
    expect(parseEdgeXValue('StringArray', '[a, b]', 'v')).toEqual(['a', 'b']);
    expect(parseEdgeXValue('Int32Array', '[]', 'v')).toEqual([]);
    expect(parseEdgeXValue('Uint8Array', '[0,1 , 255]', 'v')).toEqual([0, 1, 255]);
  });

  it('refuses text that does not parse as its type, naming the field and why', () => {
    const cases: [Parameters<typeof parseEdgeXValue>[0], string, RegExp][] = [
      ['Bool', 'yes', /event.readings\[0\].value is not a Bool: "yes" is not true or false/],
      ['Bool', 'tRue', /"tRue" is not true or false/],
      ['Uint16', '+5', /"\+5" is not an unsigned decimal integer/],
      ['Uint8', '256', /256 is outside 0\.\.255/],
      ['Int8', '-129', /-129 is outside -128\.\.127/],
      ['Int32', '5_0', /"5_0" is not a decimal integer/],
      ['Int32', ' 5', /" 5" is not a decimal integer/],
      ['Int64', '9223372036854775808', /outside the Int64 range/],
      ['Uint64', '18446744073709551616', /outside the Uint64 range/],
      ['Float32', '3.4028236e+38', /beyond the Float32 range/],
      ['Float64', '1e400', /beyond the Float64 range/],
      ['Float64', 'inf', /"inf" is not a decimal number/],
      ['Float64', 'NaN', /"NaN" is not a decimal number/],
      ['Float32Array', '1.5, 2', /is not a \[a, b, \.\.\.\] list/],
    ];
    for (const [t, text, msg] of cases) {
      expect(() => parseEdgeXValue(t, text, 'event.readings[0].value'), `${t} ${text}`).toThrow(msg);
    }
    try {
      parseEdgeXValue('Int16Array', '[1, x, 3]', 'event.readings[0].value');
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'EDGE_ERR_EDGEX_VALUE', params: { field: 'event.readings[0].value[1]', valueType: 'Int16' } });
    }
  });
});
