/**
 * `edgeadm manifests crds|install`. In process: every non-CRD object checked
 * against Kubernetes' own OpenAPI schemas (kubernetes-models), the RBAC's
 * least privilege, the hub container's flags read by `edgeadm hub run`'s own
 * parser, the probes and the PKI Secret against a real hub started from that
 * PKI over HTTPS, --pki-dir keeping the CA and never writing the folder,
 * --generate-pki making new keys each run, and flag problems reported all
 * at once. The health webhook: its Deployment's flags read by `edgeadm
 * health webhook`'s parser, its MutatingWebhookConfiguration, and its
 * serving certificate (from the hub CA, or from the printed openssl
 * commands) served by a real webhook that a client trusting the caBundle
 * reaches at the Service's name. Then once per command through the binary: the install output and
 * the CRDs applied with kubectl against the Kubernetes API test server,
 * followed by SuperEdge's manifests (test/fixtures/superedge) unchanged.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding, type IClusterRole, type IPolicyRule, type IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Namespace, Secret, Service, ServiceAccount, type IContainer, type IPodSpec, type ISecret, type IService } from 'kubernetes-models/v1';
import { MutatingWebhookConfiguration, type IMutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { certificateInfo, loadOrCreateHubPki } from '../core/pki/index.ts';
import { startHealthWebhook } from '../core/health/index.ts';
import { createLogger } from '../core/kernel/index.ts';
import { ACCESS_RULES, ANYONE, startHub } from '../core/hub/index.ts';
import { runEdgeadm } from '../test/support/edgeadm-cli.ts';
import { startKubeApiServer, type KubeApiServer } from '../test/support/kube-apiserver/index.ts';
import { buildProgram } from './main.ts';
import { certHosts, checkInstallFlags, hubHosts, installManifests, pkiInitScript, platformCrds, preparePki, prepareWebhookTls, toYamlStream, webhookHosts, webhookTlsCommands, type InstallOptions, type Manifest } from './manifests.ts';

const run = promisify(execFile);
const KUBECTL = process.env.EDGEADM_KUBECTL ?? '/usr/bin/kubectl';
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures/superedge');
const quiet = createLogger({ level: 'silent' });
const BASE: Omit<InstallOptions, 'pki'> = { namespace: 'edge-system', replicas: 1, image: 'registry.example.com/edgeadm:0.1.0', hubUrl: 'https://hub.example.com:7443' };

/** A printed object, as the tests read it. */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [field: string]: unknown;
}

/** Kubernetes' schema for each built-in kind the install prints. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function validateWithModel(obj: Manifest): void {
  const Model = MODELS[`${String(obj.apiVersion)}/${String(obj.kind)}`];
  if (Model === undefined) throw new Error(`no model for ${String(obj.apiVersion)} ${String(obj.kind)}`);
  new Model(structuredClone(obj) as never).validate();
}

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

let scratch: string;
let generated: Record<string, string>;
let webhookTls: { cert: string; key: string };
let objects: K8sObject[];

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'manifests-'));
  generated = await preparePki(BASE, undefined, quiet);
  webhookTls = await prepareWebhookTls(BASE.namespace, generated);
  objects = installManifests({ ...BASE, pki: generated, webhookTls }).map((m) => m.object as unknown as K8sObject);
}, 30_000);

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** The one object of `kind` (named `name`, where there are several), typed as its kubernetes-models interface. */
function one<T>(kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, kind).toHaveLength(1);
  return found[0] as unknown as T;
}

const deployment = (name = 'edgeadm-hub'): IDeployment => structuredClone(one<IDeployment>('Deployment', name));
const podSpec = (d: IDeployment = deployment()): IPodSpec => d.spec!.template.spec!;
const hubContainer = (): IContainer => podSpec().containers[0]!;


