/**
 * What the test kit's parts share: typed service bindings for a test
 * kernel, and a logger whose lines are captured (parsed) for assertions.
 */
import { Writable } from 'node:stream';
import { createLogger, type Logger, type LogLevel, type ServiceRef } from '../../kernel/index.ts';

export interface ServiceBinding {
  readonly ref: ServiceRef<unknown>;
  readonly value: unknown;
}

/** A typed service binding for `startTestKernel({ services })`. */
export function bindService<T>(ref: ServiceRef<T>, value: T): ServiceBinding {
  return { ref, value };
}

export type LogLine = Record<string, unknown> & { level: number; msg?: string };

/** A logger at `level` whose lines land, parsed, in `logs`. */
export function captureLogs(level: LogLevel): { logger: Logger; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  return { logger: createLogger({ level, destination: sink }), logs };
}
