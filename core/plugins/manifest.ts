/**
 * The `"edgeadm"` block of a plugin's package.json: read as data, never run.
 *
 *   "edgeadm": { "id": "modbus", "role": "device-driver", "engine": "^0.1.0", "entry": "./index.ts", "tools": "./src/cli.ts" }
 *
 * `tools` (optional) names the plugin's small command-line module (commands
 * and discovery for `edgeadm`, see core/sdk/tools.ts), apart from the entry.
 */
import Type, { type Static } from 'typebox';
import semver from 'semver';
import { checkSchema, literalUnion } from '../kernel/index.ts';

export const PLUGIN_ID_PATTERN = '^[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*$';

export const PLUGIN_ROLES = ['device-driver', 'device-platform', 'uplink', 'extension'] as const;
export type PluginRole = (typeof PLUGIN_ROLES)[number];

/** `planned`: declared, cannot run yet; `experimental` and `stable` run. */
export const PLUGIN_STAGES = ['planned', 'experimental', 'stable'] as const;
export type PluginStage = (typeof PLUGIN_STAGES)[number];

export const ManifestSchema = Type.Object(
  {
    id: Type.String({ pattern: PLUGIN_ID_PATTERN, maxLength: 63 }),
    role: Type.Union(PLUGIN_ROLES.map((r) => Type.Literal(r))),
    engine: Type.String({ minLength: 1 }),
    entry: Type.String({ minLength: 1 }),
    tools: Type.Optional(Type.String({ minLength: 1 })),
    dependencies: Type.Optional(Type.Array(Type.String({ pattern: PLUGIN_ID_PATTERN }))),
    stage: Type.Optional(literalUnion(PLUGIN_STAGES)),
  },
  { additionalProperties: false },
);
export type ManifestBlock = Static<typeof ManifestSchema>;

export type PluginSource = 'builtin' | 'npm' | 'path' | 'inline';

/** A plugin as discovery sees it: its manifest and where it lives. */
export interface PluginManifest {
  id: string;
  /** npm package name (or the id for inline plugins). */
  packageName: string;
  version: string;
  description: string | undefined;
  role: PluginRole;
  engine: string;
  stage: PluginStage;
  dependencies: string[];
  source: PluginSource;
  /** Package directory; undefined for inline plugins. */
  dir: string | undefined;
  /** Absolute path of the entry module; undefined for inline plugins. */
  entryPath: string | undefined;
  /** Absolute path of the command-line module (`"tools"`), when the plugin has one. */
  toolsPath?: string;
}

/** Problems of a manifest block and package.json fields, as readable strings. */
export function checkManifest(pkg: Record<string, unknown>, block: unknown): string[] {
  const problems: string[] = [];
  for (const issue of checkSchema(ManifestSchema, block, 'edgeadm')) problems.push(`${issue.path} ${issue.message}`);
  if (typeof pkg.version !== 'string' || semver.valid(pkg.version) === null) {
    problems.push(`version '${String(pkg.version)}' is not a semver version`);
  }
  if (typeof pkg.name !== 'string' || pkg.name === '') problems.push('name is required');
  const b = block as Partial<ManifestBlock> | undefined;
  if (b && typeof b.engine === 'string' && semver.validRange(b.engine) === null) {
    problems.push(`edgeadm.engine '${b.engine}' is not a semver range`);
  }
  for (const field of ['entry', 'tools'] as const) {
    const file = b?.[field];
    if (typeof file === 'string' && (file.startsWith('/') || file.split(/[\\/]/).includes('..'))) {
      problems.push(`edgeadm.${field} '${file}' must be a path inside the package`);
    }
  }
  return problems;
}
