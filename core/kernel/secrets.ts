/**
 * Password hashes for credentials that are verified away from the hub (a
 * site broker checking a device's password while offline): scrypt, with the
 * parameters and salt in the encoded string so they can be raised later.
 *
 *   scrypt$<log2 N>$<r>$<p>$<salt, base64url>$<hash, base64url>
 *
 * Generated secrets are 24 random bytes (base64url, 32 characters).
 */
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** kubeadm's bootstrap token format, `<id>.<secret>`: the hub issues them, `edgeadm join` takes them. */
export const BOOTSTRAP_TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
/** A bootstrap token's id alone (the part before the dot). */
export const BOOTSTRAP_TOKEN_ID_RE = /^[a-z0-9]{6}$/;

const PREFIX = 'scrypt';
const KEY_BYTES = 32;
/** N = 2^14, r = 8, p = 1: about 16 MiB and tens of milliseconds per check. */
const DEFAULT = { logN: 14, r: 8, p: 1 } as const;
const SECRET_HASH_RE = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{43})$/;

function derive(secret: string, salt: Buffer, logN: number, r: number, p: number): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** logN, r, p, maxmem: 256 * 2 ** logN * r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(secret, salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A fresh random secret: 32 base64url characters (192 bits). */
export function generateSecret(): string {
  return randomBytes(24).toString('base64url');
}

/** True when `encoded` has the shape `hashSecret` writes (it says nothing of the secret). */
export function isSecretHash(encoded: string): boolean {
  const m = SECRET_HASH_RE.exec(encoded);
  if (!m) return false;
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return logN >= 10 && logN <= 20 && r >= 1 && r <= 32 && p >= 1 && p <= 16;
}

export async function hashSecret(secret: string, params: { logN: number; r: number; p: number } = DEFAULT): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(secret, salt, params.logN, params.r, params.p);
  return [PREFIX, params.logN, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether `secret` matches `encoded`; false (never a throw) for a malformed hash. */
export async function verifySecret(secret: string, encoded: string): Promise<boolean> {
  if (!isSecretHash(encoded)) return false;
  const m = SECRET_HASH_RE.exec(encoded)!;
  const expected = Buffer.from(m[5]!, 'base64url');
  const key = await derive(secret, Buffer.from(m[4]!, 'base64url'), Number(m[1]), Number(m[2]), Number(m[3]));
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/**
 * `verifySecret` that remembers the checks that passed, keyed by the stored
 * hash and a SHA-256 of the secret (never the secret itself), so a client
 * that logs in again and again costs one scrypt, and a changed or removed
 * hash is judged afresh. At most `max` are kept (then it starts over).
 */
export function rememberingVerifier(max: number): (secret: string, encoded: string) => Promise<boolean> {
  const passed = new Set<string>();
  return async (secret, encoded) => {
    const key = `${encoded}\u0000${createHash('sha256').update(secret).digest('hex')}`;
    if (passed.has(key)) return true;
    const ok = await verifySecret(secret, encoded);
    if (ok) {
      if (passed.size >= max) passed.clear();
      passed.add(key);
    }
    return ok;
  };
}
