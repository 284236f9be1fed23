/**
 * Joining nodes, and reaching them.
 *
 * - Bootstrap tokens (admins): kubeadm-style `<id>.<secret>`, always expiring,
 *   optionally scoped to a site. They can do one thing: join.
 * - `POST /api/v1/join` with `Authorization: Bearer <bootstrap token>`: the
 *   node's Site must exist; the Node is created (or, on a re-join, kept) and
 *   its earlier credentials are revoked; the answer carries the new node
 *   credential (shown once) and the hub's CA. Addresses another Node claims
 *   are refused (the CONNECT proxy routes by address).
 * - SSH host keys: the first join that reports keys records them as trusted.
 *   A re-join that reports other keys leaves the trusted ones in place: its
 *   keys wait in the Node's `status.sshHostKeysPending`, the hub logs a
 *   warning with both sets of fingerprints and counts it
 *   (`edgeadm_hub_node_host_key_changes_total{event="reported"}`), until an
 *   admin trusts (`POST /api/v1/nodes/:name/host-keys/trust`, all pending
 *   keys or those whose fingerprints are given) or rejects them (`…/reject`).
 *   `GET /api/v1/nodes/:name/host-keys` shows both with fingerprints.
 * - `GET /api/v1/nodes/:name/connect?port=&host=` (admin tokens, WebSocket):
 *   a byte stream to `host:port` on the node through its tunnel (what
 *   `edgeadm ssh` rides on). The upgrade is answered only once the node
 *   accepted the stream; refusals are plain HTTP errors with their code.
 */
import type { FastifyRequest } from 'fastify';
import type { Duplex } from 'node:stream';
import Type from 'typebox';
import { createWebSocketStream } from 'ws';
import { caCertHash } from '../../pki/pin.ts';
import { spliceStreams } from '../../tunnel/index.ts';
import { API_VERSION, type NodeObject, type Resource } from '../../store/index.ts';
import { isWebSocketUpgrade, principalOf, requireAuth } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { ErrBadRequest, ErrJoinRefused, ErrNoTls, ErrNotFound, ErrTokenNotFound, ErrTunnelOff, ErrUnauthenticated, ErrUpgradeRequired } from '../errors.ts';
import {
  describeHostKeys,
  hostKeyIssues,
  hostKeysView,
  HostKeysViewSchema,
  joinHostKeys,
  rejectPendingHostKeys,
  trustPendingHostKeys,
  updateNodeStatus,
  type JoinHostKeyOutcome,
} from '../node-status.ts';
import {
  BootstrapTokenCreateBody,
  BootstrapTokenCreatedSchema,
  BootstrapTokenListSchema,
  errorResponses,
  JoinBody,
  JoinResultSchema,
  NodeConnectParams,
  NodeConnectQuery,
  TokenIdParams,
} from '../schemas.ts';

const BEARER_RE = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const opened = new WeakMap<FastifyRequest, Duplex>();

const TrustBody = Type.Object(
  {
    fingerprints: Type.Optional(
      Type.Array(Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}$', description: 'SHA256:<base64>, as `ssh-keygen -lf` prints it.' }), {
        minItems: 1,
        maxItems: 16,
        description: 'Trust exactly these pending keys (each must be pending); default: all of them.',
      }),
    ),
  },
  { additionalProperties: false },
);

