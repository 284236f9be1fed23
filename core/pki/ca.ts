/**
 * The certificate authority: a self-signed CA, leaf certificates it issues
 * (server, client or both), and a readable view of any certificate.
 *
 * Certificates are built and signed with @peculiar/x509 over node's WebCrypto;
 * PEM parsing, key/certificate matching and issuer checks use node:crypto.
 * New keys are ECDSA P-256 and leave as PKCS#8 PEM. A CA made elsewhere
 * (openssl, cfssl) may hold an ECDSA P-256/P-384/P-521 or RSA key.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  webcrypto,
  X509Certificate as NodeX509Certificate,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import { ErrExpired, ErrInvalid, ErrInvalidName, ErrOption } from './errors.ts';
import { checkSubjectAttribute, formatIp, ipToBytes, parseHost, uniqueHosts, type HostName } from './names.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export type CertUsage = 'server' | 'client' | 'server+client';

export interface IssueOptions {
  commonName: string;
  organization?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: CertUsage;
  /** Validity in days from now (default 365), never beyond the CA's own notAfter. */
  days?: number;
}

export interface CertificateInfo {
  commonName: string;
  organization?: string;
  dnsNames: string[];
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER certificate, upper-case hex in colon-separated pairs (as `openssl x509 -fingerprint -sha256`). */
  fingerprintSha256: string;
  isCA: boolean;
  /** The issuer's distinguished name, e.g. `CN=edgeadm-ca@1700000000`. */
  issuer: string;
}

const DAY_MS = 86_400_000;
const SAN_OID = '2.5.29.17';
const MAX_DAYS = 36_500;
/** notBefore is set this far in the past so that peers with a slightly slow clock accept a fresh certificate. */
const BACKDATE_MS = 5 * 60_000;
const USAGES: readonly CertUsage[] = ['server', 'client', 'server+client'];

const generateKeyPairAsync = promisify(generateKeyPair);

// ---------------------------------------------------------------------------
// Parsing

export interface ParsedCertificate {
  pem: string;
  source: string;
  node: NodeX509Certificate;
  cert: x509.X509Certificate;
}

export interface ParsedKey {
  pem: string;
  source: string;
  key: KeyObject;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** `source` is what errors name: a file path, or an argument such as `ca.certPem`. */
function invalid(source: string, problem: string, cause?: unknown): never {
  throw new ErrInvalid({ source, problem }, cause === undefined ? undefined : { cause });
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One PEM certificate; `source` (a file or argument name) is what errors name. */
export function parseCertificate(pem: unknown, source: string): ParsedCertificate {
  if (typeof pem !== 'string') return invalid(source, 'is not a PEM string');
  const blocks = pem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) return invalid(source, pem.trim() === '' ? 'is empty' : 'is not a PEM certificate (no BEGIN CERTIFICATE block)');
  if (blocks.length > 1) return invalid(source, `holds ${blocks.length} certificates; exactly one is expected`);
  const block = blocks[0] ?? '';
  try {
    return { pem, source, node: new NodeX509Certificate(block), cert: new x509.X509Certificate(block) };
  } catch (err) {
    return invalid(source, `is not a valid certificate: ${reason(err)}`, err);
  }
}

/** One unencrypted PEM private key (PKCS#8, SEC1 or PKCS#1). */
export function parsePrivateKey(pem: unknown, source: string): ParsedKey {
  if (typeof pem !== 'string') return invalid(source, 'is not a PEM string');
  if (pem.trim() === '') return invalid(source, 'is empty');
  if (pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type:\s*4,ENCRYPTED/.test(pem)) {
    return invalid(source, 'is an encrypted private key; an unencrypted PKCS#8 key is expected');
  }
  if (!/-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/.test(pem)) return invalid(source, 'is not a PEM private key (no BEGIN PRIVATE KEY block)');
  try {
    return { pem, source, key: createPrivateKey({ key: pem, format: 'pem' }) };
  } catch (err) {
    return invalid(source, `is not a valid private key: ${reason(err)}`, err);
  }
}

interface KeyAlgorithms {
  importAlg: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  signAlg: webcrypto.EcdsaParams | webcrypto.Algorithm;
  keyUsages: x509.KeyUsageFlags;
}

const CURVES: Record<string, { namedCurve: string; hash: string }> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
  secp521r1: { namedCurve: 'P-521', hash: 'SHA-512' },
};

function keyAlgorithms(key: ParsedKey): KeyAlgorithms {
  const type = key.key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = CURVES[key.key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (curve === undefined) {
      return invalid(key.source, `is an EC key on curve '${key.key.asymmetricKeyDetails?.namedCurve}'; P-256, P-384 or P-521 is expected`);
    }
    return {
      importAlg: { name: 'ECDSA', namedCurve: curve.namedCurve },
      signAlg: { name: 'ECDSA', hash: curve.hash },
      keyUsages: x509.KeyUsageFlags.digitalSignature,
    };
  }
  if (type === 'rsa') {
    return {
      importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      signAlg: { name: 'RSASSA-PKCS1-v1_5' },
      keyUsages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    };
  }
  return invalid(key.source, `is a ${type ?? 'unknown'} key; ECDSA (P-256, P-384, P-521) or RSA is expected`);
}

