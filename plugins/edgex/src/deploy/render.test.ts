/**
 * A site's EdgeX services rendered both ways: the Compose project checked
 * against the Compose specification's JSON schema, the workloads against
 * Kubernetes' own OpenAPI schemas (kubernetes-models), and both wired the
 * way EdgeX's own non-secure Compose file for the release wires them: the
 * same service and host names, commands and environment (the expected
 * values below are EdgeX's, read from edgexfoundry/edgex-compose).
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- rendered documents are arbitrary JSON */
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseWithSchema } from '../../../../core/sdk/index.ts';
import { composeProblems } from '../../testkit/compose-schema.ts';
import { composeProjectName, renderCompose } from './compose.ts';
import { kubeServiceName, renderWorkloads } from './kube.ts';
import { EDGEX_RELEASE } from './release.ts';
import { EdgeXServicesSchema, planServices, type EdgeXServicesConfig } from './services.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered documents are arbitrary JSON

const config = (over: Record<string, unknown> = {}): EdgeXServicesConfig => {
  const parsed = parseWithSchema(EdgeXServicesSchema, over, 'services');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.value;
};
const compose = (over: Record<string, unknown> = {}): Json => renderCompose(planServices(config(over)), { project: composeProjectName('edgex', 'plant-a'), site: 'plant-a', addon: 'edgex', busPort: 1884 });

/** EdgeX's own Compose file (4.0, non-secure): each service's host name. */
const EDGEX_HOSTS: Record<string, string> = {
  'core-keeper': 'edgex-core-keeper',
  'core-common-config-bootstrapper': 'edgex-core-common-config-bootstrapper',
  'core-data': 'edgex-core-data',
  'core-metadata': 'edgex-core-metadata',
  'core-command': 'edgex-core-command',
  database: 'edgex-postgres',
  'mqtt-broker': 'edgex-mqtt-broker',
  'app-rules-engine': 'edgex-app-rules-engine',
  'device-virtual': 'edgex-device-virtual',
  'device-rest': 'edgex-device-rest',
  'device-modbus': 'edgex-device-modbus',
  'device-mqtt': 'edgex-device-mqtt',
  ui: 'edgex-ui-go',
  'support-notifications': 'edgex-support-notifications',
  'support-scheduler': 'edgex-support-scheduler',
};
const CP = '-cp=keeper.http://edgex-core-keeper:59890';

describe('the services a site runs', () => {
  it('are core, device-virtual, the rules-engine app and the UI by default; --support and devices add theirs; any service brings core', () => {
    expect(Object.keys(compose().services).sort()).toEqual(
      ['app-rules-engine', 'core-command', 'core-common-config-bootstrapper', 'core-data', 'core-keeper', 'core-metadata', 'database', 'device-virtual', 'mqtt-broker', 'ui'].sort(),
    );
    const all = compose({ support: true, devices: ['device-modbus', 'device-mqtt', 'device-rest', 'device-virtual'], app: { profile: 'mqtt-export' } });
    expect(Object.keys(all.services)).toEqual(expect.arrayContaining(['support-notifications', 'support-scheduler', 'device-modbus', 'device-mqtt', 'device-rest', 'app-mqtt-export']));
    expect(all.services['app-mqtt-export'].environment).toMatchObject({ EDGEX_PROFILE: 'mqtt-export', SERVICE_HOST: 'edgex-app-mqtt-export' });
    const deviceOnly = compose({ core: false, app: { enabled: false }, ui: false, devices: ['device-modbus'] });
    expect(Object.keys(deviceOnly.services)).toEqual(expect.arrayContaining(['core-keeper', 'core-data', 'core-metadata', 'database', 'device-modbus']));
    expect(planServices(config({ core: false, app: { enabled: false }, ui: false, devices: [] }))).toEqual([]);
  });

  it('refuses what EdgeX does not have, naming the field', () => {
    const bad = parseWithSchema(EdgeXServicesSchema, { devices: ['device-opcua'], app: { profile: 'Rules Engine' } }, 'services');
    expect(bad.ok).toBe(false);
    const paths = bad.ok ? [] : bad.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['services.devices[0]', 'services.app.profile']));
  });
});

