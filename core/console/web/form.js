/**
 * A form generated from a JSON Schema (as TypeBox writes them), editing one JSON value.
 *
 * ```js
 * html`<${SchemaForm} schema=${schema} value=${config} onChange=${setConfig}
 *   errors=${issuesByPath(err)} path="spec.config" idPrefix="addon-config" />`
 * ```
 *
 * Props of `SchemaForm({ schema, value, onChange, errors, idPrefix, path, disabled })`:
 * - `schema`: the JSON Schema of the value (type object/string/number/integer/boolean, enum, const,
 *   anyOf of literals, default, minimum/maximum, minLength/maxLength/pattern, title, description,
 *   required, nested objects, arrays, records as `patternProperties`).
 * - `value`: the JSON value being edited (`undefined` when unset).
 * - `onChange(newValue)`: called with the whole new value after every edit (`undefined` when it is left empty).
 * - `errors`: the hub's field problems, a Map from dotted path to message as api.js `issuesByPath`
 *   returns them (`spec.config.port`). Each field shows the message at `path` + its own dotted path
 *   (array items as `a.0` or `a[0]`); problems at `path` itself, or under it with no field of their
 *   own, are shown above the fields.
 * - `path`: the dotted path of the value in the hub's messages (`spec.config`,
 *   `spec.protocols.modbus-tcp`); empty when the messages are relative to the value.
 * - `idPrefix`: makes the element ids unique on the page (field ids are `<idPrefix>-<key>-<key>…`).
 * - `disabled`: every field read-only (while saving).
 *
 * Rules: unset keys stay out of the value (a default is shown as a placeholder or hint, never written
 * unless the field is edited; clearing a field removes its key). Numbers that arrive as strings (as
 * EdgeX writes them) are shown and kept as given until edited; an edited number field writes a number
 * when its text is one, else the text as typed (the hub then names the problem). What the form cannot
 * render (arrays of objects, free maps, mixed unions) is edited as JSON in a textarea, which names a
 * parse error under it and leaves the value as it was until the text parses.
 *
 * The pure helpers (`fieldsOf`, `kindOf`, `getAt`, `setAt`, `errorFor`, `fieldId`, `withoutRequired`,
 * `unplacedErrors`) are exported for tests and for pages that lay out parts of a value themselves.
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { FieldError } from './ui.js';

/**
 * A JSON Schema node, as far as the form reads it.
 * @typedef {object} Schema
 * @property {string | string[]} [type]
 * @property {string} [title]
 * @property {string} [description]
 * @property {unknown} [default]
 * @property {unknown} [const]
 * @property {unknown[]} [enum]
 * @property {Schema[]} [anyOf]
 * @property {Schema[]} [oneOf]
 * @property {Record<string, Schema>} [properties]
 * @property {Record<string, Schema>} [patternProperties]
 * @property {Schema | boolean} [additionalProperties]
 * @property {string[]} [required]
 * @property {Schema} [items]
 * @property {number} [minimum]
 * @property {number} [maximum]
 * @property {number} [exclusiveMinimum]
 * @property {number} [exclusiveMaximum]
 * @property {number} [minLength]
 * @property {number} [maxLength]
 * @property {string} [pattern]
 * @property {number} [minItems]
 * @property {number} [maxItems]
 */

/**
 * How a schema node is edited: `text`, `number`, `integer` (inputs), `boolean` (a checkbox), `enum`
 * (a select of `options`), `const` (shown, not edited), `object` (a fieldset of its properties),
 * `record` (a fieldset of key/value entries), `list` (an array of scalars), `json` (a textarea).
 * @typedef {'text' | 'number' | 'integer' | 'boolean' | 'enum' | 'const' | 'object' | 'record' | 'list' | 'json'} Kind
 */

/**
 * One field of an object schema.
 * @typedef {object} Field
 * @property {string} key
 * @property {Kind} kind
 * @property {Schema} schema the property's schema, with a nullable union unwrapped
 * @property {boolean} required in `required` with no default
 * @property {string} label title, else the key
 */

/** @typedef {(string | number)[]} Segs */

/** @param {unknown} v @returns {v is Record<string, unknown>} */
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** @param {Schema} s */
const types = (s) => (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []);

