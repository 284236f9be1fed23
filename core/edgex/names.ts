/**
 * EdgeX names and resource names: the one mapping from an EdgeX name (a
 * device's or a profile's) to the `metadata.name` of the resource it
 * becomes, applied alike to the names themselves and to references
 * (a device's `profileName`). The EdgeX name is kept on the resource, in the
 * `edgex.edgeadm.io/name` annotation, for export and display.
 *
 * The mapping, `edgexResourceName(name)`:
 *
 * 1. Unicode compatibility decomposition (NFKD), combining marks dropped
 *    (`Température` → `Temperature`), then lowercase.
 * 2. The name is split at '.', and in each part every run of characters
 *    other than `a-z`, `0-9` becomes one '-' (a run of '-' alone stays as it
 *    is); leading and trailing '-' of each part are dropped, then empty
 *    parts; the parts are joined with '.' again.
 * 3. A result longer than 253 characters (a resource name's limit) is cut to
 *    244 and given `-` and the first 8 hex digits of the SHA-256 of the
 *    EdgeX name, so two long names that share a beginning stay apart.
 * 4. Nothing left (no letter or digit at all): the name is refused.
 *
 * It is stable (a pure function of the name, no state, no table) and
 * idempotent on valid names: a DNS-1123 subdomain maps to itself, so
 * resources named by hand export and import unchanged. Two EdgeX names that
 * map to the same resource name in one import are a reported problem, never
 * an overwrite (files.ts).
 *
 * Profiles: EdgeX v3 allows only letters, digits and `- _ ~ : ; =` in a
 * profile's name (v2.0 also '.'); the kept name of a profile is its v3 form
 * (`edgexProfileName`: every run of other characters becomes one '-', the rename EdgeX's
 * own files made for v3: `Test.Device.Modbus.Profile` became
 * `Test-Device-Modbus-Profile`), and the mapping applies to that form, for
 * the profile's own name and for every `profileName` naming it.
 */
import { createHash } from 'node:crypto';
import { DNS1123_SUBDOMAIN_MAX } from '../kernel/index.ts';
import type { Resource } from '../store/index.ts';

/** The annotation that keeps a resource's EdgeX name. */
export const EDGEX_NAME_ANNOTATION = 'edgex.edgeadm.io/name';

const HASH_DIGITS = 8;
const NOT_ALNUM_RUN = /[^a-z0-9]+/g;
const COMBINING_MARK = /\p{M}/gu;
/** A run of characters EdgeX v3 does not allow in a profile's name (it allows letters, digits and - _ ~ : ; =). */
const NOT_PROFILE_NAME_RUN = /[^A-Za-z0-9_~:;=-]+/g;

function part(p: string): string {
  // A run of '-' alone is kept (so valid names map to themselves); any other run becomes one '-'.
  return p.replace(NOT_ALNUM_RUN, (run) => (/^-+$/.test(run) ? run : '-')).replace(/^-+|-+$/g, '');
}

/**
 * The resource name an EdgeX name maps to (see the header for the rule), or
 * undefined when it has no letter or digit to map from.
 */
export function edgexResourceName(edgexName: string): string | undefined {
  const folded = edgexName.normalize('NFKD').replace(COMBINING_MARK, '').toLowerCase();
  const name = folded
    .split('.')
    .map(part)
    .filter((p) => p !== '')
    .join('.');
  if (name === '') return undefined;
  if (name.length <= DNS1123_SUBDOMAIN_MAX) return name;
  const hash = createHash('sha256').update(edgexName).digest('hex').slice(0, HASH_DIGITS);
  const head = name.slice(0, DNS1123_SUBDOMAIN_MAX - HASH_DIGITS - 1).replace(/[-.]+$/, '');
  return `${head}-${hash}`;
}

/** A profile's name in its EdgeX v3 form: each run of characters v3 does not allow in a profile's name becomes one '-'. */
export function edgexProfileName(name: string): string {
  return name.replace(NOT_PROFILE_NAME_RUN, '-');
}

/**
 * The EdgeX name of a Device or DeviceProfile: the one it was imported with
 * (its annotation), else, for a resource made here, its own name (a
 * profile's `spec.name` when it has one); a profile's in its v3 form.
 */
export function edgexNameOf(resource: Pick<Resource, 'kind' | 'metadata' | 'spec'>): string {
  const kept = resource.metadata.annotations?.[EDGEX_NAME_ANNOTATION];
  if (resource.kind !== 'DeviceProfile') return kept !== undefined && kept !== '' ? kept : resource.metadata.name;
  const specName = (resource.spec as { name?: unknown } | undefined)?.name;
  const name = kept !== undefined && kept !== '' ? kept : typeof specName === 'string' && specName.trim() !== '' ? specName : resource.metadata.name;
  return edgexProfileName(name);
}
