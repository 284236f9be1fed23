/**
 * `edgeadm manifests crds|install`: the Kubernetes manifests of the
 * platform, printed for `kubectl apply -f -`.
 *
 * `crds`: the CustomResourceDefinitions of the platform's own kinds
 * (edgeadm.io, from core/store's `edgeadmCrds()`) and of SuperEdge's unit
 * and grid kinds (site.superedge.io, superedge.io, from core/grid's
 * GRID_KINDS through the same `crdFromSchema`), with printer columns and the
 * status subresource.
 *
 * `install`: everything to run the hub in a cluster: its Namespace, the
 * CRDs, a ServiceAccount with least-privilege RBAC (each rule says why in a
 * comment above it), the hub Deployment (non-root, read-only root file
 * system, data in an emptyDir, probes on /healthz, requests and limits, the
 * PKI from a Secret), a Service for the API and one for the tunnel, the grid
 * controller (`edgeadm grid run`) as its own Deployment with its own
 * ServiceAccount and ClusterRole, the health admission webhook (`edgeadm
 * health webhook`: its ServiceAccount, ClusterRole, Deployment, Service and
 * MutatingWebhookConfiguration; its serving certificate Secret issued from
 * the hub CA when the PKI is known), and the PKI Secret itself only when asked:
 * `--pki-dir` embeds an existing hub's pki/ folder, `--generate-pki` makes a fresh CA on each run; otherwise the
 * output says, as a comment, the `kubectl create secret` to run. No key is
 * ever built into this file.
 *
 * Rules: every flag is checked before anything is made, all problems at
 * once (EDGE_ERR_USAGE, naming the flag); `-o json` prints a `v1 List`,
 * `-o yaml` (and the default) a `---` separated stream.
 */
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { Document, isMap, isSeq } from 'yaml';
import { EDGEADM_VERSION, dns1123LabelProblem, dns1123SubdomainProblem, type Logger } from '../core/kernel/index.ts';
import { commandCrd, crdFromSchema, edgeadmCrds, INITIAL_ADMIN_SECRET } from '../core/store/index.ts';
import { APPS_GROUP, GRID_KINDS, GRID_KIND_NAMES, GRID_METRICS_PORT, SITE_GROUP } from '../core/grid/index.ts';
import { HEALTH_WEBHOOK_PATHS, HEALTH_WEBHOOK_PORT, NODE_UNHEALTH_ANNOTATION, VERDICT_ANNOTATION } from '../core/health/index.ts';
import { HUB_RUN_ENV } from './config.ts';
import { contextOf } from './context.ts';
import { usage, type Problem } from './resources.ts';
import type { OutputFormat } from './output.ts';
import { examples, summary } from './commands.ts';

/** A Kubernetes object as printed. */
export type Manifest = Record<string, unknown>;

/** A manifest with the comment printed above it (YAML only). */
export interface CommentedManifest {
  object: Manifest;
  /** Lines above the document. */
  comment?: string;
  /** Per `rules[i]` of a Role or ClusterRole: why it is there. */
  ruleComments?: string[];
}

const API_GROUP = 'edgeadm.io';
const NAME = 'edgeadm-hub';
const HUB_PORT = 7443;
/** The data emptyDir's mount; the hub's data directory is a folder in it (an emptyDir's own root is writable by everyone, which the hub refuses). */
const DATA_MOUNT = '/var/lib/edgeadm';
const DATA_DIR = `${DATA_MOUNT}/hub`;
/** The Secret's files, read-only. */
const PKI_MOUNT = '/etc/edgeadm/pki';
/** A memory-backed emptyDir: the keys the hub uses never reach the node's disk. */
const KEYS_MOUNT = '/run/edgeadm';
/** The non-root user and group the hub runs as (no name needed: the image need not know it). */
const HUB_UID = 65532;
export const PKI_FILES = ['ca.crt', 'ca.key', 'hub.crt', 'hub.key'] as const;

// ---------------------------------------------------------------------------
// CRDs

/** The CRDs of the platform's kinds and the hub's Commands (edgeadm.io), and of SuperEdge's (site.superedge.io, superedge.io). */
export function platformCrds(): Manifest[] {
  return [...edgeadmCrds(), commandCrd(), ...GRID_KIND_NAMES.map((k) => crdFromSchema(GRID_KINDS[k]))];
}

// ---------------------------------------------------------------------------
// install

export interface InstallOptions {
  namespace: string;
  /** More than one needs `telemetrySecret` (each replica would keep its own readings otherwise). */
  replicas: number;
  /**
   * A Secret of the namespace whose key `url` is a postgres:// URL: the hub
   * keeps readings there (EDGEADM_TELEMETRY from the Secret, never in the
   * manifests), so they outlive the pod and replicas share them.
   */
  telemetrySecret?: string;
  /** With `telemetrySecret`: keep readings this many days. */
  telemetryRetentionDays?: number;
  /**
   * A Secret of the namespace whose key `url` is the MQTT broker to export
   * every reading to (EDGEADM_EXPORT from the Secret); the replicas run the
   * export one at a time.
   */
  exportSecret?: string;
  /** With `exportSecret`: json (default), edgex or sparkplug. */
  exportFormat?: 'json' | 'edgex' | 'sparkplug';
  image: string;
  /** Where edge nodes reach the hub from outside the cluster (its host goes into the hub certificate). */
  hubUrl?: string;
  /** The PKI files to embed as the Secret (from --pki-dir or --generate-pki); none: the Secret is made by hand. */
  pki?: Readonly<Record<string, string>>;
  /** The health webhook's serving certificate and key (PEM), issued from the PKI's CA (`prepareWebhookTls`); none: the Secret is made by hand. */
  webhookTls?: { cert: string; key: string };
}

