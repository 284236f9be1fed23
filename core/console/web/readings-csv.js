/**
 * Readings as CSV (RFC 4180: CRLF line ends, a field quoted when it holds a
 * comma, a quote or a line break, quotes doubled), and the names of the
 * files a range is downloaded to. No DOM use: unit-tested under Node.
 */

/** @typedef {import('./types.js').Reading} Reading */

/** The columns, in order. */
export const CSV_COLUMNS = /** @type {const} */ (['origin', 'originNs', 'site', 'device', 'resource', 'value', 'valueType', 'units', 'quality', 'qualityDetail']);

/**
 * An origin (ns since the epoch, as the API gives it) as ISO 8601 UTC with
 * all nine fraction digits. The digits are the number's own decimal form, the
 * one the API's JSON carries, so this and the `originNs` column agree.
 * @param {number} origin
 */
export function isoNs(origin) {
  const digits = String(Math.trunc(origin)).padStart(10, '0');
  const seconds = Number(digits.slice(0, -9));
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${digits.slice(-9)}Z`;
}

/**
 * One field: quoted only when it must be.
 * @param {string} text
 */
export function csvField(text) {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * A reading's value as CSV text: strings as they are, numbers and booleans in
 * their JSON form, arrays and objects as JSON text, null as an empty field.
 * @param {unknown} value
 */
export function csvValue(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** The header line, CRLF-terminated. */
export const csvHeader = () => `${CSV_COLUMNS.join(',')}\r\n`;

/**
 * Rows of readings, each CRLF-terminated.
 * @param {readonly Reading[]} readings
 */
export function csvRows(readings) {
  let out = '';
  for (const r of readings) {
    const fields = [isoNs(r.origin), String(r.origin), r.site, r.device, r.resource, csvValue(r.value), r.valueType, r.units ?? '', r.quality, r.qualityDetail ?? ''];
    out += `${fields.map(csvField).join(',')}\r\n`;
  }
  return out;
}

/**
 * A compact UTC time for a file name (ISO 8601 basic format, no colons): `20261205T230000.000Z`.
 * @param {number} ms
 */
export const fileTime = (ms) => new Date(ms).toISOString().replace(/[-:]/g, '');

/**
 * The file a range is downloaded to: `telemetry_<from>_<to>.<ext>`.
 * @param {number} fromMs
 * @param {number} toMs
 * @param {'csv' | 'json'} ext
 */
export const rangeFileName = (fromMs, toMs, ext) => `telemetry_${fileTime(fromMs)}_${fileTime(toMs)}.${ext}`;
