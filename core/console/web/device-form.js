import { html } from 'htm/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, describeError, enc, get, issuesByPath, post, put } from './api.js';
import { SchemaForm } from './form.js';
import { getObj, list } from './store.js';
import { Field, FieldError, fromLines, inputValue, Modal } from './ui.js';

/** @typedef {import('./types.js').Device} Device */
/** @typedef {import('./types.js').DeviceAutoEvent} DeviceAutoEvent */

/** @typedef {import('../../hub/api-types.ts').PluginCatalogEntry} PluginInfo */

/** The protocol choice that edits the block as JSON. */
const OTHER = '\u0000other';
const ADMIN_STATES = ['UNLOCKED', 'LOCKED'];

/**
 * The form's draft: every field as the operator edits it.
 * @typedef {object} Draft
 * @property {string} name
 * @property {string} site
 * @property {string} profile
 * @property {string} protocol a catalog protocol name, or OTHER
 * @property {Record<string, unknown>} block the chosen catalog protocol's block
 * @property {string} otherName the protocol name when OTHER
 * @property {string} otherJson the block as JSON when OTHER
 * @property {string} plugin '' = chosen from the protocol
 * @property {string} adminState
 * @property {string} description
 * @property {string} labels `key=value` lines
 * @property {{ sourceName: string, interval: string, onChange: boolean, kept?: DeviceAutoEvent }[]} autoEvents the rows; `kept`: the event as it was, for its fields the form does not show
 * @property {string} desired JSON object text, '' for none
 * @property {string} driftPolicy `resource=policy` lines
 */

/** @type {Promise<PluginInfo[]> | null} */
let catalog = null;

/**
 * The hub's plugin catalog, fetched once per page load (a failure is retried on the next call).
 * @returns {Promise<PluginInfo[]>}
 */
export function loadPlugins() {
  catalog ??= get('/api/v1/plugins').then(
    (body) => {
      const items = /** @type {Partial<import('../../hub/api-types.ts').PluginCatalog> | null} */ (body)?.items;
      return Array.isArray(items) ? items : [];
    },
    (/** @type {unknown} */ err) => {
      catalog = null;
      throw err;
    },
  );
  return catalog;
}

/**
 * Every protocol the catalog declares, with the plugins that read it.
 * @param {PluginInfo[]} plugins
 * @returns {Map<string, { schema: Record<string, unknown>, plugins: string[] }>}
 */
