/**
 * Go durations, the one parser for them: EdgeX writes autoEvent intervals as
 * Go `time.Duration` strings, so every duration the platform reads as text
 * (Device autoEvents, CLI flags, protocol blocks) is read here, with the
 * rules of Go's `time.ParseDuration`:
 *
 * - an optional sign, then one or more `<number><unit>` parts: `300ms`,
 *   `-1.5h`, `2h45m`, `1.s`, `.5s`; `0` alone (signed or not) is zero;
 * - units `ns`, `us`, `µs` (U+00B5 micro sign), `μs` (U+03BC Greek mu),
 *   `ms`, `s`, `m`, `h`; no days (Go has none); no spaces anywhere;
 * - a number without a unit (`10`), an unknown unit, an empty text and
 *   anything outside a signed 64-bit count of nanoseconds are errors.
 *
 * The value is nanoseconds as a bigint (`parseGoDuration`), exact over the
 * whole range of Go's Duration, fractions rounded toward zero the way Go's
 * float arithmetic rounds them. `goDurationMs` gives milliseconds as a
 * number, a sub-millisecond part as its fraction (`1500us` is 1.5): what
 * timers take. One deliberate difference: Go's unsigned sum wraps when two
 * parts of exactly 2^63 ns meet (it then returns 0); here that is out of
 * range, like every other overflow.
 *
 * Which durations a caller accepts (zero, negative, a bound) is the caller's
 * rule, not the parser's: an autoEvent interval must be longer than zero, a
 * timeout may have a ceiling.
 */
import { ErrDuration } from './errors.ts';

const UNIT_NS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n],
  ['\u03bcs', 1_000n],
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);
const UNITS_TEXT = 'ns, us, µs, ms, s, m, h';
const TWO_63 = 1n << 63n;
const OUT_OF_RANGE = 'is out of range (a Go duration reaches about 2562047h47m either way)';
const NS_PER_MS = 1_000_000n;

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Nanoseconds, or why the text is not a Go duration. The steps and bounds are those of Go's `ParseDuration`. */
function scan(text: string): bigint | string {
  let s = text;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') return text === '' ? 'is empty' : 'has a sign and no number';
  let d = 0n;
  while (s !== '') {
    if (s[0] !== '.' && !isDigit(s[0])) return `has '${s[0]!}' where a number should start`;
    const part = s;
    // [0-9]*: an error past 2^63.
    let i = 0;
    let v = 0n;
    for (; isDigit(s[i]); i++) {
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > TWO_63) return OUT_OF_RANGE;
    }
    const pre = i > 0;
    s = s.slice(i);
    // (\.[0-9]*)?: digits past what 63 bits hold add no precision.
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s[0] === '.') {
      s = s.slice(1);
      let j = 0;
      let overflow = false;
      for (; isDigit(s[j]); j++) {
        if (overflow) continue;
        if (f > (TWO_63 - 1n) / 10n) {
          overflow = true;
          continue;
        }
        const y = f * 10n + BigInt(s.charCodeAt(j) - 48);
        if (y > TWO_63) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) return "has a '.' with no digits";
    // The unit: everything up to the next digit or '.'.
    let k = 0;
    while (k < s.length && s[k] !== '.' && !isDigit(s[k])) k++;
    if (k === 0) return `has no unit after '${part.slice(0, part.length - s.length)}' (units: ${UNITS_TEXT})`;
    const u = s.slice(0, k);
    s = s.slice(k);
    const unit = UNIT_NS.get(u);
    if (unit === undefined) return `has the unknown unit '${u}' (units: ${UNITS_TEXT})`;
    if (v > TWO_63 / unit) return OUT_OF_RANGE;
    v *= unit;
    if (f > 0n) {
      // As Go: a float64 product, truncated (nanosecond-exact for fractions of hours).
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > TWO_63) return OUT_OF_RANGE;
    }
    d += v;
    if (d > TWO_63) return OUT_OF_RANGE;
  }
  if (neg) return -d;
  if (d > TWO_63 - 1n) return OUT_OF_RANGE;
  return d;
}

/**
 * Nanoseconds of a Go duration string (`1h30m`, `-1.5s`, `500ms`, `0`), as
 * Go's `time.ParseDuration` reads it. Throws `EDGE_ERR_DURATION` naming the
 * text and what is wrong with it.
 */
export function parseGoDuration(text: string): bigint {
  const r = scan(text);
  if (typeof r === 'string') throw new ErrDuration({ text, reason: r });
  return r;
}

/** Why `text` is not a Go duration (`has no unit after '10' ...`), or undefined when it is one. */
export function goDurationProblem(text: string): string | undefined {
  const r = scan(text);
  return typeof r === 'string' ? r : undefined;
}

/** Milliseconds of nanoseconds, exact in its integer part; a sub-millisecond rest is the fraction. */
export function nsToMs(ns: bigint): number {
  return Number(ns / NS_PER_MS) + Number(ns % NS_PER_MS) / 1e6;
}

/**
 * Milliseconds of a Go duration string (`1500us` is 1.5, `-2s` is -2000), or
 * undefined when `text` is not one. Zero and negative results are the
 * caller's to accept or refuse.
 */
export function goDurationMs(text: string): number | undefined {
  const r = scan(text);
  return typeof r === 'string' ? undefined : nsToMs(r);
}
