/**
 * The hub's PKI folder: ca.crt / ca.key (the CA) and hub.crt / hub.key (the
 * hub's TLS server certificate). Missing files are created, a hub certificate
 * that misses a host or is about to expire is re-issued for the same key, and
 * anything unreadable is refused with a coded error: a CA is never replaced
 * over an existing file, since that would strand every credential it issued.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { describeError, type Logger } from '../kernel/index.ts';
import {
  createCertificateAuthority,
  generateKey,
  loadCa,
  parseCertificate,
  parsePrivateKey,
  allowsServerAuth,
  signLeaf,
  subjectAltNames,
  type KeyPairPem,
  type LeafOptions,
  type LoadedCa,
  type ParsedCertificate,
  type ParsedKey,
} from './ca.ts';
import { ErrFile, ErrInvalid, ErrOption } from './errors.ts';
import { checkSubjectAttribute, hostKey, ipToBytes, parseHosts, type HostName } from './names.ts';

export interface HubPki {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: KeyPairPem;
  server: KeyPairPem;
  /** The files this call wrote (absolute paths as joined from `dir`); empty when everything was in place. */
  created: string[];
}

export interface HubPkiOptions {
  /** DNS names and IP addresses the hub is reached at; all go into hub.crt's subjectAltName. */
  hosts: string[];
  logger: Logger;
  /** Subject CN of hub.crt (default `edgeadm-hub`). */
  commonName?: string;
}

const DAY_MS = 86_400_000;
/** hub.crt is re-issued when it expires within this window. */
export const RENEW_BEFORE_DAYS = 30;
/** Validity of a (re-)issued hub.crt, capped at the CA's own notAfter. */
export const HUB_CERT_DAYS = 365;
const CERT_MODE = 0o644;
const KEY_MODE = 0o600;
const DIR_MODE = 0o700;

/**
 * Loads <dir>/ca.crt, ca.key, hub.crt, hub.key; creates what is missing;
 * re-issues hub.crt (same key) when it lacks one of `hosts` or expires within
 * 30 days. Key files mode 0600, the directory 0700.
 */
export async function loadOrCreateHubPki(dir: string, o: HubPkiOptions): Promise<HubPki> {
  if (typeof dir !== 'string' || dir.trim() === '') throw new ErrOption({ option: 'dir', problem: 'must be a non-empty path' });
  if (typeof o !== 'object' || o === null) throw new ErrOption({ option: 'options', problem: 'must be an object' });
  if (!Array.isArray(o.hosts) || o.hosts.length === 0) {
    throw new ErrOption({ option: 'hosts', problem: 'must list at least one DNS name or IP address the hub is reached at' });
  }
  const hosts = parseHosts(o.hosts, 'hosts');
  const commonName = checkSubjectAttribute(o.commonName ?? 'edgeadm-hub', 'commonName');
  const log = o.logger.child({ component: 'pki' });
  const caFile = path.join(dir, 'ca.crt');
  const caKeyFile = path.join(dir, 'ca.key');
  const certFile = path.join(dir, 'hub.crt');
  const keyFile = path.join(dir, 'hub.key');
  const created: string[] = [];

  await ensurePrivateDir(dir, log);

  // The CA: both files, or neither (then a new one). Never half of a pair.
  const caCertPem = await readOptional(caFile);
  const caKeyPem = await readOptional(caKeyFile);
  let caPem: KeyPairPem;
  let caCreated = false;
  if (caCertPem === undefined && caKeyPem === undefined) {
    caPem = await createCertificateAuthority({ commonName: `edgeadm-ca@${Math.floor(Date.now() / 1000)}` });
    await writeAtomic(caKeyFile, caPem.keyPem, KEY_MODE);
    await writeAtomic(caFile, caPem.certPem, CERT_MODE);
    created.push(caFile, caKeyFile);
    caCreated = true;
  } else if (caCertPem === undefined || caKeyPem === undefined) {
    const [missing, present] = caCertPem === undefined ? [caFile, caKeyFile] : [caKeyFile, caFile];
    throw new ErrInvalid({
      source: missing,
      problem:
        `is missing while '${present}' exists; refusing to create a new CA over it ` +
        '(restore the file, or remove both to start a new CA, which invalidates every certificate the old one issued)',
    });
  } else {
    caPem = { certPem: caCertPem, keyPem: caKeyPem };
  }
  const ca = await loadCa(caPem, { cert: caFile, key: caKeyFile });
  if (caCreated) {
    log.info({ file: caFile, subject: ca.cert.cert.subject, notAfter: ca.cert.cert.notAfter.toISOString(), fingerprintSha256: ca.cert.node.fingerprint256 }, 'certificate authority created');
  } else {
    await tightenMode(caKeyFile, KEY_MODE, log);
  }
  const caNotAfter = ca.cert.cert.notAfter.getTime();
  if (caNotAfter - Date.now() < RENEW_BEFORE_DAYS * DAY_MS) {
    log.warn({ file: caFile, notAfter: ca.cert.cert.notAfter.toISOString() }, 'certificate authority expires soon; certificates it issues end with it');
  }

  // The hub's server certificate.
  const leaf: LeafOptions = { commonName, hosts, usage: 'server', days: HUB_CERT_DAYS };
  let certPem = await readOptional(certFile);
  let keyPem = await readOptional(keyFile);
  if (caCreated && (certPem !== undefined || keyPem !== undefined)) {
    log.warn({ certFile, keyFile }, 'replacing the hub certificate of a previous certificate authority');
    certPem = undefined;
    keyPem = undefined;
  }
  let server: KeyPairPem;
  if (keyPem === undefined) {
    const key = await generateKey(keyFile);
    const cert = await signLeaf(ca, key, leaf);
    await writeAtomic(keyFile, key.pem, KEY_MODE);
    await writeAtomic(certFile, cert, CERT_MODE);
    created.push(certFile, keyFile);
    logIssued(log, certFile, cert, certPem === undefined ? 'missing' : 'key missing');
    server = { certPem: cert, keyPem: key.pem };
  } else {
    const key = parsePrivateKey(keyPem, keyFile);
    await tightenMode(keyFile, KEY_MODE, log);
    const reason = certPem === undefined ? 'missing' : renewalReason(checkHubCert(certPem, certFile, keyFile, key, ca, caFile), hosts, caNotAfter);
    if (certPem === undefined || reason !== undefined) {
      const cert = await signLeaf(ca, key, leaf);
      await writeAtomic(certFile, cert, CERT_MODE);
      created.push(certFile);
      logIssued(log, certFile, cert, reason ?? 'missing');
      server = { certPem: cert, keyPem };
    } else {
      server = { certPem, keyPem };
    }
  }
  if (created.length === 0) log.debug({ dir }, 'hub pki loaded');
  return { dir, caFile, certFile, keyFile, ca: caPem, server, created };
}

