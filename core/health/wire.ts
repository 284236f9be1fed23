/**
 * The gossip's wire: what one health agent sends another, as JSON over
 * `POST /health/v1/gossip`. Each body is signed as bytes (header
 * `x-edgeadm-health-signature`) before anything in it is read; each report
 * inside is signed by the node that checked, so it verifies wherever it is
 * forwarded. A report is one checker's results over the peers it watches,
 * stamped with its clock (`at`, ms) and a sequence, so a stale or replayed
 * one is refused (core/health/agent.ts says the rules).
 */
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { checkSchema, DNS1123_SUBDOMAIN_PATTERN } from '../kernel/index.ts';
import { ErrGossip } from './errors.ts';
import { sign, verify, type HealthKeyring } from './signing.ts';

export const GOSSIP_PATH = '/health/v1/gossip';
export const SIGNATURE_HEADER = 'x-edgeadm-health-signature';
/** The largest gossip body either side reads. */
export const GOSSIP_MAX_BYTES = 4 * 1024 * 1024;

const NodeName = Type.String({ maxLength: 253, pattern: DNS1123_SUBDOMAIN_PATTERN });
const Millis = Type.Integer({ minimum: 0 });

export const ResultSchema = Type.Object(
  {
    target: NodeName,
    ok: Type.Boolean(),
    /** The sum of the weights of the checks the target passed. */
    score: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type CheckResult = Static<typeof ResultSchema>;

export const ReportSchema = Type.Object(
  {
    checker: NodeName,
    at: Millis,
    seq: Type.Integer({ minimum: 0 }),
    results: Type.Array(ResultSchema, { maxItems: 64 }),
    sig: Type.String({ maxLength: 128 }),
  },
  { additionalProperties: false },
);
export type Report = Static<typeof ReportSchema>;

export const EnvelopeSchema = Type.Object(
  {
    v: Type.Literal(1),
    site: Type.String({ maxLength: 63 }),
    from: NodeName,
    to: NodeName,
    at: Millis,
    /** What the sender holds: per checker, the version (at, seq) of its report. */
    digest: Type.Record(Type.String({ maxLength: 253 }), Type.Tuple([Millis, Type.Integer({ minimum: 0 })]), { maxProperties: 10_000 }),
    reports: Type.Array(ReportSchema, { maxItems: 10_000 }),
  },
  { additionalProperties: false },
);
export type Envelope = Static<typeof EnvelopeSchema>;

const checkEnvelope = Compile(EnvelopeSchema);

/** The bytes a report's signature covers: the site is in them, so a report never verifies at another site. */
const reportBytes = (site: string, r: Omit<Report, 'sig'>): string =>
  JSON.stringify(['edgeadm-health-report/1', site, r.checker, r.at, r.seq, r.results.map((x) => [x.target, x.ok, x.score])]);

export function signReport(ring: HealthKeyring, site: string, r: Omit<Report, 'sig'>): Report {
  return { ...r, sig: sign(ring, reportBytes(site, r)) };
}

export function verifyReport(ring: HealthKeyring, site: string, r: Report): boolean {
  return verify(ring, reportBytes(site, r), r.sig);
}

/** A body and its signature, ready to send. */
export interface SignedBody {
  body: Buffer;
  signature: string;
}

export function sealEnvelope(ring: HealthKeyring, e: Envelope): SignedBody {
  const body = Buffer.from(JSON.stringify(e));
  return { body, signature: sign(ring, body) };
}

/** The envelope in a signed body: its signature first, then its shape; ErrGossip names what is wrong. */
export function openEnvelope(ring: HealthKeyring, signed: { body: Buffer; signature: unknown }): Envelope {
  if (signed.body.length > GOSSIP_MAX_BYTES) throw new ErrGossip({ field: 'body', reason: `is over ${GOSSIP_MAX_BYTES} bytes` });
  if (!verify(ring, signed.body, signed.signature)) throw new ErrGossip({ field: SIGNATURE_HEADER, reason: "does not verify with the site's key" });
  let value: unknown;
  try {
    value = JSON.parse(signed.body.toString('utf8'));
  } catch {
    throw new ErrGossip({ field: 'body', reason: 'is not JSON' });
  }
  if (!checkEnvelope.Check(value)) {
    const first = checkSchema(EnvelopeSchema, value)[0];
    throw new ErrGossip({ field: first?.path || 'body', reason: first?.message ?? 'is not a gossip envelope' });
  }
  return value;
}
