/**
 * The upstream kube-apiserver and the node's own credential for it, read
 * from the node's kubeconfig (as the kubelet's kubelet.conf is written):
 * server, certificate authority (file or data), and a client certificate
 * and key (files, one file holding both, or data) or a bearer token (inline
 * or `tokenFile`).
 *
 * The node's credential is never a cluster-admin one: a client certificate
 * in the `system:masters` group is refused at load, and a token's groups are
 * checked with a SelfSubjectReview once the upstream answers
 * (`checkNotAdmin`). Two connection pools: one presents the node's
 * credential, the other none (bearer-token clients pass theirs through, and
 * must never be sent with the node's certificate).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ErrAdminCredential, ErrUpstreamConfig } from './errors.ts';

export interface UpstreamCredential {
  /** `https://host:port` of kube-apiserver (or a load balancer in front of it). */
  server: URL;
  ca?: Buffer;
  token?: string;
  cert?: Buffer;
  key?: Buffer;
  /** The node's user as its certificate names it (CN), when it has one. */
  certUser?: string;
}

function field(obj: unknown, name: string): unknown {
  return obj !== null && typeof obj === 'object' ? (obj as Record<string, unknown>)[name] : undefined;
}

function pick(list: unknown, name: string, what: string, file: string): Record<string, unknown> {
  const found = Array.isArray(list) ? (list as { name?: unknown }[]).find((e) => e?.name === name) : undefined;
  const inner = field(found, what);
  if (inner === undefined || inner === null || typeof inner !== 'object') throw new ErrUpstreamConfig({ file, field: `${what}s[name=${name}]`, reason: `no ${what} named '${name}'` });
  return inner as Record<string, unknown>;
}

function readRef(obj: Record<string, unknown>, fileField: string, dataField: string, dir: string, kubeconfig: string): Buffer | undefined {
  const data = obj[dataField];
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
  const ref = obj[fileField];
  if (typeof ref !== 'string' || ref === '') return undefined;
  const file = path.resolve(dir, ref);
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ErrUpstreamConfig({ file: kubeconfig, field: fileField, reason: `cannot read ${file}: ${(err as Error).message}` }, { cause: err });
  }
}

/** The CN and O values of a certificate's subject. */
export function certificateSubject(pem: Buffer | string): { commonName: string; organizations: string[] } {
  const cert = new X509Certificate(pem);
  const lines = cert.subject.split('\n');
  const values = (attr: string): string[] => lines.filter((l) => l.startsWith(`${attr}=`)).map((l) => l.slice(attr.length + 1));
  return { commonName: values('CN')[0] ?? '', organizations: values('O') };
}

/**
 * Loads the node's kubeconfig (its current context); refuses a cluster-admin
 * certificate. `server` replaces the kubeconfig's server: the kubelet's own
 * kubeconfig points at this proxy once it runs, while the proxy needs the cloud.
 */
