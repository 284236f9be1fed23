/**
 * Who may call each route of the hub, and what it reads or writes: the
 * access table as data. It is the one statement of the rule: docs/security.md
 * carries it as rendered by `renderAccessTable`, and core/hub/app.access.test.ts
 * fails when a route the hub serves is missing here, when the docs differ,
 * or when any kind of caller gets more (or less) than the table says, over
 * real HTTP and real WebSockets.
 *
 * Callers come in classes (`PrincipalClass`). An agent's rights hold only at
 * its own site, a node credential's only for its own node where the rule says
 * so: a rule that admits "agent of the site" admits a node credential of any
 * node of that site, and nothing of another site.
 */
import { PLURALS } from './routes/resources.ts';
import { SECRET_SPEC_FIELDS } from './secrets.ts';
import { PEER_PATH, TUNNEL_PATH } from './tunnel.ts';

/** The kinds of caller the table speaks of. */
export const PRINCIPAL_CLASSES = [
  'anonymous',
  'admin',
  'viewer',
  'console',
  'consoleCsrf',
  'siteAgent',
  'otherSiteAgent',
  'nodeSelf',
  'nodeSibling',
  'bootstrap',
] as const;
export type PrincipalClass = (typeof PRINCIPAL_CLASSES)[number];

/** What each class is, for the legend of the docs. */
export const PRINCIPAL_LEGEND: Readonly<Record<PrincipalClass, string>> = {
  anonymous: 'no credential at all',
  admin: 'an admin token (`Authorization: Bearer`)',
  viewer: 'a viewer token (read-only)',
  console: "an admin's console session (the HttpOnly cookie) without the CSRF header",
  consoleCsrf: "an admin's console session with its CSRF value in `x-edgeadm-csrf`",
  siteAgent: 'an agent token of the site the request is about, bound to no node (`edgeadm token create --role agent --site S`, for `edgeadm site run`)',
  otherSiteAgent: 'an agent token of another site',
  nodeSelf: 'the node credential of the node the request is about (issued by join)',
  nodeSibling: 'the node credential of another node of the same site',
  bootstrap: 'a bootstrap token (`<id>.<secret>`): it can only join',
};

/** One route: its method and path as the hub registers them (HEAD goes with GET), who passes, what it does. */
export interface RouteRule {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  /** A WebSocket (upgrade) route. */
  websocket?: boolean;
  /** Not a route of the app: served on the server's upgrade event before the app (tunnel-cloud). */
  upgradeHandler?: boolean;
  /** The classes that get through. */
  allow: readonly PrincipalClass[];
  /** What it reads or writes. */
  does: string;
  notes?: string;
}

/** Every class of caller, anonymous included: a public route. */
export const ANYONE: readonly PrincipalClass[] = PRINCIPAL_CLASSES;
const OPERATORS: readonly PrincipalClass[] = ['admin', 'viewer', 'console', 'consoleCsrf'];
const SITE_AGENTS: readonly PrincipalClass[] = ['siteAgent', 'nodeSelf', 'nodeSibling'];
const SITE_READERS: readonly PrincipalClass[] = [...OPERATORS, ...SITE_AGENTS];
const ADMINS: readonly PrincipalClass[] = ['admin', 'consoleCsrf'];
/** What a DELETE of a kind does beyond deleting it, for the table. */
const DELETE_NOTES: Partial<Record<string, string>> = {
  Node: "revokes the node's credentials and drops its tunnel",
  DeviceProfile: 'refused (409) while Devices use it, naming them',
};
const SITE_REPORTERS: readonly PrincipalClass[] = [...ADMINS, ...SITE_AGENTS];

const SECRET_NOTE = 'secret material never returned';

