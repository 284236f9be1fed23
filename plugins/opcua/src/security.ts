/**
 * OPC UA security of the opcua plugin: the security part of a Device's
 * protocol block, the user identity, and the client PKI.
 *
 * The client PKI is a node-opcua certificate store in `<dir>/pki` (`own/`,
 * `trusted/`, `rejected/`, `issuers/`). The site's client certificate
 * (`own/certs/client.pem`, key `own/private/private_key.pem`) carries the
 * application URI `urn:edgeadm:<site>:opcua-client` in its SubjectAltName, as
 * OPC UA requires; it is made once and renewed only when missing, expired, of
 * another URI or of another key. Unknown server certificates are never
 * accepted: node-opcua files them in `rejected/`, and an operator moves them to
 * `trusted/` with `edgeadm opcua trust` (or `trustStore().trust`).
 *
 * node-opcua loads in about a second, so this module imports it only where a
 * connection needs it (`openClientPki`, `userIdentity`); the trust store works
 * on the folders alone, which is what the CLI uses.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import type { OPCUAClientOptions, UserIdentityInfo } from 'node-opcua-client';
import { dns1123LabelProblem, privateTree, toErrorInfo, type DriverIssue, type Logger } from '../../../core/sdk/index.ts';
import { ErrOpcuaCertInvalid, ErrOpcuaCertNotFound, ErrOpcuaPasswordFile, ErrOpcuaPki } from './errors.ts';
import { SECURITY_MODES, SECURITY_POLICIES, type SecurityModeName, type SecurityPolicyName } from './protocol-schema.ts';

// ---------------------------------------------------------------- errors

/** Codes of the issues `parseSecurity` reports. */
export const SECURITY_ISSUE = {
  /** securityMode / securityPolicy unknown, or a combination OPC UA does not allow. */
  security: 'EDGE_ERR_OPCUA_PROTOCOL_SECURITY',
  /** username / passwordFile missing one another, not strings, a relative path, or a password in the spec. */
  user: 'EDGE_ERR_OPCUA_PROTOCOL_USER',
} as const;

// ---------------------------------------------------------------- protocol block

export { SECURITY_MODES, SECURITY_POLICIES, type SecurityModeName, type SecurityPolicyName } from './protocol-schema.ts';

export interface OpcuaSecurity {
  mode: SecurityModeName;
  policy: SecurityPolicyName;
}

/** A user name with the file on the site node that holds its password. No user means anonymous. */
export interface OpcuaUser {
  username: string;
  passwordFile: string;
}

export interface SecuritySettings {
  security: OpcuaSecurity;
  user?: OpcuaUser;
  issues: DriverIssue[];
}

function field(block: Readonly<Record<string, unknown>>, name: string): { key: string; value: unknown } | undefined {
  const key = Object.keys(block).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : { key, value: block[key] };
}

function pick<T extends string>(choices: readonly T[], raw: string): T | undefined {
  const bare = raw.includes('#') ? raw.slice(raw.lastIndexOf('#') + 1) : raw;
  return choices.find((c) => c.toLowerCase() === bare.trim().toLowerCase());
}

/**
 * Reads the security part of `protocols.<protocolName>`: securityMode,
 * securityPolicy, username, passwordFile. Keys and mode/policy names match
 * case-insensitively (a policy URI `…#Basic256Sha256` is accepted). Every
 * problem is an issue naming its field; `security` is then the safe default
 * (None/None) and must not be used to connect.
 */
