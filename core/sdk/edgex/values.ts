/**
 * Reading values as EdgeX v3 writes them in a SimpleReading's `value` string
 * (go-mod-core-contracts `dtos.NewSimpleReading`), and back as its
 * `ValidateValue` reads them:
 *
 *   Bool                 "true" / "false"; read back as Go's ParseBool does (1 t T TRUE true True, 0 f F FALSE false False)
 *   String               as it is
 *   Int8..Int64          decimal (`%v`); read back with an optional sign, in the type's range
 *   Uint8..Uint64        decimal; read back without a sign, in the type's range
 *   Float32, Float64     Go's strconv.FormatFloat(v, 'e', -1, 32|64): the shortest digits that read
 *                        back to the same float of that size, exponent with at least two digits
 *                        ("1.5e+00", "1e-01", "3.4028235e+38"); read back as decimal floats
 *   <T>Array             "[1, 2, 3]": `%v` of the Go slice with each space turned into ", " (so a
 *                        StringArray item holding a space or a comma does not survive, as in EdgeX);
 *                        read back by splitting on "," and trimming each item
 *
 * Binary and Object values are not strings (binaryValue, objectValue): see events.ts.
 * 64-bit integers beyond the safe range travel in a platform Reading as
 * decimal strings, and come back as such.
 */
import { INTEGER_RANGES, type ReadingValue, type ValueType } from '../reading.ts';
import { ErrEdgeXValue } from '../errors.ts';

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** `digits` (a mantissa like "1.5" or "15") and a decimal exponent as Go writes them: "1.5e+00", "5e-324". */
function goExponent(mantissa: string, exp: number): string {
  const abs = Math.abs(exp);
  return `${mantissa}e${exp < 0 ? '-' : '+'}${abs < 10 ? `0${abs}` : String(abs)}`;
}

/** JS's toExponential text split into its mantissa and exponent. */
function splitExponential(text: string): { mantissa: string; exp: number } {
  const at = text.indexOf('e');
  return { mantissa: text.slice(0, at), exp: Number(text.slice(at + 1)) };
}

/** A float32 exactly, as M x 2^E. */
function float32Parts(f: number): { m: bigint; e: number } {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, Math.abs(f));
  const bits = view.getUint32(0);
  const exp = bits >>> 23;
  const frac = bits & 0x7fffff;
  return exp === 0 ? { m: BigInt(frac), e: -149 } : { m: BigInt(frac | 0x800000), e: exp - 150 };
}

interface Candidate {
  /** The decimal's digits (no sign) and the power of ten of its first digit. */
  digits: string;
  exp: number;
}

/** Of candidates that all read back to |f|, the nearest to it exactly; of two as near, the one ending in an even digit (Go's). */
function nearest(f: number, cands: readonly Candidate[]): Candidate {
  if (cands.length === 1) return cands[0]!;
  const { m, e } = float32Parts(f);
  // Every value times 2^b x 10^a is an integer: compare those.
  const b = Math.max(0, -e);
  const a = Math.max(0, ...cands.map((c) => c.digits.length - 1 - c.exp));
  const target = m * 2n ** BigInt(e + b) * 10n ** BigInt(a);
  const scaled = (c: Candidate): bigint => BigInt(c.digits) * 10n ** BigInt(c.exp - c.digits.length + 1 + a) * 2n ** BigInt(b);
  let best = cands[0]!;
  let bestDist = scaled(best) - target;
  if (bestDist < 0n) bestDist = -bestDist;
  for (const c of cands.slice(1)) {
    let d = scaled(c) - target;
    if (d < 0n) d = -d;
    if (d < bestDist || (d === bestDist && Number(c.digits.at(-1)) % 2 === 0)) [best, bestDist] = [c, d];
  }
  return best;
}

/**
 * The shortest decimal in Go's 'e' form that reads back (rounded to float32)
 * to the float32 `f`; of several with as few digits, the nearest, and of two
 * as near the one with an even last digit.
 */
