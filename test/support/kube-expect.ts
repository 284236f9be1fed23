/**
 * Assertions on the Kubernetes API test server's answers, for tests (not
 * benches: it needs vitest): a call that must succeed, and a check that
 * must come true.
 */
import { expect, vi } from 'vitest';
import type { RawResponse } from './kube-apiserver/client.ts';

/** The body of an answer that must be a success (below 300); the failure shows the body. */
export async function okBody(p: Promise<RawResponse>): Promise<RawResponse['body']> {
  const r = await p;
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
  return r.body;
}

/** Waits for `check` to pass, polling every 50 ms up to `timeoutMs`. */
export function eventually(check: () => Promise<void>, timeoutMs = 8000): Promise<void> {
  return vi.waitFor(check, { timeout: timeoutMs, interval: 50 });
}
