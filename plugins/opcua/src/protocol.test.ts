import { describe, expect, it } from 'vitest';
import { endpointProblem, parseDuration, readProtocol } from './protocol.ts';

const at = (p: { issues: { path: string; code: string }[] }): string[][] => p.issues.map((i) => [i.path, i.code]);

describe('opcua protocol block', () => {
  it('applies the defaults: security None, publishing 1000 ms, sampling = publishing, queue 10, no deadband', () => {
    const r = readProtocol({ protocol: { Endpoint: 'opc.tcp://plc-1:4840/UA/Server' } });
    expect(r.issues).toEqual([]);
    expect(r.target).toEqual({
      endpoint: 'opc.tcp://plc-1:4840/UA/Server',
      security: { mode: 'None', policy: 'None' },
      publishingInterval: 1000,
      monitoring: { samplingInterval: 1000, queueSize: 10, deadbandType: 'None', deadbandValue: 0 },
    });
  });

  it('reads every field, keys case-insensitively, EdgeX-style strings and durations', () => {
    const r = readProtocol({
      protocolName: 'opcua',
      protocol: {
        endpoint: 'opc.tcp://[::1]:4840',
        SecurityMode: 'SignAndEncrypt',
        securitypolicy: 'Basic256Sha256',
        username: 'op',
        passwordFile: '/etc/edgeadm/opcua-op.pass',
        publishingInterval: '2s',
        samplingInterval: '250ms',
        queueSize: '5',
        deadbandType: 'percent',
        deadbandValue: '2.5',
        requestTimeout: 5000,
        sessionTimeout: '1m',
      },
    });
    expect(r.issues).toEqual([]);
    expect(r.target).toEqual({
      endpoint: 'opc.tcp://[::1]:4840',
      security: { mode: 'SignAndEncrypt', policy: 'Basic256Sha256' },
      user: { username: 'op', passwordFile: '/etc/edgeadm/opcua-op.pass' },
      publishingInterval: 2000,
      monitoring: { samplingInterval: 250, queueSize: 5, deadbandType: 'Percent', deadbandValue: 2.5 },
      requestTimeoutMs: 5000,
      sessionTimeoutMs: 60_000,
    });
  });

  it('names every bad field at once, and gives no target', () => {
    const r = readProtocol({
      protocol: {
        endpoint: 'tcp://plc:4840',
        securityMode: 'Sign',
        password: 'secret',
        publishingInterval: 0,
        samplingInterval: 'fast',
        queueSize: 1.5,
        deadbandType: 'Percent',
        deadbandValue: 150,
        requestTimeout: '1h',
      },
    });
    expect(r.target).toBeUndefined();
    expect(at(r)).toEqual(
      expect.arrayContaining([
        ['protocols.opcua.endpoint', 'EDGE_ERR_OPCUA_PROTOCOL_INVALID'],
        ['protocols.opcua.securityPolicy', 'EDGE_ERR_OPCUA_PROTOCOL_SECURITY'],
        ['protocols.opcua.password', 'EDGE_ERR_OPCUA_PROTOCOL_USER'],
        ['protocols.opcua.publishingInterval', 'EDGE_ERR_OPCUA_PROTOCOL_INVALID'],
        ['protocols.opcua.samplingInterval', 'EDGE_ERR_OPCUA_PROTOCOL_INVALID'],
        ['protocols.opcua.queueSize', 'EDGE_ERR_OPCUA_PROTOCOL_INVALID'],
        ['protocols.opcua.deadbandValue', 'EDGE_ERR_OPCUA_PROTOCOL_INVALID'],
        ['protocols.opcua.requestTimeout', 'EDGE_ERR_OPCUA_PROTOCOL_INVALID'],
      ]),
    );
    expect(r.issues).toHaveLength(8);
    // The password's value is never echoed.
    expect(JSON.stringify(r.issues)).not.toContain('secret');
  });

  it('requires the endpoint', () => {
    expect(at(readProtocol({ protocolName: 'opcua', protocol: {} }))).toEqual([['protocols.opcua.endpoint', 'EDGE_ERR_OPCUA_PROTOCOL_INVALID']]);
  });

  it('checks endpoint URLs and durations', () => {
    expect(endpointProblem('opc.tcp://10.0.0.5:4840/path/x')).toBeUndefined();
    expect(endpointProblem('opc.tcp://host')).toBeUndefined();
    expect(endpointProblem('opc.tcp://host:70000')).toMatch(/port 70000/);
    expect(endpointProblem('opc.tcp://')).toMatch(/not an opc.tcp/);
    expect(endpointProblem('http://host:4840')).toMatch(/not an opc.tcp/);
    expect([parseDuration(500), parseDuration('500'), parseDuration(' 250.4 '), parseDuration('1.5s'), parseDuration('2m'), parseDuration('1m30s'), parseDuration('-1'), parseDuration('-1s'), parseDuration('soon'), parseDuration('5 s')]).toEqual([
      500, 500, 250, 1500, 120_000, 90_000, undefined, undefined, undefined, undefined,
    ]);
  });
});
