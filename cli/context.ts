/** What every command shares: global options, the config, a logger, ports and exit codes (the errors themselves are in errors.ts). */
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { createLogger, type Logger, type LogLevel } from '../core/kernel/index.ts';
import { ErrPortInUse, ErrUsage } from './errors.ts';
import { readConfig, type EdgeadmConfig } from './config.ts';
import type { OutputFormat } from './output.ts';

export interface GlobalOptions {
  output: OutputFormat;
  config?: string;
  logLevel?: LogLevel;
}

export interface CommandContext {
  options: GlobalOptions;
  config: Readonly<EdgeadmConfig>;
  logger: Logger;
  out: NodeJS.WritableStream;
}

export function contextOf(cmd: Command): CommandContext {
  const options = cmd.optsWithGlobals<GlobalOptions>();
  const config = readConfig(options.config, options.logLevel ? { 'log.level': options.logLevel } : {});
  const logger = createLogger({ level: config.log.level });
  return { options, config, logger, out: process.stdout };
}

/** Rethrows EADDRINUSE from a listen (also as the cause of a component that failed to start) as ErrPortInUse naming the flag. */
export async function listening<T>(port: number, flag: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new ErrPortInUse({ port, flag }, { cause: err });
    }
    throw err;
  }
}

export function parsePort(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ErrUsage({ argument: flag, reason: `'${value}' is not a port (0-65535)` });
  return n;
}

/** An address to listen on: an IPv4 or IPv6 address, or `localhost`. */
export function parseListenHost(value: string, flag: string): string {
  if (isIP(value) === 0 && value !== 'localhost') throw new ErrUsage({ argument: flag, reason: `'${value}' is not an IP address to listen on (e.g. 127.0.0.1, 0.0.0.0, ::)` });
  return value;
}