export function parseSecurity(protocol: Readonly<Record<string, unknown>>, protocolName = 'opcua'): SecuritySettings {
  const at = (f: string): string => `protocols.${protocolName}.${f}`;
  const issues: DriverIssue[] = [];
  const text = (name: string, code: string): string | undefined => {
    const f = field(protocol, name);
    if (f === undefined || f.value === undefined || f.value === null || f.value === '') return undefined;
    if (typeof f.value !== 'string') {
      issues.push({ path: at(name), code, message: `${name} must be a string, got ${JSON.stringify(f.value)}` });
      return undefined;
    }
    return f.value;
  };

  const rawMode = text('securityMode', SECURITY_ISSUE.security);
  const rawPolicy = text('securityPolicy', SECURITY_ISSUE.security);
  let mode: SecurityModeName | undefined = 'None';
  let policy: SecurityPolicyName | undefined;
  if (rawMode !== undefined) {
    mode = pick(SECURITY_MODES, rawMode);
    if (!mode) issues.push({ path: at('securityMode'), code: SECURITY_ISSUE.security, message: `securityMode '${rawMode}' is not one of ${SECURITY_MODES.join(', ')}` });
  }
  if (rawPolicy !== undefined) {
    policy = pick(SECURITY_POLICIES, rawPolicy);
    if (!policy) {
      issues.push({ path: at('securityPolicy'), code: SECURITY_ISSUE.security, message: `securityPolicy '${rawPolicy}' is not one of ${SECURITY_POLICIES.join(', ')}` });
    }
  }
  if (mode && (rawPolicy === undefined || policy)) {
    if (mode === 'None' && policy !== undefined && policy !== 'None') {
      issues.push({
        path: at('securityPolicy'),
        code: SECURITY_ISSUE.security,
        message: `securityPolicy ${policy} needs securityMode Sign or SignAndEncrypt (securityMode is ${rawMode === undefined ? 'not set, so None' : 'None'})`,
      });
    } else if (mode !== 'None' && (policy === undefined || policy === 'None')) {
      issues.push({
        path: at('securityPolicy'),
        code: SECURITY_ISSUE.security,
        message: `securityMode ${mode} needs a securityPolicy other than None (${SECURITY_POLICIES.filter((p) => p !== 'None').join(' or ')})`,
      });
    }
  }

  const username = text('username', SECURITY_ISSUE.user);
  const passwordFile = text('passwordFile', SECURITY_ISSUE.user);
  const inline = field(protocol, 'password');
  if (inline !== undefined) {
    issues.push({
      path: at(inline.key),
      code: SECURITY_ISSUE.user,
      message: 'a password never sits in a Device spec: put it in a file on the site node and name that file in passwordFile',
    });
  }
  let user: OpcuaUser | undefined;
  if (username !== undefined && passwordFile === undefined) {
    issues.push({ path: at('passwordFile'), code: SECURITY_ISSUE.user, message: `username '${username}' needs passwordFile, the file on the site node that holds its password` });
  } else if (username === undefined && passwordFile !== undefined) {
    issues.push({ path: at('username'), code: SECURITY_ISSUE.user, message: 'passwordFile is set but username is not' });
  } else if (username !== undefined && passwordFile !== undefined) {
    if (!path.isAbsolute(passwordFile)) {
      issues.push({ path: at('passwordFile'), code: SECURITY_ISSUE.user, message: `passwordFile '${passwordFile}' must be an absolute path on the site node` });
    } else {
      user = { username, passwordFile };
    }
  }
  // Under mode None the password is encrypted to whatever certificate the endpoint presents, checked by nobody.
  const allow = field(protocol, 'allowPasswordWithoutSecurity')?.value;
  if (allow !== undefined && allow !== '' && allow !== true && allow !== false && allow !== 'true' && allow !== 'false') {
    issues.push({ path: at('allowPasswordWithoutSecurity'), code: SECURITY_ISSUE.security, message: `allowPasswordWithoutSecurity must be true or false, got ${JSON.stringify(allow)}` });
  }
  if (user && mode === 'None' && allow !== true && allow !== 'true') {
    issues.push({
      path: at('securityMode'),
      code: SECURITY_ISSUE.security,
      message:
        'a password is sent only with securityMode Sign or SignAndEncrypt, where the server certificate is checked against the trusted ones; ' +
        'set securityMode (or allowPasswordWithoutSecurity: true to send it to an unchecked server certificate)',
    });
  }

  if (issues.length > 0 || mode === undefined) return { security: { mode: 'None', policy: 'None' }, issues };
  return { security: { mode, policy: policy ?? 'None' }, ...(user ? { user } : {}), issues };
}

