/**
 * Secret material in resources: fields the REST API never answers, to
 * anyone. Today that is a BrokerCredential's `spec.passwordHash` (scrypt):
 * the site gets it through its sync session, which replicates the store
 * as it is, and checks broker passwords against it offline; no operator
 * flow needs it back. The fields are write-only: an apply that leaves one
 * out keeps the stored value, so a resource read, edited and applied again
 * does not lose it.
 */
import type { Kind, Resource } from '../store/index.ts';

/** Per kind, the `spec` fields no REST answer carries. */
export const SECRET_SPEC_FIELDS: Readonly<Partial<Record<Kind, readonly string[]>>> = {
  BrokerCredential: ['passwordHash'],
};

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The object without its secret fields (the same object when its kind has none). */
export function withoutSecrets<T extends Resource>(obj: T): T {
  const fields = SECRET_SPEC_FIELDS[obj.kind];
  if (!fields || !isRecord(obj.spec)) return obj;
  const spec: Record<string, unknown> = { ...obj.spec };
  for (const f of fields) delete spec[f];
  return { ...obj, spec };
}

/** A spec to store: secret fields it leaves out are taken from the stored spec. */
export function keepSecrets(kind: Kind, spec: unknown, stored: unknown): unknown {
  const fields = SECRET_SPEC_FIELDS[kind];
  if (!fields || !isRecord(spec) || !isRecord(stored)) return spec;
  const out: Record<string, unknown> = { ...spec };
  for (const f of fields) if (out[f] === undefined && stored[f] !== undefined) out[f] = stored[f];
  return out;
}
