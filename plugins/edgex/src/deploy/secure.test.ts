/**
 * EdgeX's secure mode rendered both ways, checked against EdgeX's own secure
 * Compose file for the release line (edgexfoundry/edgex-compose,
 * docker-compose.yml of the keeper/PostgreSQL/OpenBao generation; the
 * expected values below are its, read with the search tool), the Compose
 * specification's JSON schema and Kubernetes' OpenAPI schemas.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- rendered documents are arbitrary JSON */
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { isEdgeError, parseWithSchema } from '../../../../core/sdk/index.ts';
import { composeProblems } from '../../testkit/compose-schema.ts';
import { composeProjectName, renderCompose } from './compose.ts';
import { kubeServiceName, renderWorkloads } from './kube.ts';
import { BRIDGE_SERVICE_KEY } from './secure.ts';
import { EdgeXServicesSchema, planServices, type EdgeXServicesConfig } from './services.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered documents are arbitrary JSON

const config = (over: Record<string, unknown> = {}): EdgeXServicesConfig => {
  const parsed = parseWithSchema(EdgeXServicesSchema, { secure: true, ...over }, 'services');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.value;
};
const compose = (over: Record<string, unknown> = {}): Json =>
  renderCompose(planServices(config(over)), { project: composeProjectName('edgex', 'plant-a'), site: 'plant-a', addon: 'edgex', busPort: 1884 });

/** EdgeX's stage-gate block, on every service of its secure file. */
const STAGEGATE = {
  PROXY_SETUP_HOST: 'edgex-security-proxy-setup',
  STAGEGATE_BOOTSTRAPPER_HOST: 'edgex-security-bootstrapper',
  STAGEGATE_BOOTSTRAPPER_STARTPORT: '54321',
  STAGEGATE_DATABASE_HOST: 'edgex-postgres',
  STAGEGATE_DATABASE_PORT: '5432',
  STAGEGATE_DATABASE_READYPORT: '5432',
  STAGEGATE_PROXYSETUP_READYPORT: '54325',
  STAGEGATE_READY_TORUNPORT: '54329',
  STAGEGATE_REGISTRY_HOST: 'edgex-core-keeper',
  STAGEGATE_REGISTRY_PORT: '59890',
  STAGEGATE_REGISTRY_READYPORT: '54324',
  STAGEGATE_SECRETSTORESETUP_HOST: 'edgex-security-secretstore-setup',
  STAGEGATE_SECRETSTORESETUP_TOKENS_READYPORT: '54322',
  STAGEGATE_WAITFOR_TIMEOUT: '60s',
};
/** EdgeX's secret-store block, on every service but nginx, the secret store and the bootstrapper. */
const SEC = { CLIENTS_SECURITY_SECRETSTORE_SETUP_HOST: 'edgex-security-secretstore-setup', EDGEX_SECURITY_SECRET_STORE: 'true', SECRETSTORE_HOST: 'edgex-secret-store' };
const CP = '-cp=keeper.http://edgex-core-keeper:59890';
const WRAPPER = '/edgex-init/ready_to_run_wait_install.sh';
const ro = (key: string) => ({ type: 'bind', source: `./secrets/${key}`, target: `/tmp/edgex/secrets/${key}`, read_only: true, bind: { create_host_path: true, selinux: 'z' } });
const INIT_RO = { type: 'volume', source: 'edgex-init', target: '/edgex-init', read_only: true };

