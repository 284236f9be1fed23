/** The kernel's coded errors. */
import { createError } from './errors.ts';
import type { FieldIssue } from './schema.ts';

export const ErrConfigFile = createError(
  'EDGE_ERR_CONFIG_FILE',
  (p: { file: string; reason: string }) => `cannot read config file '${p.file}': ${p.reason}`,
  { statusCode: 400 },
);

export const ErrConfigParse = createError(
  'EDGE_ERR_CONFIG_PARSE',
  (p: { file: string; line?: number; reason: string }) =>
    `config file '${p.file}'${p.line === undefined ? '' : ` line ${p.line}`} is not valid YAML: ${p.reason}`,
  { statusCode: 400 },
);

export const ErrConfigEnv = createError(
  'EDGE_ERR_CONFIG_ENV',
  (p: { variable: string; path: string; reason: string }) => `environment variable ${p.variable} (${p.path}): ${p.reason}`,
  { statusCode: 400 },
);

export const ErrConfigField = createError(
  'EDGE_ERR_CONFIG_FIELD',
  (p: FieldIssue & { source: string }) => `${p.path === '' ? '(root)' : p.path} ${p.message} (from ${p.source})`,
  { statusCode: 400 },
);

export const ErrServiceMissing = createError(
  'EDGE_ERR_SERVICE_MISSING',
  (p: { service: string; requester: string }) => `service '${p.service}' is not available to ${p.requester}`,
);

export const ErrServiceConflict = createError(
  'EDGE_ERR_SERVICE_CONFLICT',
  (p: { service: string; scope: string }) => `service '${p.service}' is already provided in ${p.scope}`,
);

export const ErrComponentStart = createError(
  'EDGE_ERR_KERNEL_COMPONENT_START',
  (p: { component: string; phase: string; reason: string }) =>
    `kernel component '${p.component}' (phase ${p.phase}) failed to start: ${p.reason}`,
);

export const ErrComponentStop = createError(
  'EDGE_ERR_KERNEL_COMPONENT_STOP',
  (p: { component: string; reason: string }) => `kernel component '${p.component}' failed to stop: ${p.reason}`,
);

export const ErrTimeout = createError(
  'EDGE_ERR_TIMEOUT',
  (p: { what: string; ms: number }) => `${p.what} did not finish within ${p.ms} ms`,
  { statusCode: 504 },
);

export const ErrKernelState = createError(
  'EDGE_ERR_KERNEL_STATE',
  (p: { action: string; state: string }) => `cannot ${p.action} a kernel that is ${p.state}`,
);

/** A data directory everyone may write to: another user could swap or read what edgeadm keeps there. */
export const ErrSharedDir = createError(
  'EDGE_ERR_SHARED_DIR',
  (p: { path: string; mode: string }) =>
    `'${p.path}' (mode ${p.mode}) is writable by every user: edgeadm keeps credentials and databases in its data directory, so give it a directory of its own`,
  { statusCode: 400 },
);

/** A text that is not a Go duration (`500ms`, `1h30m`): see duration.ts. */
export const ErrDuration = createError(
  'EDGE_ERR_DURATION',
  (p: { text: string; reason: string }) => `'${p.text}' is not a Go duration such as '500ms', '1.5s' or '1h30m': it ${p.reason}`,
  { statusCode: 400 },
);
