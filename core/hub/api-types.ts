/**
 * The hub API's wire types: the request and response bodies of the routes
 * the CLI and the web console call, one declaration each, imported by both.
 *
 * Rules:
 * - Type declarations only, importing nothing: the console's browser
 *   modules import these types from JSDoc (`@typedef {import(...)}`), which
 *   the browser never loads and whose type check (the console's own
 *   tsconfig: DOM, no Node) must not pull in server code.
 * - The TypeBox schemas the hub validates and serialises with
 *   (core/hub/schemas.ts and the route files) stay the source of the API;
 *   api-types.test.ts checks that each type here is exactly the `Static<>`
 *   of its schema, so `npm run typecheck` fails when one changes without
 *   the other.
 * - Resource objects (Site, Device, ...) are the store's types
 *   (`Resource<Spec, Status>` from core/store); the generic parameters here
 *   let a caller say which kind a list or an answer holds.
 */

/** Every error the API answers (`ErrorSchema`): a stable `EDGE_ERR_*` code and a message naming the offending thing. */
export interface ErrorBody {
  code: string;
  message: string;
  /** Structured parameters; for EDGE_ERR_HUB_BAD_REQUEST, `issues` lists each field. */
  details?: unknown;
}

/** A resource's metadata as the API returns it. */
export interface ResourceMetaOut {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
}

/** A resource as the API returns it (`ResourceSchema`); its spec and status are those of its kind. */
export interface ResourceOut {
  apiVersion: string;
  kind: string;
  metadata: ResourceMetaOut;
  spec: unknown;
  status?: unknown;
}

/** `GET /api/v1/<plural>` (`ResourceListSchema`): one page; `continue` asks for the next. */
export interface ResourceList<T = ResourceOut> {
  items: T[];
  resourceVersion: string;
  continue?: string;
}

/** A reading as the API returns it (`ReadingOutSchema`): the stored reading and the producer stream it came in. */
export interface ReadingOut {
  site: string;
  device: string;
  profile: string;
  resource: string;
  value: unknown;
  valueType: string;
  units?: string;
  /** Nanoseconds since the Unix epoch. */
  origin: number;
  quality: string;
  qualityDetail?: string;
  seq: number;
  /** `<producer>/<stream id>`: de-duplicate on (site, stream, seq). */
  stream?: string;
}

/** `GET /api/v1/telemetry` (`TelemetryPageSchema`): `next` is the cursor of the next page. */
export interface TelemetryPage {
  items: ReadingOut[];
  next?: string;
}

/** `GET /api/v1/telemetry/latest` (`LatestSchema`): the newest reading of each resource. */
export interface LatestReadings {
  items: ReadingOut[];
}

/** `POST /api/v1/sites/{site}/devices/{device}/commands` body (`CommandCreateBody`): a write. */
export interface CommandCreateBody {
  resource: string;
  value: unknown;
  ttlSeconds?: number;
}

/** The answer to a new command (`CommandAcceptedSchema`). */
export interface CommandAccepted {
  id: string;
  state: string;
  expiresAt: string;
}

/** `GET /api/v1/commands/{id}` (`CommandSchema`). */
export interface CommandOut {
  id: string;
  site: string;
  device: string;
  /** write or read. */
  kind: string;
  /** The resource a write writes. */
  resource?: string;
  /** The value a write writes. */
  value?: unknown;
  /** What a read reads. */
  resources?: string[];
  createdAt: string;
  expiresAt: string;
  /** pending, delivered, succeeded, failed or expired. */
  state: string;
  result?: { reported?: unknown; error?: { code: string; message: string } };
}

/** `POST /api/v1/sites/{site}/devices/{device}/read` body (`DeviceReadBody`): a live read. */
export interface DeviceReadBody {
  /** deviceResources or deviceCommands of its profile; omitted or empty: every readable resource. */
  resources?: string[];
  /** How long to wait for the site's answer (ms). */
  timeoutMs?: number;
}

/** The answer to a live read (`DeviceReadSchema`): what the device said now, one reading per resource. */
export interface DeviceReadOut {
  /** The read command, also at /api/v1/commands/{id}. */
  command: string;
  site: string;
  device: string;
  readings: Omit<ReadingOut, 'seq' | 'stream'>[];
}