export function loadUpstreamCredential(kubeconfig: string, server?: string): UpstreamCredential {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(kubeconfig, 'utf8'));
  } catch (err) {
    throw new ErrUpstreamConfig({ file: kubeconfig, field: '', reason: `cannot be read as YAML (${(err as Error).message})` }, { cause: err });
  }
  const dir = path.dirname(kubeconfig);
  const contextName = field(doc, 'current-context');
  if (typeof contextName !== 'string' || contextName === '') throw new ErrUpstreamConfig({ file: kubeconfig, field: 'current-context', reason: 'is not set' });
  const context = pick(field(doc, 'contexts'), contextName, 'context', kubeconfig);
  const cluster = pick(field(doc, 'clusters'), String(context.cluster), 'cluster', kubeconfig);
  const user = pick(field(doc, 'users'), String(context.user), 'user', kubeconfig);
  const serverText = server ?? cluster.server;
  const serverField = server === undefined ? 'cluster.server' : 'the server given instead of cluster.server';
  let url: URL;
  try {
    url = new URL(String(serverText));
  } catch {
    throw new ErrUpstreamConfig({ file: kubeconfig, field: serverField, reason: `'${String(serverText)}' is not a URL` });
  }
  if (url.protocol !== 'https:') throw new ErrUpstreamConfig({ file: kubeconfig, field: serverField, reason: `must be https:// (got ${url.protocol}//)` });
  if (cluster['insecure-skip-tls-verify'] === true) throw new ErrUpstreamConfig({ file: kubeconfig, field: 'cluster.insecure-skip-tls-verify', reason: 'the node must verify the apiserver: give certificate-authority instead' });
  const cred: UpstreamCredential = { server: url };
  const ca = readRef(cluster, 'certificate-authority', 'certificate-authority-data', dir, kubeconfig);
  if (ca !== undefined) cred.ca = ca;
  const cert = readRef(user, 'client-certificate', 'client-certificate-data', dir, kubeconfig);
  const key = readRef(user, 'client-key', 'client-key-data', dir, kubeconfig);
  if (cert !== undefined || key !== undefined) {
    if (cert === undefined || key === undefined) throw new ErrUpstreamConfig({ file: kubeconfig, field: cert === undefined ? 'user.client-certificate' : 'user.client-key', reason: 'a client certificate needs both its certificate and its key' });
    let subject: { commonName: string; organizations: string[] };
    try {
      subject = certificateSubject(cert);
    } catch (err) {
      throw new ErrUpstreamConfig({ file: kubeconfig, field: 'user.client-certificate', reason: `not a PEM certificate: ${(err as Error).message}` }, { cause: err });
    }
    if (subject.organizations.includes('system:masters')) throw new ErrAdminCredential({ source: kubeconfig, user: subject.commonName, how: 'its client certificate is in the group system:masters' });
    cred.cert = cert;
    cred.key = key;
    cred.certUser = subject.commonName;
  }
  let token = typeof user.token === 'string' && user.token !== '' ? user.token : undefined;
  if (token === undefined && typeof user.tokenFile === 'string' && user.tokenFile !== '') {
    const file = path.resolve(dir, user.tokenFile);
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ErrUpstreamConfig({ file: kubeconfig, field: 'user.tokenFile', reason: `cannot read ${file}: ${(err as Error).message}` }, { cause: err });
    }
  }
  if (token !== undefined) cred.token = token;
  if (cred.cert === undefined && cred.token === undefined) throw new ErrUpstreamConfig({ file: kubeconfig, field: `users[name=${String(context.user)}]`, reason: 'names neither a client certificate nor a token: the node needs its own credential' });
  return cred;
}

/** The two connection pools to the upstream: with the node's credential, and with none. */
export interface UpstreamPools {
  node: https.Agent;
  bare: https.Agent;
  destroy(): void;
}

export function upstreamPools(cred: UpstreamCredential, maxSockets = 64): UpstreamPools {
  const base = { keepAlive: true, maxSockets, ...(cred.ca === undefined ? {} : { ca: cred.ca }) };
  const node = new https.Agent({ ...base, ...(cred.cert === undefined ? {} : { cert: cred.cert, key: cred.key }) });
  const bare = new https.Agent(base);
  return {
    node,
    bare,
    destroy() {
      node.destroy();
      bare.destroy();
    },
  };
}

/** The headers that present the node's credential (a bearer token; a certificate rides on the pool). */
export function nodeAuthHeaders(cred: UpstreamCredential): http.OutgoingHttpHeaders {
  return cred.token === undefined ? {} : { authorization: `Bearer ${cred.token}` };
}

/**
 * Asks the upstream who the node's credential is (SelfSubjectReview) and
 * throws ErrAdminCredential when it is in system:masters. Answers the user
 * name, or undefined when the upstream does not serve the review (older
 * than 1.28): then only a certificate's own group was checked.
 */
export async function checkNotAdmin(cred: UpstreamCredential, pools: UpstreamPools, timeoutMs: number): Promise<string | undefined> {
  const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = https.request(
      new URL('/apis/authentication.k8s.io/v1/selfsubjectreviews', cred.server),
      { method: 'POST', agent: pools.node, timeout: timeoutMs, headers: { ...nodeAuthHeaders(cred), 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
  if (answer.status === 404) return undefined;
  if (answer.status !== 201 && answer.status !== 200) throw new Error(`SelfSubjectReview answered ${answer.status}`);
  const info = field(field(JSON.parse(answer.text), 'status'), 'userInfo') as { username?: unknown; groups?: unknown } | undefined;
  const groups = Array.isArray(info?.groups) ? info.groups : [];
  const username = typeof info?.username === 'string' ? info.username : '';
  if (groups.includes('system:masters')) throw new ErrAdminCredential({ source: 'the upstream SelfSubjectReview', user: username, how: 'the upstream says it is in the group system:masters' });
  return username;
}
