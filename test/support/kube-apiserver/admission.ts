/**
 * Mutating admission webhooks for the Kubernetes API test server, as
 * kube-apiserver's MutatingAdmissionWebhook plugin runs them ("Dynamic
 * Admission Control"; k8s.io/apiserver admission/plugin/webhook): the
 * `admissionregistration.k8s.io/v1` MutatingWebhookConfiguration's
 * defaults and validation, which webhooks a write matches, the
 * `admission.k8s.io/v1` AdmissionReview sent to each over HTTPS, and what
 * its answer does to the request.
 *
 * Rules, as kube-apiserver 1.32:
 * - configurations are taken in order of name, their webhooks in order;
 *   writes of the admissionregistration.k8s.io configuration kinds are
 *   never admitted (so a bad webhook cannot lock itself in);
 * - a webhook is called when its namespaceSelector matches the labels of
 *   the request's namespace (always, for a cluster-scoped object other
 *   than a Namespace; a Namespace's own labels on its CREATE and UPDATE),
 *   its objectSelector the labels of the object or the old object, and
 *   one of its rules the operation, group, version, `resource` or
 *   `resource/subresource` (`*`, `*\/*`, `x/*`) and scope; `matchPolicy` is
 *   read as `Exact` (the server serves each kind in one group and version);
 * - the request: uid, kind, resource, subResource (and their request*
 *   copies), name (empty on a CREATE that names by generateName, and for
 *   each item of a deletecollection), namespace, operation, userInfo, the
 *   object (null on DELETE), oldObject (UPDATE and DELETE), dryRun, options;
 * - an answer with `allowed: false` fails the request with the webhook's
 *   Status (code below 400 made 400, message `admission webhook "<name>"
 *   denied the request: <message>`); a JSONPatch is applied before the next
 *   webhook; its `warnings` become Warning headers;
 * - a call failure (no v1 in admissionReviewVersions, a `service`
 *   clientConfig, connect or TLS error, timeoutSeconds passed, an answer
 *   other than 2xx, not a v1 AdmissionReview, another uid, an undecodable
 *   patch or an unknown patchType) is skipped under failurePolicy Ignore
 *   and fails the request with 500 `failed calling webhook "<name>": ...`
 *   under Fail; a patch that decodes but does not apply, or a patch of a
 *   DELETE, fails it with 500 whatever the policy, as in kube-apiserver;
 * - a dry-run request that matches a webhook whose sideEffects are not
 *   None or NoneOnDryRun is refused (400) without calling it (v1
 *   validation only admits those two, so this guards old objects only).
 *
 * Not implemented: validating webhooks, reinvocationPolicy IfNeeded (a
 * webhook runs once), matchConditions (CEL: a configuration with them is
 * refused), `service` references (a call failure), AdmissionReview
 * v1beta1, conversion to another version for matchPolicy Equivalent.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import https from 'node:https';
import { isDeepStrictEqual } from 'node:util';
import { dns1123SubdomainProblem, labelKeyProblem, labelValueProblem } from '../../../core/kernel/index.ts';
import { parseLabelSelector, StoreErrors, type LabelSelector } from '../../../core/store/index.ts';
import { RequestLog, type UserInfo } from './auth.ts';
import { ErrKubeApiStatus, ErrKubeApiWebhookCall, type StatusCause, type StatusParams } from './errors.ts';
import { jsonPatch } from './patch.ts';
import type { KubeObject, ResourceType } from './resources.ts';

/** The group of the webhook configuration kinds. */
export const ADMISSION_REGISTRATION_GROUP = 'admissionregistration.k8s.io';
/** The resource of MutatingWebhookConfiguration objects. */
export const MUTATING_WEBHOOK_CONFIGURATIONS = 'mutatingwebhookconfigurations';

/** The kinds of that group whose writes are never admitted (kube's IsExemptAdmissionConfigurationResource). */
const EXEMPT_KINDS = [
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
];

/** kube-apiserver's default and largest webhook timeout (seconds). */
const DEFAULT_TIMEOUT_SECONDS = 10;
const MAX_TIMEOUT_SECONDS = 30;
/** The largest webhook answer read, as the request body limit. */
const MAX_ANSWER = 3 * 1024 * 1024;

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE';

