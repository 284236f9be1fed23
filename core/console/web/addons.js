import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, describeError, enc, get, issuesByPath, put } from './api.js';
import { SchemaForm, withoutRequired } from './form.js';
import { addonRunsIn, addonSites, addonTargetsSite } from './model.js';
import { getObj, list, state } from './store.js';
import { Badge, ConfirmDelete, Empty, FieldError, inputValue, Loading, Modal } from './ui.js';

/** @typedef {import('./types.js').Addon} Addon */
/** @typedef {import('./types.js').AddonSiteStatus} AddonSiteStatus */
/** @typedef {import('../../hub/api-types.ts').PluginCatalogEntry} PluginEntry */
/** @typedef {import('./form.js').Schema} Schema */

/**
 * An Addon's spec as the hub stores it (core/store AddonSpecSchema).
 * @typedef {object} AddonSpec
 * @property {string} plugin
 * @property {string} [version]
 * @property {Record<string, unknown>} [config]
 * @property {string[]} [sites]
 * @property {Record<string, string>} [siteSelector]
 * @property {Record<string, Record<string, unknown>>} [templates]
 */

const RUNS_IN_TITLE = {
  grids: 'a grid per workload, one Deployment per site, on Kubernetes',
  'grids and site agent': "a grid per workload, one Deployment per site, on Kubernetes; the plugin's site half in each site's agent",
  'site agent': "the plugin runs in each site's agent",
};

/** @param {Addon} a */
const specOf = (a) => /** @type {Partial<AddonSpec>} */ (a.spec ?? {});

/** @param {Addon} a */
const workloadsOf = (a) => /** @type {{ workloads?: Record<string, AddonSiteStatus> } | undefined} */ (a.status)?.workloads ?? {};

/** @param {Addon} a */
const generationOf = (a) => /** @type {{ generation?: number }} */ (a.metadata).generation;

/** @param {AddonSiteStatus | undefined} st */
const observedOf = (st) => /** @type {{ observedGeneration?: number } | undefined} */ (st)?.observedGeneration;

/** @param {string} s */
const siteHref = (s) => `#/sites/${enc(s)}`;

/** @param {string} name */
const addonHref = (name) => `#/addons/${enc(name)}`;

/**
 * Where an Addon runs, in words: its sites, its label selector, or every site.
 * @param {Partial<AddonSpec>} spec
 */
