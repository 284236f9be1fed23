/**
 * The checks a node runs against a peer: a TCP connect, an HTTP(S) GET with
 * the statuses that pass (a kubelet's `/healthz`), and ICMP echo through the
 * system's `ping` where the node permits it. Each try has its own timeout;
 * a failed try is tried again up to `retries` times within the period.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { ResolvedCheck } from './config.ts';

/** A peer as the checks and the gossip reach it. */
export interface Member {
  name: string;
  /** An IP address or DNS name. */
  address: string;
}

/** Runs one check against one peer: true when the peer passes it. */
export type Probe = (target: Member, check: ResolvedCheck, signal: AbortSignal) => Promise<boolean>;

const hostOf = (address: string): string => (address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address);

function tcpOnce(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(ok);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function httpOnce(host: string, check: ResolvedCheck, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const mod = check.type === 'https' ? https : http;
    const req = mod.request(
      {
        host,
        port: check.port,
        path: check.path,
        method: 'GET',
        agent: false,
        timeout: check.timeoutMs,
        signal,
        headers: { 'user-agent': 'edgeadm-health' },
        ...(check.type === 'https' ? { rejectUnauthorized: !check.insecureSkipVerify, servername: net.isIP(host) ? undefined : host } : {}),
      },
      (res) => {
        res.resume();
        resolve(check.expectStatus.includes(res.statusCode ?? 0));
        req.destroy();
      },
    );
    const timer = setTimeout(() => req.destroy(new Error('timeout')), check.timeoutMs);
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(false));
    req.once('close', () => clearTimeout(timer));
    req.end();
  });
}

/** What `ping` says when it cannot run here: undefined when it can. */
export function pingProblem(): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('ping', ['-c', '1', '-W', '1', '-n', '127.0.0.1'], { timeout: 3000 }, (err, _stdout, stderr) => {
      if (!err) return resolve(undefined);
      const e = err as NodeJS.ErrnoException;
      resolve(e.code === 'ENOENT' ? 'no ping command on this node' : (stderr.trim().split('\n')[0] ?? e.message) || e.message);
    });
  });
}

function icmpOnce(host: string, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    execFile('ping', ['-c', '1', '-W', String(seconds), '-n', host], { timeout: timeoutMs + 500, signal }, (err) => resolve(!err));
  });
}

/** The real checks, over the network. */
export const networkProbe: Probe = async (target, check, signal) => {
  const host = hostOf(target.address);
  for (let attempt = 0; attempt <= check.retries && !signal.aborted; attempt++) {
    const ok =
      check.type === 'tcp'
        ? await tcpOnce(host, check.port!, check.timeoutMs, signal)
        : check.type === 'icmp'
          ? await icmpOnce(host, check.timeoutMs, signal)
          : await httpOnce(host, check, signal);
    if (ok) return true;
  }
  return false;
};
