/**
 * JSON Pointers (RFC 6901): `/sensors/0/temp` names the `temp` member of the
 * first item of `sensors`; `""` is the whole document; `~1` stands for `/`
 * and `~0` for `~` inside a name. Used to read a resource's value out of a
 * device's document and to build the body that writes it back.
 */

/** The pointer's reference tokens, or why it is not a JSON Pointer. */
export function parsePointer(text: string): { tokens: string[] } | { problem: string } {
  if (text === '') return { tokens: [] };
  if (!text.startsWith('/')) return { problem: `'${text}' is not a JSON Pointer: it must be empty or start with '/'` };
  if (/~(?![01])/.test(text)) return { problem: `'${text}' is not a JSON Pointer: '~' must be followed by 0 or 1` };
  return { tokens: text.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~')) };
}

/** The value the tokens point at; `found: false` when the document has none there. */
export function resolvePointer(doc: unknown, tokens: readonly string[]): { found: true; value: unknown } | { found: false } {
  let at: unknown = doc;
  for (const token of tokens) {
    if (Array.isArray(at) && /^(0|[1-9]\d*)$/.test(token) && Number(token) < at.length) at = at[Number(token)];
    else if (at !== null && typeof at === 'object' && !Array.isArray(at) && Object.hasOwn(at, token)) at = (at as Record<string, unknown>)[token];
    else return { found: false };
  }
  return { found: true, value: at };
}

/** The smallest document holding `value` at the tokens, every token an object member: `/a/b` and 1 give `{"a":{"b":1}}`. */
export function documentWith(tokens: readonly string[], value: unknown): unknown {
  return tokens.reduceRight<unknown>((inner, token) => ({ [token]: inner }), value);
}
