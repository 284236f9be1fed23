/**
 * One reading of an OPC UA block: for every sample the schema the hub checks
 * Device writes with (protocol-schema.ts) and the driver's reader
 * (protocol.ts, security.ts) refuse the same fields, at the same paths, and
 * pass the same blocks; the rules between fields, which a field's schema
 * cannot say, are the driver's alone, and listed here.
 */
import { describe, expect, it } from 'vitest';
import { protocolBlockIssues } from '../../../core/sdk/index.ts';
import { endpointProblem, readProtocol } from './protocol.ts';
import { OPCUA_PROTOCOL_SCHEMA } from './protocol-schema.ts';

const E = 'opc.tcp://10.0.0.7:4840/UA/Server';

const SAMPLES: readonly Record<string, unknown>[] = [
  { endpoint: E },
  { Endpoint: ` ${E} `, SecurityMode: 'sign', securityPolicy: 'basic256sha256' },
  { endpoint: E, securityMode: 'SignAndEncrypt', securityPolicy: 'http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep' },
  { endpoint: 'OPC.TCP://[::1]:4840', publishingInterval: '2s', samplingInterval: '0', queueSize: '5', deadbandType: 'percent', deadbandValue: '2.5' },
  { endpoint: 'opc.tcp://host', publishingInterval: 250, requestTimeout: '1m', sessionTimeout: '1h' },
  { endpoint: E, username: 'op', passwordFile: '/etc/edgeadm/op.pass', securityMode: 'Sign', securityPolicy: 'Basic256Sha256' },
  { endpoint: E, username: 'op', passwordFile: '/etc/op', allowPasswordWithoutSecurity: 'true' },
  { endpoint: E, allowPasswordWithoutSecurity: false, deadbandType: '', queueSize: '' },
  {},
  { endpoint: 'http://host:4840' },
  { endpoint: 'opc.tcp://host:70000' },
  { endpoint: 'opc.tcp://host:0/x' },
  { endpoint: 'opc.tcp://host:00080/x' },
  { endpoint: 42 },
  { endpoint: E, securityMode: 'Encrypt', securityPolicy: 'Basic128' },
  { endpoint: E, securityMode: 7 },
  { endpoint: E, publishingInterval: '5', samplingInterval: '2h', requestTimeout: '50', sessionTimeout: 'soon' },
  { endpoint: E, publishingInterval: -1, queueSize: '0', deadbandType: 'Relative', deadbandValue: '-1' },
  { endpoint: E, queueSize: '1.5', deadbandValue: 'x' },
  { endpoint: E, username: 5, passwordFile: true },
  { endpoint: E, allowPasswordWithoutSecurity: 'yes' },
];

/** Blocks only the driver refuses: rules between fields. */
const BETWEEN_FIELDS: readonly [Record<string, unknown>, string][] = [
  [{ endpoint: E, securityPolicy: 'Basic256Sha256' }, 'protocols.opcua.securityPolicy'],
  [{ endpoint: E, securityMode: 'Sign' }, 'protocols.opcua.securityPolicy'],
  [{ endpoint: E, username: 'op' }, 'protocols.opcua.passwordFile'],
  [{ endpoint: E, passwordFile: '/etc/op' }, 'protocols.opcua.username'],
  [{ endpoint: E, username: 'op', passwordFile: 'op.pass', securityMode: 'Sign', securityPolicy: 'Basic256Sha256' }, 'protocols.opcua.passwordFile'],
  [{ endpoint: E, password: 'secret' }, 'protocols.opcua.password'],
  [{ endpoint: E, username: 'op', passwordFile: '/etc/op' }, 'protocols.opcua.securityMode'],
  [{ endpoint: E, deadbandType: 'Percent', deadbandValue: 101 }, 'protocols.opcua.deadbandValue'],
];

const schemaPaths = (block: Record<string, unknown>): string[] => [...new Set(protocolBlockIssues(OPCUA_PROTOCOL_SCHEMA, block, 'protocols.opcua').map((i) => i.path))].sort();
const driverPaths = (block: Record<string, unknown>): string[] => [...new Set(readProtocol({ protocol: block }).issues.map((i) => i.path))].sort();

describe('the OPC UA protocol schema', () => {
  it.each(SAMPLES)('%j: the schema refuses what the driver refuses, at the same paths', (block) => {
    expect(schemaPaths(block)).toEqual(driverPaths(block));
  });

  it('has samples the driver takes and samples it refuses, some for several fields', () => {
    const counts = SAMPLES.map((b) => driverPaths(b).length);
    expect(counts.filter((n) => n === 0).length).toBeGreaterThan(3);
    expect(counts.filter((n) => n >= 3).length).toBeGreaterThan(1);
  });

  it.each(BETWEEN_FIELDS)('%j: a rule between fields, the driver refuses it at %s', (block, path) => {
    expect(driverPaths(block)).toEqual([path]);
    expect(schemaPaths(block)).toEqual([]);
  });

  it('takes the endpoints the driver takes', () => {
    for (const text of ['opc.tcp://h', 'opc.tcp://h:1', 'opc.tcp://h:65535/', 'opc.tcp://h:65536', 'opc.tcp://h:99999', 'opc.tcp://h:123456', 'opc.tcp://a b', 'opc.tcp://h:4840/a b', 'Opc.Tcp://H-1.x:4840/p?q']) {
      expect(schemaPaths({ endpoint: text }).length === 0, text).toBe(endpointProblem(text) === undefined);
    }
  });
});