/** The status of a GET over HTTPS, trusting `ca` and naming the server as kubelet's probe or kube-apiserver would. */
function httpsStatus(url: string, ca: string | undefined, servername: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = request(url, { ca, servername }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
describe('manifests install, in process', () => {
  it('passes the Kubernetes OpenAPI schemas, every object (and the check can fail)', () => {
    expect(objects.map((o) => o.kind).filter((k) => k !== 'CustomResourceDefinition')).toEqual([
      'Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'Secret', 'Deployment', 'Service', 'Service',
      'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Deployment',
      'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Secret', 'Deployment', 'Service', 'MutatingWebhookConfiguration',
    ]);
    for (const o of objects) expect(() => validateWithModel(o), `${o.kind}/${o.metadata.name}`).not.toThrow();
    const broken = deployment();
    (podSpec(broken).containers[0]!.ports![0] as { containerPort: unknown }).containerPort = 'https';
    expect(() => validateWithModel(broken as unknown as Manifest)).toThrow(/containerPort/);
    const badRole = structuredClone(one<IRole>('Role'));
    (badRole.rules![0] as { verbs: unknown }).verbs = 'get';
    expect(() => validateWithModel(badRole as unknown as Manifest)).toThrow(/verbs/);
  });

  it('holds the CRDs of the platform kinds and of SuperEdge kinds, namespaced to the given namespace otherwise', () => {
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name);
    expect(crds).toEqual(platformCrds().map((c) => (c.metadata as { name: string }).name));
    expect(crds).toEqual(expect.arrayContaining(['sites.edgeadm.io', 'devices.edgeadm.io', 'nodeunits.site.superedge.io', 'nodegroups.site.superedge.io', 'deploymentgrids.superedge.io', 'statefulsetgrids.superedge.io', 'servicegrids.superedge.io']));
    for (const o of objects) {
      const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'MutatingWebhookConfiguration'].includes(o.kind);
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(clusterScoped ? undefined : 'edge-system');
    }
  });

  it('grants least privilege: no wildcards, Secrets only in its own namespace, cluster-wide only what is cluster-scoped', () => {
    const role = one<IRole>('Role').rules!;
    const cluster = one<IClusterRole>('ClusterRole', 'edgeadm-hub-edge-system').rules!;
    const grid = one<IClusterRole>('ClusterRole', 'edgeadm-grid-edge-system').rules!;
    const webhook = one<IClusterRole>('ClusterRole', 'edgeadm-health-webhook-edge-system').rules!;
    for (const rule of [...role, ...cluster, ...grid, ...webhook]) {
      for (const list of [rule.apiGroups, rule.resources, rule.verbs]) expect(list, JSON.stringify(rule)).not.toContain('*');
      for (const verb of ['escalate', 'bind', 'impersonate']) expect(rule.verbs).not.toContain(verb);
    }
    const about = (rules: IPolicyRule[], resource: string): IPolicyRule[] => rules.filter((r) => r.resources?.includes(resource));
    // Tokens are Secrets the hub makes and lists: RBAC cannot narrow that by name, so the rule is the namespace's (a Role, never cluster-wide).
    expect(about(role, 'secrets')).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }]);
    expect(about(cluster, 'secrets')).toEqual([]);
    expect(about(role, 'commands')).toHaveLength(1);
    expect(about(role, 'commands/status')).toHaveLength(1);
    expect(about(role, 'events').map((r) => r.verbs)).toEqual([['create', 'patch']]);
    // ConfigMaps are named by their content: created and deleted, never changed.
    expect(about(role, 'configmaps').map((r) => r.verbs)).toEqual([['get', 'list', 'watch', 'create', 'delete']]);
    // Of what is cluster-scoped the hub writes the units and groups of its sites and Addons, and patches nodes (the peers' verdicts); it creates and deletes no node.
    expect(cluster.flatMap((r) => r.resources ?? []).sort()).toEqual(['customresourcedefinitions', 'nodegroups', 'nodes', 'nodes', 'nodeunits'].sort());
    expect(about(cluster, 'nodes').map((r) => r.verbs)).toEqual([['get', 'list', 'watch'], ['get', 'patch']]);
    for (const r of cluster.filter((x) => !x.resources?.includes('nodes'))) expect(r.verbs).toEqual(r.resources?.includes('nodeunits') ? ['get', 'list', 'watch', 'create', 'update', 'delete'] : ['get', 'list', 'watch']);
    // The health webhook reads nodes and nothing else; what it changes, kube-apiserver applies from its answers.
    expect(webhook).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }]);
    // The grid controller: nodes patched only, no Secrets, ConfigMaps or pods, workloads and Services made and removed, nothing else written.
    expect(grid.flatMap((r) => r.resources ?? []).sort()).toEqual(
      ['deployments', 'deploymentgrids', 'deploymentgrids/status', 'nodegroups', 'nodegroups/status', 'nodes', 'nodeunits', 'nodeunits/status', 'services', 'servicegrids', 'servicegrids/status', 'statefulsets', 'statefulsetgrids', 'statefulsetgrids/status'].sort(),
    );
    expect(about(grid, 'nodes').map((r) => r.verbs)).toEqual([['get', 'list', 'watch', 'patch']]);
    expect(about(grid, 'nodeunits').map((r) => r.verbs)).toEqual([['get', 'list', 'watch']]);
    expect(about(grid, 'deploymentgrids').map((r) => r.verbs)).toEqual([['get', 'list', 'watch', 'update']]);
    for (const r of [...about(grid, 'deployments'), ...about(grid, 'services')]) expect(r.verbs).toEqual(['get', 'list', 'watch', 'create', 'update', 'delete']);
    const binding = objects.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === 'edgeadm-grid-edge-system') as unknown as { subjects: unknown[]; roleRef: { name: string } };
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'edgeadm-grid', namespace: 'edge-system' }]);
    expect(binding.roleRef.name).toBe('edgeadm-grid-edge-system');
    // Each rule says why, above it in the YAML.
    const yaml = toYamlStream(installManifests(BASE));
    const roleDoc = parseAllDocuments(yaml).find((d) => d.get('kind') === 'Role')!;
    expect(roleDoc.toString()).toMatch(/# .*keep the namespace the hub's alone/);
    expect(yaml).toMatch(/^ {2}# writes the peers' health verdict annotations \(nodeunhealth, health\.edgeadm\.io\/verdict\) on Nodes/m);
    expect((yaml.match(/^ {2}# /gm) ?? []).length).toBe(role.length + cluster.length + grid.length + webhook.length);
  });

  it('runs the hub non-root on a read-only root, with limits, probes on the public health route, and flags hub run knows', async () => {
    const dep = deployment();
    const pod = podSpec(dep);
    expect(dep.spec!.replicas).toBe(1);
    expect(pod.serviceAccountName).toBe('edgeadm-hub');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
      expect(c.resources?.requests).toBeDefined();
      expect(c.resources?.limits).toBeDefined();
      expect(c.image).toBe(BASE.image);
    }
    const hub = hubContainer();
    for (const probe of [hub.startupProbe, hub.livenessProbe, hub.readinessProbe]) expect(probe?.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    expect(ACCESS_RULES.find((r) => r.method === 'GET' && r.url === '/healthz')?.allow).toBe(ANYONE);
    expect(pod.volumes?.find((v) => v.name === 'pki-secret')?.secret?.secretName).toBe(one<ISecret>('Secret', 'edgeadm-hub-pki').metadata?.name);
    expect(pod.volumes?.find((v) => v.name === 'keys')?.emptyDir?.medium).toBe('Memory');
    // The hub's data directory is a folder in the data emptyDir, not its root (which everyone may write).
    expect(hub.volumeMounts?.find((m) => m.name === 'data')?.mountPath).toBe('/var/lib/edgeadm');
    expect(hub.args).toEqual(expect.arrayContaining(['--data-dir', '/var/lib/edgeadm/hub']));
    // The args are flags of `edgeadm hub run`, read by its own parser.
    const args = hub.args ?? [];
    expect(hub.command).toEqual(['edgeadm']);
    expect(args.slice(0, 2)).toEqual(['hub', 'run']);
    const runCmd = (await buildProgram()).commands.find((c) => c.name() === 'hub')!.commands.find((c) => c.name() === 'run')!;
    expect(runCmd.parseOptions(args.slice(2))).toEqual({ operands: [], unknown: [] });
    expect(args).toEqual(expect.arrayContaining(['--tls-host', 'edgeadm-hub.edge-system.svc', '--tls-host', 'hub.example.com']));
    // Its resources, tokens and commands in its namespace, reached with the pod's ServiceAccount.
    expect(args.join(' ')).toContain('--kubeconfig in-cluster --namespace edge-system');
    const services = objects.filter((o) => o.kind === 'Service' && o.metadata.name.startsWith('edgeadm-hub')) as unknown as IService[];
    expect(services.map((s) => [s.metadata?.name, s.spec?.type])).toEqual([['edgeadm-hub', 'ClusterIP'], ['edgeadm-hub-tunnel', 'LoadBalancer']]);
    for (const s of services) expect(s.spec?.selector).toEqual(dep.spec!.selector.matchLabels);
  });

  it('runs the grid controller as its own ServiceAccount, non-root on a read-only root, with probes on its metrics listener and flags grid run knows', async () => {
    const dep = deployment('edgeadm-grid');
    const pod = podSpec(dep);
    expect(dep.spec!.replicas).toBe(1);
    expect(pod.serviceAccountName).toBe('edgeadm-grid');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    const [c] = pod.containers;
    expect(c!.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(c!.resources?.limits).toBeDefined();
    expect(c!.ports).toEqual([{ name: 'metrics', containerPort: 8081, protocol: 'TCP' }]);
    expect([c!.startupProbe?.httpGet?.path, c!.livenessProbe?.httpGet?.path, c!.readinessProbe?.httpGet?.path]).toEqual(['/healthz', '/healthz', '/readyz']);
    for (const p of [c!.startupProbe, c!.livenessProbe, c!.readinessProbe]) expect(p?.httpGet).toMatchObject({ port: 'metrics', scheme: 'HTTP' });
    const args = c!.args ?? [];
    expect(args.slice(0, 2)).toEqual(['grid', 'run']);
    const runCmd = (await buildProgram()).commands.find((x) => x.name() === 'grid')!.commands.find((x) => x.name() === 'run')!;
    expect(runCmd.parseOptions(args.slice(2))).toEqual({ operands: [], unknown: [] });
    expect(args.join(' ')).toBe('grid run --kubeconfig in-cluster --metrics-host 0.0.0.0 --metrics-port 8081');
    // Not selected by the hub's Services.
    for (const s of objects.filter((o) => o.kind === 'Service') as unknown as IService[]) expect(Object.entries(s.spec!.selector!).every(([k, v]) => dep.spec!.template.metadata!.labels![k] === v)).toBe(false);
  });

  it('runs the health webhook as its own ServiceAccount, two replicas non-root on a read-only root, probes over HTTPS, flags health webhook knows', async () => {
    const dep = deployment('edgeadm-health-webhook');
    const pod = podSpec(dep);
    expect(dep.spec!.replicas).toBe(2);
    expect(pod.serviceAccountName).toBe('edgeadm-health-webhook');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const [c] = pod.containers;
    expect(pod.containers).toHaveLength(1);
    expect(c!.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(c!.resources?.requests).toBeDefined();
    expect(c!.resources?.limits).toBeDefined();
    expect(c!.image).toBe(BASE.image);
    expect(c!.ports).toEqual([{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
    expect([c!.startupProbe?.httpGet?.path, c!.livenessProbe?.httpGet?.path, c!.readinessProbe?.httpGet?.path]).toEqual(['/healthz', '/healthz', '/readyz']);
    for (const p of [c!.startupProbe, c!.livenessProbe, c!.readinessProbe]) expect(p?.httpGet).toMatchObject({ port: 'https', scheme: 'HTTPS' });
    // The args are flags of `edgeadm health webhook`, read by its own parser.
    const args = c!.args ?? [];
    expect(c!.command).toEqual(['edgeadm']);
    expect(args.slice(0, 2)).toEqual(['health', 'webhook']);
    const webhookCmd = (await buildProgram()).commands.find((x) => x.name() === 'health')!.commands.find((x) => x.name() === 'webhook')!;
    expect(webhookCmd.parseOptions(args.slice(2))).toEqual({ operands: [], unknown: [] });
    expect(args.join(' ')).toBe('health webhook --kubeconfig in-cluster --tls-cert-file /etc/edgeadm/webhook-tls/tls.crt --tls-key-file /etc/edgeadm/webhook-tls/tls.key --host 0.0.0.0 --port 8443');
    // Its certificate from the Secret, read-only.
    expect(pod.volumes?.find((v) => v.name === 'tls')?.secret?.secretName).toBe('edgeadm-health-webhook-tls');
    expect(c!.volumeMounts?.find((m) => m.name === 'tls')).toEqual({ name: 'tls', mountPath: '/etc/edgeadm/webhook-tls', readOnly: true });
    // Its Service: 443 to the pod's https port, selecting the webhook's pods only.
    const svc = one<IService>('Service', 'edgeadm-health-webhook');
    expect(svc.spec?.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    const selects = (s: IService, d: IDeployment): boolean => Object.entries(s.spec!.selector!).every(([k, v]) => d.spec!.template.metadata!.labels![k] === v);
    expect(selects(svc, dep)).toBe(true);
    for (const other of ['edgeadm-hub', 'edgeadm-grid']) expect(selects(svc, deployment(other))).toBe(false);
    for (const s of objects.filter((o) => o.kind === 'Service' && o.metadata.name !== 'edgeadm-health-webhook') as unknown as IService[]) expect(selects(s, dep)).toBe(false);
  });

  it('registers the webhook for Node updates, Endpoints and EndpointSlices, never blocking the cluster, trusting the hub CA', () => {
    const config = one<IMutatingWebhookConfiguration>('MutatingWebhookConfiguration', 'edgeadm-health');
    const hooks = config.webhooks ?? [];
    expect(hooks.map((h) => [h.name, h.clientConfig.service?.path, h.rules])).toEqual([
      ['nodes.health.edgeadm.io', '/admission/nodes', [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'], scope: 'Cluster' }]],
      ['endpoints.health.edgeadm.io', '/admission/endpoints', [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['endpoints'], scope: 'Namespaced' }]],
      ['endpointslices.health.edgeadm.io', '/admission/endpointslices', [{ apiGroups: ['discovery.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['endpointslices'], scope: 'Namespaced' }]],
    ]);
    for (const h of hooks) {
      expect(h).toMatchObject({ admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Ignore', timeoutSeconds: 5 });
      expect(h.clientConfig.service).toEqual({ namespace: 'edge-system', name: 'edgeadm-health-webhook', path: h.clientConfig.service?.path, port: 443 });
      expect(Buffer.from(h.clientConfig.caBundle ?? '', 'base64').toString('utf8')).toBe(generated['ca.crt']);
    }
    const yaml = toYamlStream(installManifests({ ...BASE, pki: generated, webhookTls }));
    const doc = parseAllDocuments(yaml).find((d) => d.get('kind') === 'MutatingWebhookConfiguration')!;
    expect(doc.toString()).toMatch(/# failurePolicy Ignore: a webhook that is down or slow \(5 s at most\) must never block the cluster/);
    // The serving certificate: issued by the hub CA for the Service's names, as a kubernetes.io/tls Secret.
    const secret = one<ISecret>('Secret', 'edgeadm-health-webhook-tls');
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(['tls.crt', 'tls.key']);
    const info = certificateInfo(Buffer.from(secret.data!['tls.crt']!, 'base64').toString('utf8'));
    expect(info.dnsNames.sort()).toEqual(['edgeadm-health-webhook.edge-system.svc', 'edgeadm-health-webhook.edge-system.svc.cluster.local']);
    expect(info.dnsNames.sort()).toEqual(webhookHosts('edge-system').sort());
    expect(info.issuer).toBe(`CN=${certificateInfo(generated['ca.crt']!).commonName}`);
  });

  it('the webhook pod, played here: a real webhook on the Secret\'s certificate answers at the Service\'s name to a client trusting the caBundle', async () => {
    const secret = one<ISecret>('Secret', 'edgeadm-health-webhook-tls');
    const tls = { cert: Buffer.from(secret.data!['tls.crt']!, 'base64').toString('utf8'), key: Buffer.from(secret.data!['tls.key']!, 'base64').toString('utf8') };
    const caBundle = Buffer.from(one<IMutatingWebhookConfiguration>('MutatingWebhookConfiguration').webhooks![0]!.clientConfig.caBundle!, 'base64').toString('utf8');
    const hook = await startHealthWebhook({ host: '127.0.0.1', port: 0, tls, nodes: new Map(), logger: quiet });
    try {
      const c = deployment('edgeadm-health-webhook').spec!.template.spec!.containers[0]!;
      for (const probe of [c.livenessProbe, c.readinessProbe]) {
        expect(await httpsStatus(`${hook.url}${probe?.httpGet?.path ?? ''}`, caBundle, 'edgeadm-health-webhook.edge-system.svc')).toBe(200);
      }
    } finally {
      await hook.close();
    }
  }, 30_000);

  it('the pod, played here: the init script lays out the Secret, and a real hub started on it serves the probe over HTTPS, hub.crt unchanged', async () => {
    // The volumes as the pod has them: emptyDirs (mode 0777, as kubelet makes them) and the Secret's files.
    const root = path.join(scratch, 'pod');
    const [secretDir, keysMount, dataMount] = ['secret', 'run', 'data'].map((d) => path.join(root, d)) as [string, string, string];
    for (const d of [secretDir, keysMount, dataMount]) await mkdir(d, { recursive: true });
    for (const d of [keysMount, dataMount]) await chmod(d, 0o777);
    for (const [file, b64] of Object.entries(one<ISecret>('Secret', 'edgeadm-hub-pki').data ?? {})) await writeFile(path.join(secretDir, file), Buffer.from(b64, 'base64'));
    const dataDir = path.join(dataMount, 'hub');
    const init = podSpec().initContainers![0]!;
    expect(init.command?.slice(0, 2)).toEqual(['node', '-e']);
    expect(init.command?.[2]).toBe(pkiInitScript({ secret: '/etc/edgeadm/pki', keys: '/run/edgeadm/pki', dataDir: '/var/lib/edgeadm/hub' }));
    await run(process.execPath, ['-e', pkiInitScript({ secret: secretDir, keys: path.join(keysMount, 'pki'), dataDir })]);
    expect((await stat(path.join(keysMount, 'pki', 'ca.key'))).mode & 0o777).toBe(0o600);
    expect((await lstat(path.join(dataDir, 'pki'))).isSymbolicLink()).toBe(true);
    // The hub refuses the emptyDir's own root as its data directory, which is why the data directory is a folder in it.
    await expect(startHub({ dataDir: dataMount, host: '127.0.0.1', port: 0, logger: quiet })).rejects.toMatchObject({ code: 'EDGE_ERR_SHARED_DIR' });
    const hub = await startHub({ dataDir, host: '127.0.0.1', port: 0, logger: quiet, tls: { hosts: certHosts(BASE) } });
    try {
      expect(await readFile(path.join(keysMount, 'pki', 'hub.crt'), 'utf8')).toBe(generated['hub.crt']);
      const probePath = hubContainer().livenessProbe?.httpGet?.path ?? '';
      expect(await httpsStatus(`${hub.url}${probePath}`, generated['ca.crt'], 'edgeadm-hub.edge-system.svc')).toBe(200);
    } finally {
      await hub.close();
    }
  }, 30_000);
});

describe('manifests install: replicas sharing readings in PostgreSQL', () => {
  const shared = (): K8sObject[] => installManifests({ ...BASE, replicas: 3, telemetrySecret: 'edgeadm-telemetry', telemetryRetentionDays: 90, pki: generated, webhookTls }).map((m) => m.object as unknown as K8sObject);

  it('runs N replicas rolling one at a time, each named after its pod and reached at its address, the URL from the Secret, a disruption budget; all valid', async () => {
    const all = shared();
    for (const o of all) expect(() => validateWithModel(o), `${o.kind}/${o.metadata.name}`).not.toThrow();
    const dep = all.find((o) => o.kind === 'Deployment' && o.metadata.name === 'edgeadm-hub') as unknown as IDeployment;
    expect(dep.spec!.replicas).toBe(3);
    expect(dep.spec!.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const hub = dep.spec!.template.spec!.containers[0]!;
    expect(hub.env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'EDGEADM_TELEMETRY', valueFrom: { secretKeyRef: { name: 'edgeadm-telemetry', key: 'url' } } },
    ]);
    // No URL in the manifests: only the Secret's name.
    expect(JSON.stringify(all)).not.toContain('postgres://');
    // The args as kubelet expands $(VAR) from the pod's env: flags `hub run` knows, a replica name and peer URL it accepts.
    const expanded = (hub.args ?? []).map((a) => a.replace('$(POD_NAME)', 'edgeadm-hub-5d8f9c7b6d-x2x9q').replace('$(POD_IP)', '10.244.1.17'));
    expect(expanded.join(' ')).toContain('--replica edgeadm-hub-5d8f9c7b6d-x2x9q --peer-url wss://10.244.1.17:7443/api/v1/tunnel/peer --tls-host 10.244.1.17');
    expect(expanded.join(' ')).toContain('--telemetry-retention 90');
    const runCmd = (await buildProgram()).commands.find((c) => c.name() === 'hub')!.commands.find((c) => c.name() === 'run')!;
    expect(runCmd.parseOptions(expanded.slice(2))).toEqual({ operands: [], unknown: [] });
    const pdb = all.find((o) => o.kind === 'PodDisruptionBudget');
    expect(pdb).toMatchObject({ metadata: { name: 'edgeadm-hub', namespace: 'edge-system' }, spec: { minAvailable: 1, selector: { matchLabels: dep.spec!.selector.matchLabels } } });
    // One replica keeps the old shape: readings in its emptyDir, recreated, no budget.
    expect(objects.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
    expect(deployment().spec!.strategy).toEqual({ type: 'Recreate' });
    expect(hubContainer().env).toBeUndefined();
  });

  it('exports every reading to the broker in a Secret, in the format asked for, with the URL never in the manifests', async () => {
    const all = installManifests({ ...BASE, replicas: 2, telemetrySecret: 'edgeadm-telemetry', exportSecret: 'edgeadm-export', exportFormat: 'sparkplug', pki: generated, webhookTls }).map((m) => m.object as unknown as K8sObject);
    for (const o of all) expect(() => validateWithModel(o), `${o.kind}/${o.metadata.name}`).not.toThrow();
    const dep = all.find((o) => o.kind === 'Deployment' && o.metadata.name === 'edgeadm-hub') as unknown as IDeployment;
    const hub = dep.spec!.template.spec!.containers[0]!;
    expect(hub.env).toContainEqual({ name: 'EDGEADM_EXPORT', valueFrom: { secretKeyRef: { name: 'edgeadm-export', key: 'url' } } });
    expect(hub.args?.join(' ')).toContain('--export-format sparkplug');
    const runCmd = (await buildProgram()).commands.find((c) => c.name() === 'hub')!.commands.find((c) => c.name() === 'run')!;
    expect(runCmd.parseOptions((hub.args ?? []).slice(2)).unknown).toEqual([]);
    expect(JSON.stringify(all)).not.toMatch(/mqtts?:\/\//);
    expect(checkInstallFlags({ namespace: 'ns', replicas: '1', image: 'i', exportSecret: 'mqtt-url', exportFormat: 'edgex' })).toMatchObject({ exportSecret: 'mqtt-url', exportFormat: 'edgex' });
    expect(() => checkInstallFlags({ namespace: 'ns', replicas: '1', image: 'i', exportFormat: 'json' })).toThrow(/--export-format: needs --export-secret/);
    expect(() => checkInstallFlags({ namespace: 'ns', replicas: '1', image: 'i', exportSecret: 's', exportFormat: 'csv' })).toThrow(/--export-format: 'csv' is not json, edgex, sparkplug/);
    expect(() => checkInstallFlags({ namespace: 'ns', replicas: '1', image: 'i', exportSecret: 'Bad Name' })).toThrow(/--export-secret: 'Bad Name'/);
  });

  it('refuses replicas without a shared telemetry store, and names a bad Secret or retention', () => {
    expect(() => checkInstallFlags({ namespace: 'ns', replicas: '3', image: 'i' })).toThrow(/--replicas: 3 replicas would each keep their own readings.*--telemetry-secret/);
    expect(checkInstallFlags({ namespace: 'ns', replicas: '3', image: 'i', telemetrySecret: 'pg-url', telemetryRetention: '30' })).toEqual({ namespace: 'ns', replicas: 3, image: 'i', telemetrySecret: 'pg-url', telemetryRetentionDays: 30 });
    expect(() => checkInstallFlags({ namespace: 'ns', replicas: '1', image: 'i', telemetrySecret: 'Bad Name' })).toThrow(/--telemetry-secret: 'Bad Name'/);
    expect(() => checkInstallFlags({ namespace: 'ns', replicas: '1', image: 'i', telemetryRetention: '30' })).toThrow(/--telemetry-retention: needs --telemetry-secret/);
    expect(() => checkInstallFlags({ namespace: 'ns', replicas: '1', image: 'i', telemetrySecret: 's', telemetryRetention: '0' })).toThrow(/--telemetry-retention: '0' is not a whole number of days/);
  });
});

describe('manifests install: the PKI', () => {
  it('--pki-dir keeps the CA and the hub key, re-issues hub.crt for the cluster names, and never writes the folder', async () => {
    const dir = path.join(scratch, 'existing', 'pki');
    await loadOrCreateHubPki(dir, { hosts: ['127.0.0.1'], logger: quiet });
    const before = Object.fromEntries(await Promise.all((await readdir(dir)).map(async (f) => [f, sha(await readFile(path.join(dir, f), 'utf8'))] as const)));
    const files = await preparePki(BASE, dir, quiet);
    expect(sha(files['ca.crt']!)).toBe(before['ca.crt']);
    expect(sha(files['ca.key']!)).toBe(before['ca.key']);
    expect(sha(files['hub.key']!)).toBe(before['hub.key']);
    const info = certificateInfo(files['hub.crt']!);
    expect(info.dnsNames).toEqual(expect.arrayContaining(hubHosts(BASE)));
    const after = Object.fromEntries(await Promise.all((await readdir(dir)).map(async (f) => [f, sha(await readFile(path.join(dir, f), 'utf8'))] as const)));
    expect(after).toEqual(before);
  }, 30_000);

  it('--pki-dir refuses a folder whose key does not match its certificate, with the PKI error', async () => {
    const a = path.join(scratch, 'a', 'pki');
    const b = path.join(scratch, 'b', 'pki');
    await loadOrCreateHubPki(a, { hosts: ['127.0.0.1'], logger: quiet });
    await loadOrCreateHubPki(b, { hosts: ['127.0.0.1'], logger: quiet });
    await writeFile(path.join(a, 'ca.key'), await readFile(path.join(b, 'ca.key')));
    await expect(preparePki(BASE, a, quiet)).rejects.toMatchObject({ code: expect.stringMatching(/^EDGE_ERR_PKI_/) });
  }, 30_000);

  it('--generate-pki makes new keys on each run; without a PKI flag there is no Secret and the header says how to make it', async () => {
    const again = await preparePki(BASE, undefined, quiet);
    expect(again['ca.key']).not.toBe(generated['ca.key']);
    const plain = installManifests(BASE);
    expect(plain.map((m) => m.object.kind)).not.toContain('Secret');
    // Without the PKI, the webhook has no caBundle, and says so above it.
    const config = plain.find((m) => m.object.kind === 'MutatingWebhookConfiguration')!;
    for (const h of (config.object as unknown as IMutatingWebhookConfiguration).webhooks!) expect(h.clientConfig.caBundle).toBeUndefined();
    expect(config.comment).toMatch(/No caBundle: no PKI was given/);
    expect(() => validateWithModel(config.object)).not.toThrow();
  });

  it('without a PKI flag, the printed commands make a webhook certificate from a hub CA that the webhook serves at the Service\'s name', async () => {
    const hubPki = path.join(scratch, 'webhook-cmds', 'pki');
    await loadOrCreateHubPki(hubPki, { hosts: ['127.0.0.1'], logger: quiet });
    const before = await readdir(hubPki);
    const work = path.join(scratch, 'webhook-cmds', 'work');
    await mkdir(work, { recursive: true });
    const commands = webhookTlsCommands('edge-system', hubPki);
    expect(commands.slice(3).join('\n')).toMatch(/kubectl -n edge-system create secret tls edgeadm-health-webhook-tls --cert=tls.crt --key=tls.key\n.*mutatingwebhookconfiguration edgeadm-health/);
    // The openssl steps, as a shell runs them; the kubectl steps need a cluster.
    await run('/bin/sh', ['-ec', commands.slice(0, 3).join('\n')], { cwd: work });
    const cert = await readFile(path.join(work, 'tls.crt'), 'utf8');
    const info = certificateInfo(cert);
    expect(info.dnsNames.sort()).toEqual(webhookHosts('edge-system').sort());
    const ca = await readFile(path.join(hubPki, 'ca.crt'), 'utf8');
    expect(info.issuer).toBe(`CN=${certificateInfo(ca).commonName}`);
    // The hub's pki/ folder is only read (no serial file).
    expect(await readdir(hubPki)).toEqual(before);
    const hook = await startHealthWebhook({ host: '127.0.0.1', port: 0, tls: { cert, key: await readFile(path.join(work, 'tls.key'), 'utf8') }, nodes: new Map(), logger: quiet });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${hook.url}/healthz`, { ca, servername: 'edgeadm-health-webhook.edge-system.svc' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
    } finally {
      await hook.close();
    }
  }, 30_000);

  it('reports every bad flag at once, naming each', () => {
    let err: unknown;
    try {
      checkInstallFlags({ namespace: 'Bad_NS', replicas: '2', image: 'a b', hubUrl: 'http://x', pkiDir: path.join(scratch, 'none'), generatePki: true });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'EDGE_ERR_USAGE' });
    const message = (err as Error).message;
    for (const flag of ["--namespace 'Bad_NS'", "--replicas 2 replicas", "--image 'a b'", "--hub-url 'http://x'", '--pki-dir and --generate-pki exclude', `--pki-dir ${path.join(scratch, 'none')} does not exist`]) expect(message).toContain(flag);
    expect(() => checkInstallFlags({ namespace: 'ns', replicas: '0', image: 'i' })).toThrow(/--replicas: '0' is not a whole number of at least 1/);
    expect(() => checkInstallFlags({ namespace: 'ns', replicas: '1', image: 'i', hubUrl: 'https://h:7443/api' })).toThrow(/no path/);
    expect(checkInstallFlags({ namespace: 'ns', replicas: '1', image: 'i', hubUrl: 'https://h:7443' })).toEqual({ namespace: 'ns', replicas: 1, image: 'i', hubUrl: 'https://h:7443' });
  });
});

describe('through the binary, applied with kubectl to the Kubernetes API test server', () => {
  let kube: KubeApiServer;
  let kubeconfig: string;
  const k = async (...args: string[]): Promise<string> => (await run(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { timeout: 30_000 })).stdout;

  beforeAll(async () => {
    kube = await startKubeApiServer();
    kubeconfig = await kube.kubeconfig(scratch);
  });
  afterAll(async () => {
    await kube?.close();
  });

  it('crds -o json: a List of every CRD', async () => {
    const r = await runEdgeadm(['manifests', 'crds', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as { apiVersion: string; kind: string; items: unknown[] };
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List' });
    expect(list.items).toEqual(JSON.parse(JSON.stringify(platformCrds())));
  }, 30_000);

  it('install applies, then SuperEdge manifests apply unchanged and broken ones are refused naming the field', async () => {
    const r = await runEdgeadm(['manifests', 'install', '--generate-pki', '--namespace', 'edge-system', '--hub-url', 'https://hub.example.com:7443']);
    expect(r.code, r.stderr).toBe(0);
    const docs = parseAllDocuments(r.stdout);
    for (const d of docs) validateWithModel(d.toJS() as Manifest);

    // Everything applies: the test server stores RBAC objects and ServiceAccounts (it does not enforce them).
    // A MutatingWebhookConfiguration only where the test server serves admissionregistration.k8s.io (its schema is checked above either way).
    const servesWebhooks = (await k('api-resources', '--api-group=admissionregistration.k8s.io', '-o', 'name')).includes('mutatingwebhookconfigurations');
    const apply = servesWebhooks ? docs : docs.filter((d) => d.get('kind') !== 'MutatingWebhookConfiguration');
    expect(docs.length - apply.length).toBe(servesWebhooks ? 0 : 1);
    const file = path.join(scratch, 'install.yaml');
    await writeFile(file, apply.map((d) => d.toString()).join('---\n'));
    const applied = await k('apply', '-f', file);
    expect(applied.trim().split('\n').filter((l) => l.endsWith(' created'))).toHaveLength(apply.length);
    expect(applied).toContain('deployment.apps/edgeadm-hub created');
    expect(applied).toContain('customresourcedefinition.apiextensions.k8s.io/nodeunits.site.superedge.io created');
    expect(await k('wait', '--for', 'condition=established', '--timeout=10s', 'crd', '--all')).toMatch(/condition met/);

    // SuperEdge's manifests, as its docs write them.
    const fixtures = await k('apply', '-f', FIXTURES);
    for (const name of ['nodeunit.site.superedge.io/nodeunit-demo', 'nodeunit.site.superedge.io/unit-node-all', 'nodeunit.site.superedge.io/unit-kins-beijing', 'nodegroup.site.superedge.io/nodegroup-demo', 'deploymentgrid.superedge.io/deploymentgrid-demo', 'deploymentgrid.superedge.io/deploymentgrid-canary', 'statefulsetgrid.superedge.io/statefulsetgrid-demo', 'servicegrid.superedge.io/servicegrid-demo']) {
      expect(fixtures).toContain(`${name} created`);
    }
    // Defaults from the CRD, as SuperEdge's: type edge, autonomy L3; the embedded specs kept whole.
    const all = JSON.parse(await k('get', 'nu', 'unit-node-all', '-o', 'json')) as { spec: unknown };
    expect(all.spec).toMatchObject({ type: 'other', unschedulable: false, autonomyLevel: 'L3' });
    const dg = JSON.parse(await k('get', 'dg', 'deploymentgrid-demo', '-n', 'default', '-o', 'json')) as { spec: { defaultTemplateName: string; template: IDeployment['spec'] } };
    expect(dg.spec.template!.template.spec!.containers[0]!.env).toHaveLength(4);
    expect(dg.spec.defaultTemplateName).toBe('default');
    // SuperEdge's short names (the test server does not serve CRD categories, so `kubectl get superedge` is not tried here).
    expect(await k('get', 'sg', '-n', 'default', '-o', 'name')).toBe('servicegrid.superedge.io/servicegrid-demo\n');

    const bad = path.join(scratch, 'bad-nodeunit.yaml');
    await writeFile(bad, 'apiVersion: site.superedge.io/v1alpha2\nkind: NodeUnit\nmetadata: {name: bad}\nspec: {type: bogus, setNode: {taints: [{key: a, effect: Sometimes}]}}\n');
    const refused = await k('apply', '-f', bad).then(
      () => '',
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/spec\.type: Unsupported value: "bogus"/);
    expect(refused).toMatch(/spec\.setNode\.taints\[0\]\.effect: Unsupported value: "Sometimes"/);
  }, 60_000);
});
