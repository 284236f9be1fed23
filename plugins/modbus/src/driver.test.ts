import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceDriver, DriverDevice, DriverResource } from '../../../core/sdk/index.ts';
import { quiet as logger } from '../../../test/support/hub-fixture.ts';
import { startModbusServer, type ModbusTestServer } from '../../../test/support/modbus-server.ts';
import { pymodbusValues, startPymodbus, type PymodbusServer } from '../../../test/support/pymodbus.ts';
import { createModbusDriver } from './driver.ts';



function res(name: string, valueType: DriverResource['valueType'], attributes: Record<string, unknown>, extra: Partial<DriverResource> = {}): DriverResource {
  return { name, valueType, readWrite: 'RW', attributes, properties: {}, ...extra };
}

function device(name: string, port: number, unitId: number, resources: DriverResource[], protocolName = 'modbus-tcp', timeout = '1'): DriverDevice {
  // As EdgeX writes protocol blocks: every value a string.
  return { site: 'plant-a', name, profile: 'p', protocolName, protocol: { Address: '127.0.0.1', Port: String(port), UnitID: String(unitId), Timeout: timeout }, resources };
}

let driver: DeviceDriver;
let py: PymodbusServer;
let server: ModbusTestServer;

beforeAll(async () => {
  driver = createModbusDriver({ logger });
  py = await startPymodbus({ framer: 'socket', units: [1, 2] });
  server = await startModbusServer();
}, 30_000);

afterAll(async () => {
  await driver?.close();
  await py?.stop();
  await server?.close();
});