export function targetsText(spec) {
  /** @type {string[]} */
  const parts = [];
  if (spec.sites && spec.sites.length > 0) parts.push(`sites ${spec.sites.join(', ')}`);
  if (spec.siteSelector) {
    const sel = Object.entries(spec.siteSelector);
    parts.push(sel.length === 0 ? 'every site' : `sites labelled ${sel.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  }
  return parts.length === 0 ? 'no site' : parts.join('; and ');
}

/** @param {{ addon: Addon, site: string }} props */
function Chip({ addon, site }) {
  const st = addon.status?.sites?.[site];
  const name = addon.metadata.name;
  const title = [st?.code, st?.message].filter(Boolean).join(': ') || undefined;
  // A problem's cause (a coded error: failed, invalid, degraded, conflict) is shown, not only on hover;
  // for grids, so is how far the site's workloads are (`<grid>: 1/2 ready`).
  const cause = st?.code ? `${st.code}${st.message ? `: ${st.message}` : ''}` : addonRunsIn(addon) !== 'site agent' && st?.state !== 'running' ? st?.message : undefined;
  return html`<span class="chip" title=${title}>
    <span class="chip-site">${site}</span>
    <${Badge} word=${st?.state} fallback="Pending" testid=${`addon-${name}-${site}`} />
    ${cause && html`<span class="chip-cause" data-testid=${`addon-${name}-${site}-cause`}>${cause.length > 160 ? `${cause.slice(0, 159)}…` : cause}</span>`}
  </span>`;
}

/**
 * Addons with their state per site; with `site`, only addons at that site.
 * @param {{ site?: string }} props
 */
export function AddonsTable({ site }) {
  if (!state.synced) return html`<${Loading} />`;
  const addons = list('Addon').filter((a) => site === undefined || addonSites(a).includes(site));
  if (addons.length === 0) return html`<${Empty}>No addons${site ? ' at this site' : ''}.</${Empty}>`;
  return html`<div class="scroll">
    <table class="grid">
      <thead>
        <tr><th>Addon</th><th>Plugin</th><th>Version</th><th>Runs in</th><th>${site ? 'Status' : 'Status per site'}</th></tr>
      </thead>
      <tbody>
        ${addons.map((a) => {
          const sites = site ? [site] : addonSites(a);
          return html`<tr key=${a.metadata.name} data-testid=${`addon-${a.metadata.name}`}>
            <td class="name"><a href=${addonHref(a.metadata.name)} data-testid=${`addon-${a.metadata.name}-link`}>${a.metadata.name}</a></td>
            <td>${a.spec?.plugin ?? ''}</td>
            <td>${a.spec?.version ?? html`<span class="muted">any</span>`}</td>
            <td data-testid=${`addon-${a.metadata.name}-runs`} title=${RUNS_IN_TITLE[addonRunsIn(a)]}>${addonRunsIn(a)}</td>
            <td class="chips">${sites.length === 0 ? html`<span class="muted">no sites</span>` : sites.map((s) => html`<${Chip} key=${s} addon=${a} site=${s} />`)}</td>
          </tr>`;
        })}
      </tbody>
    </table>
  </div>`;
}

/**
 * The plugins the hub lists (`GET /api/v1/plugins`): loading, the items, or why there are none
 * (a hub without the route, or one started without its plugins).
 * @returns {{ state: 'loading' } | { state: 'ok', items: PluginEntry[] } | { state: 'none', message: string }}
 */
function usePlugins() {
  const [out, setOut] = useState(/** @type {ReturnType<typeof usePlugins>} */ ({ state: 'loading' }));
  useEffect(() => {
    const ctl = new AbortController();
    get('/api/v1/plugins', { signal: ctl.signal })
      .then((res) => {
        const items = /** @type {{ items?: PluginEntry[] }} */ (res)?.items ?? [];
        setOut(items.length > 0 ? { state: 'ok', items } : { state: 'none', message: 'The hub lists no plugins (it was started without them): type the plugin id; its config is edited as JSON.' });
      })
      .catch((err) => {
        if (ctl.signal.aborted) return;
        const why = err instanceof ApiError && err.status === 404 ? 'This hub cannot list its plugins (GET /api/v1/plugins is not there)' : `The plugins could not be listed (${describeError(err)})`;
        setOut({ state: 'none', message: `${why}: type the plugin id; its config is edited as JSON.` });
      });
    return () => ctl.abort();
  }, []);
  return out;
}

/** Any JSON: the form edits it in a textarea. */
const ANY_CONFIG = /** @type {Schema} */ ({ title: 'As JSON' });
const SELECTOR_SCHEMA = /** @type {Schema} */ ({ type: 'object', title: 'label', patternProperties: { '^.*$': { type: 'string' } } });

/**
 * The form's draft of an Addon.
 * @typedef {object} Draft
 * @property {string} name
 * @property {string} plugin
 * @property {string} version
 * @property {'sites' | 'selector' | 'all'} where
 * @property {string[]} sites
 * @property {Record<string, string> | undefined} selector
 * @property {unknown} config
 * @property {Record<string, unknown>} templates
 */

/** @param {Addon | undefined} a @returns {Draft} */
function draftOf(a) {
  const spec = a ? specOf(a) : {};
  const sel = spec.siteSelector;
  const where = spec.sites && spec.sites.length > 0 ? 'sites' : sel ? (Object.keys(sel).length === 0 ? 'all' : 'selector') : 'sites';
  return {
    name: a?.metadata.name ?? '',
    plugin: spec.plugin ?? '',
    version: spec.version ?? '',
    where,
    sites: spec.sites ?? [],
    selector: sel && Object.keys(sel).length > 0 ? sel : undefined,
    config: spec.config,
    templates: spec.templates ?? {},
  };
}

/** @param {Draft} d @returns {AddonSpec} */
function specFromDraft(d) {
  /** @type {AddonSpec} */
  const spec = { plugin: d.plugin.trim() };
  if (d.version.trim()) spec.version = d.version.trim();
  if (d.config !== undefined) spec.config = /** @type {Record<string, unknown>} */ (d.config);
  if (d.where === 'sites') spec.sites = d.sites;
  else if (d.where === 'all') spec.siteSelector = {};
  else spec.siteSelector = d.selector ?? {};
  if (Object.keys(d.templates).length > 0) spec.templates = /** @type {Record<string, Record<string, unknown>>} */ (d.templates);
  return spec;
}

/** The fields the form shows by themselves; the config, selector and overrides forms show their own. */
const OWN_FIELDS = ['metadata.name', 'spec.plugin', 'spec.version', 'spec.sites', 'spec.siteSelector', 'spec.config', 'spec.templates'];

/** @param {string} path */
const shownByForm = (path) => OWN_FIELDS.some((f) => path === f || path.startsWith(`${f}.`) || path.startsWith(`${f}[`));

/**
 * Add an Addon, or edit one (`addon`): name, plugin, version, where it runs, its config from the
 * plugin's schema and per-site overrides; then PUT. The hub's problems are shown at their fields.
 * @param {{ addon?: Addon, onClose: () => void, onDone: (name: string) => void }} props
 */
export function AddonForm({ addon, onClose, onDone }) {
  const editing = addon !== undefined;
  const plugins = usePlugins();
  const [d, setD] = useState(() => draftOf(addon));
  const [errors, setErrors] = useState(/** @type {Map<string, string>} */ (new Map()));
  const [top, setTop] = useState('');
  const [busy, setBusy] = useState(false);
  const [overrideSite, setOverrideSite] = useState('');
  /** @param {Partial<Draft>} patch */
  const update = (patch) => setD((cur) => ({ ...cur, ...patch }));

  const entry = plugins.state === 'ok' ? plugins.items.find((p) => p.id === d.plugin) : undefined;
  const listed = plugins.state === 'ok';
  // The plugin's schema; without the catalog (or a plugin it does not have), the config is JSON.
  const schema = entry ? /** @type {Schema | undefined} */ (entry.configSchema) : listed && d.plugin === '' ? undefined : ANY_CONFIG;
  const sites = list('Site');
  const siteNames = sites.map((s) => s.metadata.name);
  const spec = specFromDraft(d);
  const selected = sites.filter((s) => addonTargetsSite(spec, s)).map((s) => s.metadata.name);
  const overrideChoices = [...new Set([...selected, ...siteNames])].filter((s) => !(s in d.templates));

  /** @param {string} id */
  const err = (id) => errors.get(id);
  const sitesError = [...errors].filter(([k]) => k === 'spec.sites' || k.startsWith('spec.sites[') || k.startsWith('spec.sites.')).map(([, m]) => m).join('; ') || undefined;

  const submit = async (/** @type {Event} */ e) => {
    e.preventDefault();
    const name = d.name.trim();
    /** @type {Map<string, string>} */
    const local = new Map();
    if (!editing && name !== '' && getObj('Addon', name)) local.set('metadata.name', `an addon named “${name}” exists already: open it to edit it`);
    if (d.where === 'selector' && (!d.selector || Object.keys(d.selector).length === 0)) local.set('spec.siteSelector', 'add at least one label, or choose every site');
    if (local.size > 0) {
      setErrors(local);
      setTop('');
      return;
    }
    setBusy(true);
    setTop('');
    setErrors(new Map());
    try {
      /** @type {Record<string, unknown>} */
      const metadata = { name };
      if (addon) {
        if (addon.metadata.labels) metadata.labels = addon.metadata.labels;
        if (addon.metadata.annotations) metadata.annotations = addon.metadata.annotations;
        if (addon.metadata.resourceVersion) metadata.resourceVersion = addon.metadata.resourceVersion;
      }
      await put(`/api/v1/addons/${enc(name || '-')}`, { metadata, spec: specFromDraft(d) });
      onDone(name);
    } catch (x) {
      const issues = issuesByPath(x);
      const rest = [...issues].filter(([k]) => !shownByForm(k)).map(([k, m]) => `${k || '(addon)'}: ${m}`);
      if (x instanceof ApiError && x.code === 'EDGE_ERR_ADDON_CONFLICT') {
        const other = /** @type {{ heldBy?: unknown } | undefined} */ (x.details)?.heldBy;
        setTop(`${typeof other === 'string' ? `Addon “${other}” already runs this plugin there. ` : ''}${x.message}`);
      } else if (x instanceof ApiError && x.code === 'EDGE_ERR_STORE_CONFLICT') {
        setTop(`The addon changed while you edited it: close this form and open it again. (${x.message})`);
      } else if (issues.size > 0) {
        setTop(rest.length > 0 ? `The hub refused the addon: ${rest.join('; ')}` : 'The hub refused the addon: see the fields below.');
      } else {
        setTop(describeError(x));
      }
      setErrors(issues);
      setBusy(false);
    }
  };

  const fieldAttrs = (/** @type {string} */ id, /** @type {string} */ path, /** @type {string} */ hint = '') => ({
    id,
    'aria-describedby': [hint ? `${id}-hint` : '', err(path) ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined,
    'aria-invalid': err(path) ? 'true' : undefined,
    disabled: busy,
  });

  const pluginPicker =
    plugins.state === 'ok'
      ? html`<select ...${fieldAttrs('addon-plugin', 'spec.plugin', 'plugin')} data-testid="addon-plugin" aria-required="true" value=${d.plugin}
          onChange=${(/** @type {Event} */ e) => {
            const plugin = inputValue(e);
            if (plugin !== d.plugin) update({ plugin, config: undefined, templates: {} });
          }}>
          <option value="">Choose a plugin…</option>
          ${plugins.items.map((p) => html`<option key=${p.id} value=${p.id}>${p.id} ${p.version}${p.role ? ` (${p.role})` : ''}</option>`)}
          ${d.plugin !== '' && !entry && html`<option value=${d.plugin}>${d.plugin} (not installed at the hub)</option>`}
        </select>`
      : html`<input ...${fieldAttrs('addon-plugin', 'spec.plugin', 'plugin')} data-testid="addon-plugin" aria-required="true" autocomplete="off" spellcheck=${false}
          value=${d.plugin} onInput=${(/** @type {Event} */ e) => update({ plugin: inputValue(e) })} />`;

  const pluginHint =
    plugins.state === 'loading' ? 'Loading the plugins…' : plugins.state === 'none' ? plugins.message : entry?.description ?? 'The plugin the addon runs at each of its sites.';

  return html`<${Modal} title=${editing ? `Edit addon ${d.name}` : 'Add addon'} onClose=${onClose} testid="addon-form">
    <form class="addon-form" onSubmit=${submit} novalidate>
      ${top && html`<p class="error" role="alert" data-testid="addon-form-error">${top}</p>`}
      <div class="form-grid">
        <label for="addon-name">Name<span class="required" aria-hidden="true"> *</span></label>
        <div class="field">
          <input ...${fieldAttrs('addon-name', 'metadata.name', 'name')} data-testid="addon-name" aria-required="true" autocomplete="off" spellcheck=${false}
            readOnly=${editing} value=${d.name} onInput=${(/** @type {Event} */ e) => update({ name: inputValue(e) })} />
          <span class="hint" id="addon-name-hint">Lowercase letters, digits and '-'${editing ? '; it cannot change' : ''}.</span>
          <${FieldError} id="addon-name" message=${err('metadata.name')} />
        </div>
        <label for="addon-plugin">Plugin<span class="required" aria-hidden="true"> *</span></label>
        <div class="field">
          ${pluginPicker}
          <span class="hint" id="addon-plugin-hint" data-testid="addon-plugin-hint">${pluginHint}</span>
          <${FieldError} id="addon-plugin" message=${err('spec.plugin')} />
        </div>
        <label for="addon-version">Version</label>
        <div class="field">
          <input ...${fieldAttrs('addon-version', 'spec.version', 'version')} data-testid="addon-version" autocomplete="off" spellcheck=${false}
            placeholder="any" value=${d.version} onInput=${(/** @type {Event} */ e) => update({ version: inputValue(e) })} />
          <span class="hint" id="addon-version-hint">A semver range the installed plugin must satisfy, such as ^1.2.0; empty: any version.</span>
          <${FieldError} id="addon-version" message=${err('spec.version')} />
        </div>
      </div>

      <fieldset class="targets" aria-describedby=${sitesError ? 'addon-sites-error' : undefined}>
        <legend>Where it runs</legend>
        <div class="site-choices" role="radiogroup" aria-label="Where it runs">
          ${/** @type {const} */ ([['sites', 'Chosen sites'], ['selector', 'Sites with these labels'], ['all', 'Every site']]).map(
            ([v, text]) => html`<label key=${v}><input type="radio" name="addon-where" value=${v} data-testid=${`addon-where-${v}`} checked=${d.where === v} disabled=${busy}
              onChange=${() => update({ where: v })} /> ${text}</label>`,
          )}
        </div>
        ${d.where === 'sites' &&
        html`<fieldset data-testid="addon-sites">
          <legend>Sites</legend>
          ${siteNames.length === 0
            ? html`<p class="muted">No sites yet.</p>`
            : html`<div class="site-choices">
                ${siteNames.map(
                  (s) => html`<label key=${s}><input type="checkbox" data-testid=${`addon-target-${s}`} checked=${d.sites.includes(s)} disabled=${busy}
                    onChange=${(/** @type {Event} */ e) => {
                      const on = /** @type {HTMLInputElement} */ (e.currentTarget).checked;
                      update({ sites: on ? [...d.sites, s] : d.sites.filter((x) => x !== s) });
                    }} /> ${s}</label>`,
                )}
              </div>`}
          <${FieldError} id="addon-sites" message=${sitesError} />
        </fieldset>`}
        ${d.where === 'selector' &&
        html`<fieldset data-testid="addon-selector">
          <legend>Site labels</legend>
          <p class="hint">Every site with all of these labels runs it, sites labelled later too.</p>
          <${SchemaForm} schema=${SELECTOR_SCHEMA} value=${d.selector} onChange=${(/** @type {unknown} */ v) => update({ selector: /** @type {Record<string, string> | undefined} */ (v) })}
            errors=${errors} path="spec.siteSelector" idPrefix="addon-selector" disabled=${busy} />
        </fieldset>`}
        <p class="muted" data-testid="addon-targets-now">${selected.length === 0 ? 'No site now.' : `Now: ${selected.join(', ')}.`}</p>
      </fieldset>

      <fieldset data-testid="addon-config">
        <legend>Config</legend>
        ${schema === undefined
          ? html`<p class="muted" data-testid="addon-config-none">${d.plugin === '' ? 'Choose a plugin first.' : 'This plugin takes no config.'}</p>`
          : html`<${SchemaForm} schema=${schema} value=${d.config} onChange=${(/** @type {unknown} */ v) => update({ config: v })}
              errors=${errors} path="spec.config" idPrefix="addon-config" disabled=${busy} />`}
      </fieldset>

      ${schema !== undefined &&
      html`<fieldset class="overrides" data-testid="addon-overrides">
        <legend>Per-site overrides</legend>
        <p class="hint">Merged over the config at that site, key by key.</p>
        ${Object.entries(d.templates).map(
          ([s, v]) => html`<fieldset key=${s} data-testid=${`addon-override-${s}`}>
            <legend>Site ${s}</legend>
            <${SchemaForm} schema=${withoutRequired(schema)} value=${v} errors=${errors} path=${`spec.templates.${s}`} idPrefix=${`addon-override-${s}`} disabled=${busy}
              onChange=${(/** @type {unknown} */ nv) => update({ templates: { ...d.templates, [s]: nv ?? {} } })} />
            <div class="buttons">
              <button type="button" class="small" disabled=${busy} onClick=${() => {
                const { [s]: _gone, ...rest } = d.templates;
                update({ templates: rest });
              }}>Remove the override for ${s}</button>
            </div>
          </fieldset>`,
        )}
        ${overrideChoices.length > 0 &&
        html`<div class="buttons">
          <label for="addon-override-site">Override at site</label>
          <select id="addon-override-site" data-testid="addon-override-site" value=${overrideSite || overrideChoices[0]} disabled=${busy}
            onChange=${(/** @type {Event} */ e) => setOverrideSite(inputValue(e))}>
            ${overrideChoices.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}
          </select>
          <button type="button" class="small" data-testid="addon-override-add" disabled=${busy}
            onClick=${() => {
              const s = overrideChoices.includes(overrideSite) ? overrideSite : overrideChoices[0];
              if (s !== undefined) update({ templates: { ...d.templates, [s]: {} } });
              setOverrideSite('');
            }}>Add override</button>
        </div>`}
      </fieldset>`}

      <div class="buttons">
        <button type="button" onClick=${onClose} disabled=${busy}>Cancel</button>
        <button type="submit" class="primary" data-testid="addon-save" disabled=${busy}>${busy ? 'Saving…' : editing ? 'Save addon' : 'Add addon'}</button>
      </div>
    </form>
  </${Modal}>`;
}

/** @param {{ admin?: boolean }} props */
export function AddonsView({ admin = false }) {
  const [adding, setAdding] = useState(false);
  return html`<section>
    <h1>Addons</h1>
    ${admin && html`<div class="page-actions">
      <button type="button" class="primary" data-testid="addon-add-open" onClick=${() => setAdding(true)}>Add addon</button>
    </div>`}
    ${adding &&
    html`<${AddonForm} onClose=${() => setAdding(false)} onDone=${(/** @type {string} */ name) => {
      setAdding(false);
      location.hash = addonHref(name);
    }} />`}
    <${AddonsTable} />
  </section>`;
}

/**
 * What removing an Addon stops: each site where it runs with its state, and the grids' workloads.
 * @param {{ addon: Addon }} props
 */
function RemoveText({ addon }) {
  const sites = addonSites(addon);
  const workloads = Object.entries(workloadsOf(addon));
  return html`<p>The plugin ${addon.spec?.plugin ?? ''} stops at ${sites.length === 0 ? 'no site (it runs nowhere now)' : sites.length === 1 ? 'this site' : `these ${sites.length} sites`}:</p>
    ${sites.length > 0 &&
    html`<ul data-testid="addon-remove-sites">
      ${sites.map((s) => {
        const st = addon.status?.sites?.[s];
        return html`<li key=${s}>${s}: <${Badge} word=${st?.state} fallback="Pending" />${st?.code ? ` ${st.code}` : ''}</li>`;
      })}
    </ul>`}
    ${workloads.length > 0 &&
    html`<p>Its workloads go too:</p>
      <ul data-testid="addon-remove-workloads">
        ${workloads.map(([s, st]) => html`<li key=${s}>${s}: <${Badge} word=${st.state} />${st.message ? ` ${st.message}` : ''}</li>`)}
      </ul>`}
    <p>Devices are not deleted with it.</p>`;
}

/** @param {{ rows: [string, AddonSiteStatus | undefined][], testid: string, generation: number | undefined }} props */
function StateTable({ rows, testid, generation }) {
  return html`<div class="scroll">
    <table class="grid" data-testid=${testid}>
      <thead><tr><th>Site</th><th>State</th><th>Error</th><th>Message</th><th>Up to date</th></tr></thead>
      <tbody>
        ${rows.map(([s, st]) => {
          const seen = observedOf(st);
          return html`<tr key=${s} data-testid=${`${testid}-${s}`}>
            <td class="name"><a href=${siteHref(s)}>${s}</a></td>
            <td><${Badge} word=${st?.state} fallback="Pending" testid=${`${testid}-${s}-state`} /></td>
            <td data-testid=${`${testid}-${s}-code`}>${st?.code ?? ''}</td>
            <td class="message wrap" data-testid=${`${testid}-${s}-message`}>${st?.message ?? (st ? '' : html`<span class="muted">not reported yet</span>`)}</td>
            <td>${seen === undefined || generation === undefined ? '' : seen >= generation ? 'yes' : `applying generation ${generation} (reports ${seen})`}</td>
          </tr>`;
        })}
      </tbody>
    </table>
  </div>`;
}

/** @param {{ value: unknown, testid: string }} props */
const Json = ({ value, testid }) => html`<pre class="json" data-testid=${testid}><code>${JSON.stringify(value, null, 2)}</code></pre>`;

/**
 * One addon: its spec, its state at each site (and its grids' workloads), edit and remove for admins.
 * @param {{ name: string, admin: boolean }} props
 */
export function AddonDetail({ name, admin }) {
  const [dialog, setDialog] = useState(/** @type {'' | 'edit' | 'remove'} */ (''));
  const addon = getObj('Addon', name);
  if (!state.synced) return html`<section><h1>Addon ${name}</h1><${Loading} /></section>`;
  if (!addon) {
    return html`<section data-testid="addon-missing">
      <p class="crumbs"><a href="#/addons">Addons</a> /</p>
      <h1>Addon ${name}</h1>
      <${Empty}>No addon named “${name}”. <a href="#/addons">All addons</a></${Empty}>
    </section>`;
  }
  const spec = specOf(addon);
  const sites = addonSites(addon);
  const workloads = Object.entries(workloadsOf(addon));
  const templates = Object.entries(spec.templates ?? {});
  const generation = generationOf(addon);
  return html`<section class="addon-detail" data-testid=${`addon-detail-${name}`}>
    <p class="crumbs"><a href="#/addons">Addons</a> /</p>
    <h1>Addon ${name}</h1>
    ${admin && html`<div class="page-actions">
      <button type="button" class="primary" data-testid="addon-edit-open" onClick=${() => setDialog('edit')}>Edit addon</button>
      <button type="button" class="danger" data-testid="addon-remove-open" onClick=${() => setDialog('remove')}>Remove addon</button>
    </div>`}
    ${dialog === 'edit' && html`<${AddonForm} addon=${addon} onClose=${() => setDialog('')} onDone=${() => setDialog('')} />`}
    ${dialog === 'remove' &&
    html`<${ConfirmDelete}
      title=${`Remove addon ${name}?`}
      what=${html`<${RemoveText} addon=${addon} />`}
      confirmLabel=${`Remove addon ${name}`}
      path=${`/api/v1/addons/${enc(name)}`}
      testid="addon-remove"
      onClose=${() => setDialog('')}
      onDone=${() => {
        setDialog('');
        location.hash = '#/addons';
      }}
    />`}
    <dl class="facts">
      <dt>Plugin</dt><dd data-testid="addon-detail-plugin">${spec.plugin ?? ''}</dd>
      <dt>Version</dt><dd>${spec.version ?? html`<span class="muted">any</span>`}</dd>
      <dt>Runs in</dt><dd title=${RUNS_IN_TITLE[addonRunsIn(addon)]}>${addonRunsIn(addon)}</dd>
      <dt>Where</dt><dd data-testid="addon-detail-targets">${targetsText(spec)}</dd>
      ${generation !== undefined ? html`<dt>Generation</dt><dd>${generation}</dd>` : null}
    </dl>
    <h2>Config</h2>
    ${spec.config && Object.keys(spec.config).length > 0 ? html`<${Json} value=${spec.config} testid="addon-detail-config" /> ` : html`<p class="muted" data-testid="addon-detail-config">None: the plugin's defaults.</p>`}
    ${templates.length > 0 &&
    html`<h2>Per-site overrides</h2>
      <dl class="facts">
        ${templates.map(([s, v]) => html`<dt key=${`${s}-t`}>${s}</dt><dd key=${`${s}-d`}><${Json} value=${v} testid=${`addon-detail-override-${s}`} /></dd>`)}
      </dl>`}
    <h2>${addonRunsIn(addon) === 'grids' ? 'State per site' : 'Instance per site'}</h2>
    ${sites.length === 0 ? html`<${Empty}>It runs at no site now.</${Empty}>` : html`<${StateTable} rows=${sites.map((s) => [s, addon.status?.sites?.[s]])} testid="addon-site" generation=${generation} />`}
    ${workloads.length > 0 &&
    html`<h2>Workloads per site</h2>
      <${StateTable} rows=${workloads} testid="addon-workloads" generation=${generation} />`}
  </section>`;
}