export function registerJoinRoutes(app: HubApp, ctx: HubContext): void {
  const admins = requireAuth(['admin']);

  app.post(
    '/api/v1/bootstrap-tokens',
    {
      onRequest: admins,
      schema: {
        tags: ['join'],
        summary: 'Create a bootstrap token for joining nodes',
        description: "The response is the only place the token is shown. It expires (default 24 h) and may be scoped to one site. On a hub that serves TLS it carries the CA's pin (`caCertHash`) for `edgeadm join --ca-cert-hash`.",
        body: BootstrapTokenCreateBody,
        response: { 201: BootstrapTokenCreatedSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const created = await ctx.tokens.createBootstrap({
        ...(b.site === undefined ? {} : { site: b.site }),
        ...(b.description === undefined ? {} : { description: b.description }),
        ...(b.ttlSeconds === undefined ? {} : { ttlSeconds: b.ttlSeconds }),
      });
      request.log.info({ bootstrapTokenId: created.id, site: created.site, expiresAt: created.expiresAt }, 'bootstrap token created');
      // The pin a joining node checks the CA by: what the console puts in the `edgeadm join` it shows.
      return reply.code(201).send({ ...created, ...(ctx.caCert ? { caCertHash: caCertHash(ctx.caCert) } : {}) });
    },
  );

  app.get(
    '/api/v1/bootstrap-tokens',
    { onRequest: admins, schema: { tags: ['join'], summary: 'List bootstrap tokens (never their secrets)', response: { 200: BootstrapTokenListSchema, ...errorResponses } } },
    async () => ({ items: await ctx.tokens.listBootstrap() }),
  );

  app.delete(
    '/api/v1/bootstrap-tokens/:id',
    {
      onRequest: admins,
      schema: { tags: ['join'], summary: 'Delete a bootstrap token', params: TokenIdParams, response: { 204: Type.Null({ description: 'Deleted.' }), ...errorResponses } },
    },
    async (request, reply) => {
      if (!(await ctx.tokens.revokeBootstrap(request.params.id))) throw new ErrTokenNotFound({ id: request.params.id });
      request.log.info({ bootstrapTokenId: request.params.id }, 'bootstrap token deleted');
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/v1/ca',
    {
      schema: {
        tags: ['join'],
        summary: "The hub's CA certificate (public)",
        description: 'A joining node fetches it over an unverified connection and checks it against the hash it was given (`edgeadm join --ca-cert-hash`), like kubeadm discovery.',
        security: [],
        response: { 200: Type.Object({ caCert: Type.String() }), ...errorResponses },
      },
    },
    () => {
      if (!ctx.caCert) throw new ErrNoTls({});
      return { caCert: ctx.caCert };
    },
  );

  app.post(
    '/api/v1/join',
    {
      schema: {
        tags: ['join'],
        summary: 'Exchange a bootstrap token for a node credential',
        description:
          'Authorization: `Bearer <bootstrap token>`. The Site must exist (and match the token\'s scope). Re-joining the same node to the same site revokes its earlier credentials.',
        body: JoinBody,
        response: { 201: JoinResultSchema, ...errorResponses },
        security: [],
      },
    },
    async (request, reply) => {
      const m = BEARER_RE.exec(request.headers.authorization ?? '');
      const bootstrap = m ? await ctx.tokens.verifyBootstrap(m[1]!) : undefined;
      if (!bootstrap) throw new ErrUnauthenticated({ reason: 'join needs a valid, unexpired bootstrap token (Authorization: Bearer <id>.<secret>)' });
      const b = request.body;
      if (bootstrap.site !== undefined && bootstrap.site !== b.site) {
        throw new ErrJoinRefused({ reason: `bootstrap token '${bootstrap.id}' is for site '${bootstrap.site}', not '${b.site}'` });
      }
      if (!(await ctx.store.get('Site', b.site))) {
        throw new ErrJoinRefused({ reason: `site '${b.site}' does not exist; create it first (edgeadm site create ${b.site})` });
      }
      const existing = await ctx.store.get<Resource<{ site: string }>>('Node', b.node);
      if (existing && existing.spec.site !== b.site) {
        throw new ErrJoinRefused({ reason: `node '${b.node}' belongs to site '${existing.spec.site}'; delete it there first to move it` });
      }
      const issues = hostKeyIssues(b.sshHostKeys ?? [], 'sshHostKeys');
      if (issues.length > 0) throw new ErrBadRequest({ issues });
      if (b.addresses !== undefined && b.addresses.length > 0) {
        const others = (await ctx.store.list<NodeObject>('Node')).items.filter((n) => n.metadata.name !== b.node);
        for (const address of b.addresses) {
          const holder = others.find((n) => n.spec.addresses?.includes(address));
          if (holder) throw new ErrJoinRefused({ reason: `address '${address}' belongs to node '${holder.metadata.name}'; the proxy routes each address to one node` });
        }
      }
      const spec = {
        ...(existing?.spec ?? {}),
        site: b.site,
        ...(b.hostname === undefined ? {} : { hostname: b.hostname }),
        ...(b.addresses === undefined ? {} : { addresses: b.addresses }),
      };
      await ctx.store.apply<Resource>({ apiVersion: API_VERSION, kind: 'Node', metadata: { name: b.node, ...(existing ? { labels: existing.metadata.labels ?? {} } : {}) }, spec });
      const now = new Date().toISOString();
      // Set by the last (written) attempt of the patch.
      const last: { outcome: JoinHostKeyOutcome } = { outcome: { kind: 'unchanged' } };
      await updateNodeStatus(ctx.store, b.node, (s) => {
        const joined = joinHostKeys({ ...s, joinedAt: now }, b.sshHostKeys, now, bootstrap.id);
        last.outcome = joined.outcome;
        return joined.status;
      });
      const { outcome } = last;
      if (outcome.kind === 'pending') {
        const [trusted, reported] = await Promise.all([describeHostKeys(outcome.trusted), describeHostKeys(b.sshHostKeys ?? [])]);
        ctx.metrics.hostKeyChanges.inc({ event: 'reported' });
        request.log.warn(
          {
            node: b.node,
            site: b.site,
            bootstrapTokenId: bootstrap.id,
            trusted: trusted.map((k) => `${k.type} ${k.fingerprint}`),
            reported: reported.map((k) => `${k.type} ${k.fingerprint}`),
            confirm: `edgeadm node trust-host-keys ${b.node}`,
          },
          'node joined again with other ssh host keys: the trusted keys stay until an admin confirms the change',
        );
      } else if (outcome.kind === 'recorded') {
        request.log.info({ node: b.node, keys: (b.sshHostKeys ?? []).length }, 'node ssh host keys recorded');
      }
      const revoked = await ctx.tokens.revokeNode(b.node);
      await ctx.tokens.verifyBootstrap(m![1]!, true);
      const credential = await ctx.tokens.create({ role: 'agent', site: b.site, node: b.node, description: `node ${b.node} (joined with bootstrap token ${bootstrap.id})` });
      request.log.info({ node: b.node, site: b.site, bootstrapTokenId: bootstrap.id, credentialId: credential.id, revoked }, 'node joined');
      return reply.code(201).send({
        site: b.site,
        node: b.node,
        credential: credential.token,
        credentialId: credential.id,
        tunnelPath: ctx.tunnel?.path ?? '/api/v1/tunnel',
        ...(ctx.caCert ? { caCert: ctx.caCert } : {}),
      });
    },
  );

  app.get(
    '/api/v1/nodes/:name/connect',
    {
      websocket: true,
      onRequest: admins,
      preHandler: async (request) => {
        if (!ctx.tunnel) throw new ErrTunnelOff({});
        const { name } = request.params;
        // Only a WebSocket gets a stream: a plain GET (or HEAD) must not open one that nobody reads.
        if (!isWebSocketUpgrade(request)) throw new ErrUpgradeRequired({ path: `/api/v1/nodes/${name}/connect` });
        const q = request.query;
        opened.set(request, await ctx.tunnel.open(name, { host: q.host ?? '127.0.0.1', port: q.port }));
      },
      schema: {
        tags: ['nodes'],
        summary: 'A byte stream to a TCP port on a node, through its tunnel (WebSocket, binary messages)',
        description:
          'Admin tokens only (a console session cookie does not open WebSockets). Answered with 101 only once the node accepted the stream; otherwise the coded refusal (404 not connected, 403 not on the allow-list, 502 dial failed).',
        params: NodeConnectParams,
        querystring: NodeConnectQuery,
      },
    },
    (socket, request) => {
      const stream = opened.get(request);
      opened.delete(request);
      if (!stream) {
        socket.close(1011, 'no stream');
        return;
      }
      spliceStreams(createWebSocketStream(socket), stream, () => undefined, ctx.logger);
      request.log.info({ node: (request.params).name, tokenId: request.principal?.tokenId }, 'node stream opened');
    },
  );

  const mustGetNode = async (name: string): Promise<NodeObject> => {
    const node = await ctx.store.get<NodeObject>('Node', name);
    if (!node) throw new ErrNotFound({ kind: 'Node', name });
    return node;
  };

  app.get(
    '/api/v1/nodes/:name/host-keys',
    {
      onRequest: requireAuth(['admin', 'viewer']),
      schema: {
        tags: ['nodes'],
        summary: "A node's trusted SSH host keys and any pending change, with fingerprints",
        description: '`edgeadm ssh` trusts `trusted` and refuses while `pending` is there.',
        params: NodeConnectParams,
        response: { 200: HostKeysViewSchema, ...errorResponses },
      },
    },
    async (request) => hostKeysView(await mustGetNode(request.params.name)),
  );

  app.post(
    '/api/v1/nodes/:name/host-keys/trust',
    {
      onRequest: admins,
      schema: {
        tags: ['nodes'],
        summary: "Trust a node's pending SSH host keys",
        description:
          'The keys a re-join reported replace the trusted ones: all of them, or with `fingerprints` exactly those (each must be pending; 409 otherwise). 409 when there is no pending change.',
        params: NodeConnectParams,
        body: TrustBody,
        response: { 200: HostKeysViewSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { name } = request.params;
      await mustGetNode(name);
      const now = new Date().toISOString();
      const node = await updateNodeStatus(ctx.store, name, (s) => trustPendingHostKeys(name, s, request.body?.fingerprints, now));
      if (!node) throw new ErrNotFound({ kind: 'Node', name });
      const view = await hostKeysView(node);
      ctx.metrics.hostKeyChanges.inc({ event: 'trusted' });
      request.log.warn({ node: name, tokenId: principalOf(request).tokenId, trusted: view.trusted.map((k) => `${k.type} ${k.fingerprint}`) }, 'node ssh host keys trusted');
      return view;
    },
  );

  app.post(
    '/api/v1/nodes/:name/host-keys/reject',
    {
      onRequest: admins,
      schema: {
        tags: ['nodes'],
        summary: "Reject a node's pending SSH host keys",
        description: 'The trusted keys stay; the pending change is dropped. 409 when there is none.',
        params: NodeConnectParams,
        response: { 200: HostKeysViewSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { name } = request.params;
      await mustGetNode(name);
      const node = await updateNodeStatus(ctx.store, name, (s) => rejectPendingHostKeys(name, s));
      if (!node) throw new ErrNotFound({ kind: 'Node', name });
      ctx.metrics.hostKeyChanges.inc({ event: 'rejected' });
      request.log.warn({ node: name, tokenId: principalOf(request).tokenId }, 'pending node ssh host keys rejected');
      return hostKeysView(node);
    },
  );
}