/** One write as admission sees it (kube's admission.Attributes). */
export interface AdmissionAttributes {
  operation: AdmissionOperation;
  type: ResourceType;
  /** The version of the request (the object is served in it). */
  version: string;
  subresource?: 'status';
  /** The request's namespace; for a Namespace, its own name (but on CREATE); '' for none. */
  namespace: string;
  /** '' when not known (a CREATE by generateName, an item of a deletecollection). */
  name: string;
  /** The object to be written (null on DELETE). */
  object: KubeObject | null;
  /** The object as stored (null on CREATE). */
  oldObject: KubeObject | null;
  dryRun: boolean;
  /** CreateOptions, UpdateOptions, PatchOptions or DeleteOptions. */
  options: Record<string, unknown>;
}

/** What admission made of a write: the object to go on with, whether a patch changed it, warnings for the answer. */
export interface AdmissionOutcome {
  object: KubeObject | null;
  patched: boolean;
  warnings: string[];
}

/** Mutating admission of one write, bound to the request's user; fails with ErrKubeApiStatus. */
export type Admit = (a: AdmissionAttributes) => Promise<AdmissionOutcome>;

/** One webhook call (or refusal to call), for tests: `admissionLog()`. */
export interface AdmissionLogEntry {
  /** The MutatingWebhookConfiguration's name. */
  configuration: string;
  /** The webhook's name. */
  webhook: string;
  /** The AdmissionReview's request.uid ('' when no request was sent). */
  uid: string;
  operation: AdmissionOperation;
  group: string;
  version: string;
  /** The plural, e.g. `nodes`. */
  resource: string;
  subresource?: string;
  namespace?: string;
  /** '' when the request had none. */
  name: string;
  dryRun: boolean;
  /** Whether the request went on past this webhook: it allowed it, or its call failed under failurePolicy Ignore. */
  allowed: boolean;
  /** Whether its patch was applied and changed the object. */
  patched: boolean;
  /** Why the call failed or was refused, when it did. */
  error?: string;
}

// ------------------------------------------------------------------ helpers

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

type StatusError = InstanceType<typeof ErrKubeApiStatus>;

function internal(message: string): StatusError {
  return new ErrKubeApiStatus({ reason: 'InternalError', code: 500, message: `Internal error occurred: ${message}`, details: { causes: [{ message }] } });
}

/** A failure to call a webhook (kube's ErrCallingWebhook): its failurePolicy decides. */
const callFailure = (reason: string): Error => new ErrKubeApiWebhookCall({ reason });

/**
 * The parsed form of a `metav1.LabelSelector` (matchLabels, matchExpressions);
 * absent or `{}` selects everything. Throws ErrSelector on a bad one.
 */
export function labelSelectorOf(sel: unknown): LabelSelector {
  const parts: string[] = [];
  if (isObject(sel)) {
    if (isObject(sel.matchLabels)) for (const [k, v] of Object.entries(sel.matchLabels)) parts.push(`${k}=${String(v)}`);
    for (const e of Array.isArray(sel.matchExpressions) ? sel.matchExpressions : []) {
      if (!isObject(e)) continue;
      const key = String(e.key);
      const values = strings(e.values).join(',');
      if (e.operator === 'In') parts.push(`${key} in (${values})`);
      else if (e.operator === 'NotIn') parts.push(`${key} notin (${values})`);
      else if (e.operator === 'Exists') parts.push(key);
      else parts.push(`!${key}`);
    }
  }
  return parseLabelSelector(parts.join(','));
}

// ------------------------------------------------------------------ configuration: defaults and validation

/**
 * Sets the v1 defaults of a MutatingWebhookConfiguration in place, as
 * kube-apiserver stores them: failurePolicy Fail, matchPolicy Equivalent,
 * namespaceSelector and objectSelector `{}`, timeoutSeconds 10,
 * reinvocationPolicy Never, each rule's scope `*`, a service's port 443.
 */
export function defaultWebhookConfiguration(obj: KubeObject): void {
  if (!Array.isArray(obj.webhooks)) return;
  for (const h of obj.webhooks) {
    if (!isObject(h)) continue;
    h.failurePolicy ??= 'Fail';
    h.matchPolicy ??= 'Equivalent';
    h.namespaceSelector ??= {};
    h.objectSelector ??= {};
    h.timeoutSeconds ??= DEFAULT_TIMEOUT_SECONDS;
    h.reinvocationPolicy ??= 'Never';
    if (Array.isArray(h.rules)) for (const r of h.rules) if (isObject(r)) r.scope ??= '*';
    if (isObject(h.clientConfig) && isObject(h.clientConfig.service)) h.clientConfig.service.port ??= 443;
  }
}

const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT', '*'];
const quoted = (vs: string[]): string => vs.map((v) => `"${v}"`).join(', ');