function resourceRules(): RouteRule[] {
  const rules: RouteRule[] = [];
  for (const [plural, kind] of Object.entries(PLURALS)) {
    const operatorOnly = kind === 'Lease';
    const siteless = kind === 'DeviceProfile';
    const readers = operatorOnly ? OPERATORS : siteless ? [...SITE_READERS, 'otherSiteAgent' as const] : SITE_READERS;
    const readNote = operatorOnly
      ? "tunnel-cloud replicas' records: agents are refused"
      : siteless
        ? 'profiles belong to no site: every agent reads every profile (every site replicates them all)'
        : "agents: their own site's only (another site: 403)";
    const secrets = (SECRET_SPEC_FIELDS[kind] ?? []).map((f) => `spec.${f}`).join(', ');
    const readNotes = secrets === '' ? readNote : `${readNote}; ${secrets} is never returned (${SECRET_NOTE})`;
    const writeNotes = secrets === '' ? {} : { notes: `${secrets} is write-only: left out, the stored value stays; never returned` };
    const base = `/api/v1/${plural}`;
    const statusNote =
      kind === 'Node'
        ? 'Node status is the hub\'s record (tunnel-cloud: connected, lastSeen, tunnel; join: joinedAt, host keys). The host-key fields keep their stored values: a body that changes them gets 403 EDGE_ERR_HUB_HOST_KEYS_PROTECTED'
        : kind === 'Site'
          ? "Site status is the hub's record (the sync session writes phase, lastSeen, agentVersion, syncedResourceVersion)"
          : 'sites report through their own routes (device-status, addon-status), never here';
    rules.push(
      { method: 'GET', url: base, allow: readers, does: `reads ${kind} objects (list, paged, label selector)`, notes: readNotes },
      { method: 'POST', url: base, allow: ADMINS, does: `creates a ${kind}`, ...writeNotes },
      { method: 'GET', url: `${base}/:name`, allow: readers, does: `reads one ${kind}`, notes: readNotes },
      { method: 'PUT', url: `${base}/:name`, allow: ADMINS, does: `creates or replaces a ${kind}'s labels, annotations and spec (apply)`, ...writeNotes },
      { method: 'DELETE', url: `${base}/:name`, allow: ADMINS, does: `deletes a ${kind}`, ...(DELETE_NOTES[kind] === undefined ? {} : { notes: DELETE_NOTES[kind] }) },
      { method: 'PUT', url: `${base}/:name/status`, allow: ADMINS, does: `replaces a ${kind}'s status`, notes: `agents are refused: ${statusNote}` },
    );
  }
  return rules;
}

