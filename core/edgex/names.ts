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
import type { Resource } from '../store/index.ts';
// The mapping itself is the SDK's (plugins map names with it too): one source.
import { EDGEX_NAME_ANNOTATION, edgexResourceName } from '../sdk/index.ts';

/** The annotation that keeps a resource's EdgeX name: the SDK's (drivers read it too). */
export { EDGEX_NAME_ANNOTATION, edgexResourceName };

/** A run of characters EdgeX v3 does not allow in a profile's name (it allows letters, digits and - _ ~ : ; =). */
const NOT_PROFILE_NAME_RUN = /[^A-Za-z0-9_~:;=-]+/g;

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
