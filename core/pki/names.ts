/**
 * Names that go into certificates: hosts (DNS names or IP addresses) for
 * subjectAltName, and subject attributes. IP vs DNS is decided by node:net
 * `isIP`; IP addresses are handled as bytes so that every spelling of one
 * address (`::1`, `0:0:0:0:0:0:0:1`, `::ffff:10.0.0.1`) is the same SAN.
 */
import { isIP, SocketAddress } from 'node:net';
import { dns1123LabelProblem } from '../kernel/index.ts';
import { ErrInvalidName } from './errors.ts';

export type HostName = { kind: 'dns'; value: string } | { kind: 'ip'; value: string; bytes: Buffer };

const MAX_SUBJECT_ATTRIBUTE = 64; // ub-common-name / ub-organization-name (RFC 5280)

/** The 4 or 16 bytes of an IP address, or undefined when `text` is not one (zone ids are not addresses). */
export function ipToBytes(text: string): Buffer | undefined {
  const family = isIP(text);
  if (family === 4) return Buffer.from(text.split('.').map(Number));
  if (family !== 6 || text.includes('%')) return undefined;
  let s = text.toLowerCase();
  const tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tail.push(...s.slice(lastColon + 1).split('.').map(Number));
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const [head = '', rest] = s.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  if (groups.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(out, 12);
  return out;
}

/** The canonical text of an IP address, as node itself prints it (dotted quad; RFC 5952 for IPv6, `::ffff:a.b.c.d` for mapped IPv4). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) return Buffer.from(bytes).toString('hex');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

function bad(field: string, value: string, problem: string): never {
  throw new ErrInvalidName({ field, value, problem });
}

/** A host for subjectAltName: an IP address (node:net isIP) or a DNS name (letters, digits, hyphens; `*.` only as the whole first label). */
export function parseHost(value: unknown, field: string): HostName {
  if (typeof value !== 'string') return bad(field, String(value), 'is not a string');
  if (value === '') return bad(field, value, 'is empty');
  const bytes = ipToBytes(value);
  if (bytes !== undefined) return { kind: 'ip', value: formatIp(bytes), bytes };
  if (/\s/.test(value)) return bad(field, value, 'contains whitespace');
  if (value.includes('://')) return bad(field, value, 'is a URL; give the host name or IP address alone');
  if (value.startsWith('[') && value.endsWith(']')) return bad(field, value, 'is a bracketed address; give the IPv6 address without brackets');
  if (value.includes('%') && isIP(value.slice(0, value.indexOf('%'))) === 6) {
    return bad(field, value, 'has an IPv6 zone id, which cannot go into a certificate');
  }
  if (/:\d+$/.test(value)) return bad(field, value, 'has a port; give the host name or IP address alone');
  const name = value.toLowerCase();
  if (name.endsWith('.')) return bad(field, value, 'ends with a dot; give the name without it');
  if (name.length > 253) return bad(field, value, 'is longer than 253 characters');
  const labels = name.split('.');
  const first = labels[0] === '*' ? 1 : 0;
  if (first === 1 && labels.length < 3) return bad(field, value, 'is a wildcard that covers a top-level name; use at least *.<name>.<name>');
  for (const label of labels.slice(first)) {
    if (label.includes('*')) return bad(field, value, "has a '*' that is not the whole first label");
    if (dns1123LabelProblem(label) !== undefined) {
      return bad(field, value, `is neither an IP address nor a DNS name (label '${label}': 1-63 letters, digits or inner hyphens)`);
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) {
    return bad(field, value, 'is neither an IP address nor a DNS name (its last label is numeric)');
  }
  return { kind: 'dns', value: name };
}

/** Parses a list of hosts, dropping duplicates (same DNS name in any case, same IP in any spelling). */
export function parseHosts(values: readonly unknown[], field: string): HostName[] {
  return uniqueHosts(values.map((v, i) => parseHost(v, `${field}[${i}]`)));
}

export function uniqueHosts(hosts: readonly HostName[]): HostName[] {
  const seen = new Set<string>();
  return hosts.filter((h) => {
    const key = hostKey(h);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function hostKey(h: HostName): string {
  return h.kind === 'ip' ? `ip:${h.bytes.toString('hex')}` : `dns:${h.value}`;
}

/** A subject attribute (common name, organization): 1-64 characters, no control characters. */
export function checkSubjectAttribute(value: unknown, field: string): string {
  if (typeof value !== 'string') return bad(field, String(value), 'is not a string');
  if (value.trim() === '') return bad(field, value, 'is empty');
  if (value.length > MAX_SUBJECT_ATTRIBUTE) return bad(field, value, `is longer than ${MAX_SUBJECT_ATTRIBUTE} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return bad(field, value, 'contains control characters');
  return value;
}
