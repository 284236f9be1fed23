import { describe, expect, it } from 'vitest';
import { generateSecret, hashSecret, isSecretHash, rememberingVerifier, verifySecret } from './secrets.ts';

describe('secret hashes', () => {
  it('verifies the secret it was made from and nothing else', async () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const encoded = await hashSecret(secret, { logN: 10, r: 8, p: 1 });
    expect(isSecretHash(encoded)).toBe(true);
    expect(encoded).not.toContain(secret);
    expect(await verifySecret(secret, encoded)).toBe(true);
    expect(await verifySecret(`${secret}x`, encoded)).toBe(false);
    expect(await verifySecret('', encoded)).toBe(false);
  });

  it('salts every hash', async () => {
    const a = await hashSecret('same', { logN: 10, r: 8, p: 1 });
    const b = await hashSecret('same', { logN: 10, r: 8, p: 1 });
    expect(a).not.toBe(b);
    expect(await verifySecret('same', b)).toBe(true);
  });

  it('refuses malformed or out-of-range hashes without throwing', async () => {
    for (const bad of ['', 'scrypt$14$8$1$abc$def', 'bcrypt$2b$10$xxxxxxxxxxxxxxxxxxxxxx', `scrypt$30$8$1$${'a'.repeat(22)}$${'b'.repeat(43)}`]) {
      expect(isSecretHash(bad)).toBe(false);
      expect(await verifySecret('x', bad)).toBe(false);
    }
  });

  it('answers as verifySecret does when it remembers: never a failed check, and a new hash is judged afresh', async () => {
    const fast = { logN: 10, r: 8, p: 1 };
    const hash = await hashSecret('right', fast);
    const verify = rememberingVerifier(2);
    expect(await verify('right', hash)).toBe(true);
    expect(await verify('right', hash)).toBe(true);
    expect(await verify('wrong', hash)).toBe(false);
    expect(await verify('wrong', hash)).toBe(false);
    // The same secret under another hash (a rotated credential whose secret was reused) is checked again, and refused by a hash it does not match.
    const other = await hashSecret('other', fast);
    expect(await verify('right', other)).toBe(false);
    expect(await verify('right', 'not-a-hash')).toBe(false);
  });
});