/** Every route of the hub's own, with its rule (modules such as the console bring theirs: `accessRules`). */
export const ACCESS_RULES: readonly RouteRule[] = [
  // Public: the API's documents, health, the CA.
  { method: 'GET', url: '/docs', allow: ANYONE, does: 'the API documentation (Swagger UI)' },
  { method: 'GET', url: '/docs/', allow: ANYONE, does: 'the API documentation (Swagger UI)' },
  { method: 'GET', url: '/docs/static/index.html', allow: ANYONE, does: 'the API documentation (Swagger UI)' },
  { method: 'GET', url: '/docs/static/swagger-initializer.js', allow: ANYONE, does: 'the API documentation (Swagger UI)' },
  { method: 'GET', url: '/docs/static/*', allow: ANYONE, does: "Swagger UI's files" },
  { method: 'GET', url: '/docs/json', allow: ANYONE, does: 'the OpenAPI document' },
  { method: 'GET', url: '/docs/yaml', allow: ANYONE, does: 'the OpenAPI document' },
  { method: 'GET', url: '/openapi.json', allow: ANYONE, does: 'the OpenAPI document' },
  { method: 'GET', url: '/healthz', allow: ANYONE, does: 'liveness' },
  { method: 'GET', url: '/metrics', allow: OPERATORS, does: "reads the hub's Prometheus metrics", notes: 'they name every site and node: agents are refused (they have their own metrics endpoint)' },
  { method: 'GET', url: '/api/v1/ca', allow: ANYONE, does: "reads the hub's CA certificate", notes: 'public: a joining node checks it against the pin it was given' },

  // Tokens.
  { method: 'POST', url: '/api/v1/tokens', allow: ADMINS, does: 'creates a token', notes: 'the secret is in this answer only' },
  { method: 'GET', url: '/api/v1/tokens', allow: ['admin', 'console', 'consoleCsrf'], does: 'reads the tokens', notes: `ids, roles, sites, nodes, times: ${SECRET_NOTE}` },
  { method: 'DELETE', url: '/api/v1/tokens/:id', allow: ADMINS, does: 'revokes a token', notes: "at once: its console sessions, streams and (for a node credential) the node's tunnel end" },
  { method: 'GET', url: '/api/v1/health/key', allow: OPERATORS, does: "reads the cluster's health key id and age", notes: 'never the key' },
  { method: 'POST', url: '/api/v1/health/key', allow: ADMINS, does: "creates the cluster's health key", notes: 'never returned: sites get keys derived for them' },
  { method: 'POST', url: '/api/v1/health/key/rotate', allow: ADMINS, does: "replaces the cluster's health key (the previous one verifies until the next rotation)" },
  {
    method: 'GET',
    url: '/api/v1/sites/:site/health/key',
    allow: SITE_AGENTS,
    does: "reads the site's health gossip keys (derived from the cluster's for this site alone)",
    notes: "secret: operators are refused (none needs it), and another site's agent too",
  },
  { method: 'POST', url: '/api/v1/bootstrap-tokens', allow: ADMINS, does: 'creates a bootstrap token', notes: "the secret is in this answer only (beside the CA's public pin, for the join command)" },
  { method: 'GET', url: '/api/v1/bootstrap-tokens', allow: ['admin', 'console', 'consoleCsrf'], does: 'reads the bootstrap tokens', notes: SECRET_NOTE },
  { method: 'DELETE', url: '/api/v1/bootstrap-tokens/:id', allow: ADMINS, does: 'deletes a bootstrap token' },

  // Nodes: join, host keys, reaching them, their tunnels.
  {
    method: 'POST',
    url: '/api/v1/join',
    allow: ['bootstrap'],
    does: 'joins a node: creates or keeps its Node, revokes its earlier credentials, issues a node credential',
    notes: "a site-scoped bootstrap token joins only that site; the first join's SSH host keys are trusted, a later join's other keys only wait for an admin; an address another Node claims is refused",
  },
  { method: 'GET', url: '/api/v1/nodes/:name/host-keys', allow: OPERATORS, does: "reads a node's trusted SSH host keys and any pending change, with fingerprints", notes: 'public keys' },
  { method: 'POST', url: '/api/v1/nodes/:name/host-keys/trust', allow: ADMINS, does: "makes a node's pending SSH host keys its trusted ones (all, or those whose fingerprints are given)", notes: 'logged and counted' },
  { method: 'POST', url: '/api/v1/nodes/:name/host-keys/reject', allow: ADMINS, does: "drops a node's pending SSH host keys; the trusted ones stay", notes: 'logged and counted' },
  {
    method: 'GET',
    url: '/api/v1/nodes/:name/connect',
    websocket: true,
    allow: ['admin'],
    does: 'a byte stream to a port on the node, through its tunnel (`edgeadm ssh`, `port-forward`)',
    notes: 'bearer tokens only: a console session never opens a WebSocket; a plain GET gets 426',
  },
  {
    method: 'GET',
    url: TUNNEL_PATH,
    websocket: true,
    upgradeHandler: true,
    allow: ['nodeSelf'],
    does: "the node's tunnel (tunnel-cloud); writes the Node's connected, lastSeen and tunnel",
    notes: 'only a node credential, only for its own node (`x-edgeadm-node` must name it), only while that Node exists at its site',
  },
  {
    method: 'GET',
    url: PEER_PATH,
    websocket: true,
    upgradeHandler: true,
    allow: [],
    does: 'a stream to a node another replica holds (replicas only)',
    notes: "only the replicas' shared peer credential (`peer.token`); every token is refused",
  },

  // Sites: their sync session and reports.
  {
    method: 'GET',
    url: '/api/v1/sites/:site/sync',
    websocket: true,
    allow: [...SITE_AGENTS],
    does: "the site's sync session: its replica (snapshot, then changes) and commands down, acks, command results and the agent's report up; writes the Site's phase, lastSeen, agentVersion, syncedResourceVersion, and the caller's own entry of `status.agents` (its health and outbox counts, under the producer its credential speaks for)",
    notes: "bearer tokens only; replicates BrokerCredential password hashes to the site (its broker checks logins offline): the one place they leave the hub",
  },
  {
    method: 'POST',
    url: '/api/v1/sites/:site/telemetry',
    allow: SITE_REPORTERS,
    does: "ingests a batch of the site's readings into the caller's own producer streams",
    notes: 'readings must name the site of the path; the producer (dedup identity) is the credential itself, never a field of the batch',
  },
  { method: 'PUT', url: '/api/v1/sites/:site/device-status', allow: SITE_REPORTERS, does: "writes operatingState, message and lastSeen of the site's Devices", notes: 'devices of other sites are ignored' },
  { method: 'PUT', url: '/api/v1/sites/:site/addon-status', allow: SITE_REPORTERS, does: "writes the site's entry of each Addon's status", notes: "Addons that do not target the site, or that a hub on Kubernetes runs whole as grids, are ignored; other sites' entries and the grids' status.workloads are kept" },
  { method: 'POST', url: '/api/v1/sites/:site/pending-devices', allow: SITE_REPORTERS, does: 'reports a device that announced itself at the site (PendingDevice), applies the provisioning rules' },
  { method: 'POST', url: '/api/v1/sites/:site/broker-credentials', allow: ADMINS, does: "issues a login to the site's MQTT broker", notes: 'the password is in this answer only; its hash is never returned' },
  { method: 'POST', url: '/api/v1/sites/:site/broker-credentials/:username/rotate', allow: ADMINS, does: 'replaces the password of a broker login', notes: 'the password is in this answer only; its hash is never returned' },
  { method: 'DELETE', url: '/api/v1/sites/:site/broker-credentials/:username', allow: ADMINS, does: 'deletes a broker login', notes: 'its hash is never returned' },
  { method: 'POST', url: '/api/v1/pendingdevices/:name/approve', allow: ADMINS, does: 'approves a pending device: creates its DeviceProfile and Device' },
  { method: 'POST', url: '/api/v1/pendingdevices/:name/reject', allow: ADMINS, does: 'rejects a pending device' },
  {
    method: 'POST',
    url: '/api/v1/sites/:site/edgex/import',
    allow: ADMINS,
    does: "imports EdgeX device profiles and device lists: creates or replaces the site's Devices and the DeviceProfiles they use",
    notes: 'any problem in any file: nothing written (400 with every problem); `dryRun` writes nothing',
  },
  { method: 'GET', url: '/api/v1/sites/:site/edgex/export', allow: OPERATORS, does: "reads the site's Devices and the DeviceProfiles they use as EdgeX v3 files", notes: 'agents are refused: a site exports through its operators' },

  // Commands.
  { method: 'POST', url: '/api/v1/sites/:site/devices/:device/commands', allow: ADMINS, does: "writes a Device's desired value and queues the command" },
  {
    method: 'POST',
    url: '/api/v1/sites/:site/devices/:device/read',
    allow: [...ADMINS, 'viewer'],
    does: "reads a Device now: a `read` command to its site's agent, answered with what the driver read",
    notes: "changes nothing of the Device (the readings also reach the telemetry store), so a viewer may ask, as it may read telemetry; agents are refused: a site reads its own devices where it is",
  },
  { method: 'GET', url: '/api/v1/sites/:site/commands', allow: SITE_READERS, does: "reads the site's commands", notes: 'agents: their own site only' },
  { method: 'GET', url: '/api/v1/commands/:id', allow: SITE_READERS, does: 'reads a command and its result', notes: "agents: their own site's only" },
  { method: 'POST', url: '/api/v1/commands/:id/result', allow: SITE_REPORTERS, does: 'completes a command with its result', notes: "agents: their own site's only" },

  // Telemetry and live views.
  { method: 'GET', url: '/api/v1/telemetry', allow: OPERATORS, does: 'reads readings (query)' },
  { method: 'GET', url: '/api/v1/telemetry/latest', allow: OPERATORS, does: 'reads the newest reading of each device resource' },
  { method: 'GET', url: '/api/v1/telemetry/streams', allow: OPERATORS, does: 'reads the producer streams the hub holds readings of, with their counts' },
  { method: 'GET', url: '/api/v1/telemetry/quarantine', allow: OPERATORS, does: 'reads readings kept aside instead of stored' },
  { method: 'GET', url: '/api/v1/telemetry/delivery', allow: OPERATORS, does: "reads whether every reading each site's agent sent is at the hub" },
  { method: 'GET', url: '/api/v1/telemetry/stream', allow: OPERATORS, does: 'live readings (Server-Sent Events)', notes: 'the token may come as `?access_token=`; the stream ends within a heartbeat once its token or session no longer holds' },
  { method: 'GET', url: '/api/v1/telemetry/ws', websocket: true, allow: ['admin', 'viewer'], does: 'live readings (WebSocket)', notes: 'bearer tokens only (header or `?access_token=`): a console session never opens a WebSocket' },
  {
    method: 'GET',
    url: '/api/v1/overview',
    allow: OPERATORS,
    does: 'reads what needs attention: counts of sites, nodes, devices, addon instances and pending devices, then the first items of each problem list',
    notes: 'agents are refused: it spans every site',
  },
  {
    method: 'GET',
    url: '/api/v1/watch',
    allow: OPERATORS,
    does: 'Sites, Nodes, DeviceProfiles, Devices, Addons and PendingDevices, then every change (Server-Sent Events)',
    notes: `BrokerCredentials and Leases are not served; ${SECRET_NOTE}`,
  },
  {
    method: 'GET',
    url: '/api/v1/plugins',
    allow: OPERATORS,
    does: 'reads the plugins installed where the hub runs, with their config schemas and the JSON schemas of the Device protocol blocks their drivers read',
    notes: 'no items when the hub was started without a plugin source; agents are refused: a site knows its own plugins',
  },
  ...resourceRules(),
];

