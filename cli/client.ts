/**
 * A small client of the hub's HTTP API for commands: base URL, token and the
 * CA to trust from flags or the environment, else from the user config's
 * current context (written by `edgeadm init`). An https hub is checked
 * against `--ca-file` (the hub's own CA, `<data-dir>/pki/ca.crt`), the
 * context's CA, or the system's CAs.
 */
import { readFileSync } from 'node:fs';
import type { Agent, Response as UndiciResponse } from 'undici';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { ErrorBody } from '../core/hub/index.ts';
import { EdgeError } from '../core/kernel/index.ts';
import { ErrUsage } from './errors.ts';
import { resolveContext, userConfigPath } from './user-config.ts';

export interface HubTarget {
  url: string;
  token: string;
  /** PEM of the CA the hub's certificate must chain to. */
  ca?: string;
}

/** Adds --hub, --token, --token-file, --ca-file and --context to a command. */
export function withHubOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--hub <url>', 'hub URL (default: the current context of the user config)').env('EDGEADM_HUB'))
    .addOption(new Option('--token <token>', 'hub token (prefer EDGEADM_TOKEN or --token-file: flags show in ps)').env('EDGEADM_TOKEN'))
    .option('--token-file <file>', 'read the hub token from this file')
    .addOption(new Option('--ca-file <file>', "the hub's CA certificate (PEM), for an https hub").env('EDGEADM_CA_FILE'))
    .option('--context <name>', 'use this context of the user config (`edgeadm config get-contexts`) instead of the current one');
}

/** Reads a CA file named by an option; a usage error names the option. */
export function readCaFile(file: string | undefined, argument = '--ca-file'): string | undefined {
  if (file === undefined || file === '') return undefined;
  try {
    const pem = readFileSync(file, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return pem;
  } catch (err) {
    throw new ErrUsage({ argument, reason: `cannot use '${file}': ${(err as Error).message}` });
  }
}

const agents = new Map<string, Agent>();

/**
 * fetch against the hub, trusting its CA when one is given (one connection
 * pool per CA). undici is imported on the first call: commands that never
 * call the hub, and `site run` (whose uplink uses Node's own fetch), skip it.
 */
export async function fetchHub(target: HubTarget, path: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {}): Promise<UndiciResponse> {
  const undici = await import('undici');
  let dispatcher: Agent | undefined;
  if (target.ca) {
    dispatcher = agents.get(target.ca);
    if (!dispatcher) agents.set(target.ca, (dispatcher = new undici.Agent({ connect: { ca: target.ca } })));
  }
  return undici.fetch(`${target.url}${path}`, { ...init, ...(dispatcher ? { dispatcher } : {}) });
}

/**
 * Where and as whom to call the hub. Flags and the environment come first;
 * what they leave open comes from the user config: the context named by
 * `--context`, else the current one. A context's token and CA are used for
 * an explicit --hub only when it is that context's hub.
 */
export function hubTarget(opts: { hub?: string; token?: string; tokenFile?: string; caFile?: string; context?: string }): HubTarget {
  const ownCredentials = Boolean(opts.token || opts.tokenFile);
  const context = opts.hub && ownCredentials && opts.context === undefined ? undefined : resolveContext(opts.context);
  if (!opts.hub && !context) {
    throw new ErrUsage({ argument: '--hub', reason: `the hub URL is required: give --hub (or EDGEADM_HUB), or run \`edgeadm init\` / \`edgeadm config use-context\` to set a current context in ${userConfigPath()}` });
  }
  const hubUrl = opts.hub ?? context!.url;
  try {
    new URL(hubUrl);
  } catch {
    throw new ErrUsage({ argument: '--hub', reason: `'${hubUrl}' is not a URL` });
  }
  const url = hubUrl.replace(/\/+$/, '');
  const fromContext = context && context.url === url ? context : undefined;
  let token = opts.token ?? (opts.tokenFile ? undefined : fromContext?.token);
  if (opts.tokenFile) {
    try {
      token = readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new ErrUsage({ argument: '--token-file', reason: `cannot read '${opts.tokenFile}': ${(err as Error).message}` });
    }
  }
  if (!token) throw new ErrUsage({ argument: '--token', reason: 'a hub token is required (EDGEADM_TOKEN, --token-file or --token)' });
  const ca = readCaFile(opts.caFile) ?? fromContext?.ca;
  return { url, token, ...(ca ? { ca } : {}) };
}

/** Calls the hub; a non-2xx answer becomes an EdgeError with the hub's code and message. */
export async function hubFetch<T>(target: HubTarget, method: string, path: string, body?: unknown): Promise<T> {
  let res: UndiciResponse;
  try {
    res = await fetchHub(target, path, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const tls = cause?.code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(cause.code);
    const hint = tls ? `the hub's certificate is not trusted (${cause.code}); pass --ca-file <hub data dir>/pki/ca.crt` : 'is it running?';
    throw new EdgeError('EDGE_ERR_HUB_UNREACHABLE', `cannot reach the hub at ${target.url}: ${cause?.message ?? (err as Error).message}; ${hint}`, { url: target.url }, 503, { cause: err });
  }
  const text = await res.text();
  const data = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const e = (data ?? {}) as Partial<ErrorBody>;
    throw new EdgeError(e.code ?? 'EDGE_ERR_HUB_HTTP', `${method} ${path}: ${e.message ?? `HTTP ${res.status}`}`, { status: res.status }, res.status);
  }
  return data as T;
}