describe('as a Compose project', () => {
  it('is a valid Compose file', () => {
    expect(composeProblems(compose())).toEqual([]);
    expect(composeProblems(compose({ support: true, devices: ['device-modbus', 'device-mqtt', 'device-rest', 'device-virtual'] }))).toEqual([]);
    // The check can fail: a misspelt key is caught.
    const broken = compose();
    broken.services['core-data'].imagee = broken.services['core-data'].image;
    expect(composeProblems(broken).join('\n')).toMatch(/core-data.*imagee/);
  });

  it("names and wires the services as EdgeX's own Compose file does", () => {
    const doc = compose({ support: true, devices: ['device-modbus', 'device-mqtt', 'device-rest', 'device-virtual'] });
    expect(doc.name).toBe('edgeadm-edgex-plant-a');
    for (const [name, svc] of Object.entries(doc.services as Record<string, Json>)) {
      expect(svc.hostname, name).toBe(EDGEX_HOSTS[name]);
      expect(svc.networks['edgex-network'].aliases, name).toEqual([EDGEX_HOSTS[name]]);
      expect([svc.read_only, svc.security_opt], name).toEqual([true, ['no-new-privileges:true']]);
      // Every host a service is pointed at is one of the project's.
      const refs = [...Object.values((svc.environment ?? {}) as Record<string, string>), ...((svc.command ?? []) as string[])].join(' ');
      for (const h of refs.match(/edgex-[a-z-]+/g) ?? []) expect(Object.values(EDGEX_HOSTS), `${name} -> ${h}`).toContain(h);
      if (name !== 'database') expect(svc.user, name).toBe('2002:2001');
      if (EDGEX_HOSTS[name]!.startsWith('edgex-') && svc.image.startsWith('edgexfoundry/')) expect(svc.image).toMatch(new RegExp(`:${EDGEX_RELEASE.version}$`));
    }
    const s = doc.services as Json;
    // EdgeX's environment, verbatim.
    expect(s['core-keeper'].environment).toEqual({
      DATABASE_HOST: 'edgex-postgres',
      EDGEX_SECURITY_SECRET_STORE: 'false',
      MESSAGEBUS_AUTHMODE: 'none',
      MESSAGEBUS_HOST: 'edgex-mqtt-broker',
      MESSAGEBUS_PORT: '1883',
      MESSAGEBUS_PROTOCOL: 'tcp',
      MESSAGEBUS_SECRETNAME: '',
      MESSAGEBUS_TYPE: 'mqtt',
      SERVICE_HOST: 'edgex-core-keeper',
    });
    // EdgeX's environment, and one variable of ours on every service that reads core-keeper: a changed value reaches it on restart.
    const ours = { EDGEX_OVERWRITE_CONFIG: 'true' };
    expect(s['core-common-config-bootstrapper'].environment).toEqual({
      ...ours,
      ALL_SERVICES_DATABASE_HOST: 'edgex-postgres',
      ALL_SERVICES_MESSAGEBUS_HOST: 'edgex-mqtt-broker',
      ALL_SERVICES_REGISTRY_HOST: 'edgex-core-keeper',
      APP_SERVICES_CLIENTS_CORE_METADATA_HOST: 'edgex-core-metadata',
      DEVICE_SERVICES_CLIENTS_CORE_METADATA_HOST: 'edgex-core-metadata',
      EDGEX_SECURITY_SECRET_STORE: 'false',
    });
    expect(s['core-command'].environment).toEqual({ ...ours, EDGEX_SECURITY_SECRET_STORE: 'false', EXTERNALMQTT_URL: 'tcp://edgex-mqtt-broker:1883', SERVICE_HOST: 'edgex-core-command' });
    // Not on core-keeper (the provider itself), the broker or the database.
    for (const name of ['core-keeper', 'mqtt-broker', 'database']) expect(s[name].environment?.EDGEX_OVERWRITE_CONFIG, name).toBeUndefined();
    expect(s['device-mqtt'].environment).toMatchObject({ MQTTBROKERINFO_HOST: 'edgex-mqtt-broker', SERVICE_HOST: 'edgex-device-mqtt' });
    expect(s.database.environment).toEqual({ POSTGRES_DB: 'edgex_db', POSTGRES_PASSWORD: 'postgres' });
    // Commands: the config provider is core-keeper; device services name it first.
    expect(s['core-common-config-bootstrapper'].command).toEqual(['/core-common-config-bootstrapper', '--registry', CP]);
    expect(s['core-data'].command).toEqual(['--registry', CP]);
    expect(s['device-virtual'].command).toEqual([CP, '--registry']);
    expect(s['mqtt-broker'].command).toEqual(['/usr/sbin/mosquitto', '-c', '/mosquitto-no-auth.conf']);
    // Dependencies as EdgeX orders them.
    expect(Object.keys(s['core-command'].depends_on).sort()).toEqual(['core-common-config-bootstrapper', 'core-keeper', 'core-metadata', 'database']);
    expect(Object.keys(s['device-mqtt'].depends_on).sort()).toEqual(['core-common-config-bootstrapper', 'core-data', 'core-keeper', 'core-metadata', 'mqtt-broker']);
    // The bootstrapper runs once; the rest are restarted.
    expect(s['core-common-config-bootstrapper'].restart).toBeUndefined();
    expect(s['core-data'].restart).toBe('always');
  });

  it('publishes on loopback only, the bus beside the site broker, the database nowhere', () => {
    const s = compose().services as Json;
    expect(s['core-data'].ports).toEqual(['127.0.0.1:59880:59880/tcp']);
    expect(s.ui.ports).toEqual(['127.0.0.1:4000:4000/tcp']);
    expect(s['mqtt-broker'].ports).toEqual(['127.0.0.1:1884:1883/tcp']);
    expect(s.database.ports).toBeUndefined();
    expect(s.database.volumes).toContainEqual({ type: 'volume', source: 'db-data', target: '/var/lib/postgresql/data' });
  });
});

