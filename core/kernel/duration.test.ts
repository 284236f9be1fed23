import { describe, expect, it } from 'vitest';
import { goDurationMs, goDurationProblem, KernelErrors, nsToMs, parseGoDuration } from './index.ts';

const NS = 1n;
const US = 1_000n;
const MS = 1_000_000n;
const S = 1_000_000_000n;
const M = 60n * S;
const H = 60n * M;
const MAX = (1n << 63n) - 1n;
const MIN = -(1n << 63n);

// The cases of Go's own ParseDuration tests (src/time/time_test.go), value for value.
const VALID: [string, bigint][] = [
  ['0', 0n],
  ['5s', 5n * S],
  ['30s', 30n * S],
  ['1478s', 1478n * S],
  ['-5s', -5n * S],
  ['+5s', 5n * S],
  ['-0', 0n],
  ['+0', 0n],
  ['5.0s', 5n * S],
  ['5.6s', 5n * S + 600n * MS],
  ['5.s', 5n * S],
  ['.5s', 500n * MS],
  ['1.0s', S],
  ['1.00s', S],
  ['1.004s', S + 4n * MS],
  ['1.0040s', S + 4n * MS],
  ['100.00100s', 100n * S + MS],
  ['10ns', 10n * NS],
  ['11us', 11n * US],
  ['12\u00b5s', 12n * US],
  ['12\u03bcs', 12n * US],
  ['13ms', 13n * MS],
  ['14s', 14n * S],
  ['15m', 15n * M],
  ['16h', 16n * H],
  ['3h30m', 3n * H + 30n * M],
  ['10.5s4m', 4n * M + 10n * S + 500n * MS],
  ['-2m3.4s', -(2n * M + 3n * S + 400n * MS)],
  ['1h2m3s4ms5us6ns', H + 2n * M + 3n * S + 4n * MS + 5n * US + 6n * NS],
  ['39h9m14.425s', 39n * H + 9n * M + 14n * S + 425n * MS],
  ['52763797000ns', 52763797000n],
  // More than 9 digits after the point.
  ['0.3333333333333333333h', 20n * M],
  // 2^53 + 1: not a float64, still exact.
  ['9007199254740993ns', (1n << 53n) + 1n],
  // The ends of the range.
  ['9223372036854775807ns', MAX],
  ['9223372036854775.807us', MAX],
  ['9223372036s854ms775us807ns', MAX],
  ['-9223372036854775808ns', MIN],
  ['-9223372036854775.808us', MIN],
  ['-9223372036s854ms775us808ns', MIN],
  ['-2562047h47m16.854775808s', MIN],
  // Long fractions stop adding precision, without an error.
  ['0.100000000000000000000h', 6n * M],
  ['0.830103483285477580700h', 49n * M + 48n * S + 372539827n],
];

// Go's error cases, plus what EdgeX users type by mistake.
const INVALID: [string, string][] = [
  ['', 'is empty'],
  ['3', "has no unit after '3'"],
  ['10', "has no unit after '10'"],
  ['1.5', "has no unit after '1.5'"],
  ['-', 'has a sign and no number'],
  ['s', "has 's' where a number should start"],
  ['.', "has a '.' with no digits"],
  ['-.', "has a '.' with no digits"],
  ['.s', "has a '.' with no digits"],
  ['+.s', "has a '.' with no digits"],
  ['1d', "has the unknown unit 'd'"],
  ['1 s', "has the unknown unit ' s'"],
  [' 1s', "has ' ' where a number should start"],
  ['1s ', "has the unknown unit 's '"],
  ['1 second', "has the unknown unit ' second'"],
  ['1S', "has the unknown unit 'S'"],
  ['\ufffd', "has '\ufffd' where a number should start"],
  ['1h-30m', "has the unknown unit 'h-'"],
  ['00', "has no unit after '00'"],
  ['9223372036854775810ns', 'is out of range'],
  ['9223372036854775808ns', 'is out of range'],
  ['-9223372036854775809ns', 'is out of range'],
  ['9223372036854776us', 'is out of range'],
  ['3000000h', 'is out of range'],
  ['9223372036854775.808us', 'is out of range'],
  ['9223372036854ms775us808ns', 'is out of range'],
  ['99999999999999999999999s', 'is out of range'],
  // Go's uint64 sum wraps to 0 here; the range is the range.
  ['9223372036854775808ns9223372036854775808ns', 'is out of range'],
];

describe('Go durations', () => {
  it.each(VALID)('reads %j as Go does', (text, ns) => {
    expect(parseGoDuration(text)).toBe(ns);
    expect(goDurationProblem(text)).toBeUndefined();
  });

  it.each(INVALID)('refuses %j: it %s', (text, reason) => {
    expect(goDurationProblem(text)).toContain(reason);
    expect(goDurationMs(text)).toBeUndefined();
    let caught: unknown;
    try {
      parseGoDuration(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(KernelErrors.ErrDuration);
    expect(caught).toMatchObject({ code: 'EDGE_ERR_DURATION', params: { text } });
    expect((caught as Error).message).toContain(`'${text}' is not a Go duration`);
    expect((caught as Error).message).toContain(reason);
  });

  it('names the units it knows when a unit is missing or unknown', () => {
    expect(goDurationProblem('5')).toBe("has no unit after '5' (units: ns, us, µs, ms, s, m, h)");
    expect(goDurationProblem('5parsecs')).toBe("has the unknown unit 'parsecs' (units: ns, us, µs, ms, s, m, h)");
  });

  it('gives milliseconds as a number, sub-millisecond parts as the fraction', () => {
    expect(goDurationMs('500ms')).toBe(500);
    expect(goDurationMs('1h30m')).toBe(5_400_000);
    expect(goDurationMs('1.5s')).toBe(1500);
    expect(goDurationMs('1500us')).toBe(1.5);
    expect(goDurationMs('250ns')).toBe(0.00025);
    expect(goDurationMs('-2s')).toBe(-2000);
    expect(goDurationMs('0')).toBe(0);
    expect(goDurationMs('-0')).toBe(0);
    // The whole range stays exact in its integer part (2^63 ns is beyond 2^53).
    expect(nsToMs(MAX)).toBe(9_223_372_036_854 + 0.775807);
    expect(nsToMs(MIN)).toBe(-9_223_372_036_854 - 0.775808);
  });
});
