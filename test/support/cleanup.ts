/** Teardown registered where a test creates something, run after each test in reverse order. */
import { afterEach } from 'vitest';

export function deferCleanup(): (fn: () => unknown) => void {
  const pending: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of pending.splice(0).reverse()) await fn();
  });
  return (fn) => void pending.push(fn);
}
