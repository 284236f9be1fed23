/**
 * A number as people read it: integers as they are, fractions to at most
 * three decimals (tiny ones to three significant digits).
 * @param {number} n
 */
export function formatNumber(n) {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && abs < 0.01) return String(Number(n.toPrecision(3)));
  return String(Number(n.toFixed(abs >= 1000 ? 1 : 3)));
}

/**
 * A reading or resource value for display, with units when given.
 * @param {unknown} value
 * @param {string} [units]
 */
export function formatValue(value, units) {
  let text;
  if (value === undefined || value === null) return '—';
  if (typeof value === 'number') text = formatNumber(value);
  else if (typeof value === 'boolean') text = String(value);
  else if (typeof value === 'string') text = value;
  else {
    text = JSON.stringify(value);
    if (text.length > 80) text = `${text.slice(0, 77)}…`;
  }
  return units ? `${text} ${units}` : text;
}

/**
 * @param {string | undefined} iso
 * @returns {number} ms since the epoch, or NaN
 */
export const isoMs = (iso) => (iso ? Date.parse(iso) : NaN);

/**
 * "12 s ago", "3 min ago", "2 h ago", "5 d ago".
 * @param {number} ms time in ms since the epoch (NaN for never)
 * @param {number} now
 */
export function ago(ms, now) {
  if (!Number.isFinite(ms) || ms <= 0) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** @param {number} ms */
export function absTime(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return '';
  return new Date(ms).toLocaleString();
}

/**
 * Nanoseconds since the epoch for a wall-clock ms time, as an exact decimal string.
 * @param {number} ms
 */
export const msToNs = (ms) => (BigInt(Math.floor(ms)) * 1_000_000n).toString();

const OK_WORDS = new Set(['online', 'up', 'running', 'ready', 'healthy', 'connected', 'succeeded', 'good', 'approved']);
const BAD_WORDS = new Set(['offline', 'down', 'failed', 'error', 'expired', 'bad', 'rejected']);
const OFF_WORDS = new Set(['unknown', 'disconnected']);

/**
 * CSS class of a status word: ok (green), warn (amber), bad (red), off (grey).
 * Case-insensitive: agents report addon states in lower case ("running").
 * @param {string | undefined} word
 */
export function tone(word) {
  if (word === undefined) return 'off';
  const w = word.toLowerCase();
  if (OK_WORDS.has(w)) return 'ok';
  if (BAD_WORDS.has(w)) return 'bad';
  if (OFF_WORDS.has(w)) return 'off';
  return 'warn';
}

/** @param {number} n @param {string} one @param {string} [many] */
export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * "in 3 h", "in 2 d": how long until a time in the future.
 * @param {number} ms
 * @param {number} now
 */
export function untilText(ms, now) {
  if (!Number.isFinite(ms)) return 'never';
  const s = Math.round((ms - now) / 1000);
  if (s <= 0) return 'expired';
  if (s < 90) return `in ${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `in ${m} min`;
  const h = Math.round(m / 60);
  if (h < 48) return `in ${h} h`;
  return `in ${Math.round(h / 24)} d`;
}

/**
 * A time as "<local time> (<relative>)", past or future, or what its absence means.
 * @param {string | undefined} iso
 * @param {number} now
 * @param {string} [none]
 */
export function at(iso, now, none = '—') {
  const ms = isoMs(iso);
  if (Number.isNaN(ms)) return none;
  return `${absTime(ms)} (${ms > now ? untilText(ms, now) : ago(ms, now)})`;
}