const labels = (component: string): Record<string, string> => ({
  'app.kubernetes.io/name': 'edgeadm',
  'app.kubernetes.io/component': component,
  'app.kubernetes.io/part-of': 'edgeadm',
  'app.kubernetes.io/version': EDGEADM_VERSION,
});
const SELECTOR = { 'app.kubernetes.io/name': 'edgeadm', 'app.kubernetes.io/component': 'hub' };
const GRID_NAME = 'edgeadm-grid';
const GRID_SELECTOR = { 'app.kubernetes.io/name': 'edgeadm', 'app.kubernetes.io/component': 'grid' };
export const WEBHOOK_NAME = 'edgeadm-health-webhook';
/** The MutatingWebhookConfiguration: cluster-scoped and one per cluster (two webhooks would undo the same eviction twice). */
export const WEBHOOK_CONFIG_NAME = 'edgeadm-health';
export const WEBHOOK_TLS_SECRET = `${WEBHOOK_NAME}-tls`;
const WEBHOOK_SELECTOR = { 'app.kubernetes.io/name': 'edgeadm', 'app.kubernetes.io/component': 'health-webhook' };
/** Where the webhook's serving certificate Secret is mounted (tls.crt, tls.key). */
const WEBHOOK_TLS_MOUNT = '/etc/edgeadm/webhook-tls';

/** The DNS names the hub is reached at inside the cluster, and the external host of `hubUrl`. */
export function hubHosts(o: Pick<InstallOptions, 'namespace' | 'hubUrl'>): string[] {
  const inCluster = [NAME, `${NAME}-tunnel`].flatMap((svc) => [svc, `${svc}.${o.namespace}`, `${svc}.${o.namespace}.svc`, `${svc}.${o.namespace}.svc.cluster.local`]);
  const external = o.hubUrl === undefined ? [] : [new URL(o.hubUrl).hostname.replace(/^\[(.*)\]$/, '$1')];
  return [...new Set([...inCluster, ...external])];
}

/** The hosts `edgeadm hub run` puts into hub.crt with these flags: the listen address, loopback, then each --tls-host. */
export function certHosts(o: Pick<InstallOptions, 'namespace' | 'hubUrl'>): string[] {
  return ['0.0.0.0', '127.0.0.1', 'localhost', ...hubHosts(o)];
}

/**
 * The init container's script (run by `node -e` in the hub image, as the
 * hub's user): makes the data directory (0700), copies the PKI from the
 * read-only Secret into `keys` (0700; keys 0600, certificates 0644: the
 * modes the hub requires, which a Secret volume cannot give a non-root
 * user) and links `<dataDir>/pki` to it, where the hub looks for its PKI and
 * may re-issue hub.crt. Run again on every pod start: the Secret wins.
 */
export function pkiInitScript(p: { secret: string; keys: string; dataDir: string }): string {
  return [
    "const fs = require('node:fs');",
    `const src = ${JSON.stringify(p.secret)}, keys = ${JSON.stringify(p.keys)}, data = ${JSON.stringify(p.dataDir)};`,
    'fs.mkdirSync(data, { recursive: true, mode: 0o700 });',
    'fs.mkdirSync(keys, { recursive: true, mode: 0o700 });',
    `for (const f of ${JSON.stringify(PKI_FILES)}) {`,
    '  if (!fs.existsSync(`${src}/${f}`)) continue;',
    '  fs.copyFileSync(`${src}/${f}`, `${keys}/${f}`);',
    "  fs.chmodSync(`${keys}/${f}`, f.endsWith('.key') ? 0o600 : 0o644);",
    '}',
    'fs.rmSync(`${data}/pki`, { recursive: true, force: true });',
    'fs.symlinkSync(keys, `${data}/pki`);',
  ].join('\n');
}

/** The `kubectl create secret` that makes the PKI Secret from an existing hub's pki/ folder. */
export function pkiSecretCommand(namespace: string): string {
  return `kubectl -n ${namespace} create secret generic ${NAME}-pki ${PKI_FILES.map((f) => `--from-file=${f}=<hub data dir>/pki/${f}`).join(' ')}`;
}

interface RoleRule {
  why: string;
  rule: Manifest;
}