describe("EdgeX's secure mode in Compose", () => {
  it('adds the six security services to the site and is a valid Compose file', () => {
    const doc = compose();
    expect(Object.keys(doc.services).sort()).toEqual(
      [
        'app-rules-engine',
        'core-command',
        'core-common-config-bootstrapper',
        'core-data',
        'core-keeper',
        'core-metadata',
        'database',
        'device-virtual',
        'mqtt-broker',
        'ui',
        'nginx',
        'secret-store',
        'security-bootstrapper',
        'security-proxy-auth',
        'security-proxy-setup',
        'security-secretstore-setup',
      ].sort(),
    );
    expect(composeProblems(doc)).toEqual([]);
    expect(composeProblems(compose({ support: true, devices: ['device-modbus', 'device-mqtt', 'device-rest', 'device-virtual'], app: { profile: 'mqtt-export' } }))).toEqual([]);
    // Off by default: no security service.
    const plain = parseWithSchema(EdgeXServicesSchema, {}, 'services');
    expect(plain.ok && planServices(plain.value).some((s) => s.name.startsWith('security-'))).toBe(false);
  });

  it("puts EdgeX's stage gates on every service and its secret store on every EdgeX service", () => {
    const s = compose({ support: true, devices: ['device-modbus', 'device-virtual'] }).services as Json;
    for (const [name, svc] of Object.entries(s)) {
      expect(svc.environment, name).toMatchObject(STAGEGATE);
      if (['nginx', 'secret-store', 'security-bootstrapper'].includes(name)) expect(svc.environment.SECRETSTORE_HOST, name).toBeUndefined();
      else expect(svc.environment, name).toMatchObject(SEC);
      // The wrappers: read-only everywhere but in the bootstrapper, which fills them in.
      const init = (svc.volumes as Json[]).find((v) => v.source === 'edgex-init');
      expect(init, name).toEqual(name === 'security-bootstrapper' ? { type: 'volume', source: 'edgex-init', target: '/edgex-init' } : INIT_RO);
    }
  });

  it("runs each service as EdgeX's secure file does", () => {
    const s = compose({ devices: ['device-mqtt', 'device-virtual'] }).services as Json;
    expect(s['core-keeper'].command).toEqual(['/core-keeper']);
    expect(s['core-keeper'].entrypoint).toBeUndefined();
    expect(s['core-keeper'].environment).toEqual({
      ...SEC,
      ...STAGEGATE,
      // EdgeX writes the Compose service name here, security-proxy-auth; its host name is the same container.
      CLIENTS_SECURITY_PROXY_AUTH_HOST: 'edgex-proxy-auth',
      DATABASE_HOST: 'edgex-postgres',
      MESSAGEBUS_AUTHMODE: 'usernamepassword',
      MESSAGEBUS_HOST: 'edgex-mqtt-broker',
      MESSAGEBUS_PORT: '1883',
      MESSAGEBUS_PROTOCOL: 'tcp',
      MESSAGEBUS_SECRETNAME: 'message-bus',
      MESSAGEBUS_TYPE: 'mqtt',
      SERVICE_HOST: 'edgex-core-keeper',
    });
    expect(s['core-keeper'].volumes).toEqual(expect.arrayContaining([INIT_RO, ro('core-keeper')]));
    expect(s['core-common-config-bootstrapper'].entrypoint).toEqual([WRAPPER]);
    expect(s['core-common-config-bootstrapper'].command).toEqual(['/entrypoint.sh', '/core-common-config-bootstrapper', '--registry', CP]);
    expect(s['core-common-config-bootstrapper'].environment).toMatchObject({
      ALL_SERVICES_CLIENTS_SECURITY_PROXY_AUTH_HOST: 'edgex-proxy-auth',
      ALL_SERVICES_MESSAGEBUS_AUTHMODE: 'usernamepassword',
      ALL_SERVICES_MESSAGEBUS_SECRETNAME: 'message-bus',
      ALL_SERVICES_DATABASE_HOST: 'edgex-postgres',
    });
    for (const name of ['core-data', 'core-metadata', 'core-command', 'app-rules-engine', 'device-virtual', 'device-mqtt']) {
      expect(s[name].entrypoint, name).toEqual([WRAPPER]);
      expect(s[name].volumes, name).toContainEqual(ro(name));
    }
    expect(s['core-data'].command).toEqual(['/core-data', '--registry', CP]);
    expect(s['app-rules-engine'].command).toEqual(['/app-service-configurable', '--registry', CP]);
    // Secure device services name the executable, then --registry, then the provider.
    expect(s['device-virtual'].command).toEqual(['/device-virtual', '--registry', CP]);
    expect(Object.keys(s['device-virtual'].depends_on).sort()).toEqual(['core-common-config-bootstrapper', 'core-data', 'core-keeper', 'core-metadata', 'security-bootstrapper']);
    expect(Object.keys(s['core-data'].depends_on).sort()).toEqual(['core-common-config-bootstrapper', 'core-keeper', 'database', 'security-bootstrapper', 'security-secretstore-setup']);
    expect(s['device-mqtt'].environment).toMatchObject({ MQTTBROKERINFO_AUTHMODE: 'usernamepassword', MQTTBROKERINFO_CREDENTIALSNAME: 'message-bus' });
    expect(s.ui.command).toEqual(['./edgex-ui-server', '--configDir=res/docker']);

    // The database: its password from the secret store, none in the file.
    expect(s.database.entrypoint).toEqual(['/edgex-init/postgres_wait_install.sh']);
    expect(s.database.environment).toEqual({ ...SEC, ...STAGEGATE, DATABASECONFIG_NAME: 'create-users.sh', DATABASECONFIG_PATH: '/tmp/postgres-init-scripts', POSTGRES_DB: 'edgex_db' });
    expect(s.database.tmpfs).toEqual(['/run', '/tmp']);
    expect(s.database.volumes).toEqual(expect.arrayContaining([ro('security-bootstrapper-postgres'), { type: 'volume', source: 'db-data', target: '/var/lib/postgresql/data' }]));
    // The broker: a password file the wrapper writes, so it runs as root.
    expect(s['mqtt-broker'].entrypoint).toEqual(['/edgex-init/messagebus_wait_install.sh']);
    expect(s['mqtt-broker'].command).toEqual(['/usr/sbin/mosquitto', '-c', '/mosquitto/config/mosquitto.conf']);
    expect(s['mqtt-broker'].environment).toMatchObject({
      BROKER_TYPE: 'mosquitto',
      CONF_DIR: '/edgex-init/bootstrap-mosquitto/res',
      ENTRYPOINT: '/docker-entrypoint.sh /usr/sbin/mosquitto  -c  /mosquitto/config/mosquitto.conf',
    });
    expect(s['mqtt-broker'].user).toBe('root:root');
    expect(s['mqtt-broker'].volumes).toEqual(expect.arrayContaining([{ type: 'volume', source: 'mqtt', target: '/mosquitto' }, ro('security-bootstrapper-messagebus')]));

    // The security services.
    const store = s['secret-store'];
    expect([store.image, store.command, store.entrypoint, store.user]).toEqual(['openbao/openbao:2.1.1', ['server'], ['/edgex-init/secretstore_wait_install.sh'], 'root:root']);
    expect(store.environment.BAO_LOCAL_CONFIG).toBe(
      'listener "tcp" { \n  address = "edgex-secret-store:8200" \n  tls_disable = "1" \n  cluster_address = "edgex-secret-store:8201" \n} \nbackend "file" {\n  path = "/openbao/file"\n}\ndefault_lease_ttl = "168h" \nmax_lease_ttl = "720h"\ndisable_mlock = true\n',
    );
    expect([store.read_only, store.security_opt, store.tmpfs]).toEqual([undefined, undefined, ['/openbao/config']]);
    expect(store.ports).toEqual(['127.0.0.1:8200:8200/tcp']);
    const setup = s['security-secretstore-setup'];
    expect(setup.volumes).toContainEqual({ type: 'bind', source: './secrets', target: '/tmp/edgex/secrets', bind: { create_host_path: true, selinux: 'z' } });
    expect(setup.ports).toBeUndefined();
    expect(Object.keys(setup.depends_on).sort()).toEqual(['secret-store', 'security-bootstrapper']);
    expect(s['security-bootstrapper'].environment).toMatchObject({ EDGEX_GROUP: '2001', EDGEX_USER: '2002' });
    expect(s['security-proxy-auth'].hostname).toBe('edgex-proxy-auth');
    expect(s['security-proxy-auth'].entrypoint).toEqual(['/bin/sh', WRAPPER]);
    expect(s['security-proxy-auth'].command).toEqual(['entrypoint.sh', '/security-proxy-auth', '--registry', CP]);
    expect(s['security-proxy-auth'].user).toBeUndefined();
    expect(s.nginx.command).toEqual(['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    expect(s.nginx.entrypoint).toEqual(['/bin/sh', '/edgex-init/nginx_wait_install.sh']);
    // The gateway on loopback, as every port here (EdgeX publishes 8443 on every address).
    expect(s.nginx.ports).toEqual(['127.0.0.1:8443:8443/tcp']);
  });

  it('gives the bridge, and the services EdgeX leaves out, a token, the bus credentials and a gateway route', () => {
    const byDefault = compose().services['security-secretstore-setup'].environment;
    expect(byDefault.EDGEX_ADD_SECRETSTORE_TOKENS).toBe(BRIDGE_SERVICE_KEY);
    expect(byDefault.EDGEX_ADD_KNOWN_SECRETS).toBe(
      'postgres[app-rules-engine],message-bus[app-rules-engine],message-bus[device-rest],message-bus[device-virtual],message-bus[edgeadm-bridge]',
    );
    expect(compose().services['security-proxy-setup'].environment.EDGEX_ADD_PROXY_ROUTE).toBeUndefined();
    const more = compose({ app: { profile: 'mqtt-export' }, devices: ['device-modbus', 'device-mqtt', 'device-rest'] }).services;
    expect(more['security-secretstore-setup'].environment.EDGEX_ADD_SECRETSTORE_TOKENS).toBe('app-mqtt-export,device-modbus,device-mqtt,edgeadm-bridge');
    expect(more['security-secretstore-setup'].environment.EDGEX_ADD_KNOWN_SECRETS.split(',')).toEqual(
      expect.arrayContaining(['postgres[app-mqtt-export]', 'message-bus[app-mqtt-export]', 'message-bus[device-modbus]', 'message-bus[device-mqtt]', 'message-bus[edgeadm-bridge]']),
    );
    expect(more['security-proxy-setup'].environment.EDGEX_ADD_PROXY_ROUTE).toBe(
      'app-mqtt-export.http://edgex-app-mqtt-export:59701,device-modbus.http://edgex-device-modbus:59901,device-mqtt.http://edgex-device-mqtt:59982,device-rest.http://edgex-device-rest:59986',
    );
  });

  it("keeps each project's tokens beside its own file, never in the host's /tmp", () => {
    const text = JSON.stringify(compose());
    expect(text).not.toMatch(/"source":"\/tmp/);
    expect(text).toContain('"source":"./secrets/core-data"');
  });
});

describe("EdgeX's secure mode on Kubernetes", () => {
  const workloads = (over: Record<string, unknown> = {}) => renderWorkloads(planServices(config({ ui: false, ...over })), 'edgex');

  it("is valid by Kubernetes' OpenAPI schemas, without EdgeX's Docker-only gateway", () => {
    const w = workloads({ support: true, devices: ['device-modbus', 'device-virtual'] });
    for (const d of w.deployments ?? []) new Deployment({ metadata: { name: `edgex-${d.name}-plant-a` }, spec: structuredClone(d.spec) as never }).validate();
    for (const s of w.services ?? []) new Service({ metadata: { name: kubeServiceName('edgex', s.name) }, spec: structuredClone(s.spec) }).validate();
    const names = (w.deployments ?? []).map((d) => d.name);
    expect(names).toEqual(expect.arrayContaining(['security-bootstrapper', 'secret-store', 'security-secretstore-setup', 'security-proxy-setup', 'security-proxy-auth']));
    expect(names).not.toContain('nginx');
  });

  it('refuses the UI, which calls EdgeX through that gateway, naming the field', () => {
    let thrown: unknown;
    try {
      renderWorkloads(planServices(config()), 'edgex');
    } catch (err) {
      thrown = err;
    }
    expect(isEdgeError(thrown) && thrown.code).toBe('EDGE_ERR_EDGEX_SERVICES_CONFIG');
    expect((thrown as Error).message).toMatch(/services\.ui .*nginx/);
  });

  it("puts a site's pods on the bootstrapper's node, their folders the node's, the gates on the Services", () => {
    const w = workloads();
    const by = new Map((w.deployments ?? []).map((d) => [d.name, d.spec as Json]));
    const svc = new Map((w.services ?? []).map((s) => [s.name, s.spec as Json]));
    for (const [name, spec] of by) {
      const pod = spec.template.spec;
      expect(pod.hostname, name).toBe(kubeServiceName('edgex', name));
      if (name === 'security-bootstrapper') expect(pod.affinity, name).toBeUndefined();
      else {
        expect(pod.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution, name).toEqual([
          { labelSelector: { matchLabels: by.get('security-bootstrapper')!.selector.matchLabels }, topologyKey: 'kubernetes.io/hostname' },
        ]);
      }
      // Every mount has its volume.
      const vols = new Set((pod.volumes ?? []).map((v: Json) => v.name));
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) for (const m of c.volumeMounts ?? []) expect(vols, `${name}: ${m.name}`).toContain(m.name);
    }
    const data = by.get('core-data')!.template.spec;
    expect(data.volumes).toContainEqual({ name: 'secrets-core-data', hostPath: { path: '/var/lib/edgeadm/edgex/secrets/core-data', type: 'DirectoryOrCreate' } });
    expect(data.volumes).toContainEqual({ name: 'edgex-init', hostPath: { path: '/var/lib/edgeadm/edgex/edgex-init', type: 'DirectoryOrCreate' } });
    // The config bootstrapper, an init container here, has its own token and the wrappers.
    const init = data.initContainers[0];
    expect(init.command).toEqual([WRAPPER]);
    expect(init.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'edgex-init', mountPath: '/edgex-init', readOnly: true },
        { name: 'secrets-core-common-config-bootstrapper', mountPath: '/tmp/edgex/secrets/core-common-config-bootstrapper', readOnly: true },
      ]),
    );
    // Compose's entrypoint is Kubernetes' command; its command the args.
    expect(data.containers[0].command).toEqual([WRAPPER]);
    expect(data.containers[0].args).toEqual(['/core-data', '--registry', '-cp=keeper.http://edgex-core-keeper-svc:59890']);
    expect(svc.get('security-bootstrapper')!.ports.map((p: Json) => p.port)).toEqual([54321, 54329]);
    expect(svc.get('security-secretstore-setup')!.ports.map((p: Json) => p.port)).toEqual([54322, 59843]);
    const store = by.get('secret-store')!.template.spec.containers[0];
    expect(store.securityContext).toEqual({ runAsUser: 0, runAsGroup: 0 });
    expect(store.env.find((e: Json) => e.name === 'BAO_LOCAL_CONFIG').value).toContain('address = "edgex-secret-store-svc:8200"');
    expect(store.readinessProbe.tcpSocket).toEqual({ port: 8200 });
  });
});
