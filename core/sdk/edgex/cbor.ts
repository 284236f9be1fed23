/**
 * A bounded CBOR (RFC 8949) decoder for EdgeX event payloads: device services
 * encode an AddEventRequest as CBOR (`application/cbor`) when it holds a
 * Binary reading, so the bytes travel as they are. Decodes what Go's
 * fxamacker/cbor writes for those DTOs, and the rest of the data model:
 *
 *   unsigned and negative integers   numbers; beyond 2^53, bigints
 *   byte strings                     Uint8Array (a view of the input)
 *   text strings                     strings (UTF-8, checked)
 *   arrays, maps                     arrays, plain objects (text keys only; __proto__ refused)
 *   false, true, null, undefined     as in JS; half, single and double floats as numbers
 *   tags                             the tagged item itself (the tag is not interpreted)
 *
 * Indefinite lengths are read. Nesting is bounded (`maxDepth`), every length
 * is checked against the bytes left before anything is allocated, and the
 * input must be exactly one item. Anything else is an Error with the offset;
 * callers wrap it in their coded error.
 */

export interface CborOptions {
  /** Deepest nesting of arrays and maps (default 64). */
  maxDepth?: number;
}

const BREAK = Symbol('break');
const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos = 0;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly maxDepth: number;

  constructor(bytes: Uint8Array, maxDepth: number) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxDepth = maxDepth;
  }

  fail(reason: string): never {
    throw new Error(`${reason} at byte ${this.pos}`);
  }

  need(n: number): void {
    if (n > this.bytes.length - this.pos) this.fail(`${n} more bytes needed, ${this.bytes.length - this.pos} left`);
  }

  /** Where the next `n` bytes start; moves past them. */
  take(n: number): number {
    this.need(n);
    this.pos += n;
    return this.pos - n;
  }

  /** The argument of an initial byte: its value (a bigint beyond 2^53), or -1 for an indefinite length. */
  argument(info: number): number | bigint {
    if (info < 24) return info;
    switch (info) {
      case 24:
        return this.view.getUint8(this.take(1));
      case 25:
        return this.view.getUint16(this.take(2));
      case 26:
        return this.view.getUint32(this.take(4));
      case 27: {
        const v = this.view.getBigUint64(this.take(8));
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case 31:
        return -1;
      default:
        return this.fail(`reserved additional information ${info}`);
    }
  }

  /** A length: a count that fits what is left (each item takes at least one byte). */
  length(info: number, what: string): number {
    const n = this.argument(info);
    if (n === -1) return -1;
    if (typeof n === 'bigint' || n > this.bytes.length - this.pos) this.fail(`${what} of length ${String(n)} is longer than the ${this.bytes.length - this.pos} bytes left`);
    return n;
  }

  chunks(major: number, info: number): Uint8Array[] {
    const n = this.length(info, major === 2 ? 'byte string' : 'text string');
    if (n !== -1) {
      this.pos += n;
      return [this.bytes.subarray(this.pos - n, this.pos)];
    }
    const parts: Uint8Array[] = [];
    for (;;) {
      this.need(1);
      const b = this.bytes[this.pos++]!;
      if (b === 0xff) return parts;
      if (b >> 5 !== major || (b & 0x1f) === 31) this.fail('an indefinite string holds a chunk of another type');
      parts.push(...this.chunks(major, b & 0x1f));
    }
  }

  item(depth: number): unknown {
    this.need(1);
    const initial = this.bytes[this.pos++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    switch (major) {
      case 0: {
        const v = this.argument(info);
        if (v === -1) this.fail('an integer cannot have an indefinite length');
        return v;
      }
      case 1: {
        const v = this.argument(info);
        if (v === -1) this.fail('an integer cannot have an indefinite length');
        if (typeof v === 'bigint') return -1n - v;
        const n = -1 - v;
        return Number.isSafeInteger(n) ? n : -1n - BigInt(v);
      }
      case 2: {
        const parts = this.chunks(2, info);
        return parts.length === 1 ? parts[0] : concat(parts);
      }
      case 3: {
        const parts = this.chunks(3, info);
        try {
          return utf8.decode(parts.length === 1 ? parts[0] : concat(parts));
        } catch {
          return this.fail('a text string is not UTF-8');
        }
      }
      case 4: {
        if (depth >= this.maxDepth) this.fail(`arrays and maps nest deeper than ${this.maxDepth}`);
        const n = this.length(info, 'array');
        const out: unknown[] = [];
        for (let i = 0; n === -1 || i < n; i++) {
          const v = this.item(depth + 1);
          if (v === BREAK) {
            if (n === -1) return out;
            this.fail('a break inside a definite array');
          }
          out.push(v);
        }
        return out;
      }
      case 5: {
        if (depth >= this.maxDepth) this.fail(`arrays and maps nest deeper than ${this.maxDepth}`);
        const n = this.length(info, 'map');
        const out: Record<string, unknown> = {};
        for (let i = 0; n === -1 || i < n; i++) {
          const at = this.pos;
          const k = this.item(depth + 1);
          if (k === BREAK) {
            if (n === -1) return out;
            this.fail('a break inside a definite map');
          }
          if (typeof k !== 'string') {
            this.pos = at;
            this.fail('a map key is not a text string');
          }
          if (k === '__proto__') this.fail("a map key '__proto__'");
          const v = this.item(depth + 1);
          if (v === BREAK) this.fail('a map key without a value');
          out[k] = v;
        }
        return out;
      }
      case 6: {
        if (depth >= this.maxDepth) this.fail(`tags nest deeper than ${this.maxDepth}`);
        this.argument(info);
        const v = this.item(depth + 1);
        if (v === BREAK) this.fail('a tag on a break');
        return v;
      }
      default:
        return this.simple(info);
    }
  }

  simple(info: number): unknown {
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 25:
        return half(this.view.getUint16(this.take(2)));
      case 26:
        return this.view.getFloat32(this.take(4));
      case 27:
        return this.view.getFloat64(this.take(8));
      case 31:
        return BREAK;
      default:
        return this.fail(`simple value ${info} has no meaning here`);
    }
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An IEEE 754 half-precision float. */
function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : Number.NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Decodes one CBOR item that takes all of `bytes`; throws an Error naming what and where when it is not one. */
export function decodeCbor(bytes: Uint8Array, opts: CborOptions = {}): unknown {
  const r = new Reader(bytes, opts.maxDepth ?? 64);
  const v = r.item(0);
  if (v === BREAK) r.fail('a break outside an indefinite item');
  if (r.pos !== bytes.length) r.fail(`${bytes.length - r.pos} bytes after the item`);
  return v;
}
