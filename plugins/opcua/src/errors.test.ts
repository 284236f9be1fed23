import { describe, expect, it } from 'vitest';
import { ErrOpcuaConnect, failureCause } from './errors.ts';
import { connectCause } from './session.ts';

describe('opcua failure causes', () => {
  it('take the socket error out of a node-opcua connect failure, without the endpoint again', () => {
    const ep = 'opc.tcp://127.0.0.1:4841';
    const raw = `The connection cannot be established with server ${ep} .\nPlease check that the server is up and running or your network configuration.\nErr = (connect ECONNREFUSED 127.0.0.1:4841)`;
    expect(connectCause(raw, ep)).toBe('connect ECONNREFUSED 127.0.0.1:4841');
    expect(connectCause(`The connection cannot be established with server ${ep} .`, ep)).toBe('The connection cannot be established');
  });

  it('wrap a coded cause once: its reason, not its message', () => {
    const inner = new ErrOpcuaConnect({ endpoint: 'opc.tcp://h:4840', reason: 'connect ECONNREFUSED 10.0.0.1:4840' });
    expect(failureCause(inner)).toBe('connect ECONNREFUSED 10.0.0.1:4840');
    expect(failureCause({ code: 'EDGE_ERR_OPCUA_CONNECT', message: 'cannot connect to ...: x', params: { reason: 'x' } })).toBe('x');
    expect(failureCause(new Error('BadTimeout'))).toBe('BadTimeout');
  });
});