/** `POST /api/v1/tokens` body (`TokenCreateBody`). */
export interface ApiTokenCreateBody {
  role: 'admin' | 'viewer' | 'agent';
  /** Required for role agent, refused otherwise. */
  site?: string;
  description?: string;
  /** Omitted: no expiry. */
  ttlSeconds?: number;
}

/** An API token as lists show it (`TokenInfoSchema`): never its secret. */
export interface ApiTokenInfo {
  id: string;
  role: string;
  site?: string;
  /** Set for node credentials (issued by join). */
  node?: string;
  description: string;
  createdAt: string;
  expiresAt?: string;
  lastUsedAt?: string;
}

/** A new API token (`TokenCreatedSchema`): the bearer token is in this answer only. */
export interface ApiTokenCreated extends ApiTokenInfo {
  token: string;
}

/** `GET /api/v1/tokens` (`TokenListSchema`). */
export interface ApiTokenList {
  items: ApiTokenInfo[];
}

/** `POST /api/v1/bootstrap-tokens` body (`BootstrapTokenCreateBody`). */
export interface BootstrapTokenCreateBody {
  /** Joins with this token may only join this site. */
  site?: string;
  description?: string;
  /** Default 24 h; bootstrap tokens always expire. */
  ttlSeconds?: number;
}

/** A bootstrap token as lists show it (`BootstrapTokenInfoSchema`). */
export interface BootstrapTokenInfo {
  id: string;
  site?: string;
  description: string;
  createdAt: string;
  expiresAt: string;
  uses: number;
}

/** A new bootstrap token (`BootstrapTokenCreatedSchema`): `<id>.<secret>`, in this answer only. */
export interface BootstrapTokenCreated extends BootstrapTokenInfo {
  token: string;
  /** Pin of the hub's CA for `edgeadm join --ca-cert-hash` (`sha256:<hex>`), when the hub serves TLS. */
  caCertHash?: string;
}

/** `GET /api/v1/bootstrap-tokens` (`BootstrapTokenListSchema`). */
export interface BootstrapTokenList {
  items: BootstrapTokenInfo[];
}

/** `POST /api/v1/join` body (`JoinBody`), with a bootstrap token as the bearer. */
export interface JoinBody {
  site: string;
  node: string;
  hostname?: string;
  addresses?: string[];
  /** The node's sshd host public keys (OpenSSH lines). */
  sshHostKeys?: string[];
}

/** The answer to a join (`JoinResultSchema`): the node credential is in this answer only. */
export interface JoinResult {
  site: string;
  node: string;
  credential: string;
  credentialId: string;
  /** Path of tunnel-cloud on this hub. */
  tunnelPath: string;
  /** PEM of the hub's CA, when the hub serves TLS. */
  caCert?: string;
}

/** One SSH host key of a node with its fingerprint (`HostKeySchema`). */
export interface HostKeyOut {
  type: string;
  /** SHA256:<base64>, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** The OpenSSH public key line. */
  key: string;
}

/** `GET /api/v1/nodes/{name}/host-keys` and the trust/reject answers (`HostKeysViewSchema`): trusted keys and any pending change. */
export interface HostKeysOut {
  node: string;
  trusted: HostKeyOut[];
  trustedAt?: string;
  pending?: { keys: HostKeyOut[]; reportedAt: string; bootstrapTokenId?: string };
}

/** A new or rotated site-broker login (`CredentialIssuedSchema`): the password is in this answer only. */
export interface CredentialIssued<C = ResourceOut> {
  credential: C;
  password: string;
}

/** `POST /api/v1/pendingdevices/{name}/approve` (`ApprovalSchema`): the decided PendingDevice, the Device and its profile. */
export interface Approval<P = ResourceOut, D = ResourceOut, R = ResourceOut> {
  pending: P;
  device: D;
  profile: R;
}

/** `POST /api/v1/console/session` body (`SessionBody`). */
export interface ConsoleLogin {
  /** A hub token of role admin or viewer. */
  token: string;
}

