/**
 * Headless Chromium for the console tests: Debian's `chromium` driven by
 * playwright-core (no downloaded browser). A missing browser fails loudly:
 * CI installs it, and these tests are never skipped. The hub's own TLS
 * certificate is accepted by its public-key pin (Chromium's
 * --ignore-certificate-errors-spki-list), not by ignoring every TLS error.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.EDGEADM_CHROMIUM ?? '/usr/bin/chromium';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Screenshots and traces of the browser tests: kept by CI as artifacts, ignored by git. */
export const ARTIFACTS_DIR = path.join(repo, 'test-artifacts');

export function artifactsDir(name: string): string {
  const dir = path.join(ARTIFACTS_DIR, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** base64 SHA-256 of the SubjectPublicKeyInfo of the certificate `url` presents (checked against `ca`). */
export async function spkiPin(url: string, ca: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port), ca, servername: u.hostname === '127.0.0.1' ? undefined : u.hostname }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (!cert) return reject(new Error(`${url} presented no certificate`));
      const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
      resolve(createHash('sha256').update(spki).digest('base64'));
    });
    socket.once('error', reject);
  });
}

export async function launchChromium(opts: { pins?: string[] } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or point EDGEADM_CHROMIUM at one`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-dev-shm-usage',
      ...(opts.pins && opts.pins.length > 0 ? [`--ignore-certificate-errors-spki-list=${opts.pins.join(',')}`] : []),
    ],
  });
}
