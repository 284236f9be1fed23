/**
 * What a process tree listens on, read from /proc (Linux): the TCP sockets
 * in LISTEN state whose inodes the processes hold open. Used to check that
 * nothing edgeadm starts listens beyond loopback unless a flag says so.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface Listening {
  address: string;
  port: number;
  pid: number;
}

/** `pid` and every process below it. */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let children = '';
    try {
      children = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    for (const c of children.trim().split(/\s+/)) if (c !== '') out.push(Number(c));
  }
  return out;
}

function hexToIp(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  // IPv6 in /proc is four little-endian 32-bit words.
  const words = [0, 1, 2, 3].map((w) => hex.slice(w * 8, w * 8 + 8).match(/../g)!.reverse().join(''));
  const groups = words.join('').match(/.{4}/g)!.map((g) => parseInt(g, 16).toString(16));
  const ip = groups.join(':');
  if (ip === '0:0:0:0:0:0:0:0') return '::';
  if (ip === '0:0:0:0:0:0:0:1') return '::1';
  if (ip.startsWith('0:0:0:0:0:ffff:')) return `::ffff:${hexToIp(hex.slice(24).match(/../g)!.join(''))}`;
  return ip;
}

/** The TCP sockets in LISTEN state held by `pid` or its descendants. */
export function listeningSockets(pid: number): Listening[] {
  const byInode = new Map<string, { address: string; port: number }>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      const [ip, port] = f[1]!.split(':') as [string, string];
      byInode.set(f[9]!, { address: hexToIp(ip), port: parseInt(port, 16) });
    }
  }
  const out: Listening[] = [];
  for (const p of tree(pid)) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      const s = m ? byInode.get(m[1]!) : undefined;
      if (s) out.push({ ...s, pid: p });
    }
  }
  return out;
}

export const isLoopback = (address: string): boolean => address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
