/** Types of readings-csv.js for its Node-side unit test; the module's JSDoc is the source. */

/** The fields of a reading (the API's ReadingOut) that a row holds. */
export interface CsvReading {
  site: string;
  device: string;
  resource: string;
  value: unknown;
  valueType: string;
  units?: string;
  origin: number;
  quality: string;
  qualityDetail?: string;
}

export declare const CSV_COLUMNS: readonly ['origin', 'originNs', 'site', 'device', 'resource', 'value', 'valueType', 'units', 'quality', 'qualityDetail'];
export declare function isoNs(origin: number): string;
export declare function csvField(text: string): string;
export declare function csvValue(value: unknown): string;
export declare function csvHeader(): string;
export declare function csvRows(readings: readonly CsvReading[]): string;
export declare function fileTime(ms: number): string;
export declare function rangeFileName(fromMs: number, toMs: number, ext: 'csv' | 'json'): string;