/** The table of a hub with these modules: its own rules, then each module's. */
export function accessRules(modules: readonly { access: readonly RouteRule[] }[]): readonly RouteRule[] {
  return [...ACCESS_RULES, ...modules.flatMap((m) => m.access)];
}

/** The rule of a route in `rules` (HEAD goes with GET); undefined when the table has none. */
export function ruleOf(method: string, url: string, rules: readonly RouteRule[] = ACCESS_RULES): RouteRule | undefined {
  const m = method === 'HEAD' ? 'GET' : method;
  return rules.find((r) => r.method === m && r.url === url);
}

const has = (allow: readonly PrincipalClass[], c: PrincipalClass): boolean => allow.includes(c);

/** "Who may call it", in words, from a rule's classes; throws for a set of classes the words cannot say exactly. */
export function whoMayCall(allow: readonly PrincipalClass[]): string {
  if (PRINCIPAL_CLASSES.every((c) => has(allow, c))) return 'anyone';
  const words: string[] = [];
  if (has(allow, 'anonymous')) throw new Error('a rule that admits callers without a credential admits everyone');
  if (has(allow, 'admin')) words.push('admin');
  if (has(allow, 'viewer')) words.push('viewer');
  if (has(allow, 'console')) {
    if (!has(allow, 'consoleCsrf')) throw new Error('a console session with CSRF can do what one without can');
    words.push('console session');
  } else if (has(allow, 'consoleCsrf')) words.push('console session with CSRF');
  const agents = SITE_AGENTS.filter((c) => has(allow, c));
  const everySite = has(allow, 'otherSiteAgent');
  if (everySite && agents.length !== SITE_AGENTS.length) throw new Error('a rule that admits agents of other sites admits those of the site');
  if (everySite) words.push('any agent');
  else if (agents.length === SITE_AGENTS.length) words.push('agent of the site (node credentials included)');
  else if (agents.length === 1 && agents[0] === 'nodeSelf') words.push("that node's credential");
  else if (agents.length > 0) throw new Error(`no words for the agent classes ${agents.join(', ')}`);
  if (has(allow, 'bootstrap')) words.push('bootstrap token');
  return words.length === 0 ? 'no hub token' : words.join(', ');
}

const esc = (s: string): string => s.replace(/\|/g, '\\|');

/** The access table as Markdown, as docs/security.md carries it (for the hub with its console). */
export function renderAccessTable(rules: readonly RouteRule[]): string {
  const rows = rules.map((r) => {
    const method = r.websocket ? `${r.method} (WebSocket)` : r.method;
    return `| ${method} | \`${esc(r.url)}\` | ${esc(whoMayCall(r.allow))} | ${esc(r.does)} | ${esc(r.notes ?? '')} |`;
  });
  return ['| Method | Route | Who may call it | Reads / writes | Notes |', '| --- | --- | --- | --- | --- |', ...rows].join('\n') + '\n';
}

/** The legend of the classes, as Markdown. */
export function renderPrincipalLegend(): string {
  return PRINCIPAL_CLASSES.map((c) => `- \`${c}\`: ${PRINCIPAL_LEGEND[c]}`).join('\n') + '\n';
}