/**
 * A union with `null` (or an Optional wrapper) edited as its other member.
 * @param {Schema} schema
 * @returns {Schema}
 */
function unwrap(schema) {
  const alts = schema.anyOf ?? schema.oneOf;
  if (!alts) return schema;
  const rest = alts.filter((a) => !(a.type === 'null' || a.const === null));
  if (rest.length === 1 && rest[0]) return { ...rest[0], title: schema.title ?? rest[0].title, description: schema.description ?? rest[0].description, default: schema.default ?? rest[0].default };
  return schema;
}

/**
 * The choices of an enum-like schema (`enum`, or anyOf/oneOf whose members are all `const`), else undefined.
 * @param {Schema} schema
 * @returns {unknown[] | undefined}
 */
export function enumOptions(schema) {
  if (Array.isArray(schema.enum)) return schema.enum;
  const alts = schema.anyOf ?? schema.oneOf;
  if (alts && alts.length > 0 && alts.every((a) => 'const' in a || (Array.isArray(a.enum) && a.enum.length === 1))) {
    return alts.map((a) => ('const' in a ? a.const : a.enum?.[0]));
  }
  return undefined;
}

/** @param {Schema} s */
const isScalar = (s) => {
  const k = kindOf(s);
  return k === 'text' || k === 'number' || k === 'integer' || k === 'boolean' || k === 'enum';
};

/**
 * The one schema of a record's values (TypeBox Record: a single `patternProperties` entry, or
 * `additionalProperties` as a schema), else undefined.
 * @param {Schema} schema
 * @returns {Schema | undefined}
 */
export function recordValueSchema(schema) {
  const pp = schema.patternProperties ? Object.values(schema.patternProperties) : [];
  if (pp.length === 1) return pp[0];
  if (pp.length === 0 && isObject(schema.additionalProperties)) return /** @type {Schema} */ (schema.additionalProperties);
  return undefined;
}

/**
 * How the form edits a schema node.
 * @param {Schema} schema
 * @returns {Kind}
 */
export function kindOf(schema) {
  const s = unwrap(schema);
  if (enumOptions(s)) return 'enum';
  if ('const' in s) return 'const';
  if (s.anyOf || s.oneOf) {
    // A union of scalar types (number or string, as EdgeX writes numbers) is typed as text and parsed.
    const alts = /** @type {Schema[]} */ (s.anyOf ?? s.oneOf);
    const ts = alts.flatMap(types);
    if (alts.every((a) => types(a).length > 0 && !a.properties && !a.items) && ts.every((t) => t === 'string' || t === 'number' || t === 'integer')) return 'text';
    return 'json';
  }
  const t = types(s).filter((x) => x !== 'null');
  if (t.length !== 1) return t.length === 0 && s.properties ? 'object' : 'json';
  switch (t[0]) {
    case 'string':
      return 'text';
    case 'number':
      return 'number';
    case 'integer':
      return 'integer';
    case 'boolean':
      return 'boolean';
    case 'array':
      return s.items && !Array.isArray(s.items) && isScalar(s.items) ? 'list' : 'json';
    case 'object': {
      if (s.properties && Object.keys(s.properties).length > 0) return 'object';
      const v = recordValueSchema(s);
      if (v && kindOf(v) !== 'json') return 'record';
      return 'json';
    }
    default:
      return 'json';
  }
}

/**
 * The fields an object schema yields, in its property order.
 * @param {Schema} schema
 * @returns {Field[]}
 */
export function fieldsOf(schema) {
  const s = unwrap(schema);
  const req = new Set(s.required ?? []);
  return Object.entries(s.properties ?? {}).map(([key, prop]) => {
    const p = unwrap(prop);
    // A required key with a default is filled in by it: nothing the user must give.
    return { key, kind: kindOf(p), schema: p, required: req.has(key) && p.default === undefined, label: p.title ?? key };
  });
}

/**
 * The schema with no field required, at any depth: for a partial value merged over another (an Addon's
 * per-site override of its config).
 * @param {Schema} schema
 * @returns {Schema}
 */
