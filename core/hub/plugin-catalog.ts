/**
 * The plugins installed where the hub runs, as the console builds its forms
 * from them (`GET /api/v1/plugins`), and the check of Device writes against
 * the protocol blocks they declare.
 *
 * Rules:
 * - The hub knows no plugin by itself: whoever starts it passes a source
 *   (`pluginCatalog` of startHub / buildHubApp), e.g. the command line's
 *   plugin discovery (`edgeadm plugin list`). It is called on the first
 *   request that needs it, once; a failed load is not kept (the next request
 *   tries again) and answers 503 EDGE_ERR_HUB_PLUGIN_CATALOG.
 * - Without a source the catalog is empty: the route answers 200 with no
 *   items, and Device writes are not checked.
 * - A Device write (create, apply, EdgeX import, approving a pending device) whose protocol block names a
 *   protocol some plugin declares is checked against that schema the way
 *   the drivers read blocks (core/sdk `protocolBlockIssues`: keys match
 *   case-insensitively, EdgeX's numeric strings are numbers). Every problem
 *   is named by its path, `spec.protocols.<protocol>.<Field>`, in the
 *   store's own refusal (400 EDGE_ERR_STORE_INVALID, `details.issues`).
 *   A protocol no plugin here declares passes: a site may run plugins the
 *   hub does not have.
 * - When two plugins declare the same protocol, a block passes only when it
 *   passes both.
 */
import type { FieldIssue } from '../kernel/index.ts';
import { protocolBlockIssues, type TSchema } from '../sdk/index.ts';
import { prepareResource, StoreErrors, type Resource } from '../store/index.ts';
import type { PluginCatalogEntry } from './api-types.ts';
import { ErrPluginCatalog } from './errors.ts';

/** What the hub is given: the installed plugins, loaded when first needed. */
export type PluginCatalogSource = () => Promise<readonly PluginCatalogEntry[]>;

/** The hub's view of the installed plugins. */
export interface InstalledPlugins {
  /** Every plugin, sorted by id (loads the source on first use). */
  items(): Promise<readonly PluginCatalogEntry[]>;
  /** The issues of a Device's protocol blocks against the schemas of the protocols known here; empty without a source. */
  deviceIssues(spec: unknown): Promise<FieldIssue[]>;
  /**
   * Throws the store's EDGE_ERR_STORE_INVALID when `obj` is a Device whose
   * protocol blocks fail their schemas, naming every problem: those and
   * whatever else the store would refuse. Every Device write path calls it
   * before it writes.
   */
  checkDevice(obj: Resource): Promise<void>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The catalog over `source`; without one, empty. */
export function createPluginCatalog(source?: PluginCatalogSource): InstalledPlugins {
  let loading: Promise<{ items: readonly PluginCatalogEntry[]; protocols: ReadonlyMap<string, readonly TSchema[]> }> | undefined;

  function load(): Promise<{ items: readonly PluginCatalogEntry[]; protocols: ReadonlyMap<string, readonly TSchema[]> }> {
    if (source === undefined) return Promise.resolve({ items: [], protocols: new Map() });
    loading ??= (async () => {
      let raw: readonly PluginCatalogEntry[];
      try {
        raw = await source();
      } catch (err) {
        throw new ErrPluginCatalog({ reason: err instanceof Error ? err.message : String(err) }, { cause: err });
      }
      const items = [...raw].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const protocols = new Map<string, TSchema[]>();
      for (const item of items) {
        for (const [name, schema] of Object.entries(item.protocols ?? {})) {
          const list = protocols.get(name) ?? [];
          list.push(schema);
          protocols.set(name, list);
        }
      }
      return { items, protocols };
    })();
    // A failed load is not kept: the next request tries again.
    loading.catch(() => {
      loading = undefined;
    });
    return loading;
  }

  async function deviceIssues(spec: unknown): Promise<FieldIssue[]> {
    if (source === undefined || !isRecord(spec) || !isRecord(spec.protocols)) return [];
    const { protocols } = await load();
    const issues: FieldIssue[] = [];
    for (const [name, block] of Object.entries(spec.protocols)) {
      for (const schema of protocols.get(name) ?? []) {
        for (const issue of protocolBlockIssues(schema, block, `spec.protocols.${name}`)) {
          if (!issues.some((i) => i.path === issue.path && i.message === issue.message)) issues.push(issue);
        }
      }
    }
    return issues;
  }

  return {
    items: async () => (await load()).items,
    deviceIssues,
    async checkDevice(obj) {
      if (obj.kind !== 'Device') return;
      const issues = await deviceIssues(obj.spec);
      if (issues.length === 0) return;
      // With what the store would refuse too: every problem at once.
      const prepared = prepareResource(obj);
      throw new StoreErrors.ErrInvalid({ kind: obj.kind, name: obj.metadata.name, issues: prepared.ok ? issues : [...prepared.issues, ...issues] });
    },
  };
}