async function signingKey(key: ParsedKey): Promise<{ key: webcrypto.CryptoKey; alg: KeyAlgorithms }> {
  const alg = keyAlgorithms(key);
  try {
    const der = key.key.export({ type: 'pkcs8', format: 'der' });
    return { key: await webcrypto.subtle.importKey('pkcs8', der, alg.importAlg, false, ['sign']), alg };
  } catch (err) {
    return invalid(key.source, `cannot be used for signing: ${reason(err)}`, err);
  }
}

function publicKeyOf(key: ParsedKey): x509.PublicKey {
  return new x509.PublicKey(createPublicKey(key.key).export({ type: 'spki', format: 'der' }));
}

/** A new ECDSA P-256 private key as PKCS#8 PEM. */
export async function generateKey(source: string): Promise<ParsedKey> {
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  return { pem: typeof pem === 'string' ? pem : pem.toString('utf8'), source, key: privateKey };
}

/** 16 random bytes, first one in 0x40-0x7f: a positive INTEGER of exactly 16 octets. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function checkDays(days: unknown, fallback: number, option: string): number {
  if (days === undefined) return fallback;
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new ErrOption({ option, problem: `must be a whole number of days from 1 to ${MAX_DAYS} (got ${typeof days === 'number' ? days : typeof days})` });
  }
  return days;
}

function subject(commonName: string, organization: string | undefined): x509.JsonName {
  return organization === undefined ? [{ CN: [commonName] }] : [{ O: [organization] }, { CN: [commonName] }];
}

// ---------------------------------------------------------------------------
// CA

export interface LoadedCa {
  cert: ParsedCertificate;
  key: ParsedKey;
  signing: { key: webcrypto.CryptoKey; alg: KeyAlgorithms };
}

/**
 * Checks a CA pair before use: both parse, the certificate is a CA allowed to
 * sign certificates, the key is the certificate's, and it has not expired.
 */
export async function loadCa(ca: unknown, sources: { cert: string; key: string }): Promise<LoadedCa> {
  if (typeof ca !== 'object' || ca === null) return invalid(sources.cert, 'is missing: a { certPem, keyPem } pair is expected');
  const pair = ca as Partial<KeyPairPem>;
  const cert = parseCertificate(pair.certPem, sources.cert);
  const key = parsePrivateKey(pair.keyPem, sources.key);
  if (cert.cert.getExtension(x509.BasicConstraintsExtension)?.ca !== true) {
    invalid(sources.cert, 'is not a CA certificate (basicConstraints CA:TRUE is missing)');
  }
  const usage = cert.cert.getExtension(x509.KeyUsagesExtension);
  if (usage !== null && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    invalid(sources.cert, 'is a CA certificate without keyCertSign in its keyUsage');
  }
  if (!cert.node.checkPrivateKey(key.key)) invalid(sources.key, `is not the private key of '${sources.cert}'`);
  if (cert.cert.notAfter.getTime() <= Date.now()) {
    throw new ErrExpired({ source: sources.cert, notAfter: cert.cert.notAfter.toISOString() });
  }
  return { cert, key, signing: await signingKey(key) };
}

/** A new self-signed CA (ECDSA P-256): CA:TRUE, pathlen 0, keyCertSign + cRLSign, subjectKeyIdentifier. */
export async function createCertificateAuthority(o: { commonName: string; days?: number }): Promise<KeyPairPem> {
  const commonName = checkSubjectAttribute(o?.commonName, 'commonName');
  const days = checkDays(o.days, 3650, 'days');
  const key = await generateKey('ca.keyPem');
  const { key: signKey, alg } = await signingKey(key);
  const publicKey = publicKeyOf(key);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: subject(commonName, undefined),
    issuer: subject(commonName, undefined),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * DAY_MS),
    publicKey,
    signingKey: signKey,
    signingAlgorithm: alg.signAlg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: key.pem };
}

// ---------------------------------------------------------------------------
// Leaf certificates

export interface LeafOptions {
  commonName: string;
  organization?: string;
  hosts: HostName[];
  usage: CertUsage;
  days: number;
}

