/**
 * What the names of a DeviceProfile stand for, read as EdgeX's device SDK
 * reads them. A source (an autoEvent's `sourceName`, a live read) is a
 * deviceResource, or a deviceCommand standing for the deviceResources of its
 * resourceOperations. The `mappings` of a resourceOperation (raw value as
 * text -> name, e.g. `{ "3": "Dry" }`) apply to its deviceResource whenever
 * that resource is read, and backwards whenever it is written: those of the
 * first resourceOperation naming the resource, in profile order, within a
 * deviceCommand that allows the access (R to read, W to write). A
 * deviceResource has no mappings of its own.
 *
 * The one statement of these rules: the hub (writes, live reads), the CLI
 * (`--auto-event`) and the site agent (polls, reads, writes) all use it.
 */

/** The parts of a profile these rules read: a DeviceProfile's spec, or a site's replica of one. */
export interface ProfileSources {
  deviceResources: readonly { name: string; properties: { readWrite: string } }[];
  deviceCommands?: readonly {
    name: string;
    readWrite: string;
    resourceOperations: readonly { deviceResource: string; mappings?: Readonly<Record<string, string>> }[];
  }[];
}

/** Reading (R) or writing (W) a resource. */
export type ResourceAccess = 'R' | 'W';

const allows = (readWrite: string, access: ResourceAccess): boolean => readWrite.includes(access);

/** The deviceResources a source stands for: the deviceResource itself, or a deviceCommand's; undefined when the profile has neither. */
export function sourceResources(profile: ProfileSources, source: string): string[] | undefined {
  if (profile.deviceResources.some((r) => r.name === source)) return [source];
  const command = profile.deviceCommands?.find((c) => c.name === source);
  return command ? command.resourceOperations.map((o) => o.deviceResource) : undefined;
}

/**
 * Why `source` cannot be read from a device with this profile, as a clause
 * naming it (it is neither a deviceResource nor a deviceCommand, or it is
 * write-only); undefined when it can.
 */
export function readSourceProblem(profile: ProfileSources, source: string): string | undefined {
  const resource = profile.deviceResources.find((r) => r.name === source);
  if (resource) return allows(resource.properties.readWrite, 'R') ? undefined : `'${source}' is a write-only deviceResource (readWrite '${resource.properties.readWrite}')`;
  const command = profile.deviceCommands?.find((c) => c.name === source);
  if (command) return allows(command.readWrite, 'R') ? undefined : `'${source}' is a write-only deviceCommand (readWrite '${command.readWrite}')`;
  const names = [...profile.deviceResources.map((r) => r.name), ...(profile.deviceCommands ?? []).map((c) => c.name)];
  return `'${source}' is neither a deviceResource nor a deviceCommand of the profile (it has ${names.join(', ')})`;
}

/** The deviceResources a read of the whole device covers: every readable one, in profile order. */
export function readableResources(profile: ProfileSources): string[] {
  return profile.deviceResources.filter((r) => allows(r.properties.readWrite, 'R')).map((r) => r.name);
}

/**
 * The deviceResources a read of `sources` covers, each once, in the order
 * named (every readable one when none is named); or the first source that
 * cannot be read, with why.
 */
export function resourcesToRead(profile: ProfileSources, sources: readonly string[]): { resources: string[] } | { source: string; problem: string } {
  if (sources.length === 0) return { resources: readableResources(profile) };
  const out = new Set<string>();
  for (const source of sources) {
    const problem = readSourceProblem(profile, source);
    if (problem !== undefined) return { source, problem };
    for (const r of sourceResources(profile, source) ?? []) out.add(r);
  }
  return { resources: [...out] };
}

/** The mappings that apply to `resource` when it is read (R) or written (W); undefined when there are none. */
export function resourceMappings(profile: ProfileSources, resource: string, access: ResourceAccess): Readonly<Record<string, string>> | undefined {
  for (const command of profile.deviceCommands ?? []) {
    if (!allows(command.readWrite, access)) continue;
    const op = command.resourceOperations.find((o) => o.deviceResource === resource);
    if (op) return op.mappings && Object.keys(op.mappings).length > 0 ? op.mappings : undefined;
  }
  return undefined;
}
