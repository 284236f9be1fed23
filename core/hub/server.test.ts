/**
 * The embedded hub's lifecycle through the kernel: parts start in phases and
 * stop in reverse; close is safe to call twice (and at once); a start that
 * fails half-way releases what it opened and says which part failed.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { quiet, tempDir } from '../../test/support/hub-fixture.ts';
import { startHub } from './server.ts';

describe('startHub', () => {
  it('closes once however often close is called, and frees its port and files', async () => {
    const dataDir = tempDir('hub-close');
    const hub = await startHub({ dataDir, port: 0, logger: quiet });
    const port = Number(new URL(hub.url).port);
    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);
    await Promise.all([hub.close(), hub.close()]);
    await hub.close();
    await expect(fetch(`${hub.url}/healthz`)).rejects.toThrow();
    // The same data directory and port open again: the stores were closed and the port released.
    const again = await startHub({ dataDir, port, logger: quiet });
    expect((await fetch(`${again.url}/healthz`)).status).toBe(200);
    await again.close();
  });

  it('names the part that failed to start and releases what had started', async () => {
    const dataDir = tempDir('hub-fail');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const err = await startHub({ dataDir, port: taken, logger: quiet }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'EDGE_ERR_KERNEL_COMPONENT_START', message: expect.stringMatching(/hub-api.*EADDRINUSE/) });
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
    // The stores it had opened were closed: the directory serves a new hub.
    const hub = await startHub({ dataDir, port: taken, logger: quiet });
    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);
    await hub.close();
  });
});