/** Checks issueCertificate's options and turns them into LeafOptions (coded errors name the field). */
export function leafOptions(o: unknown): LeafOptions {
  if (typeof o !== 'object' || o === null) throw new ErrOption({ option: 'options', problem: 'must be an object' });
  const opts = o as Partial<IssueOptions>;
  const commonName = checkSubjectAttribute(opts.commonName, 'commonName');
  const organization = opts.organization === undefined ? undefined : checkSubjectAttribute(opts.organization, 'organization');
  if (!USAGES.includes(opts.usage as CertUsage)) {
    throw new ErrOption({ option: 'usage', problem: `must be one of ${USAGES.join(', ')} (got ${String(opts.usage)})` });
  }
  for (const field of ['dnsNames', 'ipAddresses'] as const) {
    if (opts[field] !== undefined && !Array.isArray(opts[field])) throw new ErrOption({ option: field, problem: 'must be an array of strings' });
  }
  const hosts: HostName[] = [];
  (opts.dnsNames ?? []).forEach((v, i) => {
    const h = parseHost(v, `dnsNames[${i}]`);
    if (h.kind !== 'dns') throw new ErrInvalidName({ field: `dnsNames[${i}]`, value: v, problem: 'is an IP address; put it in ipAddresses' });
    hosts.push(h);
  });
  (opts.ipAddresses ?? []).forEach((v, i) => {
    const h = parseHost(v, `ipAddresses[${i}]`);
    if (h.kind !== 'ip') throw new ErrInvalidName({ field: `ipAddresses[${i}]`, value: v, problem: 'is not an IP address' });
    hosts.push(h);
  });
  return { commonName, organization, hosts: uniqueHosts(hosts), usage: opts.usage as CertUsage, days: checkDays(opts.days, 365, 'days') };
}

/** Signs a certificate for `leafKey` with the CA. Returns the certificate PEM. */
export async function signLeaf(ca: LoadedCa, leafKey: ParsedKey, o: LeafOptions): Promise<string> {
  const publicKey = publicKeyOf(leafKey);
  const leafAlg = keyAlgorithms(leafKey);
  const caCert = ca.cert.cert;
  const now = Date.now();
  const notAfter = Math.min(now + o.days * DAY_MS, caCert.notAfter.getTime());
  const caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const eku: string[] = [];
  if (o.usage !== 'client') eku.push(x509.ExtendedKeyUsage.serverAuth);
  if (o.usage !== 'server') eku.push(x509.ExtendedKeyUsage.clientAuth);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(leafAlg.keyUsages, true),
    new x509.ExtendedKeyUsageExtension(eku, false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    caKeyId === undefined
      ? await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey)
      : new x509.AuthorityKeyIdentifierExtension(caKeyId),
  ];
  if (o.hosts.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        // IPv6 goes in as eight full groups: the library's own parser does not read embedded IPv4.
        o.hosts.map((h): x509.JsonGeneralName => (h.kind === 'dns' ? { type: 'dns', value: h.value } : { type: 'ip', value: ipForLibrary(h.bytes) })),
        false,
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: subject(o.commonName, o.organization),
    issuer: caCert.subjectName,
    notBefore: new Date(Math.max(now - BACKDATE_MS, caCert.notBefore.getTime())),
    notAfter: new Date(notAfter),
    publicKey,
    signingKey: ca.signing.key,
    signingAlgorithm: ca.signing.alg.signAlg,
    extensions,
  });
  return cert.toString('pem') + '\n';
}

function ipForLibrary(bytes: Buffer): string {
  if (bytes.length === 4) return formatIp(bytes);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/**
 * Issues a leaf certificate with a new ECDSA P-256 key: serverAuth and/or
 * clientAuth, CA:FALSE, SANs from dnsNames and ipAddresses, signed by `ca`.
 * Its notAfter never passes the CA's.
 */
export async function issueCertificate(ca: KeyPairPem, o: IssueOptions): Promise<KeyPairPem> {
  const opts = leafOptions(o);
  const loaded = await loadCa(ca, { cert: 'ca.certPem', key: 'ca.keyPem' });
  const key = await generateKey('keyPem');
  return { certPem: await signLeaf(loaded, key, opts), keyPem: key.pem };
}

// ---------------------------------------------------------------------------
// Reading certificates

/** Subject alternative names of a certificate: DNS names as written, IP addresses in canonical text. */
export function subjectAltNames(cert: x509.X509Certificate): { dnsNames: string[]; ipAddresses: string[] } {
  const san = cert.getExtension<x509.SubjectAlternativeNameExtension>(SAN_OID);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of san?.names.items ?? []) {
    if (name.type === 'dns') dnsNames.push(name.value);
    if (name.type === 'ip') {
      const bytes = ipToBytes(name.value);
      ipAddresses.push(bytes === undefined ? name.value : formatIp(bytes));
    }
  }
  return { dnsNames, ipAddresses };
}

/** True when the certificate may authenticate a TLS server (no extendedKeyUsage at all, or one with serverAuth). */
export function allowsServerAuth(cert: ParsedCertificate): boolean {
  const eku = cert.cert.getExtension(x509.ExtendedKeyUsageExtension);
  return eku === null || eku.usages.includes(x509.ExtendedKeyUsage.serverAuth);
}

/** What a PEM certificate says about itself. Throws EDGE_ERR_PKI_INVALID when it is not one certificate. */
export function certificateInfo(certPem: string): CertificateInfo {
  const { cert, node } = parseCertificate(certPem, 'certPem');
  const organization = cert.subjectName.getField('O')[0];
  return {
    commonName: cert.subjectName.getField('CN')[0] ?? '',
    ...(organization === undefined ? {} : { organization }),
    ...subjectAltNames(cert),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprintSha256: node.fingerprint256,
    isCA: cert.getExtension(x509.BasicConstraintsExtension)?.ca === true,
    issuer: cert.issuer,
  };
}
