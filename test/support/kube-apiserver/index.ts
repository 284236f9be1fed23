/**
 * The Kubernetes API test server: an honest, in-process stand-in for
 * kube-apiserver, since none can run on this machine. The kube store driver,
 * the controllers and anything speaking the Kubernetes API are tested
 * against it with real clients (@kubernetes/client-node, kubectl).
 *
 * What it implements, from the Kubernetes API concepts and API conventions:
 * - HTTPS on 127.0.0.1 with a certificate from a CA made at start (or plain
 *   HTTP), `kubeconfig()`;
 * - bearer-token authentication (401 Status otherwise) of several users: the
 *   admin (`token`: user `admin` in system:masters) and the `users` given at
 *   start or by `addUser()`, each also in system:authenticated; the
 *   `authentication.k8s.io/v1` SelfSubjectReview (`kubectl auth whoami`),
 *   answered and not stored, its request in JSON or protobuf;
 * - for tests, not an API semantic: `requestLog()`, the user, method and
 *   path of each of the latest 10,000 requests;
 * - discovery (/api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version>
 *   with verbs, scope, kind, shortNames, `x/status`), /version, /healthz,
 *   /livez, /readyz, an empty /openapi/v2 document;
 * - built-in types stored generically (namespaces, secrets, configmaps,
 *   serviceaccounts, RBAC roles and bindings (stored, not enforced),
 *   services, endpoints, nodes, pods, events, leases, deployments,
 *   statefulsets, endpointslices, CRDs, mutatingwebhookconfigurations) and
 *   custom resources served once their CRD is Established, no longer once
 *   it is deleted;
 * - create (generateName, uid, creationTimestamp, generation, AlreadyExists,
 *   namespace must exist and not be terminating), get, update with the
 *   resourceVersion precondition (409 Conflict), merge patch and JSON patch,
 *   strategic merge patch for built-ins in part (its directives, and lists
 *   merged by key only for a MutatingWebhookConfiguration's webhooks, by
 *   name: other lists are replaced), delete with finalizers and
 *   preconditions, deletecollection, namespace deletion that empties the
 *   namespace first, CRD deletion that removes its resources;
 * - mutating admission webhooks ("Dynamic Admission Control"):
 *   MutatingWebhookConfigurations (admissionregistration.k8s.io/v1) stored
 *   with kube's v1 defaults and validation; on every CREATE, UPDATE (PUT
 *   and PATCH, the status subresource as `x/status`) and DELETE
 *   (deletecollection: each item) of any type but the configurations
 *   themselves, after decoding and before validation and the write, the
 *   matching webhooks (rules, namespaceSelector, objectSelector) of the
 *   configurations in name order are called over HTTPS (`clientConfig.url`,
 *   verified against caBundle or else the system roots) with an
 *   AdmissionReview v1 carrying the request's user; denials answer the
 *   webhook's Status, JSONPatch answers are applied in turn, warnings
 *   become Warning headers, call failures (timeoutSeconds included) follow
 *   failurePolicy, a dry run matching a webhook with side effects is
 *   refused; an update whose object changed during the calls starts over;
 * - for tests, not an API semantic: `admissionLog()`, each webhook call
 *   with its outcome;
 * - one global resourceVersion; list with resourceVersion,
 *   resourceVersionMatch (Exact, NotOlderThan), limit and continue tokens
 *   (410 Expired with a fresh token once compacted); watch from a
 *   resourceVersion replayed from a bounded history (410 Expired ERROR event
 *   when older), BOOKMARK events (every `bookmarkIntervalMs`, and one 2 s
 *   before the deadline of a watch with timeoutSeconds > 2, as
 *   kube-apiserver's watch cache sends them; each at the current revision,
 *   which the stream has reached), timeoutSeconds, the legacy /watch/ paths,
 *   boolean parameters (watch, allowWatchBookmarks) false only for absent,
 *   `0` and `false` in any case, as kube-apiserver reads them;
 * - for tests, not an API semantic: `delayWatches(resource, ms)` makes the
 *   watch streams of one resource lag behind the others, in order;
 * - label selectors (=, ==, !=, in, notin, exists, !key: the store's parser)
 *   and field selectors (metadata.name, metadata.namespace and per-type
 *   fields such as spec.nodeName of pods and type of secrets), on list and watch;
 * - the status subresource (status changes only there; generation follows
 *   spec changes only), CRD structural schemas (non-structural refused),
 *   pruning, defaulting and validation of custom resources (422 with causes
 *   naming each field), fieldValidation Strict / Warn / Ignore,
 *   server-side dry run (dryRun=All);
 * - a Service's cluster IP as kube's allocator keeps it (services.ts):
 *   allocated from 10.96.0.0/12 when none is given, a given one in range
 *   and free (422), kept by an update that leaves it out, immutable (422),
 *   free again once deleted; headless and ExternalName; kube's Service
 *   defaults (type, sessionAffinity, a port's protocol and targetPort).
 *
 * What it does not: RBAC and authorization (every user may do everything),
 * other authentication (client certificates, service account tokens,
 * TokenReview, impersonation), validating admission (webhooks and
 * ValidatingAdmissionPolicy), built-in admission plugins (but
 * NamespaceLifecycle's checks), webhook `service` references (a call
 * failure: nothing resolves services), reinvocationPolicy IfNeeded (each
 * webhook runs once), matchConditions (CEL: refused), matchPolicy
 * Equivalent's conversion (read as Exact), AdmissionReview v1beta1,
 * admission of the server's own writes (CRD status; the deletions that
 * empty a terminating namespace, which kube's namespace controller makes
 * through the API, admitted there; CRD cleanup), protobuf (but for the SelfSubjectReview's request) and CBOR,
 * Table output, server-side apply, strategic merge patch by key for other
 * lists (a pod's containers), typed validation or defaulting of built-in
 * types but MutatingWebhookConfiguration and a Service's cluster IP,
 * NodePorts (not allocated), Endpoints made from Services (no controllers run),
 * garbage collection of owner references, graceful deletion of pods, the
 * scale subresource, CRD conversion other than `None`, CEL validation rules,
 * aggregated discovery, OpenAPI v3, persistence (a single "etcd" in memory,
 * gone with the process), more than one apiserver.
 */
export { startKubeApiServer, SERVER_VERSION, type KubeApiServer, type KubeApiServerOptions } from './server.ts';
export { INITIAL_NAMESPACES } from './api.ts';
export type { KubeObject, ObjectMeta } from './resources.ts';
export { ErrKubeApiOptions, ErrKubeApiStatus } from './errors.ts';
export { ADMIN_USER, type KubeUser, type RequestLogEntry, type UserInfo } from './auth.ts';
export type { AdmissionLogEntry, AdmissionOperation } from './admission.ts';