describe("a device service's own files", () => {
  const files = { profiles: { 'pumps.yaml': 'name: pumps\nlabels: [cost$]\n' }, devices: { 'line-1.yaml': 'deviceList: []\n' } };

  it('are Compose configs mounted where DEVICE_PROFILESDIR and DEVICE_DEVICESDIR point, $ kept from interpolation', () => {
    const doc = compose({ devices: ['device-modbus'], deviceFiles: { 'device-modbus': files } });
    expect(composeProblems(doc)).toEqual([]);
    const modbus = doc.services['device-modbus'];
    expect(modbus.environment).toMatchObject({ DEVICE_PROFILESDIR: '/edgeadm/profiles', DEVICE_DEVICESDIR: '/edgeadm/devices' });
    expect(modbus.configs).toEqual([
      { source: 'device-modbus-profiles-pumps.yaml', target: '/edgeadm/profiles/pumps.yaml', mode: 0o444 },
      { source: 'device-modbus-devices-line-1.yaml', target: '/edgeadm/devices/line-1.yaml', mode: 0o444 },
    ]);
    expect(doc.configs['device-modbus-profiles-pumps.yaml'].content).toBe('name: pumps\nlabels: [cost$$]\n');
    // Without files, EdgeX's own folders.
    expect(compose({ devices: ['device-modbus'] }).services['device-modbus'].environment.DEVICE_PROFILESDIR).toBeUndefined();
  });

  it('are a ConfigMap per folder named by its content, mounted read-only', () => {
    const w = renderWorkloads(planServices(config({ devices: ['device-modbus'], deviceFiles: { 'device-modbus': files } })), 'edgex');
    const maps = w.configMaps ?? [];
    expect(maps.map((m) => m.name)).toEqual([expect.stringMatching(/^device-modbus-profiles-[0-9a-f]{10}$/), expect.stringMatching(/^device-modbus-devices-[0-9a-f]{10}$/)]);
    expect(maps[0]!.data).toEqual(files.profiles);
    const pod = (w.deployments ?? []).find((d) => d.name === 'device-modbus')!.spec as Json;
    expect(pod.template.spec.volumes).toContainEqual({ name: 'files-profiles', configMap: { name: `edgex-${maps[0]!.name}` } });
    expect(pod.template.spec.containers[0].volumeMounts).toContainEqual({ name: 'files-profiles', mountPath: '/edgeadm/profiles', readOnly: true });
    new Deployment({ metadata: { name: 'x' }, spec: structuredClone(pod) as never }).validate();
    // The same files make the same name; other files another.
    const again = renderWorkloads(planServices(config({ devices: ['device-modbus'], deviceFiles: { 'device-modbus': files } })), 'edgex');
    expect(again.configMaps?.[0]?.name).toBe(maps[0]!.name);
    const other = renderWorkloads(planServices(config({ devices: ['device-modbus'], deviceFiles: { 'device-modbus': { profiles: { 'pumps.yaml': 'name: pumps2\n' } } } })), 'edgex');
    expect(other.configMaps?.[0]?.name).not.toBe(maps[0]!.name);
  });

  it('hold only file names EdgeX reads', () => {
    const bad = parseWithSchema(EdgeXServicesSchema, { deviceFiles: { 'device-modbus': { profiles: { '../etc/passwd': 'x' } }, 'device-opcua': {} } }, 'services');
    expect(bad.ok).toBe(false);
    expect(bad.ok ? [] : bad.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['services.deviceFiles.device-opcua', 'services.deviceFiles.device-modbus.profiles.../etc/passwd']));
  });
});