export function withoutRequired(schema) {
  if (!isObject(schema)) return schema;
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'required') continue;
    if ((k === 'properties' || k === 'patternProperties') && isObject(v)) out[k] = Object.fromEntries(Object.entries(v).map(([pk, pv]) => [pk, withoutRequired(/** @type {Schema} */ (pv))]));
    else if ((k === 'anyOf' || k === 'oneOf') && Array.isArray(v)) out[k] = v.map((x) => withoutRequired(/** @type {Schema} */ (x)));
    else if ((k === 'items' || k === 'additionalProperties') && isObject(v)) out[k] = withoutRequired(/** @type {Schema} */ (v));
    else out[k] = v;
  }
  return /** @type {Schema} */ (out);
}

/**
 * The value at a path of keys and indexes, undefined when any step is missing.
 * @param {unknown} value
 * @param {Segs} segs
 * @returns {unknown}
 */
export function getAt(value, segs) {
  let v = value;
  for (const k of segs) {
    if (Array.isArray(v) && typeof k === 'number') v = v[k];
    else if (isObject(v) && typeof k === 'string') v = v[k];
    else return undefined;
  }
  return v;
}

/**
 * A copy of `value` with `next` at the path (objects and arrays made as needed, the rest shared).
 * `undefined` removes the key, and an object left empty by that is removed from its parent too, so
 * unset keys stay out of the value; the whole value becomes undefined when nothing is left.
 * @param {unknown} value
 * @param {Segs} segs
 * @param {unknown} next
 * @returns {unknown}
 */
export function setAt(value, segs, next) {
  if (segs.length === 0) return next;
  const [k, ...rest] = /** @type {[string | number, ...Segs]} */ (segs);
  if (typeof k === 'number') {
    const arr = Array.isArray(value) ? [...value] : [];
    const child = setAt(arr[k], rest, next);
    if (child === undefined && rest.length === 0) arr.splice(k, 1);
    else arr[k] = child;
    return arr;
  }
  const obj = isObject(value) ? { ...value } : {};
  const child = setAt(obj[k], rest, next);
  if (child === undefined) delete obj[k];
  else obj[k] = child;
  return Object.keys(obj).length === 0 && next === undefined ? undefined : obj;
}

/**
 * A dotted path: `path` then the keys (numbers as `.0`).
 * @param {string} path
 * @param {Segs} segs
 */
export const dotted = (path, segs) => [path, ...segs.map(String)].filter((p) => p !== '').join('.');

/**
 * The hub's message for the value at `segs` under `path`: the dotted path, or with array
 * indexes written `a[0]`.
 * @param {Map<string, string> | undefined} errors
 * @param {string} path
 * @param {Segs} segs
 * @returns {string | undefined}
 */
