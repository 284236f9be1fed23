/**
 * Batch validation shared by the outbox and the hub store: a compiled TypeBox
 * check per reading on the fast path; only when something fails is the batch
 * walked field by field so the error names every bad index and field.
 */
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { checkSchema, type FieldIssue } from '../kernel/index.ts';
import { readingValueProblem, ReadingSchema, type Quality, type ValueType } from '../sdk/index.ts';
import { ErrInvalid } from './errors.ts';
import type { ReadingInput } from './types.ts';

const { seq: _seq, ...inputProperties } = ReadingSchema.properties;

/** A reading before the outbox numbers it: ReadingSchema without `seq`. */
export const ReadingInputSchema = Type.Object(inputProperties, { additionalProperties: false });

const checkInput = Compile(ReadingInputSchema);
const checkReading = Compile(ReadingSchema);
/** The keys a reading may have (ReadingInputSchema's; a site a driver sets is replaced by the agent's). */
const INPUT_KEYS: ReadonlySet<string> = new Set(Object.keys(inputProperties));

/**
 * The readings a driver handed the site, each with `site` set, ready for the
 * outbox. Each is a new object built field by field in one key order: V8
 * gives such objects one fast shape, where `{ ...r, site }` made slow ones
 * (about 1.4 µs per reading, and three times slower to check after). A
 * reading with a key the schema does not know is copied whole, so the
 * outbox's check refuses it by name rather than this dropping it.
 */
export function withSite(readings: readonly Omit<ReadingInput, 'site'>[], site: string): ReadingInput[] {
  const out = new Array<ReadingInput>(readings.length);
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!;
    let known = true;
    for (const k in r) {
      if (!INPUT_KEYS.has(k)) {
        known = false;
        break;
      }
    }
    if (!known) {
      out[i] = { ...r, site };
      continue;
    }
    const s: ReadingInput = { site, device: r.device, profile: r.profile, resource: r.resource, value: r.value, valueType: r.valueType, origin: r.origin, quality: r.quality };
    if (r.units !== undefined) s.units = r.units;
    if (r.qualityDetail !== undefined) s.qualityDetail = r.qualityDetail;
    out[i] = s;
  }
  return out;
}

/** At most this many issues are carried in the error's params. */
const MAX_ISSUES = 50;

/** Why a reading that passed its schema is still not valid: its value does not fit its valueType, or it is another site's. */
function semanticProblem(r: { site: string; value: unknown; valueType: ValueType; quality: Quality }, site: string, siteOwner: string): FieldIssue | undefined {
  if (r.site !== site) return { path: 'site', message: `must be '${site}' (${siteOwner})` };
  const p = readingValueProblem(r.valueType, r.value, r.quality);
  return p === undefined ? undefined : { path: 'value', message: p };
}

/**
 * Throws EDGE_ERR_TELEMETRY_INVALID when any reading does not match its schema
 * (`input`: without seq, `reading`: with seq), carries a value that does not
 * fit its valueType, or names another site.
 */
export function validateBatch(batch: unknown, site: string, kind: 'input' | 'reading', siteOwner: string): void {
  if (!Array.isArray(batch)) {
    throw new ErrInvalid({ index: -1, field: '', problem: 'must be an array of readings', count: 1, issues: [{ path: '', message: 'must be an array' }] });
  }
  const readings = batch as readonly unknown[];
  const check = kind === 'input' ? checkInput : checkReading;
  const n = readings.length;
  let i = 0;
  for (; i < n; i++) {
    const r = readings[i];
    if (!check.Check(r) || semanticProblem(r, site, siteOwner) !== undefined) break;
  }
  if (i === n) return;
  const schema = kind === 'input' ? ReadingInputSchema : ReadingSchema;
  const issues: (FieldIssue & { index: number })[] = [];
  let count = 0;
  for (; i < n; i++) {
    const r = readings[i];
    const found = checkSchema(schema, r);
    if (found.length === 0) {
      const p = semanticProblem(r as Parameters<typeof semanticProblem>[0], site, siteOwner);
      if (p) found.push(p);
    }
    count += found.length;
    for (const f of found) if (issues.length < MAX_ISSUES) issues.push({ index: i, ...f });
  }
  const first = issues[0]!;
  throw new ErrInvalid({
    index: first.index,
    field: first.path,
    problem: first.message,
    count,
    issues: issues.map((x) => ({ path: `[${x.index}]${x.path === '' ? '' : `.${x.path}`}`, message: x.message })),
  });
}