/**
 * The problems kube-apiserver's v1 validation finds in a (defaulted)
 * MutatingWebhookConfiguration, as Status causes; none when valid.
 */
export function webhookConfigurationProblems(obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const add = (reason: string, field: string, message: string): void => void causes.push({ reason, field, message });
  const required = (field: string, message = 'Required value'): void => add('FieldValueRequired', field, message);
  const invalid = (field: string, value: unknown, why: string): void => add('FieldValueInvalid', field, `Invalid value: ${JSON.stringify(value)}: ${why}`);
  const oneOf = (field: string, value: unknown, allowed: string[]): void => {
    if (typeof value !== 'string' || !allowed.includes(value)) add('FieldValueNotSupported', field, `Unsupported value: ${JSON.stringify(value)}: supported values: ${quoted(allowed)}`);
  };
  const list = (field: string, value: unknown, what: string): string[] => {
    if (!Array.isArray(value) || value.length === 0) {
      required(field);
      return [];
    }
    const vs = strings(value);
    if (vs.length !== value.length) invalid(field, value, 'must be a list of strings');
    if (vs.includes('*') && vs.length > 1) invalid(field, value, `if '*' is present, must not specify other ${what}`);
    return vs;
  };
  const selector = (field: string, sel: unknown): void => {
    if (sel === undefined) return;
    if (!isObject(sel)) return invalid(field, sel, 'must be a label selector');
    if (sel.matchLabels !== undefined && !isObject(sel.matchLabels)) invalid(`${field}.matchLabels`, sel.matchLabels, 'must be a map of strings');
    for (const [k, v] of Object.entries(isObject(sel.matchLabels) ? sel.matchLabels : {})) {
      const kp = labelKeyProblem(k);
      if (kp !== undefined) invalid(`${field}.matchLabels`, k, kp);
      const vp = typeof v === 'string' ? labelValueProblem(v) : 'must be a string';
      if (vp !== undefined) invalid(`${field}.matchLabels`, v, vp);
    }
    const exprs = sel.matchExpressions ?? [];
    if (!Array.isArray(exprs)) return invalid(`${field}.matchExpressions`, exprs, 'must be a list');
    exprs.forEach((e: unknown, i: number) => {
      const at = `${field}.matchExpressions[${i}]`;
      if (!isObject(e)) return invalid(at, e, 'must be a label selector requirement');
      const kp = typeof e.key === 'string' ? labelKeyProblem(e.key) : 'must be a string';
      if (kp !== undefined) invalid(`${at}.key`, e.key, kp);
      const values = e.values === undefined ? [] : e.values;
      if (!Array.isArray(values)) return invalid(`${at}.values`, values, 'must be a list of strings');
      if (e.operator === 'In' || e.operator === 'NotIn') {
        if (values.length === 0) required(`${at}.values`, 'Required value: must be specified when `operator` is \'In\' or \'NotIn\'');
      } else if (e.operator === 'Exists' || e.operator === 'DoesNotExist') {
        if (values.length > 0) add('FieldValueForbidden', `${at}.values`, 'Forbidden: may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'');
      } else {
        return oneOf(`${at}.operator`, e.operator, ['In', 'NotIn', 'Exists', 'DoesNotExist']);
      }
      for (const v of values) {
        const vp = typeof v === 'string' ? labelValueProblem(v) : 'must be a string';
        if (vp !== undefined) invalid(`${at}.values`, v, vp);
      }
    });
  };

  const hooks = obj.webhooks ?? [];
  if (!Array.isArray(hooks)) return [{ reason: 'FieldValueInvalid', field: 'webhooks', message: 'Invalid value: must be a list of webhooks' }];
  const names = new Set<string>();
  hooks.forEach((h: unknown, i: number) => {
    const at = `webhooks[${i}]`;
    if (!isObject(h)) return invalid(at, h, 'must be a webhook');
    if (typeof h.name !== 'string' || h.name === '') {
      required(`${at}.name`);
    } else {
      const p = dns1123SubdomainProblem(h.name);
      if (p !== undefined) invalid(`${at}.name`, h.name, p);
      else if (h.name.split('.').length < 3) invalid(`${at}.name`, h.name, 'should be a domain with at least three segments separated by dots');
      if (names.has(h.name)) add('FieldValueDuplicate', `${at}.name`, `Duplicate value: ${JSON.stringify(h.name)}`);
      names.add(h.name);
    }
    // admissionReviewVersions: required, known versions among them, no duplicates.
    const versions = h.admissionReviewVersions;
    if (!Array.isArray(versions) || versions.length === 0) {
      required(`${at}.admissionReviewVersions`, 'Required value: must specify one of v1, v1beta1');
    } else {
      const vs = strings(versions);
      if (vs.length !== versions.length || vs.some((v) => v === '')) invalid(`${at}.admissionReviewVersions`, versions, 'must be a list of non-empty strings');
      vs.forEach((v, j) => {
        if (vs.indexOf(v) !== j) add('FieldValueDuplicate', `${at}.admissionReviewVersions[${j}]`, `Duplicate value: ${JSON.stringify(v)}`);
      });
      if (!vs.some((v) => v === 'v1' || v === 'v1beta1')) invalid(`${at}.admissionReviewVersions`, versions, 'must include at least one of v1, v1beta1');
    }
    // clientConfig: exactly one of url and service; an https URL without user, query or fragment.
    const cc = h.clientConfig;
    if (!isObject(cc)) {
      required(`${at}.clientConfig`);
    } else if ((cc.url === undefined) === (cc.service === undefined)) {
      required(`${at}.clientConfig`, 'Required value: exactly one of url or service is required');
    } else if (cc.url !== undefined) {
      let u: URL | undefined;
      try {
        u = typeof cc.url === 'string' ? new URL(cc.url) : undefined;
      } catch {
        u = undefined;
      }
      const f = `${at}.clientConfig.url`;
      if (u === undefined) invalid(f, cc.url, 'must be a valid URL');
      else if (u.protocol !== 'https:') invalid(f, cc.url, "'https' is the only allowed URL scheme");
      else if (u.hostname === '') invalid(f, cc.url, 'host must be specified');
      else if (u.username !== '' || u.password !== '') invalid(f, cc.url, 'user information is not permitted in the URL');
      else if (u.hash !== '' || (cc.url as string).includes('#')) invalid(f, cc.url, 'fragments are not permitted in the URL');
      else if (u.search !== '' || (cc.url as string).includes('?')) invalid(f, cc.url, 'query parameters are not permitted in the URL');
    } else if (!isObject(cc.service)) {
      invalid(`${at}.clientConfig.service`, cc.service, 'must be a service reference');
    } else {
      const s = cc.service;
      if (typeof s.namespace !== 'string' || s.namespace === '') required(`${at}.clientConfig.service.namespace`, 'Required value: service namespace is required');
      if (typeof s.name !== 'string' || s.name === '') required(`${at}.clientConfig.service.name`, 'Required value: service name is required');
      if (s.path !== undefined && (typeof s.path !== 'string' || !s.path.startsWith('/'))) invalid(`${at}.clientConfig.service.path`, s.path, "must start with a '/'");
      if (!Number.isInteger(s.port) || (s.port as number) < 1 || (s.port as number) > 65535) invalid(`${at}.clientConfig.service.port`, s.port, 'port is not valid: must be between 1 and 65535, inclusive');
    }
    if (isObject(cc) && cc.caBundle !== undefined && (typeof cc.caBundle !== 'string' || !isBase64(cc.caBundle))) {
      invalid(`${at}.clientConfig.caBundle`, cc.caBundle, 'must be base64-encoded PEM');
    }
    // rules
    if (h.rules !== undefined && !Array.isArray(h.rules)) invalid(`${at}.rules`, h.rules, 'must be a list of rules');
    (Array.isArray(h.rules) ? h.rules : []).forEach((r: unknown, j: number) => {
      const rat = `${at}.rules[${j}]`;
      if (!isObject(r)) return invalid(rat, r, 'must be a rule');
      list(`${rat}.operations`, r.operations, 'operations').forEach((op, k) => oneOf(`${rat}.operations[${k}]`, op, OPERATIONS));
      list(`${rat}.apiGroups`, r.apiGroups, 'API groups');
      list(`${rat}.apiVersions`, r.apiVersions, 'API versions').forEach((v, k) => {
        if (v === '') required(`${rat}.apiVersions[${k}]`, 'Required value: version must not be empty');
      });
      const resources = list(`${rat}.resources`, r.resources, 'resources without subresources');
      resources.forEach((res, k) => {
        if (res === '') required(`${rat}.resources[${k}]`, 'Required value: resource must not be empty');
        const [main, sub] = res.split('/', 2);
        if (main === '' || sub === '') invalid(`${rat}.resources[${k}]`, res, 'resource and subresource must not be empty');
      });
      if (resources.includes('*/*') && resources.length > 1) invalid(`${rat}.resources`, r.resources, "if '*/*' is present, must not specify other resources");
      oneOf(`${rat}.scope`, r.scope, ['*', 'Cluster', 'Namespaced']);
    });
    oneOf(`${at}.failurePolicy`, h.failurePolicy, ['Fail', 'Ignore']);
    oneOf(`${at}.matchPolicy`, h.matchPolicy, ['Equivalent', 'Exact']);
    oneOf(`${at}.reinvocationPolicy`, h.reinvocationPolicy, ['IfNeeded', 'Never']);
    // v1 admits only side-effect-free webhooks (Some and Unknown came from v1beta1).
    if (h.sideEffects === undefined) required(`${at}.sideEffects`, 'Required value: must specify one of None, NoneOnDryRun');
    else oneOf(`${at}.sideEffects`, h.sideEffects, ['None', 'NoneOnDryRun']);
    const ts = h.timeoutSeconds;
    if (!Number.isInteger(ts) || (ts as number) < 1 || (ts as number) > MAX_TIMEOUT_SECONDS) invalid(`${at}.timeoutSeconds`, ts, 'the timeout value must be between 1 and 30 seconds');
    selector(`${at}.namespaceSelector`, h.namespaceSelector);
    selector(`${at}.objectSelector`, h.objectSelector);
    if (Array.isArray(h.matchConditions) && h.matchConditions.length > 0) {
      add('FieldValueForbidden', `${at}.matchConditions`, 'Forbidden: matchConditions (CEL) are not supported by this test server');
    }
  });
  return causes;
}

function isBase64(s: string): boolean {
  return s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
}

/**
 * The refusal kube-apiserver answers a dry-run request with when it matches
 * a webhook that may have side effects (sideEffects not None nor
 * NoneOnDryRun): a 400 naming the webhook; undefined when it may be called.
 */
export function dryRunRefusal(webhook: { name?: unknown; sideEffects?: unknown }, dryRun: boolean): StatusParams | undefined {
  if (!dryRun || webhook.sideEffects === 'None' || webhook.sideEffects === 'NoneOnDryRun') return undefined;
  return { reason: 'BadRequest', code: 400, message: `admission webhook ${JSON.stringify(String(webhook.name))} does not support dry run` };
}

// ------------------------------------------------------------------ matching

/** Whether a rule (operations, apiGroups, apiVersions, resources, scope) matches a write, as kube's rules.Matcher. */
function ruleMatches(r: Record<string, unknown>, a: AdmissionAttributes): boolean {
  const anyOf = (items: unknown, v: string): boolean => strings(items).some((i) => i === '*' || i === v);
  const t = a.type;
  const isNamespace = t.group === '' && t.resource === 'namespaces';
  const scope = typeof r.scope === 'string' ? r.scope : '*';
  if (scope === 'Namespaced' && (isNamespace || a.namespace === '')) return false;
  if (scope === 'Cluster' && !(isNamespace || a.namespace === '')) return false;
  if (scope !== '*' && scope !== 'Namespaced' && scope !== 'Cluster') return false;
  if (!anyOf(r.operations, a.operation)) return false;
  if (!anyOf(r.apiGroups, t.group) || !anyOf(r.apiVersions, a.version)) return false;
  const sub = a.subresource ?? '';
  return strings(r.resources).some((entry) => {
    const slash = entry.indexOf('/');
    const res = slash < 0 ? entry : entry.slice(0, slash);
    const s = slash < 0 ? '' : entry.slice(slash + 1);
    return (res === '*' || res === t.resource) && (s === '*' || s === sub);
  });
}

// ------------------------------------------------------------------ the dispatcher

export interface MutatingWebhooksOptions {
  /** The MutatingWebhookConfigurations stored now (any order; read, never changed). */
  configurations(): KubeObject[];
  /** A namespace's labels; undefined when it does not exist. */
  namespaceLabels(name: string): Record<string, string> | undefined;
}

/** A webhook's HTTP answer. */
interface Answer {
  status: number;
  text: string;
}

/** kube-apiserver's MutatingAdmissionWebhook plugin for one server: matching, calling, patching, the log. */
export class MutatingWebhooks {
  private readonly log = new RequestLog<AdmissionLogEntry>();
  /** Aborts the webhook calls in flight (close()). */
  private readonly inflight = new Set<AbortController>();

  constructor(private readonly o: MutatingWebhooksOptions) {}

  /** The latest webhook calls, oldest first. */
  entries(): AdmissionLogEntry[] {
    return this.log.list();
  }

  clearLog(): void {
    this.log.clear();
  }

  /** Aborts every call in flight (each a call failure, "context canceled", that its failurePolicy judges). */
  close(): void {
    for (const ac of [...this.inflight]) ac.abort();
  }

  /** Runs every matching webhook over `a` in order; resolves with the object to go on with, or fails with ErrKubeApiStatus. */
  async admit(a: AdmissionAttributes, user: UserInfo): Promise<AdmissionOutcome> {
    const out: AdmissionOutcome = { object: a.object, patched: false, warnings: [] };
    if (a.type.group === ADMISSION_REGISTRATION_GROUP && EXEMPT_KINDS.includes(a.type.kind)) return out;
    const configs = this.o.configurations().sort((x, y) => ((x.metadata?.name ?? '') < (y.metadata?.name ?? '') ? -1 : 1));
    for (const config of configs) {
      const hooks = Array.isArray(config.webhooks) ? config.webhooks : [];
      for (const h of hooks) {
        if (!isObject(h) || !this.matches(h, { ...a, object: out.object })) continue;
        await this.call(config.metadata?.name ?? '', h, { ...a, object: out.object }, user, out);
      }
    }
    return out;
  }

  /** Whether webhook `h` is to be called for `a`: namespaceSelector, objectSelector, rules (kube's ShouldCallHook). */
  private matches(h: Record<string, unknown>, a: AdmissionAttributes): boolean {
    const t = a.type;
    const isNamespace = t.group === '' && t.resource === 'namespaces';
    let nsMatch = true;
    // As kube's ShouldCallHook: a selector that cannot be read or a namespace that is gone fails the request, but only when a rule matches.
    let matchError: StatusError | undefined;
    let nsSelector: LabelSelector | undefined;
    let objSelector: LabelSelector | undefined;
    try {
      nsSelector = labelSelectorOf(h.namespaceSelector);
      objSelector = labelSelectorOf(h.objectSelector);
    } catch (err) {
      if (!StoreErrors.ErrSelector.is(err)) throw err;
      matchError = internal(err.message);
    }
    if (nsSelector !== undefined && nsSelector.requirements.length > 0 && (a.namespace !== '' || isNamespace)) {
      if (isNamespace && a.subresource === undefined && (a.operation === 'CREATE' || a.operation === 'UPDATE')) {
        nsMatch = nsSelector.matches(a.object?.metadata?.labels);
      } else {
        const labels = this.o.namespaceLabels(a.namespace);
        if (labels === undefined) {
          matchError = new ErrKubeApiStatus({ reason: 'NotFound', code: 404, message: `namespaces "${a.namespace}" not found`, details: { name: a.namespace, kind: 'namespaces' } });
        } else {
          nsMatch = nsSelector.matches(labels);
        }
      }
    }
    if (!nsMatch && matchError === undefined) return false;
    if (objSelector !== undefined && objSelector.requirements.length > 0) {
      const on = (o: KubeObject | null): boolean => o !== null && objSelector.matches(o.metadata?.labels ?? {});
      if (!on(a.object) && !on(a.oldObject)) return false;
    }
    const rules = Array.isArray(h.rules) ? h.rules : [];
    if (!rules.some((r) => isObject(r) && ruleMatches(r, a))) return false;
    if (matchError !== undefined) throw matchError;
    return true;
  }

  /** Calls one webhook and applies its answer to `out`; throws the request's failure. */
  private async call(configuration: string, h: Record<string, unknown>, a: AdmissionAttributes, user: UserInfo, out: AdmissionOutcome): Promise<void> {
    const name = typeof h.name === 'string' ? h.name : '';
    const t = a.type;
    const entry: AdmissionLogEntry = {
      configuration,
      webhook: name,
      uid: '',
      operation: a.operation,
      group: t.group,
      version: a.version,
      resource: t.resource,
      ...(a.subresource !== undefined ? { subresource: a.subresource } : {}),
      ...(a.namespace !== '' ? { namespace: a.namespace } : {}),
      name: a.name,
      dryRun: a.dryRun,
      allowed: false,
      patched: false,
    };
    const refused = dryRunRefusal(h, a.dryRun);
    if (refused !== undefined) {
      this.log.record({ ...entry, error: refused.message });
      throw new ErrKubeApiStatus(refused);
    }
    const ignore = h.failurePolicy === 'Ignore';
    let response: Record<string, unknown>;
    let changed = false;
    try {
      response = (await this.review(h, a, user, entry)).response as Record<string, unknown>;
      out.warnings.push(...strings(response.warnings));
      if (response.allowed === true) changed = this.patch(name, response, out);
    } catch (err) {
      if (!ErrKubeApiWebhookCall.is(err)) {
        this.log.record({ ...entry, error: err instanceof Error ? err.message : String(err) });
        throw err;
      }
      const message = `failed calling webhook ${JSON.stringify(name)}: ${err.params.reason}`;
      this.log.record({ ...entry, allowed: ignore, error: message });
      if (ignore) return;
      throw internal(message);
    }
    if (response.allowed !== true) {
      const denial = denied(name, response.status);
      this.log.record({ ...entry, error: denial.message });
      throw new ErrKubeApiStatus(denial);
    }
    this.log.record({ ...entry, allowed: true, patched: changed });
  }

  /** Sends the AdmissionReview and checks the answer (kube's VerifyAdmissionResponse); ErrKubeApiWebhookCall when it cannot. */
  private async review(h: Record<string, unknown>, a: AdmissionAttributes, user: UserInfo, entry: AdmissionLogEntry): Promise<Record<string, unknown>> {
    if (!strings(h.admissionReviewVersions).includes('v1')) {
      throw callFailure('could not create admission objects: webhook does not accept known AdmissionReview versions (v1: this test server implements no other)');
    }
    const cc = isObject(h.clientConfig) ? h.clientConfig : {};
    if (typeof cc.url !== 'string') {
      const s = isObject(cc.service) ? cc.service : {};
      throw callFailure(`failed to call webhook: service "${String(s.namespace)}/${String(s.name)}" cannot be reached: this test server does not resolve webhook services, only clientConfig.url`);
    }
    let ca: string | undefined;
    if (typeof cc.caBundle === 'string' && cc.caBundle !== '') {
      ca = Buffer.from(cc.caBundle, 'base64').toString('utf8');
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw callFailure('could not get REST client: unable to load root certificates: unable to parse bytes as PEM block');
    }
    const seconds = Number.isInteger(h.timeoutSeconds) ? (h.timeoutSeconds as number) : DEFAULT_TIMEOUT_SECONDS;
    const url = new URL(cc.url);
    // As client-go's Request.Timeout: the webhook learns its deadline from the query.
    url.searchParams.set('timeout', `${seconds}s`);
    const uid = randomUUID();
    entry.uid = uid;
    const t = a.type;
    const kind = { group: t.group, version: a.version, kind: t.kind };
    const resource = { group: t.group, version: a.version, resource: t.resource };
    const userInfo: Record<string, unknown> = { username: user.username, ...(user.uid !== undefined ? { uid: user.uid } : {}), groups: [...user.groups] };
    const request = {
      uid,
      kind,
      resource,
      ...(a.subresource !== undefined ? { subResource: a.subresource } : {}),
      requestKind: kind,
      requestResource: resource,
      ...(a.subresource !== undefined ? { requestSubResource: a.subresource } : {}),
      ...(a.name !== '' ? { name: a.name } : {}),
      ...(a.namespace !== '' ? { namespace: a.namespace } : {}),
      operation: a.operation,
      userInfo,
      object: a.object,
      oldObject: a.oldObject,
      dryRun: a.dryRun,
      options: a.options,
    };
    const body = JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request });
    const answer = await this.post(url, body, ca, seconds);
    if (answer.status < 200 || answer.status > 299) {
      const snippet = answer.text.length > 200 ? `${answer.text.slice(0, 200)}...` : answer.text;
      throw callFailure(`failed to call webhook: the server answered HTTP ${answer.status}${snippet.trim() !== '' ? `: ${snippet.trim()}` : ''}`);
    }
    let review: unknown;
    try {
      review = JSON.parse(answer.text);
    } catch (err) {
      throw callFailure(`failed to call webhook: the answer is not JSON: ${(err as Error).message}`);
    }
    if (!isObject(review)) throw callFailure('failed to call webhook: the answer is not a JSON object');
    const invalid = (why: string): Error => callFailure(`received invalid webhook response: ${why}`);
    const r = review.response;
    if (!isObject(r)) throw invalid('webhook response was absent');
    if (r.uid !== uid) throw invalid(`expected response.uid=${JSON.stringify(uid)}, got ${JSON.stringify(typeof r.uid === 'string' ? r.uid : '')}`);
    if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
      const gv = typeof review.apiVersion === 'string' ? review.apiVersion : '';
      const kind = typeof review.kind === 'string' ? review.kind : '';
      throw invalid(`expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${gv.includes('/') ? gv : `/${gv}`}, Kind=${kind}`);
    }
    const hasPatch = typeof r.patch === 'string' && r.patch !== '';
    if (hasPatch && r.patchType === undefined) throw invalid('webhook returned response.patch but not response.patchType');
    if (!hasPatch && r.patchType !== undefined && r.patchType !== null) throw invalid('webhook returned response.patchType but not response.patch');
    if (r.patchType === '') throw invalid('webhook returned invalid response.patchType of ""');
    if (r.patch !== undefined && r.patch !== null && (typeof r.patch !== 'string' || !isBase64(r.patch))) {
      throw callFailure('failed to call webhook: response.patch is not base64');
    }
    return review;
  }

  /** Applies the answer's patch (if any) to `out.object`; whether it changed it. */
  private patch(name: string, r: Record<string, unknown>, out: AdmissionOutcome): boolean {
    if (typeof r.patch !== 'string' || r.patch === '') return false;
    let ops: unknown;
    try {
      ops = JSON.parse(Buffer.from(r.patch, 'base64').toString('utf8'));
    } catch (err) {
      throw callFailure(`received undecodable patch in webhook response: ${(err as Error).message}`);
    }
    if (!Array.isArray(ops)) throw callFailure('received undecodable patch in webhook response: a JSON patch must be an array');
    if (ops.length === 0) return false;
    if (out.object === null) throw internal(`admission webhook ${JSON.stringify(name)} attempted to modify the object, which is not supported for this operation`);
    if (r.patchType !== 'JSONPatch') throw callFailure(`unsupported patch type ${JSON.stringify(r.patchType)}`);
    let next: unknown;
    try {
      next = jsonPatch(out.object, ops);
    } catch (err) {
      // As kube-apiserver: a patch that does not apply is an internal error, whatever the failurePolicy.
      if (ErrKubeApiStatus.is(err)) throw internal(err.message);
      throw err;
    }
    if (!isObject(next)) throw internal(`admission webhook ${JSON.stringify(name)} patched the object into something that is not an object`);
    const changed = !isDeepStrictEqual(next, out.object);
    out.object = next;
    out.patched ||= changed;
    return changed;
  }

  /** POSTs `body` to `url` over HTTPS (verified against `ca`, else the system roots) within `seconds`. */
  private post(url: URL, body: string, ca: string | undefined, seconds: number): Promise<Answer> {
    const shown = `Post "${url.href}"`;
    const ac = new AbortController();
    this.inflight.add(ac);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, seconds * 1000);
    return new Promise<Answer>((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | undefined, answer?: Answer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inflight.delete(ac);
        if (err !== undefined) reject(err);
        else resolve(answer as Answer);
      };
      const failed = (err: unknown): void => {
        const why = timedOut ? 'context deadline exceeded' : ac.signal.aborted ? 'context canceled' : err instanceof Error ? err.message : String(err);
        settle(callFailure(`failed to call webhook: ${shown}: ${why}`));
      };
      let req: http.ClientRequest;
      try {
        req = https.request(url, {
          method: 'POST',
          agent: false,
          ...(ca !== undefined ? { ca } : {}),
          signal: ac.signal,
          headers: { 'Content-Type': 'application/json', Accept: 'application/json, */*', 'Content-Length': Buffer.byteLength(body) },
        });
      } catch (err) {
        return failed(err);
      }
      req.on('error', failed);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER) {
            req.destroy();
            settle(callFailure(`failed to call webhook: ${shown}: the answer is larger than 3 MiB`));
          } else {
            chunks.push(c);
          }
        });
        res.on('error', failed);
        res.on('end', () => settle(undefined, { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.end(body);
    });
  }
}

/** The Status of a denial (kube's ToStatusErr of 1.32): the webhook's, its code at least 400, its message naming the webhook. */
function denied(name: string, status: unknown): StatusParams {
  const s = isObject(status) ? status : {};
  const by = `admission webhook ${JSON.stringify(name)} denied the request`;
  const message = typeof s.message === 'string' && s.message !== '' ? `${by}: ${s.message}` : typeof s.reason === 'string' && s.reason !== '' ? `${by}: ${s.reason}` : `${by} without explanation`;
  const code = typeof s.code === 'number' && Number.isInteger(s.code) && s.code >= 400 ? s.code : 400;
  const p: StatusParams = { reason: typeof s.reason === 'string' ? s.reason : '', code, message };
  if (isObject(s.details)) p.details = s.details;
  return p;
}