describe('modbus driver', () => {
  it('reads every table from pymodbus, decoding values as the profile says', async () => {
    const conn = await driver.connect(
      device('meter-1', py.port, 1, [
        res('Counter', 'Uint16', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0 }),
        res('Pair', 'Uint32', { primaryTable: 'HOLDING_REGISTERS', startingAddress: '2', rawType: 'Uint32' }),
        res('Scaled', 'Float64', { primaryTable: 'INPUT_REGISTERS', startingAddress: 4, rawType: 'Uint16' }, { readWrite: 'R', properties: { scale: '0.1' } }),
        res('Relay', 'Bool', { primaryTable: 'COILS', startingAddress: 2 }),
        res('Door', 'Bool', { primaryTable: 'DISCRETE_INPUTS', startingAddress: 1 }, { readWrite: 'R' }),
      ]),
    );
    const samples = await conn.read(['Counter', 'Pair', 'Scaled', 'Relay', 'Door']);
    const v = Object.fromEntries(samples.map((s) => [s.resource, s]));
    expect(v.Counter).toMatchObject({ value: pymodbusValues.holdingRegister(1, 0), quality: 'good', valueType: 'Uint16' });
    expect(v.Pair).toMatchObject({ value: pymodbusValues.holdingRegister(1, 2) * 65536 + pymodbusValues.holdingRegister(1, 3), quality: 'good' });
    expect(v.Scaled!.value).toBeCloseTo(pymodbusValues.inputRegister(1, 4) * 0.1, 6);
    expect(v.Relay).toMatchObject({ value: pymodbusValues.coil(1, 2), quality: 'good' });
    expect(v.Door).toMatchObject({ value: pymodbusValues.discreteInput(1, 1), quality: 'good' });
    await conn.close();
  });

  it('reads contiguous registers in one request, and writes read back as the device holds them', async () => {
    const conn = await driver.connect(
      device('plc-1', server.port, 3, [
        res('A', 'Uint16', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 10 }),
        res('B', 'Float32', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 11, rawType: 'Float32' }),
        res('C', 'Int16', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 13 }),
        res('Flag', 'Bool', { primaryTable: 'HOLDING_REGISTERS', startingAddress: '14.3' }),
      ]),
    );
    const before = server.records.length;
    expect(await conn.write([{ resource: 'B', value: 21.5 }, { resource: 'C', value: -7 }, { resource: 'Flag', value: true }])).toEqual([
      { resource: 'B', ok: true },
      { resource: 'C', ok: true },
      { resource: 'Flag', ok: true },
    ]);
    expect(server.unit(3).holdingRegisters.slice(11, 15)).toEqual([0x41ac, 0x0000, 0xfff9, 0b1000]);
    server.records.length = 0;
    const samples = await conn.read(['A', 'B', 'C', 'Flag']);
    expect(samples.map((s) => [s.resource, s.value, s.quality])).toEqual([
      ['A', 0, 'good'],
      ['B', 21.5, 'good'],
      ['C', -7, 'good'],
      ['Flag', true, 'good'],
    ]);
    // Four resources over registers 10..14: one request.
    expect(server.records.filter((r) => r.op === 'readHolding').map((r) => [r.address, r.count])).toEqual([[10, 5]]);
    expect(before).toBeGreaterThan(-1);
    // Out of range and read-only: coded refusals, nothing written.
    const refused = await conn.write([{ resource: 'C', value: 70_000 }, { resource: 'Nope', value: 1 }]);
    expect(refused.map((r) => [r.ok, r.error?.code])).toEqual([
      [false, expect.stringMatching(/^EDGE_ERR_MODBUS_/)],
      [false, 'EDGE_ERR_MODBUS_UNKNOWN_RESOURCE'],
    ]);
    expect(server.unit(3).holdingRegisters[13]).toBe(0xfff9);
    await conn.close();
  });

  it('reports a dead unit as bad quality while a live unit on the same bus keeps reading', async () => {
    const live = await driver.connect(device('live', py.port, 2, [res('R', 'Uint16', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 5 })]));
    const dead = await driver.connect(device('dead', py.port, 9, [res('R', 'Uint16', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 5 })]));
    for (let i = 0; i < 4; i++) {
      const [d] = await dead.read(['R']);
      expect(d).toMatchObject({ quality: 'bad', value: null, qualityDetail: expect.stringMatching(/EDGE_ERR_MODBUS_(TIMEOUT|CIRCUIT_OPEN)/) });
      const [l] = await live.read(['R']);
      expect(l).toMatchObject({ quality: 'good', value: pymodbusValues.holdingRegister(2, 5) });
    }
    // An exception reply (past the end of pymodbus' block) is bad quality with its code, and the unit stays usable.
    const edge = await driver.connect(device('edge', py.port, 2, [res('Far', 'Uint16', { primaryTable: 'HOLDING_REGISTERS', startingAddress: 500 })]));
    const [far] = await edge.read(['Far']);
    expect(far).toMatchObject({ quality: 'bad', qualityDetail: 'EDGE_ERR_MODBUS_EXCEPTION ILLEGAL_DATA_ADDRESS' });
    expect((await live.read(['R']))[0]!.quality).toBe('good');
    await Promise.all([live.close(), dead.close(), edge.close()]);
  }, 30_000);

  it('refuses an invalid profile or protocol block at onboarding, naming each problem', async () => {
    const bad = device(
      'bad',
      1502,
      1,
      [res('X', 'Uint16', { primaryTable: 'HOLDING_REGISTER', startingAddress: 1 }), res('Y', 'Float64', { primaryTable: 'COILS', startingAddress: 70_000 })],
      'modbus-tcp',
    );
    const issues = driver.validate!({ ...bad, protocol: { Address: '', Port: 'x', UnitID: '300' } });
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['protocols.modbus-tcp.Address', 'protocols.modbus-tcp.Port', 'protocols.modbus-tcp.UnitID']));
    expect(issues.some((i) => /primaryTable/.test(i.path))).toBe(true);
    expect(issues.some((i) => /startingAddress|valueType/.test(i.path))).toBe(true);
    expect(issues.every((i) => i.code.startsWith('EDGE_ERR_MODBUS_'))).toBe(true);
    await expect(driver.connect({ ...bad, protocol: { Address: '', Port: 'x' } })).rejects.toMatchObject({ code: 'EDGE_ERR_MODBUS_DEVICE_INVALID' });
  });

  it('discovers the unit ids that answer on a TCP endpoint, and names bad requests', async () => {
    const found = await driver.discover!({ target: `127.0.0.1:${py.port}`, options: { unitIds: '1-4,9', timeoutMs: 200 } });
    expect(found.map((d) => d.protocol.UnitID)).toEqual(['1', '2']);
    expect(found[0]).toMatchObject({ name: 'modbus-127-0-0-1-unit-1', protocol: { Address: '127.0.0.1', Port: String(py.port) } });
    await expect(driver.discover!({ target: 'nowhere' })).rejects.toMatchObject({ code: 'EDGE_ERR_MODBUS_DISCOVERY_REQUEST', message: expect.stringMatching(/target/) });
    await expect(driver.discover!({ target: `127.0.0.1:${py.port}`, options: { unitIds: '5-2' } })).rejects.toMatchObject({ message: expect.stringMatching(/options.unitIds/) });
  }, 20_000);

  it('writes and reads back every value type, with byte and word swaps, strings and bits, against a real server', async () => {
    const types: [DriverResource['valueType'], number | string | boolean, number][] = [
      ['Int8', -5, 1],
      ['Uint8', 200, 1],
      ['Int16', -12345, 1],
      ['Uint16', 54321, 1],
      ['Int32', -123456789, 2],
      ['Uint32', 3_000_000_000, 2],
      ['Int64', '-9007199254740993', 4],
      ['Uint64', '18446744073709551615', 4],
      ['Float32', 1.5, 2],
      ['Float64', -1234.5678, 4],
    ];
    const resources: DriverResource[] = [];
    let address = 0;
    for (const [valueType, , registers] of types) {
      for (const [byteSwap, wordSwap] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        if (registers === 1 && wordSwap) continue;
        resources.push(res(`${valueType}-${byteSwap ? 'b' : ''}${wordSwap ? 'w' : ''}`, valueType, { primaryTable: 'HOLDING_REGISTERS', startingAddress: address, rawType: valueType, isByteSwap: byteSwap, isWordSwap: wordSwap }));
        address += registers;
      }
    }
    resources.push(res('Label', 'String', { primaryTable: 'HOLDING_REGISTERS', startingAddress: address, stringRegisterSize: 4 }));
    resources.push(res('Bit5', 'Bool', { primaryTable: 'HOLDING_REGISTERS', startingAddress: `${address + 4}.5` }));
    resources.push(res('Bit9', 'Bool', { primaryTable: 'HOLDING_REGISTERS', startingAddress: `${address + 4}.9` }));
    resources.push(res('Coil', 'Bool', { primaryTable: 'COILS', startingAddress: 7 }));
    const conn = await driver.connect(device('types', server.port, 11, resources));
    const valueOf = (name: string): number | string | boolean => {
      if (name === 'Label') return 'edge-7';
      if (name.startsWith('Bit') || name === 'Coil') return true;
      return types.find(([t]) => name.startsWith(`${t}-`))![1];
    };
    const writes = resources.map((r) => ({ resource: r.name, value: valueOf(r.name) }));
    const written = await conn.write(writes);
    expect(written.filter((w) => !w.ok)).toEqual([]);
    const back = await conn.read(resources.map((r) => r.name));
    for (const s of back) {
      const want = valueOf(s.resource);
      if (typeof want === 'number' && !Number.isInteger(want)) expect(s.value as number).toBeCloseTo(want, 4);
      else expect([s.resource, s.value]).toEqual([s.resource, want]);
      expect(s.quality).toBe('good');
    }
    // The raw registers carry the documented layouts: Float32 1.5 = 0x3FC0 0x0000, word-swapped 0x0000 0x3FC0.
    const regs = server.unit(11).holdingRegisters;
    const at = (name: string): number => Number(resources.find((r) => r.name === name)!.attributes.startingAddress);
    expect(regs.slice(at('Float32-'), at('Float32-') + 2)).toEqual([0x3fc0, 0x0000]);
    expect(regs.slice(at('Float32-w'), at('Float32-w') + 2)).toEqual([0x0000, 0x3fc0]);
    expect(regs.slice(at('Float32-b'), at('Float32-b') + 2)).toEqual([0xc03f, 0x0000]);
    expect(regs[address + 4]).toBe((1 << 5) | (1 << 9));
    expect(server.unit(11).coils[7]).toBe(true);
    await conn.close();
  });
});

