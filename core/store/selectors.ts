/**
 * Kubernetes label selectors: parsing (`a=b`, `a==b`, `a!=b`, `a in (x,y)`,
 * `a notin (x)`, `a`, `!a`; a comma means AND) and matching against an
 * object's labels, plus the Kubernetes rules for label keys and values and
 * DNS-1123 names (defined in core/kernel/names.ts, presented here as the
 * store's). A bad selector is an EDGE_ERR_STORE_SELECTOR error that names
 * the selector and what is wrong with it.
 */
import { labelKeyProblem, labelValueProblem } from '../kernel/index.ts';
import { ErrSelector } from './errors.ts';

// The name and label rules are the kernel's (core/kernel/names.ts); the store presents them as its own.
export { dns1123LabelProblem, dns1123SubdomainProblem, labelKeyProblem, labelValueProblem } from '../kernel/index.ts';

export type SelectorOperator = 'Equals' | 'NotEquals' | 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface SelectorRequirement {
  key: string;
  operator: SelectorOperator;
  /** One value for Equals/NotEquals, one or more for In/NotIn, none for Exists/DoesNotExist. */
  values: string[];
}

export interface LabelSelector {
  /** The selector text as given. */
  readonly source: string;
  readonly requirements: readonly SelectorRequirement[];
  /** True when every requirement holds for `labels` (an empty selector matches everything). */
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
}

type Token =
  | { type: 'ident'; value: string; at: number }
  | { type: '!' | '=' | '==' | '!=' | '(' | ')' | ','; at: number }
  | { type: 'end'; at: number };

const IDENT_CHAR = /[A-Za-z0-9_./-]/;

function tokenize(src: string, fail: (reason: string) => never): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '!') {
      if (src.charAt(i + 1) === '=') {
        out.push({ type: '!=', at: i });
        i += 2;
      } else {
        out.push({ type: '!', at: i });
        i++;
      }
    } else if (c === '=') {
      if (src.charAt(i + 1) === '=') {
        out.push({ type: '==', at: i });
        i += 2;
      } else {
        out.push({ type: '=', at: i });
        i++;
      }
    } else if (c === '(' || c === ')' || c === ',') {
      out.push({ type: c, at: i });
      i++;
    } else if (IDENT_CHAR.test(c)) {
      const start = i;
      while (i < src.length && IDENT_CHAR.test(src.charAt(i))) i++;
      out.push({ type: 'ident', value: src.slice(start, i), at: start });
    } else {
      fail(`unexpected character '${c}' at position ${i}`);
    }
  }
  out.push({ type: 'end', at: src.length });
  return out;
}

function describe(t: Token): string {
  if (t.type === 'end') return 'the end';
  if (t.type === 'ident') return `'${t.value}' at position ${t.at}`;
  return `'${t.type}' at position ${t.at}`;
}

/** Parses a label selector; throws EDGE_ERR_STORE_SELECTOR naming the selector on any problem. */
export function parseLabelSelector(source: string): LabelSelector {
  const fail = (reason: string): never => {
    throw new ErrSelector({ selector: source, reason });
  };
  const tokens = tokenize(source, fail);
  let pos = 0;
  const peek = (): Token => tokens[pos] as Token;
  const next = (): Token => tokens[pos++] as Token;
  const requirements: SelectorRequirement[] = [];

  const key = (): string => {
    const t = next();
    if (t.type !== 'ident') return fail(`expected a label key, found ${describe(t)}`);
    const problem = labelKeyProblem(t.value);
    if (problem !== undefined) fail(`key '${t.value}': ${problem}`);
    return t.value;
  };
  const value = (k: string): string => {
    const t = next();
    if (t.type !== 'ident') return fail(`expected a value for key '${k}', found ${describe(t)}`);
    const problem = labelValueProblem(t.value);
    if (problem !== undefined) fail(`value '${t.value}' of key '${k}': ${problem}`);
    return t.value;
  };

  if (peek().type !== 'end') {
    for (;;) {
      const first = peek();
      if (first.type === '!') {
        next();
        requirements.push({ key: key(), operator: 'DoesNotExist', values: [] });
      } else {
        const k = key();
        const op = peek();
        if (op.type === ',' || op.type === 'end') {
          requirements.push({ key: k, operator: 'Exists', values: [] });
        } else if (op.type === '=' || op.type === '==' || op.type === '!=') {
          next();
          const after = peek();
          // `a=` selects the empty value, as in Kubernetes.
          const v = after.type === ',' || after.type === 'end' ? '' : value(k);
          requirements.push({ key: k, operator: op.type === '!=' ? 'NotEquals' : 'Equals', values: [v] });
        } else if (op.type === 'ident' && (op.value === 'in' || op.value === 'notin')) {
          next();
          const open = next();
          if (open.type !== '(') fail(`expected '(' after '${op.value}' for key '${k}', found ${describe(open)}`);
          const values: string[] = [];
          for (;;) {
            values.push(value(k));
            const sep = next();
            if (sep.type === ')') break;
            if (sep.type !== ',') fail(`expected ',' or ')' in the value list of key '${k}', found ${describe(sep)}`);
          }
          requirements.push({ key: k, operator: op.value === 'in' ? 'In' : 'NotIn', values });
        } else {
          fail(`expected one of '=', '==', '!=', 'in', 'notin', ',' after key '${k}', found ${describe(op)}`);
        }
      }
      const sep = next();
      if (sep.type === 'end') break;
      if (sep.type !== ',') fail(`expected ',' between requirements, found ${describe(sep)}`);
      if (peek().type === 'end') fail('ends with a comma');
    }
  }
  return makeSelector(source, requirements);
}

function makeSelector(source: string, requirements: SelectorRequirement[]): LabelSelector {
  const frozen = Object.freeze(requirements.map((r) => Object.freeze({ ...r, values: [...r.values] })));
  return Object.freeze({
    source,
    requirements: frozen,
    matches(labels: Readonly<Record<string, string>> | undefined): boolean {
      return frozen.every((r) => requirementMatches(r, labels ?? {}));
    },
  });
}

function requirementMatches(r: SelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Equals':
    case 'In':
      return has && r.values.includes(v as string);
    case 'NotEquals':
    case 'NotIn':
      return !has || !r.values.includes(v as string);
  }
}

/** A selector equivalent to Kubernetes `matchLabels` (every key equals its value). Throws on invalid keys or values. */
export function selectorFromMatchLabels(matchLabels: Readonly<Record<string, string>>): LabelSelector {
  const entries = Object.entries(matchLabels);
  const source = entries.map(([k, v]) => `${k}=${v}`).join(',');
  for (const [k, v] of entries) {
    const kp = labelKeyProblem(k);
    if (kp !== undefined) throw new ErrSelector({ selector: source, reason: `key '${k}': ${kp}` });
    const vp = labelValueProblem(v);
    if (vp !== undefined) throw new ErrSelector({ selector: source, reason: `value '${v}' of key '${k}': ${vp}` });
  }
  return makeSelector(
    source,
    entries.map(([key, v]) => ({ key, operator: 'Equals', values: [v] })),
  );
}

/** Parses `selector` (or takes a parsed one) and matches it against `labels`. */
export function matchesLabelSelector(selector: string | LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const parsed = typeof selector === 'string' ? parseLabelSelector(selector) : selector;
  return parsed.matches(labels);
}
