import { describe, expect, it } from 'vitest';
import type { ReadingOut } from '../../hub/index.ts';
import { parseCsv } from '../../../test/support/rfc4180.ts';

/** readings-csv.js as this test uses it (a browser module with JSDoc types, which this project's TypeScript does not read). */
interface CsvModule {
  CSV_COLUMNS: readonly string[];
  isoNs: (origin: number) => string;
  csvField: (text: string) => string;
  csvValue: (value: unknown) => string;
  csvHeader: () => string;
  csvRows: (readings: readonly ReadingOut[]) => string;
  rangeFileName: (fromMs: number, toMs: number, ext: 'csv' | 'json') => string;
}
const MODULE: string = './readings-csv.js';
const { CSV_COLUMNS, csvField, csvHeader, csvRows, csvValue, isoNs, rangeFileName } = (await import(MODULE)) as CsvModule;

const base: ReadingOut = {
  site: 'demo',
  device: 'sim-1',
  profile: 'sim-sensor',
  resource: 'temperature',
  value: 21.5,
  valueType: 'Float64',
  units: 'degC',
  origin: 1_733_443_200_123_456_800,
  quality: 'good',
  seq: 1,
};

describe('readings as CSV', () => {
  it('writes origins as ISO 8601 with nine fraction digits that match the ns column', () => {
    expect(isoNs(base.origin)).toBe('2024-12-06T00:00:00.123456800Z');
    expect(isoNs(0)).toBe('1970-01-01T00:00:00.000000000Z');
    expect(isoNs(1_500)).toBe('1970-01-01T00:00:00.000001500Z');
    const [, row] = parseCsv(csvHeader() + csvRows([base]));
    expect(row?.[0]).toBe('2024-12-06T00:00:00.123456800Z');
    expect(row?.[1]).toBe(String(base.origin));
    expect(row?.[0]?.slice(20, 29)).toBe(row?.[1]?.slice(-9));
  });

  it('quotes commas, quotes and line breaks, and leaves plain fields alone', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
  });

  it('writes values by type: JSON text for arrays and objects, empty for null', () => {
    expect(csvValue(1.25)).toBe('1.25');
    expect(csvValue(true)).toBe('true');
    expect(csvValue('18446744073709551615')).toBe('18446744073709551615');
    expect(csvValue([1, 2])).toBe('[1,2]');
    expect(csvValue({ a: 'x,y' })).toBe('{"a":"x,y"}');
    expect(csvValue(null)).toBe('');
  });

  it('round-trips awkward readings through a CSV parser, column by column', () => {
    const readings: ReadingOut[] = [
      base,
      { ...base, resource: 'label', valueType: 'String', value: 'a, "quoted"\r\nsecond line', units: undefined },
      { ...base, resource: 'config', valueType: 'Object', value: { mode: 'auto', list: [1, '2'] }, units: undefined },
      { ...base, value: null, quality: 'bad', qualityDetail: 'EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED 127.0.0.1:1502, retrying' },
    ];
    const rows = parseCsv(csvHeader() + csvRows(readings));
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(readings.length + 1);
    for (const row of rows) expect(row).toHaveLength(CSV_COLUMNS.length);
    expect(rows[1]).toEqual(['2024-12-06T00:00:00.123456800Z', '1733443200123456800', 'demo', 'sim-1', 'temperature', '21.5', 'Float64', 'degC', 'good', '']);
    expect(rows[2]?.[5]).toBe('a, "quoted"\r\nsecond line');
    expect(rows[2]?.[7]).toBe('');
    expect(JSON.parse(rows[3]?.[5] ?? '')).toEqual({ mode: 'auto', list: [1, '2'] });
    expect(rows[4]?.slice(5)).toEqual(['', 'Float64', 'degC', 'bad', 'EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED 127.0.0.1:1502, retrying']);
  });

  it('names a file by its range in UTC, without colons', () => {
    expect(rangeFileName(Date.UTC(2026, 11, 5, 23, 0, 0), Date.UTC(2026, 11, 5, 23, 15, 30, 250), 'csv')).toBe('telemetry_20261205T230000.000Z_20261205T231530.250Z.csv');
  });
});
