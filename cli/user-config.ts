/**
 * The user's config file, kubeconfig-like: which hubs this user talks to and
 * with which credentials. `~/.config/edgeadm/config.yaml` (or
 * `$EDGEADM_USER_CONFIG`), mode 0600:
 *
 *   apiVersion: edgeadm.io/v1alpha1
 *   kind: Config
 *   current-context: edgeadm
 *   contexts:
 *     - name: edgeadm
 *       hub: { url: https://127.0.0.1:7443, caFile: /var/lib/edgeadm/hub/pki/ca.crt }   # or ca: <PEM>
 *       user: { tokenFile: /var/lib/edgeadm/hub/admin.token }                          # or token: <token>
 *
 * Relative file names are relative to the config file's folder. `edgeadm
 * init` writes a context; commands that talk to a hub use the current one
 * when no --hub is given. `edgeadm config view|get-contexts|use-context`.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import Type, { type Static } from 'typebox';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { checkSchema, type FieldIssue } from '../core/kernel/index.ts';
import { contextOf } from './context.ts';
import { ErrUsage, ErrUserConfig } from './errors.ts';
import { emit, renderTable } from './output.ts';
import { examples, summary } from './commands.ts';

export const USER_CONFIG_API_VERSION = 'edgeadm.io/v1alpha1';
/** A context name: letters, digits, '.', '_' and '-', starting and ending with a letter or digit, at most 63. */
export const CONTEXT_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

const HubSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'The hub, e.g. https://hub.example.com:7443.' }),
    caFile: Type.Optional(Type.String({ minLength: 1, description: "The hub's CA certificate (PEM file)." })),
    ca: Type.Optional(Type.String({ minLength: 1, description: "The hub's CA certificate, PEM inline." })),
  },
  { additionalProperties: false },
);
const UserSchema = Type.Object(
  {
    tokenFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the hub token.' })),
    token: Type.Optional(Type.String({ minLength: 1, description: 'The hub token inline.' })),
  },
  { additionalProperties: false },
);
const ContextSchema = Type.Object(
  {
    name: Type.String({ pattern: CONTEXT_NAME.source }),
    hub: HubSchema,
    user: UserSchema,
  },
  { additionalProperties: false },
);
export const UserConfigSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.Literal(USER_CONFIG_API_VERSION)),
    kind: Type.Optional(Type.Literal('Config')),
    'current-context': Type.Optional(Type.String()),
    contexts: Type.Optional(Type.Array(ContextSchema)),
  },
  { additionalProperties: false },
);
export type UserConfig = Static<typeof UserConfigSchema>;
export type UserContext = Static<typeof ContextSchema>;

/** Where the user config lives: `$EDGEADM_USER_CONFIG`, else `$XDG_CONFIG_HOME/edgeadm/config.yaml` (default `~/.config`). */
export function userConfigPath(): string {
  const explicit = process.env.EDGEADM_USER_CONFIG;
  if (explicit) return path.resolve(explicit);
  const base = process.env.XDG_CONFIG_HOME || path.join(homedir(), '.config');
  return path.join(base, 'edgeadm', 'config.yaml');
}

function checkUserConfig(doc: unknown): FieldIssue[] {
  const issues = checkSchema(UserConfigSchema, doc);
  if (issues.length > 0) return issues;
  const cfg = doc as UserConfig;
  const contexts = cfg.contexts ?? [];
  const seen = new Set<string>();
  contexts.forEach((c, i) => {
    const at = `contexts[${i}]`;
    if (seen.has(c.name)) issues.push({ path: `${at}.name`, message: `'${c.name}' is used by an earlier context` });
    seen.add(c.name);
    let url: URL | undefined;
    try {
      url = new URL(c.hub.url);
    } catch {
      issues.push({ path: `${at}.hub.url`, message: `'${c.hub.url}' is not a URL` });
    }
    if (url && url.protocol !== 'https:' && url.protocol !== 'http:') issues.push({ path: `${at}.hub.url`, message: 'must be an https:// or http:// URL' });
    if (c.hub.ca !== undefined && c.hub.caFile !== undefined) issues.push({ path: `${at}.hub`, message: 'has both ca and caFile; keep one' });
    if (c.hub.ca !== undefined && !c.hub.ca.includes('-----BEGIN CERTIFICATE-----')) issues.push({ path: `${at}.hub.ca`, message: 'holds no PEM certificate' });
    if ((c.user.token === undefined) === (c.user.tokenFile === undefined)) issues.push({ path: `${at}.user`, message: 'needs exactly one of token and tokenFile' });
  });
  const current = cfg['current-context'];
  if (current !== undefined && current !== '' && !seen.has(current)) issues.push({ path: 'current-context', message: `names '${current}', which is not among the contexts` });
  return issues;
}