/** The Role's rules in the hub's namespace, each with its reason. */
function namespacedRules(): RoleRule[] {
  const own = [...edgeadmCrds(), commandCrd()].map((crd) => (crd.spec as { names: { plural: string } }).names.plural);
  const grids = ['deploymentgrids', 'statefulsetgrids', 'servicegrids'];
  return [
    {
      why: 'the platform\'s resources (Sites, Nodes, Devices, Addons, Leases, ...) and its queued device Commands are custom resources in this namespace: the hub is their store of record and writes them',
      rule: { apiGroups: [API_GROUP], resources: own, verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
    },
    {
      why: 'the hub reports what sites and devices do (agents, operating state, commands) through the status subresource only',
      rule: { apiGroups: [API_GROUP], resources: own.map((p) => `${p}/status`), verbs: ['get', 'update', 'patch'] },
    },
    {
      why: 'Addons of plugins with workloads run per site as grids: the hub creates, updates and deletes the DeploymentGrids, StatefulSetGrids and ServiceGrids of its Addons in this namespace',
      rule: { apiGroups: [APPS_GROUP], resources: grids, verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
    },
    {
      why:
        `its PKI (${NAME}-pki), API tokens, bootstrap tokens, the first admin token, the replicas' peer credential and the cluster's health key (edgeadm-health-key, rotated in place) are Secrets of this namespace (tokens as hashes only): the hub makes, lists, watches, updates and deletes them. ` +
        "RBAC cannot narrow create, list or watch to some names or labels, so this reaches every Secret of the namespace: keep the namespace the hub's alone",
      rule: { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
    },
    {
      why: "the files Addons' workloads mount (an EdgeX device service's own profiles, say) are ConfigMaps of this namespace, named by their content and never changed: the hub creates them, and deletes those no site uses",
      rule: { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'delete'] },
    },
    {
      why: 'events about the resources it manages (a site going offline, a device refused), as kubectl describe shows them; patch lets repeated events be counted',
      rule: { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    },
  ];
}

/** The ClusterRole's rules: only what is cluster-scoped. */
function clusterRules(): RoleRule[] {
  return [
    {
      why: 'checks at start that the CRDs of its kinds are installed and Established (installing them is the cluster admin\'s, with this file)',
      rule: { apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: ['get', 'list', 'watch'] },
    },
    {
      why:
        "a Site is a NodeUnit of its name (its nodes), and each Addon run as grids has a NodeGroup of its sites (both cluster-scoped): the hub writes those it labelled with its namespace, and only reads others'",
      rule: { apiGroups: [SITE_GROUP], resources: ['nodeunits', 'nodegroups'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
    },
    {
      why: 'nodes: read, for node health',
      rule: { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
    },
    {
      why:
        `writes the peers' health verdict annotations (${NODE_UNHEALTH_ANNOTATION}, ${VERDICT_ANNOTATION}) on Nodes, as patches. ` +
        'RBAC cannot narrow a patch to some annotations, so this reaches every field of every node; no create or delete (labels, taints and setNode are the grid controller\'s)',
      rule: { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
    },
  ];
}

/** The health webhook's ClusterRole: it reads Nodes only (their verdict annotations and Ready condition), and writes nothing. */
function webhookRules(): RoleRule[] {
  return [
    {
      why: 'nodes: read only, into a cache (list and watch): the webhook decides on each Endpoints and EndpointSlice by their nodes\' Ready condition and verdict annotations; it writes nothing itself (its changes are the patches kube-apiserver applies)',
      rule: { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
    },
  ];
}

/** The DNS names kube-apiserver calls the webhook's Service at (and checks its certificate for). */
export function webhookHosts(namespace: string): string[] {
  return [`${WEBHOOK_NAME}.${namespace}.svc`, `${WEBHOOK_NAME}.${namespace}.svc.cluster.local`];
}

/**
 * The commands that make the webhook's serving certificate from a hub's
 * pki/ folder without edgeadm (openssl, kubectl), and set the webhook's
 * caBundle. Nothing is written into the pki/ folder (no serial file).
 */
export function webhookTlsCommands(namespace: string, pkiDir = '<hub data dir>/pki'): string[] {
  const [svc, full] = webhookHosts(namespace);
  return [
    `printf 'subjectAltName=DNS:${svc},DNS:${full}\\nextendedKeyUsage=serverAuth\\n' > webhook.ext`,
    `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout tls.key -subj /CN=${svc} -out tls.csr`,
    `openssl x509 -req -in tls.csr -CA ${pkiDir}/ca.crt -CAkey ${pkiDir}/ca.key -set_serial 0x$(openssl rand -hex 16) -days 365 -extfile webhook.ext -out tls.crt`,
    `kubectl -n ${namespace} create secret tls ${WEBHOOK_TLS_SECRET} --cert=tls.crt --key=tls.key`,
    `CA=$(base64 -w0 ${pkiDir}/ca.crt); for i in 0 1 2; do kubectl patch mutatingwebhookconfiguration ${WEBHOOK_CONFIG_NAME} --type=json -p "[{\\"op\\":\\"add\\",\\"path\\":\\"/webhooks/$i/clientConfig/caBundle\\",\\"value\\":\\"$CA\\"}]"; done`,
  ];
}

/** The webhook's serving certificate, issued from the hub CA in `pki` for the Service's names. */
export async function prepareWebhookTls(namespace: string, pki: Readonly<Record<string, string>>): Promise<{ cert: string; key: string }> {
  const { issueCertificate } = await import('../core/pki/index.ts');
  const hosts = webhookHosts(namespace);
  const issued = await issueCertificate({ certPem: pki['ca.crt'] ?? '', keyPem: pki['ca.key'] ?? '' }, { commonName: hosts[0]!, dnsNames: hosts, usage: 'server' });
  return { cert: issued.certPem, key: issued.keyPem };
}

/**
 * The grid controller's ClusterRole. Grids live in any namespace (as with
 * SuperEdge's application-grid-controller), so the workloads and Services
 * they make are written cluster-wide: whoever may write a DeploymentGrid
 * in a namespace may have it run there, which RBAC on DeploymentGrids
 * decides. No Secrets, no ConfigMaps, no pods, no create or delete of nodes.
 */
function gridRules(): RoleRule[] {
  const grids = ['deploymentgrids', 'statefulsetgrids', 'servicegrids'];
  return [
    {
      why: 'NodeUnits and NodeGroups: read to find each unit\'s nodes and each group\'s units; their status (ready nodes, units) written through the status subresource only',
      rule: { apiGroups: [SITE_GROUP], resources: ['nodeunits', 'nodegroups'], verbs: ['get', 'list', 'watch'] },
    },
    {
      why: 'the status of NodeUnits and NodeGroups',
      rule: { apiGroups: [SITE_GROUP], resources: ['nodeunits/status', 'nodegroups/status'], verbs: ['get', 'update'] },
    },
    {
      why: 'nodes: a NodeUnit\'s setNode labels, annotations and taints and a NodeGroup\'s <group>: <unit> label are merge patches on member nodes (no create or delete)',
      rule: { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
    },
    {
      why: 'the grids, in every namespace: read to expand them; update only to remove unused templates from templatePool (autoDeleteUnusedTemplate)',
      rule: { apiGroups: [APPS_GROUP], resources: grids, verbs: ['get', 'list', 'watch', 'update'] },
    },
    {
      why: "each grid's per-unit workload states, through the status subresource",
      rule: { apiGroups: [APPS_GROUP], resources: grids.map((g) => `${g}/status`), verbs: ['get', 'update'] },
    },
    {
      why: "one Deployment or StatefulSet per unit of a grid, named <grid>-<unit>, in the grid's namespace; deleted when its unit or grid goes",
      rule: { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
    },
    {
      why: "the Service of each ServiceGrid, in the grid's namespace",
      rule: { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
    },
  ];
}

/** Every manifest of `edgeadm manifests install`, in apply order, with its comments. */
export function installManifests(o: InstallOptions): CommentedManifest[] {
  const ns = o.namespace;
  const meta = (name: string, component: string): Manifest => ({ name, namespace: ns, labels: labels(component) });
  const out: CommentedManifest[] = [];

  out.push({
    comment: ' The hub\'s namespace. Its pods meet the "restricted" Pod Security Standard, which the namespace enforces.',
    object: {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { ...labels('hub'), 'pod-security.kubernetes.io/enforce': 'restricted' } },
    },
  });
  for (const crd of platformCrds()) out.push({ object: crd });

  out.push({ comment: ' The identity the hub talks to the Kubernetes API as.', object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(NAME, 'hub') } });
  const role = namespacedRules();
  out.push({
    comment: ` What the hub may do in namespace ${ns}.`,
    ruleComments: role.map((r) => ` ${r.why}`),
    object: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(NAME, 'hub'), rules: role.map((r) => r.rule) },
  });
  out.push({
    object: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(NAME, 'hub'),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: NAME },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace: ns }],
    },
  });
  out.push(...clusterRoleFor(NAME, ns, 'hub', ' What the hub may do cluster-wide: only cluster-scoped resources.', clusterRules()));

  if (o.pki !== undefined) {
    out.push({
      comment: ' The hub\'s CA and TLS certificate (ca.crt, ca.key, hub.crt, hub.key). Keep this file as secret as the keys in it.',
      object: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta(`${NAME}-pki`, 'hub'),
        type: 'Opaque',
        data: Object.fromEntries(PKI_FILES.filter((f) => o.pki![f] !== undefined).map((f) => [f, Buffer.from(o.pki![f]!).toString('base64')])),
      },
    });
  }

  const tlsHostArgs = hubHosts(o).flatMap((h) => ['--tls-host', h]);
  const probe = (failureThreshold: number, periodSeconds: number): Manifest => ({
    httpGet: { path: '/healthz', port: 'https', scheme: 'HTTPS' },
    periodSeconds,
    timeoutSeconds: 3,
    failureThreshold,
  });
  const restricted = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } };
  const shared = o.telemetrySecret !== undefined;
  const several = o.replicas > 1;
  // Each replica names itself after its pod and is reached by the others at its pod's address (its certificate covers it: the hub re-issues hub.crt for its hosts).
  const replicaArgs = several ? ['--replica', '$(POD_NAME)', '--peer-url', `wss://$(POD_IP):${HUB_PORT}/api/v1/tunnel/peer`, '--tls-host', '$(POD_IP)'] : [];
  const retentionArgs = shared && o.telemetryRetentionDays !== undefined ? ['--telemetry-retention', String(o.telemetryRetentionDays)] : [];
  const env: Manifest[] = [
    ...(several
      ? [
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        ]
      : []),
    ...(shared ? [{ name: `EDGEADM_${HUB_RUN_ENV.telemetry}`, valueFrom: { secretKeyRef: { name: o.telemetrySecret, key: 'url' } } }] : []),
    ...(o.exportSecret === undefined ? [] : [{ name: `EDGEADM_${HUB_RUN_ENV.export}`, valueFrom: { secretKeyRef: { name: o.exportSecret, key: 'url' } } }]),
  ];
  const exportArgs = o.exportSecret !== undefined && o.exportFormat !== undefined ? ['--export-format', o.exportFormat] : [];
  out.push({
    comment:
      ` The hub. Its resources, tokens, commands and console sessions live in this namespace (custom resources and Secrets);\n` +
      (shared
        ? ` readings in PostgreSQL, at the URL in Secret ${o.telemetrySecret} (key url), which ${several ? `its ${o.replicas} replicas share` : 'outlives the pod'}.\n`
        : ` readings in an emptyDir (gone with the pod), which is why it runs one replica (--telemetry-secret shares them).\n`) +
      (o.exportSecret === undefined ? '' : ` Every reading is exported to the MQTT broker in Secret ${o.exportSecret} (key url), by one replica at a time.\n`) +
      ` The first admin token:\n` +
      ` kubectl -n ${ns} get secret ${INITIAL_ADMIN_SECRET} -o jsonpath='{.data.token}' | base64 -d`,
    object: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(NAME, 'hub'),
      spec: {
        replicas: o.replicas,
        // Readings in an emptyDir: never two hubs at once on separate data. Shared: one new pod at a time, none taken away first.
        strategy: shared ? { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } : { type: 'Recreate' },
        selector: { matchLabels: SELECTOR },
        template: {
          metadata: { labels: { ...labels('hub'), ...SELECTOR } },
          spec: {
            serviceAccountName: NAME,
            securityContext: { runAsNonRoot: true, runAsUser: HUB_UID, runAsGroup: HUB_UID, fsGroup: HUB_UID, seccompProfile: { type: 'RuntimeDefault' } },
            initContainers: [
              {
                name: 'pki',
                image: o.image,
                command: ['node', '-e', pkiInitScript({ secret: PKI_MOUNT, keys: `${KEYS_MOUNT}/pki`, dataDir: DATA_DIR })],
                securityContext: restricted,
                resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '64Mi' } },
                volumeMounts: [
                  { name: 'pki-secret', mountPath: PKI_MOUNT, readOnly: true },
                  { name: 'keys', mountPath: KEYS_MOUNT },
                  { name: 'data', mountPath: DATA_MOUNT },
                ],
              },
            ],
            containers: [
              {
                name: 'hub',
                image: o.image,
                command: ['edgeadm'],
                args: ['hub', 'run', '--data-dir', DATA_DIR, '--host', '0.0.0.0', '--port', String(HUB_PORT), '--kubeconfig', 'in-cluster', '--namespace', ns, ...tlsHostArgs, ...replicaArgs, ...retentionArgs, ...exportArgs],
                ...(env.length === 0 ? {} : { env }),
                ports: [{ name: 'https', containerPort: HUB_PORT, protocol: 'TCP' }],
                startupProbe: probe(30, 2),
                livenessProbe: probe(3, 10),
                readinessProbe: probe(2, 5),
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
                securityContext: restricted,
                volumeMounts: [
                  { name: 'data', mountPath: DATA_MOUNT },
                  { name: 'keys', mountPath: KEYS_MOUNT },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'data', emptyDir: { sizeLimit: '1Gi' } },
              // The keys stay in memory, never on the node's disk.
              { name: 'keys', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
              { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
              { name: 'pki-secret', secret: { secretName: `${NAME}-pki`, defaultMode: 0o440 } },
            ],
          },
        },
      },
    },
  });
  if (several) {
    out.push({
      comment: ' Voluntary disruptions (node drains) leave at least one hub replica serving.',
      object: { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(NAME, 'hub'), spec: { minAvailable: 1, selector: { matchLabels: SELECTOR } } },
    });
  }
  out.push({
    comment: ' The hub\'s API inside the cluster (the console, edgeadm, kubectl port-forward).',
    object: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(NAME, 'hub'),
      spec: { type: 'ClusterIP', selector: SELECTOR, ports: [{ name: 'https', port: HUB_PORT, targetPort: 'https', protocol: 'TCP' }] },
    },
  });
  out.push({
    comment:
      ' What edge nodes dial from outside: join and the tunnel (wss://.../api/v1/tunnel), on the hub\'s one HTTPS port.' +
      (o.hubUrl === undefined ? '' : `\n Point ${o.hubUrl} at this Service's external address.`),
    object: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(`${NAME}-tunnel`, 'tunnel'),
      spec: { type: 'LoadBalancer', selector: SELECTOR, ports: [{ name: 'https', port: HUB_PORT, targetPort: 'https', protocol: 'TCP' }] },
    },
  });
  out.push(...gridManifests(o, restricted));
  out.push(...webhookManifests(o, restricted));
  return out;
}

