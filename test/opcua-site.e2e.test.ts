/**
 * The opcua plugin in a site, end to end, against the OPC UA simulator
 * (a node-opcua server) offering SignAndEncrypt only:
 *
 *   - the site agent's first connection is refused: the server's certificate
 *     is not trusted on first use; the device's status names the
 *     `edgeadm opcua trust` command, which the operator runs
 *   - once trusted, subscribed values reach the hub as readings (units from
 *     the server's EUInformation; a node reading Bad is a bad reading)
 *   - a command from the hub writes a variable (read back as the reported
 *     value) and calls a method (its output reported)
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../core/sdk/index.ts';
import { startOpcuaSimulator } from '../plugins/opcua/testkit/server.ts';
import { startSiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, startHubFixture, tempDir, waitFor } from './support/hub-fixture.ts';

const run = promisify(execFile);
const defer = deferCleanup();
const EDGEADM = fileURLToPath(new URL('../cli/bin/edgeadm.js', import.meta.url));

describe('opcua plugin in a site', () => {
  it('trusts the server only when told, then delivers readings, writes and method calls', async () => {
    const sim = await startOpcuaSimulator({ dir: tempDir('opcua-sim'), securityModes: ['SignAndEncrypt'], changeIntervalMs: 200 });
    defer(() => sim.stop());
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-ua';
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    await f.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'press' },
      spec: {
        deviceResources: [
          { name: 'speed', attributes: { nodeId: sim.nodeId('Machine.Speed') }, properties: { valueType: 'Float64', readWrite: 'R' } },
          { name: 'setpoint', attributes: { nodeId: sim.nodeId('Machine.Setpoint') }, properties: { valueType: 'Int16', readWrite: 'RW' } },
          { name: 'failing', attributes: { nodeId: sim.nodeId('Machine.Failing') }, properties: { valueType: 'Float64', readWrite: 'R' } },
          // A method as an Object resource: inputs by their declared names in, outputs by name out.
          { name: 'add', attributes: { objectId: sim.nodeId('Machine'), methodId: sim.nodeId('Machine.Add') }, properties: { valueType: 'Object', readWrite: 'RW' } },
        ],
      },
    });
    await f.apply({
      kind: 'Device',
      metadata: { name: 'press-1' },
      spec: { site, profile: 'press', protocols: { opcua: { Endpoint: sim.endpointUrl, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' } } },
    });
    await f.apply({ kind: 'Addon', metadata: { name: 'opcua' }, spec: { plugin: 'opcua', sites: [site] } });
    const dataDir = tempDir('site-opcua');
    const a = await startSiteAgent({
      site,
      hubUrl: f.hub.url,
      token: await f.agentToken(site),
      dataDir,
      logger: quiet,
      broker: false,
      syncBackoff: { initialMs: 50, maxMs: 500 },
      forwarder: { backoff: { initialMs: 50, maxMs: 500 }, maxDelayMs: 20 },
    });
    defer(() => a.stop());

    // Not trusted on first use: the device is down, and its status says what to run.
    const refused = await waitFor('the refusal', () => a.status().devices.find((d) => d.device === 'press-1' && d.state === 'down' && /edgeadm opcua trust/.test(d.message ?? '')), 30_000);
    const command = /edgeadm opcua trust (\S+)/.exec(refused.message!)!;
    const trusted = await run(process.execPath, [EDGEADM, 'opcua', 'trust', command[1]!, '--data-dir', dataDir]);
    expect(trusted.stdout).toContain(command[1]!);

    // The site reports how its Addon runs.
    await waitFor('the addon status from the site', async () => {
      const r = await f.api<{ status?: { sites?: Record<string, { state: string }> } }>('GET', '/api/v1/addons/opcua');
      return r.body.status?.sites?.[site]?.state === 'running';
    });

    // The agent retries on its own and is now let in.
    await waitFor('device up', () => a.status().devices.find((d) => d.device === 'press-1' && d.state === 'up'), 30_000);
    const readings = async (resource: string): Promise<Reading[]> => (await f.hub.telemetry.query({ site, device: 'press-1', resource, limit: 1000 })).items;
    await waitFor('speed readings', async () => (await readings('speed')).filter((r) => r.quality === 'good').length >= 2, 30_000);
    expect((await readings('speed')).find((r) => r.quality === 'good')).toMatchObject({ valueType: 'Float64', units: 'r/min', profile: 'press' });
    await waitFor('the failing node as a bad reading', async () => (await readings('failing')).find((r) => r.quality === 'bad'), 30_000);
    expect((await readings('failing')).find((r) => r.quality === 'bad')!.qualityDetail).toMatch(/^EDGE_ERR_OPCUA_STATUS BadDeviceFailure/);

    const command2 = async (resource: string, value: unknown): Promise<{ state: string; result?: { reported?: unknown }; error?: unknown }> => {
      const cmd = await f.api<{ id: string }>('POST', `/api/v1/sites/${site}/devices/press-1/commands`, { resource, value, ttlSeconds: 60 });
      expect(cmd.status, JSON.stringify(cmd.body)).toBe(202);
      return waitFor(`the ${resource} command`, async () => {
        const r = await f.api<{ state: string; result?: { reported?: unknown } }>('GET', `/api/v1/commands/${cmd.body.id}`);
        return r.body.state === 'succeeded' || r.body.state === 'failed' ? r.body : undefined;
      });
    };
    // A write: coerced to the node's Int16, read back as the reported value, and held by the server.
    expect(await command2('setpoint', 42)).toMatchObject({ state: 'succeeded', result: { reported: 42 } });
    expect(sim.get('Machine.Setpoint')).toBe(42);
    // Out of Int16's range: the hub refuses it against the profile before it travels.
    const tooBig = await f.api<{ code: string; message: string }>('POST', `/api/v1/sites/${site}/devices/press-1/commands`, { resource: 'setpoint', value: 40_000, ttlSeconds: 60 });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.message).toMatch(/setpoint/);
    expect(sim.get('Machine.Setpoint')).toBe(42);
    // A method call: inputs in, the output reported.
    expect(await command2('add', { a: 1.5, b: 2 })).toMatchObject({ state: 'succeeded', result: { reported: { sum: 3.5 } } });
    const wrong = await command2('add', { a: 1.5, c: 2 });
    expect(wrong).toMatchObject({ state: 'failed' });
    expect(JSON.stringify(wrong)).toMatch(/EDGE_ERR_OPCUA_METHOD_ARGUMENTS.*unknown: c.*missing: b/);
  }, 120_000);
});
