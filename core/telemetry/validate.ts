/**
 * Batch validation shared by the outbox and the hub store: a compiled TypeBox
 * check per reading on the fast path; only when something fails is the batch
 * walked field by field so the error names every bad index and field.
 */
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { checkSchema, type FieldIssue } from '../kernel/index.ts';
import { readingValueProblem, ReadingSchema, type Quality, type Sample, type ValueType } from '../sdk/index.ts';
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
 * A reading built field by field in one key order (site first when given,
 * then device, profile, the sample's fields, the optional ones last): V8
 * gives such objects a few fast shapes, where an object spread gave each its
 * own (about 1.4 µs a reading to build, three times slower to check, and 250
 * bytes in the old generation). A source with a key the schema does not know
 * is spread whole, so the outbox's check refuses it by name rather than this
 * dropping it.
 */
function built(r: Sample & { site?: string }, device: string, profile: string, site: string | undefined): Omit<ReadingInput, 'site'> & { site?: string } {
  for (const k in r) {
    if (!INPUT_KEYS.has(k)) return site === undefined ? { ...r, device, profile } : { ...r, device, profile, site };
  }
  const out: Omit<ReadingInput, 'site'> & { site?: string } =
    site === undefined
      ? { device, profile, resource: r.resource, value: r.value, valueType: r.valueType, origin: r.origin, quality: r.quality }
      : { site, device, profile, resource: r.resource, value: r.value, valueType: r.valueType, origin: r.origin, quality: r.quality };
  if (r.units !== undefined) out.units = r.units;
  if (r.qualityDetail !== undefined) out.qualityDetail = r.qualityDetail;
  return out;
}

/** A driver's sample as a reading of `device` (of `profile`), for the site's reading sink. */
export function sampleReading(s: Sample, device: string, profile: string): Omit<ReadingInput, 'site'> {
  return built(s, device, profile, undefined);
}

/** The readings handed to the site's sink, each with `site` set (a site they carry is replaced), ready for the outbox. */
export function withSite(readings: readonly Omit<ReadingInput, 'site'>[], site: string): ReadingInput[] {
  const out = new Array<ReadingInput>(readings.length);
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!;
    out[i] = built(r, r.device, r.profile, site) as ReadingInput;
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