/** ClusterRole `<account>-<namespace>` with each rule's reason above it, and its binding to ServiceAccount `account` of `ns`. */
function clusterRoleFor(account: string, ns: string, component: string, comment: string, rules: RoleRule[]): CommentedManifest[] {
  const name = `${account}-${ns}`;
  const metadata = { name, labels: labels(component) };
  return [
    { comment, ruleComments: rules.map((r) => ` ${r.why}`), object: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata, rules: rules.map((r) => r.rule) } },
    {
      object: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [{ kind: 'ServiceAccount', name: account, namespace: ns }],
      },
    },
  ];
}

/**
 * The grid controller (`edgeadm grid run`): its own ServiceAccount and
 * ClusterRole, so the hub holds no right to write workloads (of nodes it
 * only patches the health verdict annotations), and
 * one replica (see core/grid/run.ts) with probes on its metrics listener.
 */
function gridManifests(o: InstallOptions, restricted: Manifest): CommentedManifest[] {
  const ns = o.namespace;
  const meta = { name: GRID_NAME, namespace: ns, labels: labels('grid') };
  const probe = (path: string, failureThreshold: number, periodSeconds: number): Manifest => ({ httpGet: { path, port: 'metrics', scheme: 'HTTP' }, periodSeconds, timeoutSeconds: 3, failureThreshold });
  return [
    { comment: ' The identity the grid controller talks to the Kubernetes API as.', object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta } },
    ...clusterRoleFor(GRID_NAME, ns, 'grid', ' What the grid controller may do: units, grids, and what grids make, in every namespace.', gridRules()),
    {
      comment:
        ' The application grid\'s controllers: NodeUnits and NodeGroups label their nodes, DeploymentGrids, StatefulSetGrids\n' +
        ' and ServiceGrids are expanded per unit. Stateless (level-triggered): one replica, replaced on failure.\n' +
        ' /metrics on port 8081 of the pod (Prometheus).',
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta,
        spec: {
          replicas: 1,
          strategy: { type: 'Recreate' },
          selector: { matchLabels: GRID_SELECTOR },
          template: {
            metadata: { labels: { ...labels('grid'), ...GRID_SELECTOR } },
            spec: {
              serviceAccountName: GRID_NAME,
              securityContext: { runAsNonRoot: true, runAsUser: HUB_UID, runAsGroup: HUB_UID, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [
                {
                  name: 'grid',
                  image: o.image,
                  command: ['edgeadm'],
                  args: ['grid', 'run', '--kubeconfig', 'in-cluster', '--metrics-host', '0.0.0.0', '--metrics-port', String(GRID_METRICS_PORT)],
                  ports: [{ name: 'metrics', containerPort: GRID_METRICS_PORT, protocol: 'TCP' }],
                  startupProbe: probe('/healthz', 30, 2),
                  livenessProbe: probe('/healthz', 3, 10),
                  readinessProbe: probe('/readyz', 2, 5),
                  resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { cpu: '1', memory: '384Mi' } },
                  securityContext: restricted,
                  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
                },
              ],
              volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
            },
          },
        },
      },
    },
  ];
}

