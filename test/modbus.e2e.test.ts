/**
 * The modbus plugin in a site, end to end: an Addon installs it, a Device
 * with an EdgeX-style profile and a `modbus-tcp` protocol block points at a
 * Modbus server on loopback; polled readings reach the hub, and a command
 * writes the device and reports the value read back from it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Reading } from '../core/sdk/index.ts';
import { startSiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, startHubFixture, tempDir, waitFor } from './support/hub-fixture.ts';
import { startModbusServer } from './support/modbus-server.ts';
import { startPymodbus } from './support/pymodbus.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const defer = deferCleanup();

describe('modbus plugin in a site', () => {
  it('polls a Modbus TCP device into readings at the hub, and writes a setpoint through a command', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    const regs = server.unit(7).holdingRegisters;
    regs[2] = 1234; // "flow": a Uint16 register scaled by 0.1 into a Float32 reading
    regs[3] = 0x0001; // "energy", Uint32 over two registers, word-swapped: low word first
    regs[4] = 0x0002;
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-m';
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    // EdgeX device-modbus form: attribute and property values as strings.
    await f.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'flow-meter' },
      spec: {
        manufacturer: 'acme',
        model: 'FM-1',
        deviceResources: [
          { name: 'setpoint', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: '0', rawType: 'Float32' }, properties: { valueType: 'Float32', readWrite: 'RW', units: 'l/min', minimum: '0', maximum: '100' } },
          { name: 'flow', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: '2', rawType: 'Uint16' }, properties: { valueType: 'Float32', readWrite: 'R', scale: '0.1', units: 'l/min' } },
          { name: 'energy', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: '3', rawType: 'Uint32', isWordSwap: 'true' }, properties: { valueType: 'Uint32', readWrite: 'R' } },
        ],
        deviceCommands: [{ name: 'values', readWrite: 'R', resourceOperations: [{ deviceResource: 'flow' }, { deviceResource: 'energy' }, { deviceResource: 'setpoint' }] }],
      },
    });
    await f.apply({
      kind: 'Device',
      metadata: { name: 'fm-1' },
      spec: { site, profile: 'flow-meter', protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: String(server.port), UnitID: '7', Timeout: '2' } }, autoEvents: [{ sourceName: 'values', interval: '200ms' }] },
    });
    await f.apply({ kind: 'Addon', metadata: { name: 'modbus' }, spec: { plugin: 'modbus', sites: [site] } });
    const a = await startSiteAgent({
      site,
      hubUrl: f.hub.url,
      token: await f.agentToken(site),
      dataDir: tempDir('site-modbus'),
      logger: quiet,
      broker: false,
      syncBackoff: { initialMs: 50, maxMs: 500 },
      forwarder: { backoff: { initialMs: 50, maxMs: 500 } },
    });
    defer(() => a.stop());
    const latest = async (resource: string): Promise<Reading | undefined> => (await f.hub.telemetry.query({ site, device: 'fm-1', resource, descending: true, limit: 1 })).items[0];
    await waitFor('polled readings at the hub', async () => (await latest('flow')) && (await latest('energy')), 20_000);
    expect(await latest('flow')).toMatchObject({ value: 123.4, valueType: 'Float32', units: 'l/min', quality: 'good', profile: 'flow-meter' });
    expect(await latest('energy')).toMatchObject({ value: 0x0002_0001, quality: 'good' });

    const cmd = await f.api<{ id: string }>('POST', `/api/v1/sites/${site}/devices/fm-1/commands`, { resource: 'setpoint', value: 42.5, ttlSeconds: 60 });
    expect(cmd.status).toBe(202);
    const done = await waitFor('the write to be reported', async () => {
      const r = await f.api<{ state: string; result?: { reported?: unknown } }>('GET', `/api/v1/commands/${cmd.body.id}`);
      return r.body.state === 'succeeded' || r.body.state === 'failed' ? r.body : undefined;
    });
    expect(done).toMatchObject({ state: 'succeeded', result: { reported: 42.5 } });
    expect(regs.slice(0, 2)).toEqual([0x422a, 0x0000]);
    await waitFor('the new setpoint polled upstream', async () => (await latest('setpoint'))?.value === 42.5);

    // Out of the profile's range: refused by the hub before it reaches the site, the device untouched.
    const bad = await f.api<{ code: string; message: string }>('POST', `/api/v1/sites/${site}/devices/fm-1/commands`, { resource: 'setpoint', value: 250, ttlSeconds: 60 });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/maximum 100/);
    expect(regs.slice(0, 2)).toEqual([0x422a, 0x0000]);
  }, 60_000);

  it('runs a device with an EdgeX device-modbus profile imported unchanged, against pymodbus', async () => {
    const py = await startPymodbus({ framer: 'socket', units: [1] });
    defer(() => py.stop());
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-x';
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    // The file from EdgeX's device-modbus-go, as it is: its body becomes the spec.
    const edgex = parse(readFileSync(path.join(repo, 'plugins/modbus/src/fixtures/edgex-v3-modbus.test.device.profile.yml'), 'utf8')) as { name: string };
    await f.apply({ kind: 'DeviceProfile', metadata: { name: 'coolmaster' }, spec: edgex });
    await f.apply({
      kind: 'Device',
      metadata: { name: 'hvac-1' },
      spec: { site, profile: 'coolmaster', protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: String(py.port), UnitID: '1' } }, autoEvents: [{ sourceName: 'Values', interval: '200ms' }] },
    });
    await f.apply({ kind: 'Addon', metadata: { name: 'modbus' }, spec: { plugin: 'modbus', sites: [site] } });
    const a = await startSiteAgent({ site, hubUrl: f.hub.url, token: await f.agentToken(site), dataDir: tempDir('site-modbus-x'), logger: quiet, broker: false, syncBackoff: { initialMs: 50, maxMs: 500 }, forwarder: { backoff: { initialMs: 50, maxMs: 500 } } });
    defer(() => a.stop());
    const latest = async (resource: string): Promise<Reading | undefined> => (await f.hub.telemetry.query({ site, device: 'hvac-1', resource, descending: true, limit: 1 })).items[0];
    // The profile's `Values` command: SwitchA (coil), OperationMode (Int16), FanSpeed (Int32), Temperature (Int16 x 0.1).
    await waitFor('readings of the EdgeX profile', async () => (await latest('FanSpeed')) && (await latest('Temperature')) && (await latest('SwitchA')) && (await latest('OperationMode')), 20_000);
    // pymodbus holds unit*1000+address in holding registers, unit*1000+500+address in input registers.
    expect(await latest('FanSpeed')).toMatchObject({ value: 1002 * 65536 + 1003, valueType: 'Int32', quality: 'good', profile: 'coolmaster' });
    expect((await latest('Temperature'))!.value).toBeCloseTo(100.5, 4);
    expect(await latest('OperationMode')).toMatchObject({ value: 1001, valueType: 'Int16', quality: 'good' });
    // The profile maps the coil's false to "OFF" (its commands' mappings), as EdgeX reports it; values it does not map stay as read.
    expect(await latest('SwitchA')).toMatchObject({ value: 'OFF', valueType: 'String', quality: 'good' });
    expect(a.status().devices.find((d) => d.device === 'hvac-1')?.state).not.toBe('invalid');
  }, 60_000);
});