/**
 * The identity a session activates with: anonymous without a user, else the
 * user name with the password read from its file now (trailing newline
 * removed). The password is never logged.
 */
export async function userIdentity(user: OpcuaUser | undefined, protocolName = 'opcua'): Promise<UserIdentityInfo> {
  const { UserTokenType } = await import('node-opcua-client');
  if (!user) return { type: UserTokenType.Anonymous };
  const fieldName = `protocols.${protocolName}.passwordFile`;
  let password: string;
  try {
    password = (await readFile(user.passwordFile, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : toErrorInfo(err).message;
    throw new ErrOpcuaPasswordFile({ field: fieldName, file: user.passwordFile, reason }, { cause: err });
  }
  if (password === '') throw new ErrOpcuaPasswordFile({ field: fieldName, file: user.passwordFile, reason: 'the file is empty' });
  return { type: UserTokenType.UserName, userName: user.username, password };
}

// ---------------------------------------------------------------- certificates

/** What the CLI and the driver show of a certificate. Dates are ISO 8601. */
export interface CertInfo {
  /** SHA-1 of the DER certificate, lower-case hex: the thumbprint OPC UA uses. */
  thumbprint: string;
  subject: string;
  /** The URI in the SubjectAltName (OPC UA's application URI), if any. */
  applicationUri?: string;
  notBefore: string;
  notAfter: string;
  file: string;
}

const CERT_FILE = /\.(pem|der|crt|cer)$/i;

function parseCertificate(data: Buffer, file: string): { der: Buffer; info: CertInfo; x509: X509Certificate } {
  let der = data;
  const text = data.toString('latin1');
  if (text.includes('-----BEGIN CERTIFICATE-----')) {
    const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
    der = Buffer.from((m?.[1] ?? '').replace(/\s+/g, ''), 'base64');
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (err) {
    throw new ErrOpcuaCertInvalid({ what: file, reason: 'holds no X.509 certificate (PEM or DER)' }, { cause: err });
  }
  const uri = /(?:^|,\s*)URI:([^,]+)/.exec(x509.subjectAltName ?? '')?.[1];
  const info: CertInfo = {
    thumbprint: createHash('sha1').update(der).digest('hex'),
    subject: x509.subject.split('\n').filter(Boolean).reverse().join(', '),
    ...(uri ? { applicationUri: uri } : {}),
    notBefore: new Date(x509.validFrom).toISOString(),
    notAfter: new Date(x509.validTo).toISOString(),
    file,
  };
  return { der, info, x509 };
}

/** Describes a certificate given as DER or PEM bytes; `file` is where it came from. */
export function certificateInfo(data: Buffer, file = ''): CertInfo {
  return parseCertificate(data, file).info;
}

/** Reads a certificate file (PEM, first certificate of a chain, or DER). */
export async function readCertificateInfo(file: string): Promise<CertInfo> {
  return parseCertificate(await readFile(file), file).info;
}

async function scan(folder: string): Promise<{ der: Buffer; info: CertInfo }[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: { der: Buffer; info: CertInfo }[] = [];
  for (const name of names.sort()) {
    if (!CERT_FILE.test(name)) continue;
    const file = path.join(folder, name);
    try {
      if (!(await stat(file)).isFile()) continue;
      const { der, info } = parseCertificate(await readFile(file), file);
      out.push({ der, info });
    } catch {
      // A file that is not a certificate is not one of the store's entries.
    }
  }
  return out;
}

function normaliseThumbprint(raw: string): string {
  const t = raw.replace(/[\s:]/g, '').toLowerCase();
  if (!/^[0-9a-f]+$/.test(t)) throw new ErrOpcuaCertInvalid({ what: `'${raw}'`, reason: 'is neither a certificate file nor a SHA-1 thumbprint (hex)' });
  if (t.length < 8 || t.length > 40) throw new ErrOpcuaCertInvalid({ what: `'${raw}'`, reason: 'a thumbprint is 40 hex digits (a unique prefix of at least 8 will do)' });
  return t;
}

function findOne(entries: { der: Buffer; info: CertInfo }[], thumbprint: string): { der: Buffer; info: CertInfo } | undefined {
  const hits = entries.filter((e) => e.info.thumbprint.startsWith(thumbprint));
  const distinct = new Set(hits.map((h) => h.info.thumbprint));
  if (distinct.size > 1) throw new ErrOpcuaCertInvalid({ what: `thumbprint prefix '${thumbprint}'`, reason: `matches ${distinct.size} certificates; give more digits` });
  return hits[0];
}

/** node-opcua's file name for a certificate in its store: `<CN>[<thumbprint>].pem`. */
function storeName(info: CertInfo): string {
  const cn = /(?:^|, )CN=([^,]*)/.exec(info.subject)?.[1] ?? '';
  // As node-opcua names them: characters a file name cannot hold become '_'.
  const safe = [...cn].map((ch) => (ch.charCodeAt(0) < 0x20 || '<>:"/\\|?*'.includes(ch) ? '_' : ch)).join('');
  return `${safe}[${info.thumbprint}].pem`;
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** The server certificates a client PKI knows: refused ones (`rejected/`) and trusted ones (`trusted/`). */
export interface TrustStore {
  readonly pkiDir: string;
  rejected(): Promise<CertInfo[]>;
  trusted(): Promise<CertInfo[]>;
  /** Trusts a rejected certificate by thumbprint (or a unique prefix), or a certificate file (.der, .pem). Trusting a trusted one is a no-op. */
  trust(thumbprintOrFile: string): Promise<CertInfo>;
  /** Moves a trusted certificate back to `rejected/`. */
  untrust(thumbprint: string): Promise<CertInfo>;
}

/** The part of node-opcua's certificate manager the trust store drives when the PKI is open in this process. */
interface LiveManager {
  trustCertificate(certificate: Buffer): Promise<void>;
  rejectCertificate(certificate: Buffer): Promise<void>;
}

/**
 * A trust store over the PKI folder `pkiDir`. Without `manager` it moves files
 * (what the CLI does; a running agent's store watches its folders and follows);
 * with the manager of an open PKI it asks that manager, so the change counts
 * at once.
 */
export function openTrustStore(pkiDir: string, manager?: LiveManager): TrustStore {
  const trustedDir = path.join(pkiDir, 'trusted', 'certs');
  const rejectedDir = path.join(pkiDir, 'rejected');
  const looksLikeFile = (s: string): boolean => CERT_FILE.test(s) || s.includes('/') || s.includes(path.sep);

  const locate = async (folder: string, thumbprint: string): Promise<CertInfo> => {
    const hit = (await scan(folder)).find((e) => e.info.thumbprint === thumbprint);
    if (!hit) throw new ErrOpcuaPki({ dir: pkiDir, reason: `certificate ${thumbprint} did not arrive in ${folder}` });
    return hit.info;
  };

  const trustDer = async (der: Buffer, info: CertInfo): Promise<CertInfo> => {
    const already = findOne(await scan(trustedDir), info.thumbprint);
    if (already?.info.thumbprint === info.thumbprint) return already.info;
    if (manager) {
      await manager.trustCertificate(der);
      return locate(trustedDir, info.thumbprint);
    }
    mkdirSync(trustedDir, { recursive: true, mode: 0o700 });
    privateTree(pkiDir);
    const rejected = (await scan(rejectedDir)).filter((e) => e.info.thumbprint === info.thumbprint);
    const target = path.join(trustedDir, rejected[0] ? path.basename(rejected[0].info.file) : storeName(info));
    if (rejected[0]) {
      await rename(rejected[0].info.file, target);
      for (const extra of rejected.slice(1)) await rm(extra.info.file, { force: true });
    } else {
      await writeFile(target, toPem(der));
    }
    return { ...info, file: target };
  };

  return {
    pkiDir,
    rejected: async () => (await scan(rejectedDir)).map((e) => e.info),
    trusted: async () => (await scan(trustedDir)).map((e) => e.info),
    async trust(arg) {
      if (looksLikeFile(arg) || existsSync(arg)) {
        let data: Buffer;
        try {
          data = await readFile(arg);
        } catch (err) {
          throw new ErrOpcuaCertInvalid({ what: arg, reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : toErrorInfo(err).message }, { cause: err });
        }
        const { der, info } = parseCertificate(data, arg);
        return trustDer(der, info);
      }
      const thumbprint = normaliseThumbprint(arg);
      const hit = findOne(await scan(rejectedDir), thumbprint);
      if (hit) return trustDer(hit.der, hit.info);
      const trusted = findOne(await scan(trustedDir), thumbprint);
      if (trusted) return trusted.info;
      throw new ErrOpcuaCertNotFound({ thumbprint, folder: rejectedDir, hint: 'list the refused server certificates with `edgeadm opcua certificates`' });
    },
    async untrust(arg) {
      const thumbprint = normaliseThumbprint(arg);
      const hit = findOne(await scan(trustedDir), thumbprint);
      if (!hit) throw new ErrOpcuaCertNotFound({ thumbprint, folder: trustedDir, hint: 'list the trusted server certificates with `edgeadm opcua certificates`' });
      if (manager) {
        await manager.rejectCertificate(hit.der);
        return locate(rejectedDir, hit.info.thumbprint);
      }
      mkdirSync(rejectedDir, { recursive: true, mode: 0o700 });
      const target = path.join(rejectedDir, path.basename(hit.info.file));
      await rename(hit.info.file, target);
      return { ...hit.info, file: target };
    },
  };
}

// ---------------------------------------------------------------- client PKI

export interface ClientPki {
  /** `<dir>/pki`. */
  readonly pkiDir: string;
  readonly applicationName: string;
  /** `urn:edgeadm:<site>:opcua-client`, also the URI in the certificate. */
  readonly applicationUri: string;
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  readonly certificateManager: OPCUACertificateManager;
  /** The client certificate as it is on disk now. */
  certificate(): Promise<CertInfo>;
  /** Options for `OPCUAClient.create` with this PKI and the given security. */
  clientOptions(security: OpcuaSecurity): Partial<OPCUAClientOptions>;
  trustStore(): TrustStore;
  /** The command an operator runs to trust a refused server certificate. */
  trustCommand(thumbprint: string): string;
  /** Stops the store's folder watchers. Clients made from it must be disconnected first. */
  close(): Promise<void>;
}

export interface OpenClientPkiOptions {
  /** The plugin's folder (siteStorage.dir('opcua')); the PKI is `<dir>/pki`. */
  dir: string;
  applicationName: string;
  site: string;
  logger: Logger;
  /** Validity of a new client certificate, in days (default 3650). */
  validityDays?: number;
}

/** Why the certificate on disk cannot be used (then it is made anew), or undefined when it can. */
function certificateProblem(certFile: string, keyFile: string, applicationUri: string): string | undefined {
  if (!existsSync(certFile)) return 'missing';
  let x509: X509Certificate;
  let info: CertInfo;
  try {
    const parsed = parseCertificate(readFileSync(certFile), certFile);
    x509 = parsed.x509;
    info = parsed.info;
  } catch {
    return 'unreadable';
  }
  if (Date.parse(info.notAfter) <= Date.now()) return 'expired';
  if (info.applicationUri !== applicationUri) return 'application URI changed';
  try {
    if (!x509.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))) return 'private key changed';
  } catch {
    return 'private key changed';
  }
  return undefined;
}

/**
 * Opens (creating on first use) the client PKI of the opcua plugin and makes
 * sure it holds a usable client certificate.
 */
export async function openClientPki(o: OpenClientPkiOptions): Promise<ClientPki> {
  const siteProblem = dns1123LabelProblem(o.site);
  if (siteProblem !== undefined) throw new ErrOpcuaPki({ dir: o.dir, reason: `'${o.site}' is not a site name: it ${siteProblem}` });
  const logger = o.logger.child({ component: 'opcua-pki' });
  const pkiDir = path.join(o.dir, 'pki');
  const applicationUri = `urn:edgeadm:${o.site}:opcua-client`;
  const certificateFile = path.join(pkiDir, 'own', 'certs', 'client.pem');
  const privateKeyFile = path.join(pkiDir, 'own', 'private', 'private_key.pem');
  // The client package and its certificate manager, not `node-opcua`, which also loads the server side (~10 MiB more).
  const [opcua, { OPCUACertificateManager: CertificateManager }] = await Promise.all([import('node-opcua-client'), import('node-opcua-certificate-manager')]);
  let cm: OPCUACertificateManager;
  try {
    mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
    cm = new CertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: false, name: 'edgeadm-opcua-client', keySize: 2048 });
    await cm.initialize();
    // node-opcua makes its folders 0755: only this site's user reads its PKI.
    privateTree(pkiDir);
  } catch (err) {
    throw new ErrOpcuaPki({ dir: pkiDir, reason: toErrorInfo(err).message }, { cause: err });
  }
  try {
    const problem = certificateProblem(certificateFile, privateKeyFile, applicationUri);
    if (problem) {
      const host = hostname();
      const safe = (v: string): string => v.replace(/[/=]/g, '_');
      await cm.createSelfSignedCertificate({
        applicationUri,
        subject: `/CN=${safe(o.applicationName)}@${safe(host)}/O=edgeadm/OU=${safe(o.site)}`,
        dns: [host],
        // A day of slack for servers whose clock is behind.
        startDate: new Date(Date.now() - 86_400_000),
        validity: o.validityDays ?? 3650,
        outputFile: certificateFile,
      });
      const info = await readCertificateInfo(certificateFile);
      logger.info({ reason: problem, thumbprint: info.thumbprint, applicationUri, notAfter: info.notAfter, file: certificateFile }, 'opcua client certificate created');
    }
  } catch (err) {
    await cm.dispose().catch(() => undefined);
    throw new ErrOpcuaPki({ dir: pkiDir, reason: `cannot create the client certificate: ${toErrorInfo(err).message}` }, { cause: err });
  }

  const dataDir = path.basename(o.dir) === 'opcua' && path.basename(path.dirname(o.dir)) === 'plugins' ? path.dirname(path.dirname(o.dir)) : undefined;
  let closed = false;
  return {
    pkiDir,
    applicationName: o.applicationName,
    applicationUri,
    certificateFile,
    privateKeyFile,
    certificateManager: cm,
    certificate: () => readCertificateInfo(certificateFile),
    clientOptions(security) {
      const mode = { None: opcua.MessageSecurityMode.None, Sign: opcua.MessageSecurityMode.Sign, SignAndEncrypt: opcua.MessageSecurityMode.SignAndEncrypt }[security.mode];
      const policy = {
        None: opcua.SecurityPolicy.None,
        Basic256Sha256: opcua.SecurityPolicy.Basic256Sha256,
        Aes128_Sha256_RsaOaep: opcua.SecurityPolicy.Aes128_Sha256_RsaOaep,
      }[security.policy];
      return {
        applicationName: o.applicationName,
        applicationUri,
        clientCertificateManager: cm,
        certificateFile,
        privateKeyFile,
        securityMode: mode,
        securityPolicy: policy,
        // The first connect tries twice and then fails, so a wrong or dead
        // endpoint is reported; after a drop node-opcua reconnects without
        // limit (it does so whenever maxRetry > 0), backing off to 30 s.
        connectionStrategy: { maxRetry: 1, initialDelay: 1000, maxDelay: 30_000 },
        endpointMustExist: false,
      };
    },
    trustStore: () => openTrustStore(pkiDir, cm),
    trustCommand: (thumbprint) => `edgeadm opcua trust ${thumbprint} ${dataDir !== undefined ? `--data-dir ${dataDir}` : `--pki-dir ${pkiDir}`}`,
    async close() {
      if (closed) return;
      closed = true;
      await cm.dispose();
    },
  };
}
