/**
 * Keys and signatures of distributed health. The cluster has one key (made
 * by an admin, kept by the hub; no key is built in). Each site signs with a
 * key derived from it for that site alone, so a site's credential cannot
 * sign another site's results: the hub hands a site's agents only their
 * site's key. Signatures are HMAC-SHA256; a key id says which key made one,
 * so a rotated key and its predecessor both verify for a while.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface HealthKey {
  /** 16 hex digits of the key's SHA-256: names the key in signatures without saying anything of it. */
  kid: string;
  key: Buffer;
}

/** The keys a site verifies with: the current one signs; the previous one (after a rotation) still verifies. */
export interface HealthKeyring {
  current: HealthKey;
  previous?: HealthKey;
}

/** Bytes of a new cluster key. */
export const CLUSTER_KEY_BYTES = 32;

export const keyId = (key: Buffer): string => createHash('sha256').update(key).digest('hex').slice(0, 16);

/** A new random cluster key. */
export function newClusterKey(): Buffer {
  return randomBytes(CLUSTER_KEY_BYTES);
}

/** The key a site signs with, derived from the cluster key and the site's name. */
export function deriveSiteKey(clusterKey: Buffer, site: string): HealthKey {
  const key = createHmac('sha256', clusterKey).update(`edgeadm-health/v1/site/${site}`).digest();
  return { kid: keyId(key), key };
}

const mac = (key: Buffer, bytes: Buffer | string): Buffer => createHmac('sha256', key).update(bytes).digest();

/** `<kid>.<base64url mac>` of the bytes with the ring's current key. */
export function sign(ring: HealthKeyring, bytes: Buffer | string): string {
  return `${ring.current.kid}.${mac(ring.current.key, bytes).toString('base64url')}`;
}

/** Whether `signature` is one of the ring's keys over the bytes (constant time in the mac). */
export function verify(ring: HealthKeyring, bytes: Buffer | string, signature: unknown): boolean {
  if (typeof signature !== 'string' || signature.length > 128) return false;
  const dot = signature.indexOf('.');
  if (dot < 0) return false;
  const kid = signature.slice(0, dot);
  const key = ring.current.kid === kid ? ring.current.key : ring.previous?.kid === kid ? ring.previous.key : undefined;
  if (!key) return false;
  const given = Buffer.from(signature.slice(dot + 1), 'base64url');
  const want = mac(key, bytes);
  return given.length === want.length && timingSafeEqual(given, want);
}
