/** The plugin registry's coded errors. Each names the plugin it is about. */
import { createError, type FieldIssue } from '../kernel/index.ts';

export const ErrManifest = createError(
  'EDGE_ERR_PLUGIN_MANIFEST',
  (p: { plugin: string; location: string; problems: string[] }) =>
    `plugin manifest of '${p.plugin}' at ${p.location} is invalid: ${p.problems.join('; ')}`,
);

export const ErrManifestMismatch = createError(
  'EDGE_ERR_PLUGIN_MANIFEST_MISMATCH',
  (p: { plugin: string; field: string; manifest: string; definition: string }) =>
    `plugin '${p.plugin}': package.json says ${p.field} '${p.manifest}' but its definePlugin says '${p.definition}'`,
);

export const ErrDuplicate = createError(
  'EDGE_ERR_PLUGIN_DUPLICATE',
  (p: { plugin: string; locations: string[] }) =>
    `plugin id '${p.plugin}' is declared more than once (${p.locations.join(', ')}); none of them is loaded`,
);

export const ErrEngine = createError(
  'EDGE_ERR_PLUGIN_ENGINE',
  (p: { plugin: string; engine: string; version: string }) =>
    `plugin '${p.plugin}' needs edgeadm ${p.engine}, this is ${p.version}`,
);

export const ErrLoad = createError(
  'EDGE_ERR_PLUGIN_LOAD',
  (p: { plugin: string; entry: string; reason: string }) => `plugin '${p.plugin}' failed to load from ${p.entry}: ${p.reason}`,
);

export const ErrNotFound = createError(
  'EDGE_ERR_PLUGIN_NOT_FOUND',
  (p: { plugin: string; instance?: string }) =>
    p.instance === undefined
      ? `no plugin '${p.plugin}' is installed; 'edgeadm plugin list' shows the installed ones`
      : `plugin '${p.plugin}' (wanted by instance '${p.instance}') is not installed`,
  { statusCode: 404 },
);

export const ErrNotAvailable = createError(
  'EDGE_ERR_PLUGIN_NOT_AVAILABLE',
  (p: { plugin: string; stage: string }) =>
    `plugin '${p.plugin}' is at stage '${p.stage}': it is declared but cannot run yet`,
  { statusCode: 409 },
);

export const ErrInstanceDuplicate = createError(
  'EDGE_ERR_PLUGIN_INSTANCE_DUPLICATE',
  (p: { plugin: string; instance: string }) => `instance '${p.instance}' of plugin '${p.plugin}' is configured twice`,
  { statusCode: 400 },
);

export const ErrConfig = createError(
  'EDGE_ERR_PLUGIN_CONFIG',
  (p: { plugin: string; instance: string; issues: FieldIssue[] }) =>
    `plugin '${p.plugin}' (instance '${p.instance}') has invalid config: ${p.issues.map((i) => `${i.path || '(root)'} ${i.message}`).join('; ')}`,
  { statusCode: 400 },
);

export const ErrDepMissing = createError(
  'EDGE_ERR_PLUGIN_DEP_MISSING',
  (p: { plugin: string; instance: string; dependency: string; kind: 'plugin' | 'service' }) =>
    `plugin '${p.plugin}' (instance '${p.instance}') needs ${p.kind} '${p.dependency}', which nothing provides${p.kind === 'plugin' ? ' at its site' : ''}`,
);

export const ErrDepAmbiguous = createError(
  'EDGE_ERR_PLUGIN_DEP_AMBIGUOUS',
  (p: { plugin: string; instance: string; service: string; providers: string[] }) =>
    `plugin '${p.plugin}' (instance '${p.instance}') consumes '${p.service}', provided by several instances: ${p.providers.join(', ')}`,
);

export const ErrDepCycle = createError(
  'EDGE_ERR_PLUGIN_DEP_CYCLE',
  (p: { plugin: string; cycle: string[] }) => `plugin '${p.plugin}' is in a dependency cycle: ${p.cycle.join(' -> ')}`,
);

export const ErrDepFailed = createError(
  'EDGE_ERR_PLUGIN_DEP_FAILED',
  (p: { plugin: string; instance: string; dependency: string }) =>
    `plugin '${p.plugin}' (instance '${p.instance}') was not started because its dependency '${p.dependency}' is not running`,
);

export const ErrStart = createError(
  'EDGE_ERR_PLUGIN_START',
  (p: { plugin: string; instance: string; reason: string }) => `plugin '${p.plugin}' (instance '${p.instance}') failed to start: ${p.reason}`,
);

export const ErrStartTimeout = createError(
  'EDGE_ERR_PLUGIN_START_TIMEOUT',
  (p: { plugin: string; instance: string; ms: number }) =>
    `plugin '${p.plugin}' (instance '${p.instance}') did not start within ${p.ms} ms`,
);

export const ErrProvidesMissing = createError(
  'EDGE_ERR_PLUGIN_PROVIDES_MISSING',
  (p: { plugin: string; instance: string; service: string }) =>
    `plugin '${p.plugin}' (instance '${p.instance}') declares it provides '${p.service}' but did not provide it during register`,
);

export const ErrStop = createError(
  'EDGE_ERR_PLUGIN_STOP',
  (p: { plugin: string; instance: string; reason: string }) => `plugin '${p.plugin}' (instance '${p.instance}') failed to stop: ${p.reason}`,
);

export const ErrAbort = createError(
  'EDGE_ERR_PLUGIN_ABORT',
  (p: { plugin: string; instance: string }) =>
    `plugin '${p.plugin}' (instance '${p.instance}') failed and its failure policy is 'abort'`,
);
