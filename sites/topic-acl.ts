/**
 * MQTT topic access lists: which topics a login may publish to and which
 * filters it may subscribe with. A publish is allowed when one allowed
 * filter matches its topic; a subscription when one allowed filter covers
 * every topic the requested filter could match (so `dev/1/#` is refused to a
 * login allowed `dev/1/+` only, and `+/x` to one allowed `dev/x`).
 * Topics beginning with '$' never match a wildcard at their first level
 * (MQTT-4.7.2-1), so `#` does not grant `$SYS/...`.
 */

function levels(s: string): string[] {
  return s.split('/');
}

/** Whether `filter` (which may hold '+' and a trailing '#') matches the topic name `topic`. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = levels(filter);
  const t = levels(topic);
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const fl = f[i]!;
    if (fl === '#') return true;
    if (i >= t.length) return false;
    if (fl !== '+' && fl !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Whether every topic `requested` matches is also matched by `allowed`. */
export function filterCovers(allowed: string, requested: string): boolean {
  const a = levels(allowed);
  const r = levels(requested);
  if ((a[0] === '+' || a[0] === '#') && requested.startsWith('$')) return false;
  for (let i = 0; i < a.length; i++) {
    const al = a[i]!;
    if (al === '#') return true;
    if (i >= r.length) return false;
    const rl = r[i]!;
    if (rl === '#') return false;
    if (al === '+') continue;
    if (rl === '+' || rl !== al) return false;
  }
  return a.length === r.length;
}

export interface TopicAcl {
  publish: readonly string[];
  subscribe: readonly string[];
}

export function mayPublish(acl: TopicAcl, topic: string): boolean {
  return acl.publish.some((f) => topicMatches(f, topic));
}

export function maySubscribe(acl: TopicAcl, filter: string): boolean {
  return acl.subscribe.some((f) => filterCovers(f, filter));
}