function shortestFloat32(f: number): string {
  const sign = f < 0 ? '-' : '';
  const abs = Math.abs(f);
  const lopsided = float32Parts(abs).m === 0x800000n;
  for (let p = 1; p <= 9; p++) {
    const text = abs.toExponential(p - 1);
    // Away from a power of two the nearest p-digit decimal reads back when any does, and is
    // the answer unless the float lies halfway between two (its p+1-digit text ends in 5).
    if (!lopsided) {
      if (Math.fround(Number(text)) !== abs) continue;
      if (!splitExponential(abs.toExponential(p)).mantissa.endsWith('5')) {
        const { mantissa, exp } = splitExponential(text);
        return goExponent(`${sign}${mantissa}`, exp);
      }
    }
    const { mantissa, exp } = splitExponential(text);
    const near = BigInt(mantissa.replace('.', ''));
    // The nearest p-digit decimal and its neighbours: at a tie toExponential takes the larger,
    // and next to a power of two the rounding interval is lopsided.
    const low = 10n ** BigInt(p - 1);
    const found: Candidate[] = [];
    for (const d of [near, near - 1n, near + 1n]) {
      let digits = d.toString();
      let e = exp;
      if (d >= low * 10n) e += 1; // 99..9 + 1 = 10..0: one power up
      else if (d < low) [digits, e] = ['9'.repeat(p), e - 1]; // below 10..0: p nines, one power down
      if (Math.fround(Number(`${digits}e${e - digits.length + 1}`)) === abs) found.push({ digits, exp: e });
    }
    if (found.length > 0) {
      const best = nearest(abs, found);
      const digits = best.digits.replace(/(?<=.)0+$/, '');
      return goExponent(`${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}`, best.exp);
    }
  }
  // Nine significant digits always tell float32s apart: not reached.
  const { mantissa, exp } = splitExponential(f.toExponential(8));
  return goExponent(mantissa, exp);
}

/**
 * `v` as Go's strconv.FormatFloat(v, 'e', -1, bits) writes it: EdgeX's text
 * for Float32 (bits 32, after rounding to float32) and Float64 values.
 * Not for NaN or infinities (a Reading has none).
 */
export function formatGoFloat(v: number, bits: 32 | 64): string {
  const f = bits === 32 ? Math.fround(v) : v;
  if (f === 0) return Object.is(f, -0) ? '-0e+00' : '0e+00';
  if (bits === 32) return shortestFloat32(f);
  // toExponential() with no argument gives as many digits as needed to tell the double apart.
  const { mantissa, exp } = splitExponential(f.toExponential());
  return goExponent(mantissa, exp);
}

function isArrayType(valueType: ValueType): boolean {
  return valueType.endsWith('Array');
}

function itemType(valueType: ValueType): ValueType {
  return valueType.slice(0, -'Array'.length) as ValueType;
}

/** One scalar as EdgeX's `%v` (or FormatFloat) writes it; the value fits its type (the Reading contract). */
function formatScalar(valueType: ValueType, value: ReadingValue): string {
  switch (valueType) {
    case 'Bool':
      return value === true ? 'true' : 'false';
    case 'String':
      return value as string;
    case 'Float32':
      return formatGoFloat(value as number, 32);
    case 'Float64':
      return formatGoFloat(value as number, 64);
    default:
      // Integers: safe ones as numbers, 64-bit ones beyond as decimal strings ("-0" is 0 in Go).
      return typeof value === 'string' ? BigInt(value).toString() : (value as number).toString();
  }
}

/**
 * A value of a simple valueType (not Binary or Object) as the `value` string
 * of an EdgeX SimpleReading. The value must fit its valueType
 * (`readingValueProblem`): this writes, it does not check.
 */
