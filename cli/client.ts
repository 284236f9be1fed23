/** A small client of the hub's HTTP API for commands: base URL and token from flags or the environment. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { EdgeError } from '../core/kernel/index.ts';
import { ErrUsage } from './context.ts';

export interface HubTarget {
  url: string;
  token: string;
}

/** Adds --hub, --token and --token-file to a command. */
export function withHubOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--hub <url>', 'hub URL').env('EDGEADM_HUB'))
    .addOption(new Option('--token <token>', 'hub token (prefer EDGEADM_TOKEN or --token-file: flags show in ps)').env('EDGEADM_TOKEN'))
    .option('--token-file <file>', 'read the hub token from this file');
}

export function hubTarget(opts: { hub?: string; token?: string; tokenFile?: string }): HubTarget {
  if (!opts.hub) throw new ErrUsage({ argument: '--hub', reason: 'the hub URL is required (or set EDGEADM_HUB)' });
  try {
    new URL(opts.hub);
  } catch {
    throw new ErrUsage({ argument: '--hub', reason: `'${opts.hub}' is not a URL` });
  }
  let token = opts.token;
  if (opts.tokenFile) {
    try {
      token = readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new ErrUsage({ argument: '--token-file', reason: `cannot read '${opts.tokenFile}': ${(err as Error).message}` });
    }
  }
  if (!token) throw new ErrUsage({ argument: '--token', reason: 'a hub token is required (EDGEADM_TOKEN, --token-file or --token)' });
  return { url: opts.hub.replace(/\/+$/, ''), token };
}

/** Calls the hub; a non-2xx answer becomes an EdgeError with the hub's code and message. */
export async function hubFetch<T>(target: HubTarget, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new EdgeError('EDGE_ERR_HUB_UNREACHABLE', `cannot reach the hub at ${target.url}: ${(err as Error).message}; is it running?`, { url: target.url }, 503, { cause: err });
  }
  const text = await res.text();
  const data = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const e = (data ?? {}) as { code?: string; message?: string };
    throw new EdgeError(e.code ?? 'EDGE_ERR_HUB_HTTP', `${method} ${path}: ${e.message ?? `HTTP ${res.status}`}`, { status: res.status }, res.status);
  }
  return data as T;
}