function checkHubCert(
  pem: string,
  certFile: string,
  keyFile: string,
  key: ParsedKey,
  ca: LoadedCa,
  caFile: string,
): ParsedCertificate {
  const cert = parseCertificate(pem, certFile);
  if (!cert.node.checkIssued(ca.cert.node) || !cert.node.verify(ca.cert.node.publicKey)) {
    throw new ErrInvalid({ source: certFile, problem: `is not signed by the CA in '${caFile}'` });
  }
  if (!cert.node.checkPrivateKey(key.key)) throw new ErrInvalid({ source: keyFile, problem: `is not the private key of '${certFile}'` });
  return cert;
}

/** Why hub.crt must be re-issued, or undefined when it is fine as it is. */
function renewalReason(cert: ParsedCertificate, hosts: readonly HostName[], caNotAfter: number): string | undefined {
  const { dnsNames, ipAddresses } = subjectAltNames(cert.cert);
  const have = new Set(dnsNames.map((d) => `dns:${d.toLowerCase()}`));
  for (const ip of ipAddresses) {
    const bytes = ipToBytes(ip);
    if (bytes !== undefined) have.add(hostKey({ kind: 'ip', value: ip, bytes }));
  }
  const missing = hosts.filter((h) => !have.has(hostKey(h))).map((h) => h.value);
  if (missing.length > 0) return `hosts not covered: ${missing.join(', ')}`;
  if (!allowsServerAuth(cert)) return 'not a server certificate';
  // Issued while the clock was ahead (an edge box without RTC): peers would refuse it until then.
  if (cert.cert.notBefore.getTime() > Date.now()) return 'not yet valid';
  const notAfter = cert.cert.notAfter.getTime();
  // A renewal cannot outlive the CA: only renew when it would gain something.
  if (notAfter - Date.now() < RENEW_BEFORE_DAYS * DAY_MS && notAfter < caNotAfter) return 'expires soon';
  return undefined;
}

function logIssued(log: Logger, file: string, certPem: string, reason: string): void {
  const cert = parseCertificate(certPem, file);
  const { dnsNames, ipAddresses } = subjectAltNames(cert.cert);
  log.info({ file, reason, dnsNames, ipAddresses, notAfter: cert.cert.notAfter.toISOString() }, 'hub certificate issued');
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Unreadable is as unusable as corrupt: refuse, never treat it as missing.
    throw new ErrInvalid({ source: file, problem: `cannot be read: ${describeError(err)}` }, { cause: err });
  }
}

async function ensurePrivateDir(dir: string, log: Logger): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new ErrFile({ file: dir, operation: 'create directory', reason: describeError(err) }, { cause: err });
  }
  await tightenMode(dir, DIR_MODE, log);
}

/** Removes group and other permissions from an existing file or directory (keys and their folder stay private). */
async function tightenMode(file: string, mode: number, log: Logger): Promise<void> {
  try {
    const st = await stat(file);
    if ((st.mode & 0o077) === 0) return;
    await chmod(file, mode);
    log.warn({ file, was: (st.mode & 0o777).toString(8), now: mode.toString(8) }, 'pki file mode tightened');
  } catch (err) {
    throw new ErrFile({ file, operation: 'chmod', reason: describeError(err) }, { cause: err });
  }
}

/** Writes through a temporary file, fsync and rename, so a crash leaves the old file or the new one, never a torn one. */
async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', mode);
    await fh.writeFile(data, 'utf8');
    await fh.chmod(mode);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, file);
    const dirHandle = await open(path.dirname(file), 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw new ErrFile({ file, operation: 'write', reason: describeError(err) }, { cause: err });
  }
}