/**
 * The health admission webhook (`edgeadm health webhook`, core/health): its
 * own ServiceAccount and read-only ClusterRole, the serving certificate
 * Secret (only when the PKI is known), two replicas behind a Service, and
 * the MutatingWebhookConfiguration that sends Node updates, Endpoints and
 * EndpointSlices to it.
 */
function webhookManifests(o: InstallOptions, restricted: Manifest): CommentedManifest[] {
  const ns = o.namespace;
  const meta = { name: WEBHOOK_NAME, namespace: ns, labels: labels('health-webhook') };
  const probe = (path: string, failureThreshold: number, periodSeconds: number): Manifest => ({ httpGet: { path, port: 'https', scheme: 'HTTPS' }, periodSeconds, timeoutSeconds: 3, failureThreshold });
  const out: CommentedManifest[] = [
    { comment: ' The identity the health webhook talks to the Kubernetes API as.', object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta } },
    ...clusterRoleFor(WEBHOOK_NAME, ns, 'health-webhook', ' What the health webhook may do: read nodes.', webhookRules()),
  ];
  if (o.webhookTls !== undefined) {
    out.push({
      comment: ` The health webhook's serving certificate, issued by the hub CA for ${webhookHosts(ns).join(' and ')}.`,
      object: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: WEBHOOK_TLS_SECRET, namespace: ns, labels: labels('health-webhook') },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': Buffer.from(o.webhookTls.cert).toString('base64'), 'tls.key': Buffer.from(o.webhookTls.key).toString('base64') },
      },
    });
  }
  out.push({
    comment:
      ' The health admission webhook: keeps the unreachable taint off nodes their site\'s peers vote healthy, and their\n' +
      ' pods\' addresses ready in Endpoints and EndpointSlices. Stateless: two replicas, so one serves while the other rolls.',
    object: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta,
      spec: {
        replicas: 2,
        selector: { matchLabels: WEBHOOK_SELECTOR },
        template: {
          metadata: { labels: { ...labels('health-webhook'), ...WEBHOOK_SELECTOR } },
          spec: {
            serviceAccountName: WEBHOOK_NAME,
            // fsGroup: the Secret's files are group-readable (0440) by the non-root user.
            securityContext: { runAsNonRoot: true, runAsUser: HUB_UID, runAsGroup: HUB_UID, fsGroup: HUB_UID, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'webhook',
                image: o.image,
                command: ['edgeadm'],
                args: ['health', 'webhook', '--kubeconfig', 'in-cluster', '--tls-cert-file', `${WEBHOOK_TLS_MOUNT}/tls.crt`, '--tls-key-file', `${WEBHOOK_TLS_MOUNT}/tls.key`, '--host', '0.0.0.0', '--port', String(HEALTH_WEBHOOK_PORT)],
                ports: [{ name: 'https', containerPort: HEALTH_WEBHOOK_PORT, protocol: 'TCP' }],
                startupProbe: probe('/healthz', 30, 2),
                livenessProbe: probe('/healthz', 3, 10),
                readinessProbe: probe('/readyz', 2, 5),
                resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { cpu: '500m', memory: '384Mi' } },
                securityContext: restricted,
                volumeMounts: [
                  { name: 'tls', mountPath: WEBHOOK_TLS_MOUNT, readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'tls', secret: { secretName: WEBHOOK_TLS_SECRET, defaultMode: 0o440 } },
              { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
            ],
          },
        },
      },
    },
  });
  out.push({
    comment: ' What kube-apiserver calls the health webhook at (port 443, as webhooks are called by default).',
    object: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta,
      spec: { type: 'ClusterIP', selector: WEBHOOK_SELECTOR, ports: [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }] },
    },
  });
  const caBundle = o.pki?.['ca.crt'] === undefined ? undefined : Buffer.from(o.pki['ca.crt']).toString('base64');
  const webhook = (name: string, path: string, rule: Manifest): Manifest => ({
    name,
    clientConfig: { service: { namespace: ns, name: WEBHOOK_NAME, path, port: 443 }, ...(caBundle === undefined ? {} : { caBundle }) },
    rules: [rule],
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Ignore',
    matchPolicy: 'Equivalent',
    timeoutSeconds: 5,
  });
  out.push({
    comment:
      ' Sends to the health webhook: Node updates (kube-controller-manager adds the unreachable taint with an update or\n' +
      ' patch of the Node itself, not of nodes/status), and Endpoints and EndpointSlices as they are written.\n' +
      ' failurePolicy Ignore: a webhook that is down or slow (5 s at most) must never block the cluster; the write then\n' +
      ' goes through unchanged, as without the webhook. It never denies, and has no side effects.' +
      (caBundle === undefined
        ? `\n No caBundle: no PKI was given, so kube-apiserver cannot trust the webhook until its caBundle is set to the CA\n that signed ${WEBHOOK_TLS_SECRET} (see the commands at the top of this output); until then the webhook is ignored.`
        : '\n caBundle: the hub CA, which issued the webhook\'s serving certificate.'),
    object: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: WEBHOOK_CONFIG_NAME, labels: labels('health-webhook') },
      webhooks: [
        webhook('nodes.health.edgeadm.io', HEALTH_WEBHOOK_PATHS.nodes, { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'], scope: 'Cluster' }),
        webhook('endpoints.health.edgeadm.io', HEALTH_WEBHOOK_PATHS.endpoints, { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['endpoints'], scope: 'Namespaced' }),
        webhook('endpointslices.health.edgeadm.io', HEALTH_WEBHOOK_PATHS.endpointslices, { apiGroups: ['discovery.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['endpointslices'], scope: 'Namespaced' }),
      ],
    },
  });
  return out;
}

// ---------------------------------------------------------------------------
// Printing

/** A `---` separated YAML stream, with each manifest's comments. */
export function toYamlStream(items: readonly CommentedManifest[], header?: string): string {
  const docs = items.map((item) => {
    const doc = new Document(item.object);
    if (item.comment !== undefined) doc.commentBefore = item.comment;
    const rules = doc.get('rules', true);
    if (item.ruleComments !== undefined && isSeq(rules)) {
      rules.items.forEach((node, i) => {
        const why = item.ruleComments![i];
        if (why !== undefined && isMap(node)) node.commentBefore = why;
      });
    }
    return doc.toString({ lineWidth: 0 });
  });
  return `${header === undefined ? '' : `${header.replace(/^/gm, '# ')}\n`}${docs.join('---\n')}`;
}

/** `-o json`: one `v1 List`. */
export function toJsonList(items: readonly Manifest[]): string {
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`;
}

function print(out: NodeJS.WritableStream, format: OutputFormat, items: readonly CommentedManifest[], header?: string): void {
  if (format === 'json') out.write(toJsonList(items.map((i) => i.object)));
  else out.write(toYamlStream(items, header));
}

// ---------------------------------------------------------------------------
// Options

interface InstallFlags {
  namespace: string;
  replicas: string;
  telemetrySecret?: string;
  telemetryRetention?: string;
  exportSecret?: string;
  exportFormat?: string;
  image: string;
  hubUrl?: string;
  pkiDir?: string;
  generatePki?: boolean;
}

/** Checks every flag; throws one EDGE_ERR_USAGE listing all problems. */
export function checkInstallFlags(f: InstallFlags): Omit<InstallOptions, 'pki'> {
  const problems: Problem[] = [];
  const nsProblem = dns1123LabelProblem(f.namespace);
  if (nsProblem !== undefined) problems.push({ argument: '--namespace', reason: `'${f.namespace}' ${nsProblem}` });
  const replicas = Number(f.replicas);
  if (!/^\d+$/.test(f.replicas) || replicas < 1) problems.push({ argument: '--replicas', reason: `'${f.replicas}' is not a whole number of at least 1` });
  else if (replicas > 1 && f.telemetrySecret === undefined) {
    problems.push({
      argument: '--replicas',
      reason: `${replicas} replicas would each keep their own readings: resources, tokens, commands and sessions are shared in the cluster, readings only with --telemetry-secret (a PostgreSQL URL)`,
    });
  }
  if (f.telemetrySecret !== undefined) {
    const p = dns1123SubdomainProblem(f.telemetrySecret);
    if (p !== undefined) problems.push({ argument: '--telemetry-secret', reason: `'${f.telemetrySecret}' ${p}` });
  }
  if (f.exportSecret !== undefined) {
    const p = dns1123SubdomainProblem(f.exportSecret);
    if (p !== undefined) problems.push({ argument: '--export-secret', reason: `'${f.exportSecret}' ${p}` });
  }
  const formats = ['json', 'edgex', 'sparkplug'] as const;
  const exportFormat = formats.find((x) => x === f.exportFormat);
  if (f.exportFormat !== undefined) {
    if (f.exportSecret === undefined) problems.push({ argument: '--export-format', reason: 'needs --export-secret (the broker to export to)' });
    else if (exportFormat === undefined) problems.push({ argument: '--export-format', reason: `'${f.exportFormat}' is not ${formats.join(', ')}` });
  }
  const days = f.telemetryRetention === undefined ? undefined : Number(f.telemetryRetention);
  if (f.telemetryRetention !== undefined) {
    if (f.telemetrySecret === undefined) problems.push({ argument: '--telemetry-retention', reason: 'needs --telemetry-secret (readings in PostgreSQL)' });
    else if (!/^\d+$/.test(f.telemetryRetention) || days! < 1) problems.push({ argument: '--telemetry-retention', reason: `'${f.telemetryRetention}' is not a whole number of days (1 or more)` });
  }
  if (f.image.trim() === '' || /\s/.test(f.image)) problems.push({ argument: '--image', reason: `'${f.image}' is not an image reference` });
  if (f.hubUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(f.hubUrl);
    } catch {
      url = undefined;
    }
    if (url === undefined || url.protocol !== 'https:' || url.hostname === '') problems.push({ argument: '--hub-url', reason: `'${f.hubUrl}' is not an https:// URL` });
    else if (url.pathname !== '/' || url.search !== '' || url.hash !== '') problems.push({ argument: '--hub-url', reason: `'${f.hubUrl}' must be the hub's root URL (https://host[:port]), with no path` });
  }
  if (f.pkiDir !== undefined && f.generatePki === true) problems.push({ argument: '--pki-dir', reason: 'and --generate-pki exclude each other: embed an existing PKI or make a new one' });
  if (f.pkiDir !== undefined) {
    const missing = ['ca.crt', 'ca.key'].filter((n) => !existsSync(path.join(f.pkiDir!, n)));
    if (!existsSync(f.pkiDir)) problems.push({ argument: '--pki-dir', reason: `${f.pkiDir} does not exist` });
    else if (missing.length > 0) problems.push({ argument: '--pki-dir', reason: `${f.pkiDir} has no ${missing.join(' and ')}: give a hub's pki/ folder (edgeadm init makes one)` });
  }
  usage(problems);
  return {
    namespace: f.namespace,
    replicas,
    image: f.image,
    ...(f.hubUrl === undefined ? {} : { hubUrl: f.hubUrl }),
    ...(f.telemetrySecret === undefined ? {} : { telemetrySecret: f.telemetrySecret }),
    ...(days === undefined ? {} : { telemetryRetentionDays: days }),
    ...(f.exportSecret === undefined ? {} : { exportSecret: f.exportSecret }),
    ...(exportFormat === undefined ? {} : { exportFormat }),
  };
}

/**
 * The PKI files for the Secret: an existing hub's pki/ folder (`from`), or a
 * fresh CA when `from` is undefined. Either way through the hub's own PKI
 * code in a scratch folder: files that do not form a CA and its hub
 * certificate are refused with its coded error, and hub.crt is (re-)issued
 * for the hosts the hub is reached at in the cluster. The scratch folder is
 * removed; `from` is never written.
 */
export async function preparePki(o: Pick<InstallOptions, 'namespace' | 'hubUrl'>, from: string | undefined, logger: Logger): Promise<Record<string, string>> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'edgeadm-pki-'));
  const dir = path.join(scratch, 'pki');
  try {
    if (from !== undefined) await cp(from, dir, { recursive: true, filter: (src) => src === from || (PKI_FILES as readonly string[]).includes(path.basename(src)) });
    const { loadOrCreateHubPki } = await import('../core/pki/index.ts');
    await loadOrCreateHubPki(dir, { hosts: certHosts(o), logger });
    const files: Record<string, string> = {};
    for (const f of PKI_FILES) files[f] = await readFile(path.join(dir, f), 'utf8');
    return files;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Commands

export function registerManifests(program: Command): void {
  const group = program.command('manifests').description(summary('manifests'));
  examples(group, ['edgeadm manifests crds | kubectl apply -f -', 'edgeadm manifests install --pki-dir /var/lib/edgeadm/hub/pki | kubectl apply -f -']);

  const crds = group
    .command('crds')
    .description('The CRDs of the platform\'s kinds (edgeadm.io) and of SuperEdge\'s NodeUnit, NodeGroup, DeploymentGrid, StatefulSetGrid and ServiceGrid')
    .action((_opts, cmd: Command) => {
      const { output } = cmd.optsWithGlobals<{ output: OutputFormat }>();
      print(process.stdout, output, platformCrds().map((object) => ({ object })));
    });
  examples(crds, ['edgeadm manifests crds | kubectl apply -f -', 'edgeadm manifests crds -o json | jq -r \'.items[].metadata.name\'']);

  const install = group
    .command('install')
    .description('Everything to run the hub in a cluster: namespace, CRDs, RBAC, Deployment, Services, and the PKI Secret when asked')
    .option('--namespace <ns>', 'namespace of the hub', 'edgeadm')
    .option('--replicas <n>', 'hub replicas (more than 1 needs --telemetry-secret)', '1')
    .option('--telemetry-secret <name>', "keep readings in PostgreSQL: a Secret of the namespace whose key 'url' is the postgres:// URL (made by you: kubectl create secret generic NAME --from-literal=url=postgres://...)")
    .option('--telemetry-retention <days>', 'with --telemetry-secret: keep readings this many days')
    .option('--export-secret <name>', "export every reading to an MQTT broker: a Secret of the namespace whose key 'url' is the mqtt:// or mqtts:// URL with its login (made by you); the replicas export one at a time")
    .option('--export-format <format>', 'with --export-secret: json, edgex or sparkplug (default json)')
    .option('--image <image>', 'hub container image (its PATH has edgeadm and node)', `edgeadm:${EDGEADM_VERSION}`)
    .option('--hub-url <url>', 'https:// URL edge nodes reach the hub at from outside (goes into the hub certificate)')
    .option('--pki-dir <dir>', "embed an existing hub's pki/ folder (ca.crt, ca.key; hub.crt, hub.key are re-issued for the cluster's names) as the Secret")
    .option('--generate-pki', 'embed a new CA and hub certificate, made fresh on each run')
    .action(async (flags: InstallFlags, cmd: Command) => {
      const ctx = contextOf(cmd);
      const o = checkInstallFlags(flags);
      const wantPki = flags.pkiDir !== undefined || flags.generatePki === true;
      const pki = wantPki ? await preparePki(o, flags.pkiDir, ctx.logger) : undefined;
      const webhookTls = pki === undefined ? undefined : await prepareWebhookTls(o.namespace, pki);
      const webhookSteps = webhookTlsCommands(o.namespace).map((c) => `  ${c}`).join('\n');
      const header = wantPki
        ? undefined
        : `No PKI Secret in this output. Make it from a hub's pki/ folder (edgeadm init makes one) before the hub can start:\n  ${pkiSecretCommand(o.namespace)}\n` +
          `No health webhook certificate either. Make it from the same CA (the webhook pods wait for ${WEBHOOK_TLS_SECRET}), then give the webhook its caBundle:\n${webhookSteps}\n` +
          'or run again with --pki-dir DIR or --generate-pki.';
      print(ctx.out, ctx.options.output, installManifests({ ...o, ...(pki === undefined ? {} : { pki }), ...(webhookTls === undefined ? {} : { webhookTls }) }), header);
      if (!wantPki) {
        process.stderr.write(`note: no PKI Secret was printed; create it with:\n  ${pkiSecretCommand(o.namespace)}\n`);
        process.stderr.write(`note: no health webhook certificate was printed; create it and set the webhook's caBundle with:\n${webhookSteps}\n`);
      }
    });
  examples(install, [
    'edgeadm manifests install --pki-dir ~/.local/share/edgeadm/hub/pki --hub-url https://hub.example.com:7443 | kubectl apply -f -',
    'edgeadm manifests install --generate-pki --namespace edge-system --image registry.example.com/edgeadm:0.1.0 > edgeadm.yaml',
    'edgeadm manifests install -o json | jq \'.items[] | select(.kind == "Deployment")\'',
  ]);
}
