import { describe, expect, it } from 'vitest';
import { deferCleanup } from '../../../test/support/cleanup.ts';
import { quiet } from '../../../test/support/hub-fixture.ts';
import { startModbusServer } from '../../../test/support/modbus-server.ts';
import { freePort } from '../../../test/support/tcp-services.ts';
import { ErrModbusCircuitOpen, ErrModbusConnect, failureCause } from './errors.ts';
import { openBus } from './bus.ts';

const defer = deferCleanup();

describe('modbus failure messages', () => {
  it('say a refused link once, on the first attempt and on every fast failure while it stays down', async () => {
    const port = await freePort();
    const bus = openBus({ kind: 'tcp', host: '127.0.0.1', port }, { logger: quiet, reconnect: { minMs: 5_000, maxMs: 5_000 } });
    defer(() => bus.close());
    const refused = `connect ECONNREFUSED 127.0.0.1:${port}`;
    const read = { unitId: 1, fn: 'readHoldingRegisters' as const, address: 0, count: 1, timeoutMs: 500 };
    const errors: unknown[] = [];
    for (let i = 0; i < 3; i++) errors.push(await bus.execute(read).catch((err: unknown) => err));
    for (const err of errors) {
      expect(ErrModbusConnect.is(err)).toBe(true);
      const message = (err as Error).message;
      expect(message.split(' is down: ').length - 1, message).toBe(1);
      expect(message.split(refused).length - 1, message).toBe(1);
      expect(failureCause(err)).toBe(refused);
    }
    // The fast failures while the link waits for its next attempt say when that is.
    expect((errors[2] as Error).message).toMatch(new RegExp(`^modbus link tcp://127\\.0\\.0\\.1:${port} is down: ${refused} \\(next attempt in \\d+ ms\\)$`));
  });

  it('name the failure that opened a unit breaker', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    server.silence(3);
    const bus = openBus({ kind: 'tcp', host: '127.0.0.1', port: server.port }, { logger: quiet, breaker: { failures: 2, openMs: 5_000, maxOpenMs: 5_000 } });
    defer(() => bus.close());
    const read = { unitId: 3, fn: 'readHoldingRegisters' as const, address: 0, count: 1, timeoutMs: 150 };
    for (let i = 0; i < 2; i++) await bus.execute(read).catch(() => undefined);
    const err = await bus.execute(read).catch((e: unknown) => e);
    expect(ErrModbusCircuitOpen.is(err)).toBe(true);
    expect((err as Error).message).toMatch(/is skipped after 2 consecutive failures \(last: no reply within 150 ms\); next probe in \d+ ms$/);
    expect(failureCause(err)).toBe('skipped after 2 consecutive failures (last: no reply within 150 ms)');
  });
});
