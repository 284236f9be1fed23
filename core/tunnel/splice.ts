/** Joining two byte streams both ways without losing what is in flight when one side ends. */
import type { Duplex } from 'node:stream';
import { toErrorInfo, type Logger } from '../kernel/index.ts';

/**
 * Joins a client connection and a tunnel stream both ways, half-close kept.
 * A side that ends cleanly lets the other finish what it is sending; a side
 * that fails or is destroyed takes the other down at once. `done` runs once,
 * when both are closed.
 */
export function spliceStreams(client: Duplex, stream: Duplex, done: () => void, log: Logger): void {
  stream.on('error', (err) => log.debug({ error: toErrorInfo(err) }, 'tunnel stream error'));
  client.on('error', (err) => log.debug({ error: toErrorInfo(err) }, 'client connection error'));
  let open = 2;
  const closed = (): void => {
    if (--open === 0) done();
  };
  const watch = (a: Duplex, b: Duplex): void => {
    const cleanly = (): boolean => !a.errored && a.readableEnded && a.writableFinished;
    if (a.closed) {
      if (!cleanly()) b.destroy();
      closed();
      return;
    }
    a.once('close', () => {
      if (!cleanly()) b.destroy();
      closed();
    });
  };
  client.pipe(stream);
  stream.pipe(client);
  watch(client, stream);
  watch(stream, client);
}