/** Reads and checks the user config; a missing file is an empty config. */
export function readUserConfig(file = userConfigPath()): UserConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ErrUserConfig({ file, issues: [{ path: '', message: `cannot be read: ${(err as Error).message}` }] }, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text) as unknown;
  } catch (err) {
    throw new ErrUserConfig({ file, issues: [{ path: '', message: `is not YAML: ${(err as Error).message.split('\n')[0] ?? ''}` }] }, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  const issues = checkUserConfig(doc);
  if (issues.length > 0) throw new ErrUserConfig({ file, issues });
  return doc;
}

/** Writes the user config (mode 0600, folder 0700), replacing the file in one step. */
export function writeUserConfig(cfg: UserConfig, file = userConfigPath()): void {
  const issues = checkUserConfig(cfg);
  if (issues.length > 0) throw new ErrUserConfig({ file, issues });
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  const doc = { apiVersion: USER_CONFIG_API_VERSION, kind: 'Config', 'current-context': cfg['current-context'], contexts: cfg.contexts ?? [] };
  writeFileSync(tmp, toYaml(doc), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** Adds or replaces the context of that name; with `makeCurrent`, selects it. */
export function upsertContext(cfg: UserConfig, context: UserContext, makeCurrent: boolean): UserConfig {
  const contexts = [...(cfg.contexts ?? [])];
  const i = contexts.findIndex((c) => c.name === context.name);
  if (i >= 0) contexts[i] = context;
  else contexts.push(context);
  return { ...cfg, contexts, ...(makeCurrent ? { 'current-context': context.name } : {}) };
}

/** A context ready to use: the hub URL, the token and the CA, with files read. */
export interface ContextTarget {
  name: string;
  file: string;
  url: string;
  token: string;
  ca?: string;
}

/**
 * The named context, or the current one; undefined when no name is given and
 * nothing is current. An unknown name is a usage error naming `--context`.
 */
export function resolveContext(name?: string, file = userConfigPath()): ContextTarget | undefined {
  const cfg = readUserConfig(file);
  const wanted = name ?? cfg['current-context'];
  if (!wanted) return undefined;
  const contexts = cfg.contexts ?? [];
  const i = contexts.findIndex((c) => c.name === wanted);
  if (i < 0) {
    // Only a name given on the command line can be unknown: the file's own current-context was checked.
    throw new ErrUsage({ argument: '--context', reason: `no context '${wanted}' in ${file}${contexts.length ? ` (have: ${contexts.map((c) => c.name).join(', ')})` : ''}` });
  }
  const c = contexts[i]!;
  const dir = path.dirname(file);
  const readField = (field: string, f: string): string => {
    try {
      return readFileSync(path.resolve(dir, f), 'utf8');
    } catch (err) {
      throw new ErrUserConfig({ file, issues: [{ path: `contexts[${i}].${field}`, message: `names '${f}', which cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }] }, { cause: err });
    }
  };
  const token = (c.user.token ?? readField('user.tokenFile', c.user.tokenFile!)).trim();
  if (!token) throw new ErrUserConfig({ file, issues: [{ path: `contexts[${i}].user`, message: 'gives an empty token' }] });
  let ca = c.hub.ca;
  if (c.hub.caFile !== undefined) {
    ca = readField('hub.caFile', c.hub.caFile);
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new ErrUserConfig({ file, issues: [{ path: `contexts[${i}].hub.caFile`, message: `names '${c.hub.caFile}', which holds no PEM certificate` }] });
  }
  return { name: c.name, file, url: c.hub.url.replace(/\/+$/, ''), token, ...(ca ? { ca } : {}) };
}

/** The config as shown by `config view`: inline tokens redacted, inline CAs abbreviated. */
export function redacted(cfg: UserConfig): UserConfig {
  return {
    ...cfg,
    ...(cfg.contexts
      ? {
          contexts: cfg.contexts.map((c) => ({
            ...c,
            hub: { ...c.hub, ...(c.hub.ca ? { ca: 'DATA+OMITTED' } : {}) },
            user: { ...c.user, ...(c.user.token ? { token: 'REDACTED' } : {}) },
          })),
        }
      : {}),
  };
}

export function registerConfig(program: Command): void {
  const group = program.command('config').description(summary('config'));
  examples(group, ['edgeadm config view', 'edgeadm config get-contexts', 'edgeadm config use-context plant-hub']);

  const view = group
    .command('view')
    .description('Show the user config (tokens redacted)')
    .action((_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const file = userConfigPath();
      const cfg = redacted(readUserConfig(file));
      const doc = { apiVersion: USER_CONFIG_API_VERSION, kind: 'Config', ...cfg };
      if (ctx.options.output === 'json') emit('json', doc, () => '');
      else ctx.out.write(toYaml(doc));
    });
  examples(view, ['edgeadm config view', 'edgeadm config view -o json']);

  const list = group
    .command('get-contexts')
    .description('List the contexts; the current one is marked *')
    .action((_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const cfg = readUserConfig();
      const rows = (cfg.contexts ?? []).map((c) => ({ current: c.name === cfg['current-context'], name: c.name, hub: c.hub.url, user: c.user.tokenFile ?? '(inline token)' }));
      emit(ctx.options.output, rows, () =>
        renderTable(rows, [
          { header: 'current', value: (r) => (r.current ? '*' : '') },
          { header: 'name', value: (r) => r.name },
          { header: 'hub', value: (r) => r.hub },
          { header: 'token', value: (r) => r.user },
        ]),
      );
    });
  examples(list, ['edgeadm config get-contexts', 'edgeadm config get-contexts -o yaml']);

  const use = group
    .command('use-context')
    .description('Make a context the current one')
    .argument('<name>', 'the context')
    .action((name: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const file = userConfigPath();
      const cfg = readUserConfig(file);
      const names = (cfg.contexts ?? []).map((c) => c.name);
      if (!names.includes(name)) {
        throw new ErrUsage({ argument: '<name>', reason: `no context '${name}' in ${file}${names.length ? ` (have: ${names.join(', ')})` : '; `edgeadm init` writes one'}` });
      }
      writeUserConfig({ ...cfg, 'current-context': name }, file);
      ctx.out.write(`current context: ${name}\n`);
    });
  examples(use, ['edgeadm config use-context edgeadm']);
}
