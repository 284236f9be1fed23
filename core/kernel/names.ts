/**
 * The Kubernetes rules for names, the one definition of them: DNS-1123
 * labels (Site names, node names, a certificate host's labels) and
 * subdomains (the other resources' names), label keys and label values. The
 * store presents them as the rules of resource names (core/store re-exports
 * every one), and callers above the store take them from there; they live
 * in the kernel because the capabilities below the store (plugins, pki, the
 * SDK for plugin packages) check names too.
 *
 * Each `…Problem` function says why a name breaks its rule, or undefined
 * when it keeps it; the patterns are for schemas (TypeBox `pattern`), the
 * length limits being the schema's `maxLength`.
 */

/** A DNS-1123 label, without its length limit (63, `DNS1123_LABEL_MAX`). */
export const DNS1123_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** A DNS-1123 subdomain, without its length limit (253, `DNS1123_SUBDOMAIN_MAX`). */
export const DNS1123_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const DNS1123_LABEL_MAX = 63;
export const DNS1123_SUBDOMAIN_MAX = 253;
/** What a DNS-1123 label is, as messages say it. */
export const DNS1123_LABEL_RULE = "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit";
/** What a DNS-1123 subdomain is, as messages say it. */
export const DNS1123_SUBDOMAIN_RULE = "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit";

const DNS1123_LABEL = new RegExp(DNS1123_LABEL_PATTERN);
const DNS1123_SUBDOMAIN = new RegExp(DNS1123_SUBDOMAIN_PATTERN);
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Why `name` is not a DNS-1123 label (lowercase alphanumerics and '-', at most 63), or undefined when it is one. */
export function dns1123LabelProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > DNS1123_LABEL_MAX) return `must be at most ${DNS1123_LABEL_MAX} characters (has ${name.length})`;
  if (!DNS1123_LABEL.test(name)) return DNS1123_LABEL_RULE;
  return undefined;
}

/** Why `name` is not a DNS-1123 subdomain (labels joined by '.', at most 253), or undefined when it is one. */
export function dns1123SubdomainProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > DNS1123_SUBDOMAIN_MAX) return `must be at most ${DNS1123_SUBDOMAIN_MAX} characters (has ${name.length})`;
  if (!DNS1123_SUBDOMAIN.test(name)) return DNS1123_SUBDOMAIN_RULE;
  return undefined;
}

/** Why `key` is not a valid label key (`[prefix/]name`), or undefined when it is one. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  let name = key;
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    name = key.slice(slash + 1);
    const p = dns1123SubdomainProblem(prefix);
    if (p !== undefined) return `prefix '${prefix}' ${p}`;
  }
  if (name.length === 0) return 'name part must not be empty';
  if (name.length > 63) return `name part must be at most 63 characters (has ${name.length})`;
  if (!QUALIFIED_NAME.test(name)) {
    return "name part must consist of letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is one (the empty string is valid). */
export function labelValueProblem(value: string): string | undefined {
  if (value.length === 0) return undefined;
  if (value.length > 63) return `must be at most 63 characters (has ${value.length})`;
  if (!QUALIFIED_NAME.test(value)) {
    return "must consist of letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  }
  return undefined;
}

/**
 * Orders names by their UTF-16 code units, as Kubernetes lists objects:
 * the same on every machine whatever its locale, and without loading ICU's
 * collation data (a few MiB of a small gateway's memory) as localeCompare does.
 */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
