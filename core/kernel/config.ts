/**
 * Configuration: a YAML file overlaid by `EDGEADM_*` environment variables,
 * validated against a TypeBox schema. Every problem is reported at once, each
 * with its field path and where the value came from. Nothing falls back to a
 * default silently: a value that is present and wrong is an error.
 *
 * Environment variables map to fields by path: after the prefix, `__`
 * separates levels and `_` inside a level starts a camelCase word, so
 * `EDGEADM_PLUGINS__START_TIMEOUT_MS=5000` sets `plugins.startTimeoutMs`.
 * Values are read as the field's type (a string field keeps `0123` as text);
 * arrays and objects are written as JSON or YAML flow (`[a, b]`).
 */
import { readFileSync } from 'node:fs';
import type { Static, TSchema } from 'typebox';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { EdgeAggregateError, ErrConfigEnv, ErrConfigField, ErrConfigFile, ErrConfigParse, type EdgeError } from './errors.ts';
import { checkSchema, deepFreeze, schemaAt, schemaTypes, withDefaults } from './schema.ts';

export const ENV_PREFIX = 'EDGEADM_';

export interface LoadConfigOptions<S extends TSchema> {
  schema: S;
  /** YAML file; when given it must exist. */
  file?: string | undefined;
  /** Environment to overlay; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Variables after the prefix that are not config fields (e.g. `CONFIG`, `HOME`). */
  reservedEnv?: readonly string[];
  /** Values layered above file and environment (e.g. from CLI flags), by dotted path. */
  overrides?: Record<string, unknown>;
}

export class ConfigError extends EdgeAggregateError {
  constructor(errors: readonly EdgeError[]) {
    super('EDGE_ERR_CONFIG', 'invalid configuration', errors);
  }
}

function camel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** `PLUGINS__START_TIMEOUT_MS` -> ['plugins', 'startTimeoutMs'] */
export function envNameToPath(name: string): string[] {
  return name.split('__').map(camel);
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur: Record<string, unknown> = target;
  for (const [i, key] of path.entries()) {
    if (i === path.length - 1) {
      cur[key] = value;
      return;
    }
    const next = cur[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      const fresh: Record<string, unknown> = {};
      cur[key] = fresh;
      cur = fresh;
    } else {
      cur = next as Record<string, unknown>;
    }
  }
}

function coerceEnv(raw: string, schema: TSchema): { ok: true; value: unknown } | { ok: false; reason: string } {
  const types = schemaTypes(schema);
  if (types.has('string') && types.size === 1) return { ok: true, value: raw };
  if ((types.has('number') || types.has('integer')) && types.size === 1) {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) return { ok: false, reason: `'${raw}' is not a number` };
    return { ok: true, value: n };
  }
  if (types.has('boolean') && types.size === 1) {
    if (raw === 'true') return { ok: true, value: true };
    if (raw === 'false') return { ok: true, value: false };
    return { ok: false, reason: `'${raw}' is not true or false` };
  }
  try {
    return { ok: true, value: parseYaml(raw) as unknown };
  } catch (err) {
    return { ok: false, reason: `cannot parse '${raw}': ${(err as Error).message.split('\n')[0] ?? ''}` };
  }
}

function readYamlFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ErrConfigFile({ file, reason: e.code === 'ENOENT' ? 'no such file' : e.message }, { cause: err });
  }
  try {
    const doc = parseYaml(text, { prettyErrors: true }) as unknown;
    return doc ?? {};
  } catch (err) {
    if (err instanceof YAMLParseError) {
      throw new ErrConfigParse({ file, line: err.linePos?.[0]?.line, reason: err.message.split('\n')[0] ?? err.message }, { cause: err });
    }
    throw new ErrConfigParse({ file, reason: (err as Error).message }, { cause: err });
  }
}

/**
 * Loads, overlays, validates, applies defaults and freezes. Throws a
 * ConfigError listing every problem.
 */
export function loadConfig<S extends TSchema>(opts: LoadConfigOptions<S>): Readonly<Static<S>> {
  const problems: EdgeError[] = [];
  let doc: unknown = {};
  if (opts.file !== undefined) {
    try {
      doc = readYamlFile(opts.file);
    } catch (err) {
      throw new ConfigError([err as EdgeError]);
    }
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError([new ErrConfigField({ path: '', message: 'must be a mapping of settings', source: opts.file ?? 'config' })]);
  }
  const merged = structuredClone(doc) as Record<string, unknown>;
  const sources = new Map<string, string>();

  const env = opts.env ?? process.env;
  const reserved = new Set(opts.reservedEnv ?? []);
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(ENV_PREFIX)) continue;
    const rest = name.slice(ENV_PREFIX.length);
    if (reserved.has(rest)) continue;
    const raw = env[name];
    if (raw === undefined) continue;
    const path = envNameToPath(rest);
    const dotted = path.join('.');
    const target = schemaAt(opts.schema, path);
    if (!target) {
      problems.push(new ErrConfigEnv({ variable: name, path: dotted, reason: 'no such setting' }));
      continue;
    }
    const coerced = coerceEnv(raw, target);
    if (!coerced.ok) {
      problems.push(new ErrConfigEnv({ variable: name, path: dotted, reason: coerced.reason }));
      continue;
    }
    setPath(merged, path, coerced.value);
    sources.set(dotted, name);
  }
  for (const [dotted, value] of Object.entries(opts.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(merged, dotted.split('.'), value);
    sources.set(dotted, 'command line');
  }

  const withDefs = withDefaults(opts.schema, merged);
  const fileSource = opts.file ?? 'defaults';
  for (const issue of checkSchema(opts.schema, withDefs)) {
    let source = fileSource;
    for (const [dotted, src] of sources) {
      if (issue.path === dotted || issue.path.startsWith(`${dotted}.`) || issue.path.startsWith(`${dotted}[`)) source = src;
    }
    problems.push(new ErrConfigField({ ...issue, source }));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(withDefs as Static<S>);
}
