import { describe, expect, it } from 'vitest';
import type { Sample } from '../core/sdk/index.ts';
import { LinkHealth, type LinkStatus } from './device-health.ts';

const bad = (detail: string, origin = 1): Sample => ({ resource: 'r', value: null, valueType: 'Float32', origin, quality: 'bad', qualityDetail: detail });
const good = (value: number): Sample => ({ resource: 'r', value, valueType: 'Float32', origin: 2, quality: 'good' });
const REFUSED = 'EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED 127.0.0.1:1502';

describe('a device link state', () => {
  it('turns down after the configured number of polls with every read bad, naming the cause once, and up at the first good read', () => {
    const status: LinkStatus = { state: 'connecting' };
    const h = new LinkHealth(status, { downAfterBadPolls: 3 });
    expect(h.connected(true)).toBe(false);
    expect(status.state).toBe('connecting');
    expect(h.polled([bad(REFUSED)])).toBe(false);
    expect(h.polled([bad(REFUSED)])).toBe(false);
    expect(status.state).toBe('connecting');
    expect(h.polled([bad(REFUSED)])).toBe(true);
    expect(status).toEqual({ state: 'down', message: `${REFUSED} (every read bad for 3 polls)` });
    // More bad polls of the same cause change nothing worth reporting.
    expect(h.polled([bad(REFUSED)])).toBe(false);
    expect(status.message).toBe(`${REFUSED} (every read bad for 3 polls)`);
    // Another cause is news.
    expect(h.polled([bad('EDGE_ERR_MODBUS_TIMEOUT no reply within 1000 ms')])).toBe(true);
    expect(status.message).toMatch(/^EDGE_ERR_MODBUS_TIMEOUT no reply within 1000 ms/);
    expect(h.polled([bad('x'), good(1)])).toBe(true);
    expect(status).toEqual({ state: 'up' });
  });

  it('counts a read that threw as a bad poll, and shows the newest bad sample of a poll', () => {
    const status: LinkStatus = { state: 'connecting' };
    const h = new LinkHealth(status, { downAfterBadPolls: 2 });
    h.polled({ error: new Error('socket hang up') });
    h.polled([bad('older', 1), bad('newer', 5)]);
    expect(status).toEqual({ state: 'down', message: 'newer (every read bad for 2 polls)' });
  });

  it('stays down through a reconnect until a read answers, and leaves messages it did not set', () => {
    const status: LinkStatus = { state: 'connecting' };
    const h = new LinkHealth(status);
    h.connectFailed(new Error('cannot connect to OPC UA server opc.tcp://127.0.0.1:4840: connect ECONNREFUSED 127.0.0.1:4840'));
    expect(status.state).toBe('down');
    expect(h.connecting()).toBe(false);
    expect(h.connected(true)).toBe(false);
    expect(status.state).toBe('down');
    expect(h.pushed([bad('EDGE_ERR_OPCUA_STATUS BadDeviceFailure')])).toBe(false);
    expect(h.pushed([good(3)])).toBe(true);
    expect(status).toEqual({ state: 'up' });
    status.message = "autoEvent 'x' skipped: unknown resource or command";
    h.polled([good(4)]);
    expect(status.message).toBe("autoEvent 'x' skipped: unknown resource or command");
  });

  it('clears the cause of an earlier run when a retried connect answers', () => {
    const status: LinkStatus = { state: 'down', message: 'cannot connect: connect ECONNREFUSED 127.0.0.1:4840' };
    const h = new LinkHealth(status);
    h.connected(true);
    expect(status.state).toBe('down');
    expect(h.polled([good(1)])).toBe(true);
    expect(status).toEqual({ state: 'up' });
  });

  it('is up at once after a connect when nothing polls it', () => {
    const status: LinkStatus = { state: 'connecting' };
    expect(new LinkHealth(status).connected(false)).toBe(true);
    expect(status.state).toBe('up');
  });
});
