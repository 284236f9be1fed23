/**
 * `edgeadm addon edgex` on the embedded hub: the site agent runs EdgeX's
 * services as a Compose project on its node's container runtime, reports
 * how they stand in the Addon's status, brings the project along when the
 * Addon changes, removes exactly its project when the services are turned
 * off or the Addon goes, and says
 * what is missing on a node without a runtime while the bus runs on.
 *
 * No container engine runs here and no image registry is reachable: the
 * runtime is the Compose stand-in of plugins/edgex/testkit, which keeps
 * what an engine would (projects, services, states) and logs each call.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { installFakeCompose } from '../plugins/edgex/testkit/fake-compose.ts';
import type { AddonObject } from '../core/store/index.ts';
import { startSiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from './support/hub-fixture.ts';

const defer = deferCleanup();
const PATH = process.env.PATH;
afterEach(() => {
  process.env.PATH = PATH;
  delete process.env.FAKE_COMPOSE_DIR;
  delete process.env.FAKE_COMPOSE_CRASH;
});

async function siteWith(f: HubFixture, site: string, config: Record<string, unknown>): Promise<void> {
  await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
  await f.apply({ kind: 'Addon', metadata: { name: 'edgex' }, spec: { plugin: 'edgex', sites: [site], config } });
  const a = await startSiteAgent({
    site,
    hubUrl: f.hub.url,
    token: await f.agentToken(site),
    dataDir: tempDir(`agent-${site}`),
    logger: quiet,
    broker: { host: '127.0.0.1', port: 0 },
    syncBackoff: { initialMs: 50, maxMs: 500 },
    forwarder: { backoff: { initialMs: 50, maxMs: 500 } },
  });
  defer(() => a.stop());
}

const statusAt = async (f: HubFixture, site: string) => (await f.api<AddonObject>('GET', '/api/v1/addons/edgex')).body.status?.sites?.[site];

describe("EdgeX's services on the node's container runtime", () => {
  it('runs the project, reports the services, follows a change and removes exactly its project', { timeout: 60_000 }, async () => {
    const fake = installFakeCompose('docker');
    process.env.PATH = `${fake.bin}:${PATH}`;
    process.env.FAKE_COMPOSE_DIR = fake.dir;
    process.env.FAKE_COMPOSE_CRASH = 'ui';
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-ex';
    const project = `edgeadm-edgex-${site}`;
    await siteWith(f, site, { publish: false, services: {} });

    // The default services, the UI crashing: degraded, each service's state in the message.
    const down = await waitFor('the services reported', async () => {
      const st = await statusAt(f, site);
      return st?.code === 'EDGE_ERR_EDGEX_SERVICES_DOWN' && st.message?.includes('ui restarting') ? st : undefined;
    });
    expect(down.state).toBe('degraded');
    expect(down.message).toMatch(/core-data running/);
    expect(down.message).toMatch(/core-common-config-bootstrapper exited \(0\)/);
    expect(Object.keys(fake.projects())).toEqual([project]);
    expect(Object.keys(fake.projects()[project]!.services).sort()).toEqual(
      ['app-rules-engine', 'core-command', 'core-common-config-bootstrapper', 'core-data', 'core-keeper', 'core-metadata', 'database', 'device-virtual', 'mqtt-broker', 'ui'].sort(),
    );
    expect(fake.calls()).toContainEqual(expect.stringMatching(new RegExp(`^docker compose -p ${project} -f .*compose.yaml up --detach --remove-orphans$`)));

    // Running: the site's own EdgeX is bridged on the ports the project publishes (here nothing answers on them).
    delete process.env.FAKE_COMPOSE_CRASH;
    const addon = (await f.api<AddonObject>('GET', '/api/v1/addons/edgex')).body;
    await f.apply({ kind: 'Addon', metadata: { name: 'edgex' }, spec: { ...addon.spec, config: { publish: false, services: { support: true } } } });
    const bridged = await waitFor('the services running and the bridge reported', async () => {
      const st = await statusAt(f, site);
      return st?.code === 'EDGE_ERR_EDGEX_BRIDGE_UNREACHABLE' ? st : undefined;
    });
    expect(bridged.message).toContain('http://127.0.0.1:59881');
    const services = fake.projects()[project]!.services;
    expect(services['support-scheduler']?.state).toBe('running');
    expect(fake.calls().filter((c) => c.includes(' down '))).toEqual([]);

    // Services turned off (--bus-only): the project goes; the bus runs on.
    const downCall = `docker compose -p ${project} down --volumes --remove-orphans`;
    await f.apply({ kind: 'Addon', metadata: { name: 'edgex' }, spec: { ...addon.spec, config: { publish: false } } });
    await waitFor('the project removed with the services turned off', () => Object.keys(fake.projects()).length === 0);
    await waitFor('the bus alone running', async () => (await statusAt(f, site))?.state === 'running');
    // On again, then the Addon removed: the project goes, containers, network and volumes; nothing else is touched.
    await f.apply({ kind: 'Addon', metadata: { name: 'edgex' }, spec: { ...addon.spec, config: { publish: false, services: {} } } });
    await waitFor('the project back', () => Object.keys(fake.projects()).length === 1);
    await f.api('DELETE', '/api/v1/addons/edgex');
    await waitFor('the project removed', () => Object.keys(fake.projects()).length === 0);
    expect(fake.calls().filter((c) => c.includes(' down '))).toEqual([downCall, downCall]);
  });

  it("in secure mode, bridges with its own token from the secret-store setup's container, and says when the secret store does not answer", { timeout: 60_000 }, async () => {
    const fake = installFakeCompose('docker');
    process.env.PATH = `${fake.bin}:${PATH}`;
    process.env.FAKE_COMPOSE_DIR = fake.dir;
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-sec';
    const project = `edgeadm-edgex-${site}`;
    fake.putFile(project, 'security-secretstore-setup', '/tmp/edgex/secrets/edgeadm-bridge/secrets-token.json', JSON.stringify({ auth: { client_token: 's.bridge-token' } }));
    await siteWith(f, site, { publish: false, services: { secure: true, ui: false } });

    // Every service runs; the bridge's token is read in the container and taken to the secret store, which does not answer here.
    const st = await waitFor('the secret store reported', async () => {
      const s = await statusAt(f, site);
      return s?.code === 'EDGE_ERR_EDGEX_SECRET_STORE' ? s : undefined;
    });
    expect(st.message).toContain('http://127.0.0.1:8200');
    expect(st.message).not.toContain('s.bridge-token');
    expect(Object.keys(fake.projects()[project]!.services)).toEqual(expect.arrayContaining(['secret-store', 'security-secretstore-setup', 'security-bootstrapper', 'nginx']));
    expect(fake.calls()).toContainEqual(`docker compose -p ${project} exec -T security-secretstore-setup cat /tmp/edgex/secrets/edgeadm-bridge/secrets-token.json`);

    // The tokens' folder is the project's own, private; removal empties it through its writer's container, then removes it.
    const folder = fake.projects()[project]!.services['security-secretstore-setup']!.binds.find((b) => b.target === '/tmp/edgex/secrets')!.source;
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(fake.projects()[project]!.services['core-data']!.binds).toEqual([{ source: path.join(folder, 'core-data'), target: '/tmp/edgex/secrets/core-data' }]);
    writeFileSync(path.join(folder, 'core-data', 'secrets-token.json'), '{"auth":{"client_token":"s.x"}}');
    await f.api('DELETE', '/api/v1/addons/edgex');
    await waitFor('the project removed', () => Object.keys(fake.projects()).length === 0);
    const removal = fake.calls().filter((c) => / (run|down) /.test(c));
    expect(removal).toEqual([
      expect.stringMatching(new RegExp(`^docker compose -p ${project} -f .*compose.yaml run --rm --no-deps -T --entrypoint /bin/sh security-secretstore-setup -c rm -rf /tmp/edgex/secrets/\\*$`)),
      `docker compose -p ${project} down --volumes --remove-orphans`,
    ]);
    await waitFor('the tokens folder removed', () => !existsSync(folder));
  });

  it('says what is missing on a node without a container runtime, and the bus runs on', { timeout: 60_000 }, async () => {
    // A PATH with neither docker nor podman.
    process.env.PATH = tempDir('empty-path');
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-nr';
    await siteWith(f, site, { publish: false, services: { runtime: 'auto' } });
    const st = await waitFor('the missing runtime reported', async () => {
      const s = await statusAt(f, site);
      return s?.code === 'EDGE_ERR_EDGEX_NO_RUNTIME' ? s : undefined;
    });
    expect(st.state).toBe('degraded');
    expect(st.message).toMatch(/no docker on PATH; no podman on PATH/);
    expect(st.message).toMatch(/EdgeX's message bus at the site works without them/);
  });

  it("refuses services beside the plugin's own EdgeX REST API, naming the field: both would hold EdgeX's ports", { timeout: 60_000 }, async () => {
    process.env.PATH = tempDir('empty-path-rest');
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-rs';
    await siteWith(f, site, { publish: false, services: {}, rest: { enabled: true } });
    const st = await waitFor('the refusal reported', async () => {
      const s = await statusAt(f, site);
      return s?.state === 'failed' ? s : undefined;
    });
    // The instance's start failed with the plugin's coded config error as its cause.
    expect(st.code).toBe('EDGE_ERR_PLUGIN_START');
    expect(st.message).toMatch(/edgex services config: rest\.enabled is true, but services runs EdgeX's own core-data, core-metadata and core-command/);
  });
});