/** The console session of a browser (`SessionSchema`). */
export interface ConsoleSessionOut {
  tokenId: string;
  role: string;
  /** Sent back as `x-edgeadm-csrf` on every request that changes something. */
  csrf: string;
  expiresAt: string;
}

/** A file of EdgeX's formats, as the import takes it and the export gives it (`EdgeXFileSchema`). */
export interface EdgeXFileBody {
  /** The name problems are reported under; in an export, the path in its folder (`profiles/<name>.yaml`). */
  name: string;
  content: string;
}

/** `POST /api/v1/sites/{site}/edgex/import` body (`EdgeXImportBody`). */
export interface EdgeXImportBody {
  files: EdgeXFileBody[];
  /** Say what would change, write nothing. */
  dryRun?: boolean;
}

/** A resource an import wrote, or would write (`ImportedRefSchema`). */
export interface EdgeXImportedRef {
  /** DeviceProfile or Device. */
  kind: string;
  name: string;
  edgexName: string;
  file: string;
  /** The object's path in the file ('' for the whole file). */
  path: string;
}

/** One problem of an EdgeX file (`EdgeXProblemSchema`); a 400 EDGE_ERR_EDGEX_FILES carries them in `details.problems`. */
export interface EdgeXProblemOut {
  file: string;
  field: string;
  message: string;
}

/** The answer to an import (`EdgeXImportResultSchema`). */
export interface EdgeXImportResult {
  dryRun: boolean;
  /** What each file was read as: kind (profile, deviceList, devices, addDeviceRequests, addDeviceProfileRequests) and version (v2, v3). */
  files: { name: string; kind?: string; version?: string }[];
  created: EdgeXImportedRef[];
  updated: EdgeXImportedRef[];
  unchanged: EdgeXImportedRef[];
  /** Empty: any problem is a 400 with every problem. */
  problems: EdgeXProblemOut[];
}

/** `GET /api/v1/sites/{site}/edgex/export` (`EdgeXExportSchema`): the files, and what EdgeX had no field for. */
export interface EdgeXExportResult {
  files: EdgeXFileBody[];
  notes: string[];
}

/** One plugin installed where the hub runs (`PluginCatalogEntrySchema`). */
export interface PluginCatalogEntry {
  id: string;
  version: string;
  description?: string;
  /** device-driver, integration, ... (the package.json `edgeadm.role`). */
  role?: string;
  /** The JSON schema of an Addon's config for it. */
  configSchema?: Record<string, unknown>;
  /**
   * The Device protocol blocks (`spec.protocols.<name>`) its driver reads, each with the JSON schema of its fields
   * (names as EdgeX writes them). The hub checks Device writes against them: EdgeX's numeric strings and
   * keys in any case pass where the driver takes them.
   */
  protocols?: Record<string, Record<string, unknown>>;
}

/** `GET /api/v1/plugins` (`PluginCatalogSchema`): sorted by id; no items when the hub was started without a plugin source. */
export interface PluginCatalog {
  items: PluginCatalogEntry[];
}

/** One problem list of the overview: its first items and how many there are. */
export interface OverviewPage<T> {
  total: number;
  items: T[];
}

/** `GET /api/v1/overview` (`OverviewSchema`): what needs attention, counts first. */
export interface Overview {
  generatedAt: string;
  limit: number;
  counts: {
    sites: { total: number; online: number; offline: number; neverConnected: number };
    nodes: { total: number; connected: number; unhealthy: number };
    devices: { total: number; up: number; down: number; unknown: number };
    addonInstances: { total: number; running: number; failed: number; notReady: number };
    pendingDevices: number;
  };
  sitesOffline: OverviewPage<{ name: string; since?: string; message?: string }>;
  nodesUnhealthy: OverviewPage<{ name: string; site: string; standing: string; since: string; cons: number; expected: number }>;
  agentProblems: OverviewPage<{ site: string; agent: string; component: string; code: string; message: string; since: string }>;
  devicesDown: OverviewPage<{ name: string; site: string; reason: string; lastSeen?: string }>;
  addonsFailed: OverviewPage<{ addon: string; site: string; state: string; code?: string; message?: string }>;
  pendingDevices: OverviewPage<{ name: string; site: string; firstSeen: string; suggestedName?: string }>;
}