export function protocolsOf(plugins) {
  /** @type {Map<string, { schema: Record<string, unknown>, plugins: string[] }>} */
  const out = new Map();
  for (const p of plugins) {
    for (const [name, schema] of Object.entries(p.protocols ?? {})) {
      const seen = out.get(name);
      if (seen) seen.plugins.push(p.id);
      else out.set(name, { schema, plugins: [p.id] });
    }
  }
  return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** @param {Record<string, string> | undefined} map */
const toLines = (map) =>
  Object.entries(map ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');

/**
 * The draft of `device` (editing) or of a new device.
 * @param {Device | undefined} device
 * @param {Map<string, unknown>} known the catalog's protocols
 * @returns {Draft}
 */
export function draftOf(device, known) {
  const spec = device?.spec;
  const [protoName, block] = Object.entries(spec?.protocols ?? {})[0] ?? ['', {}];
  const inCatalog = protoName !== '' && known.has(protoName);
  const firstSite = list('Site')[0]?.metadata.name ?? '';
  const firstProfile = list('DeviceProfile')[0]?.metadata.name ?? '';
  return {
    name: device?.metadata.name ?? '',
    site: spec?.site ?? firstSite,
    profile: spec?.profile ?? firstProfile,
    protocol: inCatalog ? protoName : protoName !== '' ? OTHER : '',
    block: inCatalog ? { ...block } : {},
    otherName: inCatalog ? '' : protoName,
    otherJson: inCatalog || protoName === '' ? '{}' : JSON.stringify(block, null, 2),
    plugin: spec?.plugin ?? '',
    adminState: spec?.adminState ?? 'UNLOCKED',
    description: spec?.description ?? '',
    labels: toLines(device?.metadata.labels),
    autoEvents: (spec?.autoEvents ?? []).map((e) => ({ sourceName: e.sourceName, interval: e.interval, onChange: e.onChange === true, kept: e })),
    desired: spec?.desired && Object.keys(spec.desired).length > 0 ? JSON.stringify(spec.desired, null, 2) : '',
    driftPolicy: toLines(spec?.driftPolicy),
  };
}

/**
 * Where each problem goes: a field of the form (by its key), the protocol
 * block (full paths, for SchemaForm), or above the form.
 * @param {Map<string, string>} issues by dotted path
 * @param {string} protocol the block's name as sent
 */
export function placeIssues(issues, protocol) {
  /** @type {Map<string, string>} */
  const fields = new Map();
  /** @type {Map<string, string>} */
  const block = new Map();
  /** @type {string[]} */
  const rest = [];
  /** @param {string} key @param {string} msg */
  const add = (key, msg) => fields.set(key, fields.has(key) ? `${fields.get(key)}; ${msg}` : msg);
  const blockPath = `spec.protocols.${protocol}`;
  for (const [path, msg] of issues) {
    const auto = /^spec\.autoEvents\[(\d+)\]\.?(\w*)/.exec(path);
    if (protocol !== '' && (path === blockPath || path.startsWith(`${blockPath}.`))) block.set(path, msg);
    else if (path === 'spec.protocols' || path.startsWith('spec.protocols.')) add('protocol', `${path.slice('spec.'.length)} ${msg}`);
    else if (path === 'metadata.name') add('name', msg);
    else if (path.startsWith('metadata.labels')) add('labels', `${path.slice('metadata.labels.'.length)} ${msg}`.trim());
    else if (auto) add(`autoEvents.${auto[1]}.${auto[2] || 'sourceName'}`, msg);
    else if (path.startsWith('spec.autoEvents')) add('autoEvents', msg);
    else if (path.startsWith('spec.desired')) add('desired', `${path.slice('spec.desired'.length).replace(/^\./, '')} ${msg}`.trim());
    else if (path.startsWith('spec.driftPolicy')) add('driftPolicy', `${path.slice('spec.driftPolicy'.length).replace(/^\./, '')} ${msg}`.trim());
    else if (['spec.site', 'spec.profile', 'spec.plugin', 'spec.adminState', 'spec.description'].includes(path)) add(path.slice('spec.'.length), msg);
    else rest.push(path ? `${path}: ${msg}` : msg);
  }
  return { fields, block, rest };
}

/**
 * A refused write's field problems: the hub's `details.issues`, and the
 * references it found missing (EDGE_ERR_HUB_REFERENCE `details.refs`).
 * @param {unknown} err
 */
function problemsOf(err) {
  const issues = issuesByPath(err);
  const refs = err instanceof ApiError ? /** @type {{ refs?: unknown } | undefined} */ (err.details)?.refs : undefined;
  if (Array.isArray(refs)) {
    for (const r of refs) {
      const ref = /** @type {{ field?: unknown, refKind?: unknown, ref?: unknown }} */ (r);
      if (typeof ref?.field === 'string') issues.set(ref.field, `${String(ref.refKind)} '${String(ref.ref)}' does not exist`);
    }
  }
  return issues;
}

/**
 * The request body of `draft`: for a new device, or replacing `device` and
 * keeping what the form does not show (annotations, other protocol blocks,
 * spec fields it does not edit, an auto event's other fields), on top of the
 * device as the console last saw it, with that resourceVersion (a change the
 * console has not seen yet is refused, not overwritten). Or, when the draft
 * itself is wrong, its problems by path.
 * @param {Draft} draft
 * @param {Device} [device]
 * @returns {{ protocol: string } & ({ body: { metadata: import('./types.js').Meta, spec: Record<string, unknown> } } | { problems: Map<string, string> })}
 */
export function bodyOf(draft, device) {
  /** @type {Map<string, string>} */
  const problems = new Map();
  const protocol = draft.protocol === OTHER ? draft.otherName.trim() : draft.protocol;
  const name = device ? device.metadata.name : draft.name.trim();
  if (name === '') problems.set('metadata.name', 'enter a name');
  const labels = fromLines(draft.labels);
  if ('error' in labels) problems.set('metadata.labels', labels.error);
  const drift = fromLines(draft.driftPolicy);
  if ('error' in drift) problems.set('spec.driftPolicy', drift.error);
  /** @type {unknown} */
  let desired;
  if (draft.desired.trim() !== '') {
    try {
      desired = JSON.parse(draft.desired);
      if (desired === null || typeof desired !== 'object' || Array.isArray(desired)) problems.set('spec.desired', 'must be a JSON object, by resource name');
    } catch (x) {
      problems.set('spec.desired', `is not valid JSON: ${x instanceof Error ? x.message : String(x)}`);
    }
  }
  /** @type {unknown} */
  let block = draft.block;
  if (draft.protocol === OTHER) {
    if (protocol === '') problems.set('spec.protocols', 'name the protocol');
    try {
      block = JSON.parse(draft.otherJson);
      if (block === null || typeof block !== 'object' || Array.isArray(block)) problems.set(`spec.protocols.${protocol}`, 'must be a JSON object of the protocol fields');
    } catch (x) {
      problems.set(`spec.protocols.${protocol}`, `is not valid JSON: ${x instanceof Error ? x.message : String(x)}`);
    }
  } else if (protocol === '') problems.set('spec.protocols', 'choose the protocol the device speaks');
  if (problems.size > 0 || 'error' in labels || 'error' in drift) return { protocol, problems };

  const before = device?.spec ?? {};
  const protocols = { ...(before.protocols ?? {}) };
  const original = Object.keys(protocols)[0];
  if (original !== undefined) delete protocols[original];
  protocols[protocol] = /** @type {Record<string, unknown>} */ (block ?? {});
  /** @type {Record<string, unknown>} */
  const spec = {
    ...before,
    site: draft.site,
    profile: draft.profile,
    protocols,
    adminState: draft.adminState,
    description: draft.description.trim() || undefined,
    plugin: draft.plugin || undefined,
    autoEvents:
      draft.autoEvents.length > 0
        ? draft.autoEvents.map(({ kept, sourceName, interval, onChange }) => {
            const { onChange: _was, ...others } = kept ?? {};
            return { ...others, sourceName: sourceName.trim(), interval: interval.trim(), ...(onChange ? { onChange: true } : {}) };
          })
        : undefined,
    desired,
    driftPolicy: Object.keys(drift.value).length > 0 ? drift.value : undefined,
  };
  for (const k of Object.keys(spec)) if (spec[k] === undefined) delete spec[k];
  const meta = device?.metadata;
  /** @type {import('./types.js').Meta} */
  const metadata = { name, labels: labels.value };
  if (meta?.annotations) metadata.annotations = meta.annotations;
  if (meta?.resourceVersion) metadata.resourceVersion = meta.resourceVersion;
  return { protocol, body: { metadata, spec } };
}

/**
 * Create (no `device`) or edit a Device. Editing keeps what the form does not
 * show (annotations, other protocol blocks, fields it does not know); status
 * is never sent. `onDone` gets the device's name once the hub took it.
 * @param {{ device?: Device, onClose: () => void, onDone: (name: string) => void }} props
 */
export function DeviceForm({ device, onClose, onDone }) {
  const editing = device !== undefined;
  const [plugins, setPlugins] = useState(/** @type {PluginInfo[] | null} */ (null));
  const [catalogError, setCatalogError] = useState('');
  const known = useMemo(() => protocolsOf(plugins ?? []), [plugins]);
  const [draft, setDraft] = useState(/** @type {Draft | null} */ (null));
  const [problems, setProblems] = useState(/** @type {Map<string, string>} */ (new Map()));
  const [sentProtocol, setSentProtocol] = useState('');
  const [top, setTop] = useState('');
  const [busy, setBusy] = useState(false);
  const summary = useRef(/** @type {HTMLDivElement | null} */ (null));

  // A refusal's summary takes the focus (and scrolls into view): the fields it names are below it.
  useEffect(() => {
    if (top) summary.current?.focus();
  }, [top, problems]);

  useEffect(() => {
    let live = true;
    loadPlugins()
      .then((p) => {
        if (live) setPlugins(p);
      })
      .catch((/** @type {unknown} */ err) => {
        if (!live) return;
        setCatalogError(describeError(err));
        setPlugins([]);
      });
    return () => {
      live = false;
    };
  }, []);

  useEffect(() => {
    if (plugins && !draft) setDraft(draftOf(device, known));
  }, [plugins, known, device, draft]);

  const title = editing ? `Edit device ${device.metadata.name}` : 'Add device';
  if (!draft) {
    return html`<${Modal} title=${title} onClose=${onClose} testid="device-form">
      <p class="muted" role="status">Loading the plugin catalog…</p>
      <div class="buttons"><button type="button" onClick=${onClose}>Cancel</button></div>
    </${Modal}>`;
  }

  /** @param {Partial<Draft>} patch */
  const set = (patch) => setDraft({ ...draft, ...patch });
  /** @param {keyof Draft} key */
  const onText = (key) => (/** @type {Event} */ e) => set({ [key]: inputValue(e) });

  const placed = placeIssues(problems, sentProtocol);
  const err = (/** @type {string} */ key) => placed.fields.get(key);
  const chosen = draft.protocol !== OTHER ? known.get(draft.protocol) : undefined;
  const profile = getObj('DeviceProfile', draft.profile);
  const sources = [...(profile?.spec?.deviceCommands ?? []).map((c) => c.name), ...(profile?.spec?.deviceResources ?? []).map((r) => r.name)];
  const sites = list('Site').map((s) => s.metadata.name);
  const profiles = list('DeviceProfile').map((p) => p.metadata.name);
  const driverIds = (plugins ?? []).filter((p) => Object.keys(p.protocols ?? {}).length > 0 || p.role === 'device-driver').map((p) => p.id);
  if (draft.plugin && !driverIds.includes(draft.plugin)) driverIds.push(draft.plugin);

  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    setTop('');
    const built = bodyOf(draft, device);
    setSentProtocol(built.protocol);
    if (!('body' in built)) {
      setProblems(built.problems);
      setTop('Correct the fields marked below.');
      return;
    }
    const { body } = built;
    setBusy(true);
    try {
      if (editing) {
        await put(`/api/v1/devices/${enc(device.metadata.name)}`, body);
        onDone(device.metadata.name);
      } else {
        await post('/api/v1/devices', body);
        onDone(body.metadata.name);
      }
    } catch (x) {
      const found = problemsOf(x);
      setProblems(found);
      const left = placeIssues(found, built.protocol).rest;
      const conflict = x instanceof ApiError && x.status === 409 && editing ? ' The device changed just now: save again to write your changes over it.' : '';
      setTop(found.size > 0 && left.length === 0 ? `The hub refused: ${x instanceof ApiError ? x.code : 'error'}; see the fields marked below.` : `${describeError(x)}${conflict}`);
    } finally {
      setBusy(false);
    }
  };

  /** @param {number} i @param {Partial<Draft['autoEvents'][number]>} patch */
  const setEvent = (i, patch) => set({ autoEvents: draft.autoEvents.map((a, j) => (j === i ? { ...a, ...patch } : a)) });

  return html`<${Modal} title=${title} onClose=${onClose} testid="device-form">
    <form class="device-form" onSubmit=${submit} novalidate>
      ${top && html`<div class="error" role="alert" tabindex="-1" ref=${summary} data-testid="device-form-error">
        <p>${top}</p>
        ${placed.rest.length > 0 && html`<ul>${placed.rest.map((r) => html`<li key=${r}>${r}</li>`)}</ul>`}
      </div>`}
      ${catalogError && html`<p class="warning" data-testid="catalog-error">The plugin catalog is unavailable (${catalogError}): give the protocol block as JSON.</p>`}
      <div class="form-grid">
        <${Field} id="df-name" label="Name" error=${err('name')} hint=${editing ? 'A device keeps its name.' : 'Lowercase letters, digits, - and .'}>
          ${(/** @type {Record<string, unknown>} */ a) => html`<input ...${a} data-testid="df-name" value=${draft.name} readOnly=${editing} required
            autocomplete="off" onInput=${onText('name')} />`}
        </${Field}>
        <${Field} id="df-site" label="Site" error=${err('site')}>
          ${(/** @type {Record<string, unknown>} */ a) => html`<select ...${a} data-testid="df-site" value=${draft.site} onChange=${onText('site')}>
            ${!sites.includes(draft.site) && html`<option value=${draft.site}>${draft.site || 'Choose a site'}</option>`}
            ${sites.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}
          </select>`}
        </${Field}>
        <${Field} id="df-profile" label="Profile" error=${err('profile')}
          hint=${profile ? `${(profile.spec?.deviceResources ?? []).length} resources${profile.spec?.manufacturer ? ` · ${profile.spec.manufacturer}` : ''}${profile.spec?.model ? ` ${profile.spec.model}` : ''}` : undefined}>
          ${(/** @type {Record<string, unknown>} */ a) => html`<select ...${a} data-testid="df-profile" value=${draft.profile} onChange=${onText('profile')}>
            ${!profiles.includes(draft.profile) && html`<option value=${draft.profile}>${draft.profile || 'Choose a profile'}</option>`}
            ${profiles.map((p) => html`<option key=${p} value=${p}>${p}</option>`)}
          </select>`}
        </${Field}>
        <${Field} id="df-protocol" label="Protocol" error=${err('protocol')}>
          ${(/** @type {Record<string, unknown>} */ a) => html`<select ...${a} data-testid="df-protocol" value=${draft.protocol}
            onChange=${(/** @type {Event} */ e) => set({ protocol: inputValue(e), block: {} })}>
            ${draft.protocol === '' && html`<option value="">Choose a protocol</option>`}
            ${[...known.entries()].map(([p, k]) => html`<option key=${p} value=${p}>${p} (${k.plugins.join(', ')})</option>`)}
            <option value=${OTHER}>other (protocol block as JSON)</option>
          </select>`}
        </${Field}>
        ${draft.protocol === OTHER &&
        html`<${Field} id="df-other-name" label="Protocol name" hint="The protocol block's key, as in EdgeX (e.g. mqtt, opcua).">
            ${(/** @type {Record<string, unknown>} */ a) => html`<input ...${a} data-testid="df-other-name" value=${draft.otherName} onInput=${onText('otherName')} />`}
          </${Field}>
          <${Field} id="df-other-json" label="Protocol fields (JSON)"
            error=${placed.block.size > 0 ? [...placed.block].map(([k, v]) => (k === `spec.protocols.${sentProtocol}` ? v : `${k.slice(`spec.protocols.${sentProtocol}.`.length)}: ${v}`)).join('; ') : undefined}>
            ${(/** @type {Record<string, unknown>} */ a) => html`<textarea ...${a} data-testid="df-other-json" rows="5" spellcheck="false" value=${draft.otherJson} onInput=${onText('otherJson')}></textarea>`}
          </${Field}>`}
      </div>
      ${chosen &&
      html`<fieldset class="protocol-fields" data-testid="df-protocol-fields">
        <legend>${draft.protocol} fields</legend>
        <${SchemaForm} schema=${chosen.schema} value=${draft.block} idPrefix="df-proto" path=${`spec.protocols.${draft.protocol}`}
          errors=${sentProtocol === draft.protocol ? placed.block : new Map()} disabled=${busy}
          onChange=${(/** @type {unknown} */ v) => set({ block: v && typeof v === 'object' ? /** @type {Record<string, unknown>} */ (v) : {} })} />
      </fieldset>`}
      <div class="form-grid">
        <${Field} id="df-plugin" label="Plugin" error=${err('plugin')} hint="The plugin that drives the device; by default the one that reads its protocol.">
          ${(/** @type {Record<string, unknown>} */ a) => html`<select ...${a} data-testid="df-plugin" value=${draft.plugin} onChange=${onText('plugin')}>
            <option value="">Chosen from the protocol</option>
            ${driverIds.map((p) => html`<option key=${p} value=${p}>${p}</option>`)}
          </select>`}
        </${Field}>
        <${Field} id="df-admin" label="Admin state" error=${err('adminState')} hint="A locked device is not read or written.">
          ${(/** @type {Record<string, unknown>} */ a) => html`<select ...${a} data-testid="df-admin" value=${draft.adminState} onChange=${onText('adminState')}>
            ${ADMIN_STATES.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}
          </select>`}
        </${Field}>
        <${Field} id="df-description" label="Description" error=${err('description')}>
          ${(/** @type {Record<string, unknown>} */ a) => html`<textarea ...${a} data-testid="df-description" rows="2" value=${draft.description} onInput=${onText('description')}></textarea>`}
        </${Field}>
        <${Field} id="df-labels" label="Labels" error=${err('labels')} hint="One key=value a line.">
          ${(/** @type {Record<string, unknown>} */ a) => html`<textarea ...${a} data-testid="df-labels" rows="2" spellcheck="false" value=${draft.labels} onInput=${onText('labels')}></textarea>`}
        </${Field}>
      </div>
      <fieldset class="auto-events" data-testid="df-auto-events">
        <legend>Reading schedule (auto events)</legend>
        ${err('autoEvents') && html`<p class="field-error">${err('autoEvents')}</p>`}
        ${draft.autoEvents.length === 0 && html`<p class="muted small">None: the site reads the device only when asked.</p>`}
        ${draft.autoEvents.map(
          (ev, i) => html`<div class="auto-event" key=${i} data-testid=${`df-event-${i}`}>
            <div class="field">
              <label for=${`df-ev-${i}-source`}>Source</label>
              <input id=${`df-ev-${i}-source`} data-testid="df-event-source" list="df-sources" value=${ev.sourceName}
                aria-invalid=${err(`autoEvents.${i}.sourceName`) ? 'true' : undefined} aria-describedby=${err(`autoEvents.${i}.sourceName`) ? `df-ev-${i}-source-error` : undefined}
                onInput=${(/** @type {Event} */ e) => setEvent(i, { sourceName: inputValue(e) })} />
              <${FieldError} id=${`df-ev-${i}-source`} message=${err(`autoEvents.${i}.sourceName`)} />
            </div>
            <div class="field">
              <label for=${`df-ev-${i}-interval`}>Interval</label>
              <input id=${`df-ev-${i}-interval`} data-testid="df-event-interval" value=${ev.interval} placeholder="1s"
                aria-invalid=${err(`autoEvents.${i}.interval`) ? 'true' : undefined} aria-describedby=${err(`autoEvents.${i}.interval`) ? `df-ev-${i}-interval-error` : undefined}
                onInput=${(/** @type {Event} */ e) => setEvent(i, { interval: inputValue(e) })} />
              <${FieldError} id=${`df-ev-${i}-interval`} message=${err(`autoEvents.${i}.interval`)} />
            </div>
            <label class="check"><input type="checkbox" checked=${ev.onChange}
              onChange=${(/** @type {Event} */ e) => setEvent(i, { onChange: /** @type {HTMLInputElement} */ (e.currentTarget).checked })} /> only on change</label>
            <button type="button" class="small" aria-label=${`Remove auto event ${i + 1}`}
              onClick=${() => set({ autoEvents: draft.autoEvents.filter((_, j) => j !== i) })}>Remove</button>
          </div>`,
        )}
        <datalist id="df-sources">${sources.map((s) => html`<option key=${s} value=${s} />`)}</datalist>
        <button type="button" class="small" data-testid="df-add-event"
          onClick=${() => set({ autoEvents: [...draft.autoEvents, { sourceName: sources[0] ?? '', interval: '1s', onChange: false }] })}>Add auto event</button>
      </fieldset>
      <details class="advanced" open=${Boolean(draft.desired || draft.driftPolicy || err('desired') || err('driftPolicy'))}>
        <summary>Desired values and drift policy</summary>
        <div class="form-grid">
          <${Field} id="df-desired" label="Desired values (JSON)" error=${err('desired')} hint='By resource name, e.g. {"Setpoint": 21.5}; the site writes them and keeps them.'>
            ${(/** @type {Record<string, unknown>} */ a) => html`<textarea ...${a} data-testid="df-desired" rows="3" spellcheck="false" value=${draft.desired} onInput=${onText('desired')}></textarea>`}
          </${Field}>
          <${Field} id="df-drift" label="Drift policy" error=${err('driftPolicy')} hint="One resource=reassert or resource=report a line; * for the others (default reassert).">
            ${(/** @type {Record<string, unknown>} */ a) => html`<textarea ...${a} data-testid="df-drift" rows="2" spellcheck="false" value=${draft.driftPolicy} onInput=${onText('driftPolicy')}></textarea>`}
          </${Field}>
        </div>
      </details>
      <div class="buttons">
        <button type="button" onClick=${onClose} disabled=${busy}>Cancel</button>
        <button type="submit" class="primary" data-testid="df-submit" disabled=${busy}>${busy ? 'Saving…' : editing ? 'Save' : 'Create device'}</button>
      </div>
    </form>
  </${Modal}>`;
}