describe('a release of the line', () => {
  it("tags the EdgeX images, and nothing else, with the site's release", () => {
    const s = compose({ release: '4.0.1' }).services as Json;
    expect(s['core-data'].image).toBe('edgexfoundry/core-data:4.0.1');
    expect(s.database.image).toBe('postgres:16.3-alpine3.20');
    expect(compose().services['core-data'].image).toBe(`edgexfoundry/core-data:${EDGEX_RELEASE.version}`);
    expect(parseWithSchema(EdgeXServicesSchema, { release: '3.1.1' }, 'services').ok).toBe(false);
  });
});

describe('as Kubernetes workloads', () => {
  const workloads = (over: Record<string, unknown> = {}) => renderWorkloads(planServices(config(over)), 'edgex');

  it("are valid Deployments and Services by Kubernetes' OpenAPI schemas", () => {
    const w = workloads({ support: true, devices: ['device-modbus', 'device-mqtt', 'device-rest', 'device-virtual'] });
    for (const d of w.deployments ?? []) new Deployment({ metadata: { name: `edgex-${d.name}-plant-a` }, spec: structuredClone(d.spec) as never }).validate();
    for (const s of w.services ?? []) new Service({ metadata: { name: kubeServiceName('edgex', s.name) }, spec: structuredClone(s.spec) }).validate();
    // The check can fail.
    const bad = structuredClone(w.deployments![0]!.spec) as Json;
    bad.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => new Deployment({ metadata: { name: 'x' }, spec: bad as never }).validate()).toThrow();
  });

  it('point every service at the Services the ServiceGrids make, and run the bootstrapper before those that wait for it', () => {
    const w = workloads({ support: true, devices: ['device-mqtt', 'device-virtual'] });
    const svcNames = new Set((w.services ?? []).map((s) => kubeServiceName('edgex', s.name)));
    expect(svcNames).toContain('edgex-core-keeper-svc');
    expect([...svcNames].some((n) => n.includes('bootstrapper'))).toBe(false);
    const byName = new Map((w.deployments ?? []).map((d) => [d.name, d.spec as Json]));
    expect(byName.has('core-common-config-bootstrapper')).toBe(false);
    for (const [name, spec] of byName) {
      const pod = spec.template.spec;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const text = [...(c.args ?? []), ...(c.env ?? []).map((e: Json) => e.value)].join(' ');
        expect(text, name).not.toMatch(/\{\{|edgex-[a-z-]+(?<!-svc)(?=[: ]|$)/);
        for (const ref of text.match(/edgex-[a-z-]+-svc/g) ?? []) expect(svcNames, `${name} -> ${ref}`).toContain(ref);
      }
      const main = pod.containers[0];
      expect(main.readinessProbe, name).toBeDefined();
      expect(main.resources.requests.memory, name).toMatch(/Mi$/);
      expect(main.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    }
    expect(byName.get('core-data')!.template.spec.initContainers.map((c: Json) => c.name)).toEqual(['core-common-config-bootstrapper']);
    expect(byName.get('core-metadata')!.template.spec.initContainers).toBeUndefined();
    expect(byName.get('core-data')!.template.spec.containers[0].args).toEqual(['--registry', '-cp=keeper.http://edgex-core-keeper-svc:59890']);
    expect(byName.get('core-data')!.template.spec.containers[0].readinessProbe.httpGet).toEqual({ path: '/api/v3/ping', port: 59880 });
    expect(byName.get('database')!.template.spec.containers[0].readinessProbe.tcpSocket).toEqual({ port: 5432 });
    expect(byName.get('database')!.template.spec.volumes).toContainEqual({ name: 'db-data', hostPath: { path: '/var/lib/edgeadm/edgex/db-data', type: 'DirectoryOrCreate' } });
  });
});
