/**
 * Applying a node's own PATCH offline: JSON merge patch (RFC 7386) and the
 * part of Kubernetes' strategic merge patch the kubelet sends for its Node
 * and Lease: lists merged by their patch merge key (conditions and addresses
 * by `type`, taints by `key`, volumesAttached by `name`, ownerReferences by
 * `uid`), `$patch: delete` and `$patch: replace`, `$setElementOrder/<list>`,
 * `$deleteFromPrimitiveList/<list>` and `$retainKeys`. Other lists are
 * replaced, as their strategy is. JSON patch (RFC 6902) is not applied
 * offline: the request answers 503 and the client retries online.
 *
 * Also the one builder of the `Status` objects the proxy answers with
 * (`kubeStatus`), since they are JSON it makes as the patches are.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/** The merge key of the lists the kubelet patches on Node and Lease objects (from the API types' patchMergeKey tags). */
const MERGE_KEYS: Record<string, string> = {
  conditions: 'type',
  addresses: 'type',
  taints: 'key',
  volumesAttached: 'name',
  ownerReferences: 'uid',
};

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/** RFC 7386: objects merge, null removes, anything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function mergeList(field: string, original: Json[], patch: Json[], order: Json[] | undefined): Json[] {
  const key = MERGE_KEYS[field];
  if (key === undefined || !patch.every(isObject) || !original.every(isObject)) return patch;
  const out = (original).map((o) => ({ ...o }));
  for (const p of patch) {
    const id = p[key];
    const at = out.findIndex((o) => o[key] === id);
    const directive = p.$patch;
    if (directive === 'delete') {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    const { $patch: _directive, ...item } = p;
    if (directive === 'replace' || at < 0) {
      if (at >= 0) out[at] = item;
      else out.push(item);
    } else {
      out[at] = strategicMerge(out[at], item) as JsonObject;
    }
  }
  if (order === undefined) return out;
  const ids = order.filter(isObject).map((o) => o[key]);
  const listed = ids.map((id) => out.find((o) => o[key] === id)).filter((o): o is JsonObject => o !== undefined);
  return [...listed, ...out.filter((o) => !ids.includes(o[key] as Json))];
}

/** Kubernetes' strategic merge patch for the lists above; every other list is replaced. */
export function strategicMerge(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return rest;
  }
  if (patch.$patch === 'delete') return null;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$retainKeys' || k === '$patch' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const list = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[list];
      if (Array.isArray(cur) && Array.isArray(v)) out[list] = cur.filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const cur = out[k];
    if (Array.isArray(v)) {
      const order = patch[`$setElementOrder/${k}`];
      out[k] = mergeList(k, Array.isArray(cur) ? cur : [], v, Array.isArray(order) ? order : undefined);
    } else {
      out[k] = strategicMerge(cur, v);
    }
  }
  // A list named only in $setElementOrder (no items changed) is reordered too.
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith('$setElementOrder/') || !Array.isArray(order)) continue;
    const list = k.slice('$setElementOrder/'.length);
    if (patch[list] === undefined && Array.isArray(out[list])) out[list] = mergeList(list, out[list], [], order);
  }
  return out;
}

/** Applies a PATCH body by its content type; undefined when the type is not applied offline (JSON patch, apply). */
export function applyPatch(target: JsonObject, contentType: string, patch: Json): JsonObject | undefined {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  let out: Json;
  if (type === 'application/merge-patch+json') out = mergePatch(target, patch);
  else if (type === 'application/strategic-merge-patch+json') out = strategicMerge(target, patch);
  else return undefined;
  return isObject(out) ? out : undefined;
}

/** A failure `Status`, as kube-apiserver answers one (for a 4xx/5xx answer or a watch's ERROR event). */
export function kubeStatus(code: number, reason: string, message: string, details?: JsonObject): JsonObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details === undefined ? {} : { details }), code };
}

export type { Json, JsonObject };