export function formatEdgeXValue(valueType: ValueType, value: ReadingValue): string {
  if (!isArrayType(valueType)) return formatScalar(valueType, value);
  const inner = itemType(valueType);
  const items = (value as ReadingValue[]).map((v) => formatScalar(inner, v));
  // Go: fmt.Sprintf("%v", slice) then every " " becomes ", "; float arrays are joined with ", " directly (same text).
  return `[${items.join(' ')}]`.replaceAll(' ', ', ');
}

const BOOL_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const BOOL_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);
const SIGNED = /^[+-]?\d+$/;
const UNSIGNED = /^\d+$/;
const DECIMAL_FLOAT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

const RANGES_64: Record<'Int64' | 'Uint64', readonly [bigint, bigint]> = {
  Int64: [-(2n ** 63n), 2n ** 63n - 1n],
  Uint64: [0n, 2n ** 64n - 1n],
};

/** Why `text` is not a scalar of `valueType` as EdgeX reads it, or the value as a Reading carries it. */
function parseScalar(valueType: ValueType, text: string): { value: ReadingValue } | { problem: string } {
  switch (valueType) {
    case 'Bool':
      if (BOOL_TRUE.has(text)) return { value: true };
      if (BOOL_FALSE.has(text)) return { value: false };
      return { problem: `${JSON.stringify(text)} is not true or false` };
    case 'String':
      return { value: text };
    case 'Float32':
    case 'Float64': {
      if (!DECIMAL_FLOAT.test(text)) return { problem: `${JSON.stringify(text)} is not a decimal number` };
      const n = Number(text);
      if (valueType === 'Float64') return Number.isFinite(n) ? { value: n } : { problem: `${text} is beyond the Float64 range` };
      // Go rounds to float32: a text just above the largest float32 still reads as it.
      if (Math.abs(n) <= FLOAT32_MAX) return { value: n };
      const f = Math.fround(n);
      return Number.isFinite(f) ? { value: f } : { problem: `${text} is beyond the Float32 range` };
    }
    default: {
      const unsigned = valueType.startsWith('U');
      if (!(unsigned ? UNSIGNED : SIGNED).test(text)) return { problem: `${JSON.stringify(text)} is not ${unsigned ? 'an unsigned' : 'a'} decimal integer` };
      const b = BigInt(text);
      if (valueType === 'Int64' || valueType === 'Uint64') {
        const [lo, hi] = RANGES_64[valueType];
        if (b < lo || b > hi) return { problem: `${text} is outside the ${valueType} range` };
        return { value: b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString() };
      }
      const range = INTEGER_RANGES[valueType];
      if (!range) return { problem: `valueType ${valueType} has no integer range` };
      if (b < BigInt(range[0]) || b > BigInt(range[1])) return { problem: `${text} is outside ${range[0]}..${range[1]}` };
      return { value: Number(b) };
    }
  }
}

/**
 * The `value` string of an EdgeX SimpleReading as a Reading value of
 * `valueType` (not Binary or Object). Throws EDGE_ERR_EDGEX_VALUE naming
 * `field` when it does not parse.
 */
export function parseEdgeXValue(valueType: ValueType, text: string, field: string): ReadingValue {
  if (!isArrayType(valueType)) {
    const r = parseScalar(valueType, text);
    if ('problem' in r) throw new ErrEdgeXValue({ field, valueType, reason: r.problem });
    return r.value;
  }
  if (!text.startsWith('[') || !text.endsWith(']')) throw new ErrEdgeXValue({ field, valueType, reason: `${JSON.stringify(text.slice(0, 40))} is not a [a, b, ...] list` });
  const inner = text.slice(1, -1);
  if (inner.trim() === '') return [];
  const item = itemType(valueType);
  return inner.split(',').map((part, i) => {
    const r = parseScalar(item, part.trim());
    if ('problem' in r) throw new ErrEdgeXValue({ field: `${field}[${i}]`, valueType: item, reason: r.problem });
    return r.value;
  });
}
