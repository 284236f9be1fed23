/**
 * The site's catalog, device commands, device states and logins as services
 * for plugins (core/sdk's `siteCatalogRef`, `deviceCommandsRef`,
 * `deviceStatesRef`, `siteLoginsRef`), from the agent's own parts: its
 * replica (LocalState) and its DeviceManager. The agent and the SDK test kit
 * both build them here, so a plugin's tests see what the agent gives.
 *
 * Rules:
 * - Read-only on resources: the catalog reads the replica at each call (it
 *   works offline, and is never staler than the replica); nothing here
 *   writes a resource.
 * - EdgeX forms are core/edgex's export (one conversion for files and the
 *   REST API).
 * - Reads and writes run as the hub's live reads and commands do
 *   (`DeviceManager.execute`): the readings they make go upstream too (a
 *   read asked with `store: false` only answers its caller).
 * - Device states are the DeviceManager's, as EdgeX's operatingState
 *   (devices.ts `OPERATING_STATE`).
 * - Logins are the site's BrokerCredentials, checked against their stored
 *   hashes; a disabled credential is refused.
 */
import { randomUUID } from 'node:crypto';
import { rememberingVerifier } from '../core/kernel/index.ts';
import { exportEdgeX, edgexNameOf } from '../core/edgex/index.ts';
import type { DeviceCommandResult, DeviceCommands, DeviceStates, Sample, SiteCatalog, SiteCatalogEntry, SiteLogins } from '../core/sdk/index.ts';
import type { BrokerCredentialObject, Resource, SiteCommand } from '../core/store/index.ts';
import { OPERATING_STATE, type DeviceRuntimeStatus } from './devices.ts';
import type { CommandResult, LocalState } from './local-state.ts';

/** How long a command made here may wait for its device. */
const COMMAND_TTL_MS = 60_000;

/** The catalog of the site's Devices and DeviceProfiles, read from the replica `state()` returns. */
export function siteCatalog(site: string, state: () => LocalState): SiteCatalog {
  // Built once per replica revision: the EdgeX forms cost an export each, and every REST list asks.
  const built = new Map<string, { revision: string | null; entries: SiteCatalogEntry[] }>();
  return {
    list(kind) {
      const revision = state().resourceVersion();
      const hit = built.get(kind);
      if (hit && hit.revision === revision) return hit.entries;
      const entries = build(kind);
      built.set(kind, { revision, entries });
      return entries;
    },
  };

  function build(kind: 'Device' | 'DeviceProfile'): SiteCatalogEntry[] {
    const profiles = state().list('DeviceProfile');
    const devices = kind === 'Device' ? state().list<Resource<{ site?: string }>>('Device').filter((d) => d.spec.site === site) : [];
    const { files } = exportEdgeX([...profiles, ...devices], { encoding: 'json' });
    const byPath = new Map(files.map((f) => [f.name, JSON.parse(f.content) as unknown]));
    const entry = (r: Resource, edgex: unknown): SiteCatalogEntry => ({
      name: r.metadata.name,
      edgexName: edgexNameOf(r),
      spec: r.spec as Record<string, unknown>,
      edgex: edgex as Record<string, unknown>,
    });
    if (kind === 'DeviceProfile') return profiles.map((p) => entry(p, byPath.get(`profiles/${p.metadata.name}.json`)));
    // exportEdgeX writes the devices in name order, as the replica lists them.
    const dtos = (byPath.get('devices/devices.json') ?? []) as unknown[];
    return devices.map((d, i) => entry(d, dtos[i]));
  }
}

function asResult(r: CommandResult, read: boolean): DeviceCommandResult {
  if (!r.ok) return { ok: false, ...(r.error ? { error: r.error } : {}) };
  if (read) return { ok: true, samples: (r.reported ?? []) as Sample[] };
  return r.reported === undefined ? { ok: true } : { ok: true, reported: r.reported };
}

/** Live reads and commands on the running devices of `execute` (the agent's DeviceManager). */
export function deviceCommands(execute: () => (cmd: SiteCommand, opts?: { store?: boolean }) => Promise<CommandResult>): DeviceCommands {
  const expiresAt = (): string => new Date(Date.now() + COMMAND_TTL_MS).toISOString();
  return {
    async read(device, sources, opts = {}) {
      return asResult(await execute()({ id: randomUUID(), kind: 'read', device, resources: [...sources], expiresAt: expiresAt() }, opts), true);
    },
    async write(device, resource, value) {
      return asResult(await execute()({ id: randomUUID(), device, resource, value, expiresAt: expiresAt() }), false);
    },
  };
}

/** The devices' operating states from `status` (the agent's DeviceManager): its state as EdgeX's operatingState, its message and last good reading. */
export function deviceStates(status: () => (device: string) => DeviceRuntimeStatus | undefined): DeviceStates {
  return {
    get(device) {
      const s = status()(device);
      if (!s) return undefined;
      return { state: OPERATING_STATE[s.state], ...(s.message === undefined ? {} : { message: s.message }), ...(s.lastReading === undefined ? {} : { lastReading: s.lastReading }) };
    },
  };
}

/** Checks that passed, remembered (scrypt costs tens of milliseconds): at most this many. */
const MAX_REMEMBERED = 1024;

/**
 * The site's logins: its enabled BrokerCredentials, from the replica
 * `state()` returns. A check that passed is remembered by the stored hash and
 * a digest of the password (as the site broker does), so a changed or
 * removed credential is judged afresh.
 */
export function siteLogins(site: string, state: () => LocalState): SiteLogins {
  const verify = rememberingVerifier(MAX_REMEMBERED);
  return {
    verify(username, password) {
      const c = state()
        .list<BrokerCredentialObject>('BrokerCredential')
        .find((x) => x.spec.site === site && x.spec.username === username);
      if (!c || c.spec.disabled) return Promise.resolve(false);
      return verify(password, c.spec.passwordHash);
    },
  };
}