export function errorFor(errors, path, segs) {
  if (!errors || errors.size === 0) return undefined;
  const plain = dotted(path, segs);
  if (errors.has(plain)) return errors.get(plain);
  const bracketed = [path, ...segs.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 && path === '' ? '' : '.'}${k}`))].join('');
  return errors.get(bracketed);
}

/**
 * An element id for the field at `segs`: safe characters only.
 * @param {string} idPrefix
 * @param {Segs} segs
 */
export const fieldId = (idPrefix, segs) => [idPrefix, ...segs.map((k) => String(k).replace(/[^A-Za-z0-9_-]/g, '_'))].join('-');

/**
 * The schema's rules in words, for a field's hint.
 * @param {Schema} s
 */
export function constraintText(s) {
  /** @type {string[]} */
  const parts = [];
  const lo = s.minimum ?? s.exclusiveMinimum;
  const hi = s.maximum ?? s.exclusiveMaximum;
  if (lo !== undefined && hi !== undefined) parts.push(`${lo}–${hi}`);
  else if (lo !== undefined) parts.push(`${s.exclusiveMinimum !== undefined ? 'over' : 'at least'} ${lo}`);
  else if (hi !== undefined) parts.push(`${s.exclusiveMaximum !== undefined ? 'under' : 'at most'} ${hi}`);
  if (s.minLength !== undefined && s.maxLength !== undefined) parts.push(`${s.minLength}–${s.maxLength} characters`);
  else if (s.minLength !== undefined && s.minLength > 0) parts.push(`at least ${s.minLength} character${s.minLength === 1 ? '' : 's'}`);
  else if (s.maxLength !== undefined) parts.push(`at most ${s.maxLength} characters`);
  if (s.pattern) parts.push(`matching ${s.pattern}`);
  if (s.default !== undefined && !isObject(s.default) && !Array.isArray(s.default)) parts.push(`default ${JSON.stringify(s.default)}`);
  return parts.join('; ');
}

/**
 * What an edited text field writes for its schema: a number when the schema takes numbers and the
 * text is one, an empty text as unset, else the text.
 * @param {string} text
 * @param {Schema} schema
 * @returns {unknown}
 */
export function parseScalar(text, schema) {
  if (text === '') return undefined;
  const s = unwrap(schema);
  const alts = s.anyOf ?? s.oneOf ?? [s];
  const ts = alts.flatMap(types);
  if (ts.includes('number') || ts.includes('integer')) {
    const n = Number(text.trim());
    if (text.trim() !== '' && Number.isFinite(n)) return n;
  }
  return text;
}

/** @param {unknown} v */
const showScalar = (v) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));

/**
 * Text that the user edits, kept as typed while it still means the value given: reset when the value
 * changes from outside.
 * @param {unknown} value
 * @param {(v: unknown) => string} show
 * @returns {[string, (text: string, emitted: unknown) => void]}
 */
function useDraft(value, show) {
  const [text, setText] = useState(() => show(value));
  const emitted = useRef(/** @type {{ v: unknown } | null} */ (null));
  useEffect(() => {
    if (emitted.current && JSON.stringify(emitted.current.v) === JSON.stringify(value)) return;
    emitted.current = null;
    setText(show(value));
  }, [JSON.stringify(value)]);
  return [
    text,
    (t, v) => {
      emitted.current = { v };
      setText(t);
    },
  ];
}

/**
 * @typedef {object} FieldProps
 * @property {Schema} schema
 * @property {unknown} value the whole value
 * @property {Segs} segs where this field's value is
 * @property {(v: unknown) => void} set writes this field's value
 * @property {string} label
 * @property {boolean} required
 * @property {Map<string, string> | undefined} errors
 * @property {string} path
 * @property {string} idPrefix
 * @property {boolean} disabled
 * @property {() => unknown} [extra] more controls beside the field (a record entry's Remove)
 * @property {boolean} [bare] a list item: no hint of its own
 */

/** @param {{ id: string, schema: Schema, message: string | undefined }} p */
function describedBy({ id, schema, message }) {
  const hint = schema.description || constraintText(schema);
  return [hint ? `${id}-hint` : '', message ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
}

/** @param {{ id: string, schema: Schema }} p */
function Hint({ id, schema }) {
  const rules = constraintText(schema);
  const text = [schema.description, rules].filter(Boolean).join(' · ');
  return text ? html`<span class="hint" id=${`${id}-hint`}>${text}</span>` : null;
}

/** @param {{ label: string, required: boolean }} p */
function LabelText({ label, required }) {
  return html`${label}${required ? html`<span class="required" aria-hidden="true"> *</span><span class="visually-hidden"> (required)</span>` : ''}`;
}

/** @param {FieldProps} p */
function ScalarInput(p) {
  const { schema, segs, set, idPrefix, disabled, errors, path, required } = p;
  const id = fieldId(idPrefix, segs);
  const message = errorFor(errors, path, segs);
  const current = getAt(p.value, segs);
  const kind = kindOf(schema);
  const [text, setDraft] = useDraft(current, showScalar);
  const common = { id, disabled, 'aria-describedby': p.bare ? (message ? `${id}-error` : undefined) : describedBy({ id, schema, message }), 'aria-invalid': message ? 'true' : undefined, 'aria-required': required ? 'true' : undefined };
  if (kind === 'boolean') {
    const checked = typeof current === 'boolean' ? current : current === 'true' ? true : current === 'false' ? false : schema.default === true;
    return html`<input type="checkbox" ...${common} checked=${checked} onChange=${(/** @type {Event} */ e) => set(/** @type {HTMLInputElement} */ (e.currentTarget).checked)} />`;
  }
  if (kind === 'enum') {
    const options = enumOptions(schema) ?? [];
    const idx = options.findIndex((o) => JSON.stringify(o) === JSON.stringify(current));
    const stray = current !== undefined && idx < 0;
    const unsetText = schema.default !== undefined ? `(default: ${showScalar(schema.default)})` : '(not set)';
    return html`<select ...${common} value=${current === undefined ? '' : stray ? 'stray' : String(idx)}
      onChange=${(/** @type {Event} */ e) => {
        const v = /** @type {HTMLSelectElement} */ (e.currentTarget).value;
        if (v === 'stray') return;
        set(v === '' ? undefined : options[Number(v)]);
      }}>
      <option value="">${unsetText}</option>
      ${options.map((o, i) => html`<option value=${String(i)}>${showScalar(o)}</option>`)}
      ${stray && html`<option value="stray">${showScalar(current)} (not one of the choices)</option>`}
    </select>`;
  }
  if (kind === 'const') {
    return html`<input type="text" ...${common} readOnly value=${showScalar(schema.const)} />`;
  }
  const numeric = kind === 'number' || kind === 'integer';
  return html`<input type="text" ...${common} value=${text} inputMode=${kind === 'integer' ? 'numeric' : numeric ? 'decimal' : undefined}
    placeholder=${schema.default !== undefined && !isObject(schema.default) ? showScalar(schema.default) : undefined}
    maxLength=${kind === 'text' ? schema.maxLength : undefined} spellcheck=${false}
    onInput=${(/** @type {Event} */ e) => {
      const t = /** @type {HTMLInputElement} */ (e.currentTarget).value;
      const v = parseScalar(t, schema);
      setDraft(t, v);
      set(v);
    }} />`;
}

/** @param {FieldProps} p */
function JsonInput(p) {
  const { schema, segs, set, idPrefix, disabled, errors, path, required } = p;
  const id = fieldId(idPrefix, segs);
  const current = getAt(p.value, segs);
  const [text, setDraft] = useDraft(current, (v) => (v === undefined ? '' : JSON.stringify(v, null, 2)));
  const [parseError, setParseError] = useState('');
  const message = parseError || errorFor(errors, path, segs);
  return html`<textarea id=${id} class="json" rows=${Math.min(12, Math.max(3, text.split('\n').length))} disabled=${disabled} spellcheck=${false}
    aria-describedby=${describedBy({ id, schema, message })} aria-invalid=${message ? 'true' : undefined} aria-required=${required ? 'true' : undefined}
    placeholder=${schema.default !== undefined ? JSON.stringify(schema.default) : 'JSON'}
    value=${text}
    onInput=${(/** @type {Event} */ e) => {
      const t = /** @type {HTMLTextAreaElement} */ (e.currentTarget).value;
      if (t.trim() === '') {
        setParseError('');
        setDraft(t, undefined);
        set(undefined);
        return;
      }
      try {
        const v = JSON.parse(t);
        setParseError('');
        setDraft(t, v);
        set(v);
      } catch (err) {
        setParseError(`not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
        setDraft(t, current);
      }
    }}></textarea>
    <${FieldError} id=${id} message=${message} />`;
}

/** @param {FieldProps} p */
function ListInput(p) {
  const { schema, segs, set, idPrefix, disabled, errors, path } = p;
  const id = fieldId(idPrefix, segs);
  const items = getAt(p.value, segs);
  const arr = Array.isArray(items) ? items : [];
  const item = /** @type {Schema} */ (schema.items);
  const message = errorFor(errors, path, segs);
  return html`<div class="schema-list" id=${id} role="group" aria-labelledby=${`${id}-label`} aria-describedby=${describedBy({ id, schema, message })}>
    ${arr.map(
      (_, i) => html`<div class="schema-list-item" key=${i}>
        <label class="visually-hidden" for=${fieldId(idPrefix, [...segs, i])}>${p.label} item ${i + 1}</label>
        <${ScalarInput} ...${p} schema=${item} segs=${[...segs, i]} required=${false} bare=${true}
          set=${(/** @type {unknown} */ v) => set(setAt(arr, [i], v === undefined ? '' : v))} />
        <button type="button" class="small" disabled=${disabled} aria-label=${`Remove ${p.label} item ${i + 1}`} onClick=${() => set(arr.length === 1 ? undefined : arr.filter((_x, j) => j !== i))}>Remove</button>
        <${FieldError} id=${fieldId(idPrefix, [...segs, i])} message=${errorFor(errors, path, [...segs, i])} />
      </div>`,
    )}
    <div><button type="button" class="small" disabled=${disabled} onClick=${() => set([...arr, kindOf(item) === 'boolean' ? false : ''])}>Add ${p.label} item</button></div>
  </div>`;
}

/** @param {FieldProps} p */
function RecordInput(p) {
  const { schema, segs, set, idPrefix, disabled, errors, path } = p;
  const id = fieldId(idPrefix, segs);
  const entries = getAt(p.value, segs);
  const obj = isObject(entries) ? entries : {};
  const valueSchema = /** @type {Schema} */ (recordValueSchema(schema));
  const [newKey, setNewKey] = useState('');
  const keyId = `${id}--new-key`;
  const taken = newKey !== '' && newKey in obj;
  const add = () => {
    if (newKey === '' || taken) return;
    const k = kindOf(valueSchema);
    set({ ...obj, [newKey]: k === 'object' || k === 'record' ? {} : k === 'boolean' ? false : '' });
    setNewKey('');
  };
  return html`<div class="schema-record">
    ${Object.keys(obj).map(
      (k) => html`<${Field} key=${k} ...${p} schema=${valueSchema} segs=${[...segs, k]} label=${k} required=${false}
        set=${(/** @type {unknown} */ v) => set({ ...obj, [k]: v === undefined ? (kindOf(valueSchema) === 'object' ? {} : '') : v })}
        extra=${() => html`<button type="button" class="small" disabled=${disabled} aria-label=${`Remove ${p.label} ${k}`}
          onClick=${() => {
            const { [k]: _gone, ...rest } = obj;
            set(Object.keys(rest).length === 0 ? undefined : rest);
          }}>Remove</button>`} />`,
    )}
    <div class="schema-record-add">
      <label for=${keyId}>${segs.length === 0 ? `New ${p.label} key` : `New key in ${dotted('', segs)}`}</label>
      <input id=${keyId} type="text" value=${newKey} disabled=${disabled} aria-invalid=${taken ? 'true' : undefined} aria-describedby=${taken ? `${keyId}-error` : undefined}
        onInput=${(/** @type {Event} */ e) => setNewKey(/** @type {HTMLInputElement} */ (e.currentTarget).value)}
        onKeyDown=${(/** @type {KeyboardEvent} */ e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            add();
          }
        }} />
      <button type="button" class="small" disabled=${disabled || newKey === '' || taken} onClick=${add}>Add</button>
      <${FieldError} id=${keyId} message=${taken ? `${newKey} is there already` : undefined} />
    </div>
    <${FieldError} id=${id} message=${errorFor(errors, path, segs)} />
  </div>`;
}

/**
 * The fields of an object, in a grid (labels beside inputs; nested objects as fieldsets across it).
 * @param {FieldProps} p
 */
function ObjectFields(p) {
  const { schema, segs, set } = p;
  const obj = getAt(p.value, segs);
  return html`<div class="form-grid schema-grid">
    ${fieldsOf(schema).map(
      (f) => html`<${Field} key=${f.key} ...${p} schema=${f.schema} segs=${[...segs, f.key]} label=${f.label} required=${f.required} extra=${undefined}
        set=${(/** @type {unknown} */ v) => set(setAt(obj, [f.key], v))} />`,
    )}
  </div>`;
}

/**
 * One field with its label, hint and problem.
 * @param {FieldProps} p
 */
function Field(p) {
  const { schema, segs, idPrefix, errors, path, label, required } = p;
  const kind = kindOf(schema);
  const id = fieldId(idPrefix, segs);
  const message = errorFor(errors, path, segs);
  if (kind === 'object' || kind === 'record') {
    return html`<fieldset class="schema-fieldset" aria-describedby=${describedBy({ id, schema, message })} data-testid=${id}>
      <legend><${LabelText} label=${label} required=${required} /></legend>
      ${p.extra?.()}
      <${Hint} id=${id} schema=${kind === 'object' ? { description: schema.description } : schema} />
      ${kind === 'object' ? html`<${FieldError} id=${id} message=${message} />` : null}
      ${kind === 'object' ? html`<${ObjectFields} ...${p} />` : html`<${RecordInput} ...${p} />`}
    </fieldset>`;
  }
  const control = kind === 'list' ? html`<${ListInput} ...${p} />` : kind === 'json' ? html`<${JsonInput} ...${p} />` : html`<${ScalarInput} ...${p} />`;
  return html`
    <label for=${kind === 'list' ? undefined : id} id=${`${id}-label`}><${LabelText} label=${label} required=${required} /></label>
    <div class="field" data-testid=${`${id}-field`}>
      <div class="field-row">${control}${p.extra?.()}</div>
      <${Hint} id=${id} schema=${schema} />
      ${kind === 'json' ? null : html`<${FieldError} id=${id} message=${message} />`}
    </div>`;
}

/**
 * Problems under `path` that no field of the form shows.
 * @param {Schema} schema
 * @param {unknown} value
 * @param {Map<string, string> | undefined} errors
 * @param {string} path
 * @returns {[string, string][]} [path relative to `path`, message]
 */
export function unplacedErrors(schema, value, errors, path) {
  if (!errors) return [];
  /** @type {Set<string>} */
  const placed = new Set();
  /** @param {Schema} s @param {Segs} segs */
  const walk = (s, segs) => {
    const kind = kindOf(s);
    if (segs.length > 0) {
      placed.add(dotted(path, segs));
      placed.add([path, ...segs.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 && path === '' ? '' : '.'}${k}`))].join(''));
    }
    if (kind === 'object') for (const f of fieldsOf(s)) walk(f.schema, [...segs, f.key]);
    if (kind === 'record') {
      const v = getAt(value, segs);
      const vs = recordValueSchema(s);
      if (isObject(v) && vs) for (const k of Object.keys(v)) walk(vs, [...segs, k]);
    }
    if (kind === 'list') {
      const v = getAt(value, segs);
      if (Array.isArray(v) && s.items) v.forEach((_x, i) => walk(/** @type {Schema} */ (s.items), [...segs, i]));
    }
  };
  walk(schema, []);
  const prefix = path === '' ? '' : `${path}.`;
  return [...errors].filter(([k]) => (k === path || k.startsWith(prefix) || k.startsWith(`${path}[`)) && !placed.has(k)).map(([k, m]) => [k === path ? '' : k.slice(path.length).replace(/^\./, ''), m]);
}

/**
 * The form (see the top of this file).
 * @param {{ schema: Schema, value: unknown, onChange: (v: unknown) => void, errors?: Map<string, string>,
 *   idPrefix: string, path?: string, disabled?: boolean }} props
 */
export function SchemaForm({ schema, value, onChange, errors, idPrefix, path = '', disabled = false }) {
  const kind = kindOf(schema);
  const loose = unplacedErrors(schema, value, errors, path);
  const top = loose.length > 0 ? html`<ul class="field-error schema-errors" id=${`${idPrefix}--problems`} data-testid=${`${idPrefix}--problems`}>
    ${loose.map(([k, m]) => html`<li key=${k}>${k ? `${k}: ` : ''}${m}</li>`)}
  </ul>` : null;
  /** @type {FieldProps} */
  const base = { schema, value, segs: [], set: onChange, label: schema.title ?? 'Value', required: false, errors, path, idPrefix, disabled };
  if (kind === 'object') {
    return html`<div class="schema-form" data-testid=${idPrefix}>${top}<${ObjectFields} ...${base} /></div>`;
  }
  if (kind === 'record') {
    return html`<div class="schema-form" data-testid=${idPrefix}>${top}<${RecordInput} ...${base} label=${schema.title ?? 'entry'} /></div>`;
  }
  return html`<div class="schema-form" data-testid=${idPrefix}>${top}<div class="form-grid schema-grid"><${Field} ...${base} /></div></div>`;
}
