/**
 * node-opcua prints its warnings and errors to standard output with
 * console.log. In an agent that would mix free text into the JSON log
 * stream, and in a CLI command it would corrupt `-o json|yaml` output. This
 * routes them, once per process, into a pino logger: warnings and errors as
 * `warn`/`error`, debug output as `debug`, ANSI colours stripped.
 */
import { inspect } from 'node:util';
import type { Logger } from '../../../core/sdk/index.ts';

interface OpcuaLogSetters {
  setWarningLogger(fn: (...args: unknown[]) => void): void;
  setErrorLogger(fn: (...args: unknown[]) => void): void;
  setDebugLogger(fn: (...args: unknown[]) => void): void;
}

let routed = false;

// eslint-disable-next-line no-control-regex -- ANSI colour escapes are what is being removed.
const ANSI = /\u001b\[[0-9;]*m/g;

function text(args: readonly unknown[]): string {
  return args
    .map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 2, breakLength: Infinity })))
    .join(' ')
    .replace(ANSI, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 2000);
}

/** Routes node-opcua's own messages to `logger` (the first caller's; later calls change nothing). */
export function routeOpcuaLogs(opcua: OpcuaLogSetters, logger: Logger): void {
  if (routed) return;
  routed = true;
  const log = logger.child({ component: 'node-opcua' });
  opcua.setWarningLogger((...args) => log.warn({ detail: text(args) }, 'node-opcua warning'));
  opcua.setErrorLogger((...args) => log.error({ detail: text(args) }, 'node-opcua error'));
  opcua.setDebugLogger((...args) => log.debug({ detail: text(args) }, 'node-opcua debug'));
}
