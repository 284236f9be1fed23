/** Starting a real hub (SQLite files, real HTTP) for cross-component tests, and talking to it as an operator would. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, type Logger } from '../../core/kernel/index.ts';
import { createConsole } from '../../core/console/index.ts';
import { startHub, type Hub, type StartHubOptions } from '../../core/hub/index.ts';

export const quiet: Logger = createLogger({ level: process.env.EDGEADM_TEST_LOG === '1' ? 'debug' : 'silent' });

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `edgeadm-${prefix}-`));
}

export interface HubFixture {
  hub: Hub;
  dataDir: string;
  adminToken: string;
  api<T = unknown>(method: string, p: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  agentToken(site: string): Promise<string>;
  apply(obj: { kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> } } & Record<string, unknown>): Promise<void>;
}

const PLURAL: Record<string, string> = {
  Site: 'sites',
  Node: 'nodes',
  DeviceProfile: 'deviceprofiles',
  Device: 'devices',
  Addon: 'addons',
  BrokerCredential: 'brokercredentials',
  PendingDevice: 'pendingdevices',
};

export async function startHubFixture(opts: { dataDir?: string; port?: number; syncHeartbeatMs?: number; store?: StartHubOptions['store']; export?: StartHubOptions['export'] } = {}): Promise<HubFixture> {
  const dataDir = opts.dataDir ?? tempDir('hub');
  // As `edgeadm hub run` starts it: with the web console.
  const hub = await startHub({ dataDir, port: opts.port ?? 0, logger: quiet, modules: [createConsole()], ...(opts.syncHeartbeatMs === undefined ? {} : { syncHeartbeatMs: opts.syncHeartbeatMs }), ...(opts.store === undefined ? {} : { store: opts.store }), ...(opts.export === undefined ? {} : { export: opts.export }) });
  const adminToken = readFileSync(hub.adminTokenFile, 'utf8').trim();
  const api = async <T>(method: string, p: string, body?: unknown, token = adminToken): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${hub.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  return {
    hub,
    dataDir,
    adminToken,
    api,
    async agentToken(site) {
      const r = await api<{ token: string }>('POST', '/api/v1/tokens', { role: 'agent', site, description: `test agent ${site}` });
      if (r.status !== 201) throw new Error(`token create failed: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.token;
    },
    async apply(obj) {
      const r = await api('PUT', `/api/v1/${PLURAL[obj.kind]}/${obj.metadata.name}`, { apiVersion: 'edgeadm.io/v1alpha1', ...obj });
      if (r.status >= 300) throw new Error(`apply ${obj.kind}/${obj.metadata.name} failed: ${r.status} ${JSON.stringify(r.body)}`);
    },
  };
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 50): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
