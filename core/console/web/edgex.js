import { html } from 'htm/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, describeError, enc, get, post } from './api.js';
import { plural } from './format.js';
import { list, state } from './store.js';
import { ConfirmDelete, Empty, FieldError, inputValue, Loading } from './ui.js';

/** @typedef {import('./types.js').DeviceProfile} DeviceProfile */

/** @typedef {import('../../hub/api-types.ts').EdgeXImportedRef} ImportedRef */
/** @typedef {import('../../hub/api-types.ts').EdgeXImportResult} ImportResult */
/** @typedef {import('../../hub/api-types.ts').EdgeXProblemOut} EdgeXProblem */
/** @typedef {import('../../hub/api-types.ts').EdgeXFileBody} EdgeXFile */
/** @typedef {import('../../hub/api-types.ts').EdgeXExportResult} ExportResult */

const EDGEX_NAME_ANNOTATION = 'edgex.edgeadm.io/name';

/**
 * The problems of a refused import (400 EDGE_ERR_EDGEX_FILES `details.problems`), or null for any other error.
 * @param {unknown} err
 * @returns {EdgeXProblem[] | null}
 */
function problemsOf(err) {
  if (!(err instanceof ApiError)) return null;
  const problems = /** @type {{ problems?: unknown } | undefined} */ (err.details)?.problems;
  if (!Array.isArray(problems)) return null;
  return problems.map((p) => {
    const x = /** @type {Partial<Record<keyof EdgeXProblem, unknown>>} */ (p);
    return { file: typeof x.file === 'string' ? x.file : '', field: typeof x.field === 'string' ? x.field : '', message: typeof x.message === 'string' ? x.message : String(x.message) };
  });
}

/**
 * @param {EdgeXProblem[]} problems
 * @returns {[string, EdgeXProblem[]][]}
 */
function byFile(problems) {
  /** @type {Map<string, EdgeXProblem[]>} */
  const out = new Map();
  for (const p of problems) {
    const list = out.get(p.file) ?? [];
    list.push(p);
    out.set(p.file, list);
  }
  return [...out.entries()];
}

/** @param {{ title: string, refs: ImportedRef[], testid: string }} props */
function RefTable({ title, refs, testid }) {
  return html`<div data-testid=${testid}>
    <h4>${title} (${refs.length})</h4>
    ${refs.length === 0
      ? html`<p class="muted small">None.</p>`
      : html`<table class="grid compact">
          <thead><tr><th>Kind</th><th>Name</th><th>EdgeX name</th><th>From</th></tr></thead>
          <tbody>
            ${refs.map(
              (r) => html`<tr key=${`${r.kind}/${r.name}`} data-testid=${`edgex-ref-${r.kind}-${r.name}`}>
                <td>${r.kind}</td>
                <td>${r.kind === 'Device' && title !== 'Would create' ? html`<a href=${`#/devices/${enc(r.name)}`}>${r.name}</a>` : r.name}</td>
                <td>${r.edgexName}</td>
                <td class="ident">${r.file}${r.path ? ` ${r.path}` : ''}</td>
              </tr>`,
            )}
          </tbody>
        </table>`}
  </div>`;
}

/** @param {{ result: ImportResult }} props */
function ImportSummary({ result }) {
  const dry = result.dryRun;
  return html`<section class="edgex-result" data-testid=${dry ? 'edgex-preview' : 'edgex-applied'} aria-live="polite">
    <h3>${dry ? 'Preview: nothing written yet' : 'Imported'}</h3>
    <p data-testid="edgex-counts">
      ${dry ? 'Would create' : 'Created'} ${result.created.length}, ${dry ? 'update' : 'updated'} ${result.updated.length}, ${dry ? 'leave' : 'left'} ${result.unchanged.length} unchanged,
      from ${plural(result.files.length, 'file')}${result.files.length > 0 ? ` (${result.files.map((f) => `${f.name}: ${f.kind ?? '?'}${f.version ? ` ${f.version}` : ''}`).join('; ')})` : ''}.
    </p>
    <${RefTable} title=${dry ? 'Would create' : 'Created'} refs=${result.created} testid="edgex-created" />
    <${RefTable} title=${dry ? 'Would update' : 'Updated'} refs=${result.updated} testid="edgex-updated" />
    <${RefTable} title="Unchanged" refs=${result.unchanged} testid="edgex-unchanged" />
  </section>`;
}

/** @param {{ problems: EdgeXProblem[] }} props */
function Problems({ problems }) {
  return html`<section class="edgex-problems error" role="alert" data-testid="edgex-problems">
    <h3>${plural(problems.length, 'problem')}: nothing was imported</h3>
    ${byFile(problems).map(
      ([file, ps]) => html`<div key=${file} class="edgex-file-problems" data-testid=${`edgex-problems-${file}`}>
        <h4>${file || '(no file)'}</h4>
        <ul>
          ${ps.map((p, i) => html`<li key=${i} data-testid="edgex-problem"><code>${p.field || '(whole file)'}</code> ${p.message}</li>`)}
        </ul>
      </div>`,
    )}
  </section>`;
}

/**
 * Upload or paste EdgeX files, preview the import, then apply it.
 * @param {{ site: string }} props
 */
function ImportPanel({ site }) {
  const [files, setFiles] = useState(/** @type {EdgeXFile[]} */ ([]));
  const [pasteName, setPasteName] = useState('');
  const [pasteText, setPasteText] = useState('');
  const [pasteError, setPasteError] = useState('');
  const [preview, setPreview] = useState(/** @type {ImportResult | null} */ (null));
  const [applied, setApplied] = useState(/** @type {ImportResult | null} */ (null));
  const [problems, setProblems] = useState(/** @type {EdgeXProblem[] | null} */ (null));
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const picker = useRef(/** @type {HTMLInputElement | null} */ (null));

  // Any change of what would be sent invalidates the preview.
  useEffect(() => {
    setPreview(null);
    setProblems(null);
    setError('');
  }, [files, site]);

  /** @param {EdgeXFile[]} more */
  const addFiles = (more) => {
    setApplied(null);
    setFiles((now) => [...now.filter((f) => !more.some((m) => m.name === f.name)), ...more]);
  };

  /** @param {Event} e */
  const onPick = async (e) => {
    const input = /** @type {HTMLInputElement} */ (e.currentTarget);
    const picked = [...(input.files ?? [])];
    const read = await Promise.all(picked.map(async (f) => ({ name: f.name, content: await f.text() })));
    input.value = '';
    addFiles(read);
  };

  const addPaste = () => {
    const name = pasteName.trim();
    if (name === '') return setPasteError('name the file, e.g. pumps.profile.yaml: problems are reported under it');
    if (pasteText.trim() === '') return setPasteError('paste the file’s YAML or JSON');
    setPasteError('');
    addFiles([{ name, content: pasteText }]);
    setPasteName('');
    setPasteText('');
  };

  /** @param {boolean} dryRun */
  const send = async (dryRun) => {
    setBusy(true);
    setError('');
    setProblems(null);
    try {
      const result = /** @type {ImportResult} */ (await post(`/api/v1/sites/${enc(site)}/edgex/import`, { files, dryRun }));
      if (dryRun) setPreview(result);
      else {
        setApplied(result);
        setPreview(null);
        setFiles([]);
      }
    } catch (err) {
      const found = problemsOf(err);
      if (found) setProblems(found);
      else setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const changes = preview ? preview.created.length + preview.updated.length : 0;
  return html`<section class="edgex-import" data-testid="edgex-import" aria-labelledby="edgex-import-title">
    <h2 id="edgex-import-title">Import</h2>
    <p class="muted small">EdgeX v2 or v3 device profiles and device lists (YAML or JSON) become ${site ? `site ${site}’s` : 'the site’s'} Devices and the DeviceProfiles they use. Preview first: nothing is written until you apply.</p>
    <div class="edgex-inputs">
      <div class="field">
        <label for="edgex-files">Files</label>
        <input id="edgex-files" ref=${picker} type="file" multiple accept=".yaml,.yml,.json,application/json,application/yaml,text/yaml" data-testid="edgex-files"
          onChange=${(/** @type {Event} */ e) => void onPick(e)} />
      </div>
      <details class="edgex-paste">
        <summary>Paste a file</summary>
        <div class="form-grid">
          <label for="edgex-paste-name">File name</label>
          <div class="field">
            <input id="edgex-paste-name" data-testid="edgex-paste-name" value=${pasteName} placeholder="pumps.profile.yaml"
              aria-invalid=${pasteError ? 'true' : undefined} aria-describedby=${pasteError ? 'edgex-paste-error' : undefined}
              onInput=${(/** @type {Event} */ e) => setPasteName(inputValue(e))} />
          </div>
          <label for="edgex-paste-text">Content</label>
          <div class="field">
            <textarea id="edgex-paste-text" data-testid="edgex-paste-text" rows="8" spellcheck="false" value=${pasteText}
              onInput=${(/** @type {Event} */ e) => setPasteText(inputValue(e))}></textarea>
            <${FieldError} id="edgex-paste" message=${pasteError} />
          </div>
        </div>
        <div class="buttons"><button type="button" data-testid="edgex-paste-add" onClick=${addPaste}>Add file</button></div>
      </details>
    </div>
    ${files.length > 0 &&
    html`<ul class="edgex-chosen" data-testid="edgex-chosen" aria-label="Files to import">
      ${files.map(
        (f) => html`<li key=${f.name}>
          <span class="ident">${f.name}</span> <span class="muted small">${plural(f.content.length, 'character')}</span>
          <button type="button" class="small" aria-label=${`Remove ${f.name}`} onClick=${() => setFiles(files.filter((x) => x !== f))}>Remove</button>
        </li>`,
      )}
    </ul>`}
    <div class="buttons start">
      <button type="button" data-testid="edgex-preview-button" disabled=${busy || files.length === 0 || !site} onClick=${() => void send(true)}>Preview</button>
      <button type="button" class="primary" data-testid="edgex-apply" disabled=${busy || !preview || changes === 0} onClick=${() => void send(false)}
        title=${preview ? undefined : 'Preview first'}>Apply${preview ? ` (${plural(changes, 'change')})` : ''}</button>
      ${files.length > 0 && html`<button type="button" disabled=${busy} onClick=${() => setFiles([])}>Clear</button>`}
    </div>
    ${busy && html`<p class="muted" role="status">Working…</p>`}
    ${error && html`<p class="error" role="alert" data-testid="edgex-error">${error}</p>`}
    ${problems && html`<${Problems} problems=${problems} />`}
    ${preview && html`<${ImportSummary} result=${preview} />`}
    ${applied && html`<${ImportSummary} result=${applied} />`}
  </section>`;
}

/** @param {string} name */
const downloadName = (name) => name.replace(/[\\/]+/g, '-');

/**
 * The site's devices and their profiles as EdgeX files, each a download.
 * @param {{ site: string }} props
 */
function ExportPanel({ site }) {
  const [encoding, setEncoding] = useState('yaml');
  const [out, setOut] = useState(/** @type {{ files: EdgeXFile[], notes: string[], site: string } | null} */ (null));
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const links = useRef(/** @type {HTMLAnchorElement[]} */ ([]));

  const urls = useMemo(
    () => (out ? out.files.map((f) => URL.createObjectURL(new Blob([f.content], { type: encoding === 'json' ? 'application/json' : 'application/yaml' }))) : []),
    [out, encoding],
  );
  useEffect(() => () => urls.forEach((u) => URL.revokeObjectURL(u)), [urls]);

  const run = async () => {
    setBusy(true);
    setError('');
    try {
      const body = /** @type {ExportResult} */ (await get(`/api/v1/sites/${enc(site)}/edgex/export?encoding=${enc(encoding)}`));
      setOut({ files: body.files, notes: body.notes, site });
    } catch (err) {
      setError(describeError(err));
      setOut(null);
    } finally {
      setBusy(false);
    }
  };

  const downloadAll = async () => {
    for (const a of links.current) {
      if (!a) continue;
      a.click();
      // Browsers drop downloads started in the same instant.
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  links.current = [];
  return html`<section class="edgex-export" data-testid="edgex-export" aria-labelledby="edgex-export-title">
    <h2 id="edgex-export-title">Export</h2>
    <p class="muted small">The site’s Devices and the DeviceProfiles they use, as EdgeX v3 files.</p>
    <div class="toolbar">
      <label for="edgex-encoding">Format</label>
      <select id="edgex-encoding" data-testid="edgex-encoding" value=${encoding} onChange=${(/** @type {Event} */ e) => { setEncoding(inputValue(e)); setOut(null); }}>
        <option value="yaml">YAML</option>
        <option value="json">JSON</option>
      </select>
      <button type="button" data-testid="edgex-export-button" disabled=${busy || !site} onClick=${() => void run()}>Export</button>
    </div>
    ${error && html`<p class="error" role="alert" data-testid="edgex-export-error">${error}</p>`}
    ${out &&
    html`<div data-testid="edgex-export-files">
      ${out.files.length === 0
        ? html`<${Empty}>Site ${out.site} has no devices to export.</${Empty}>`
        : html`<ul class="edgex-downloads">
              ${out.files.map(
                (f, i) => html`<li key=${f.name}>
                  <a href=${urls[i]} download=${`${out.site}-${downloadName(f.name)}`} data-testid=${`edgex-download-${f.name}`}
                    ref=${(/** @type {HTMLAnchorElement | null} */ el) => { if (el) links.current[i] = el; }}>${f.name}</a>
                  <span class="muted small"> ${plural(f.content.length, 'character')}</span>
                </li>`,
              )}
            </ul>
            <div class="buttons start"><button type="button" data-testid="edgex-download-all" onClick=${() => void downloadAll()}>Download all (${out.files.length})</button></div>`}
      ${out.notes.length > 0 &&
      html`<div class="edgex-notes" data-testid="edgex-notes">
        <h3>Notes</h3>
        <ul>${out.notes.map((n, i) => html`<li key=${i}>${n}</li>`)}</ul>
      </div>`}
    </div>`}
  </section>`;
}

/**
 * Every device profile with its resources; admins may delete one (the
 * confirmation names the devices that use it).
 * @param {{ admin: boolean }} props
 */
function ProfilesPanel({ admin }) {
  const [deleting, setDeleting] = useState(/** @type {string | null} */ (null));
  const profiles = list('DeviceProfile');
  const devices = list('Device');
  /** @param {string} name */
  const usersOf = (name) => devices.filter((d) => d.spec?.profile === name).map((d) => d.metadata.name);
  const users = deleting ? usersOf(deleting) : [];
  return html`<section class="edgex-profiles" data-testid="profiles" aria-labelledby="profiles-title">
    <h2 id="profiles-title">Device profiles</h2>
    ${!state.synced
      ? html`<${Loading} />`
      : profiles.length === 0
        ? html`<${Empty}>No device profiles yet: import some above.</${Empty}>`
        : profiles.map((p) => {
            const name = p.metadata.name;
            const rs = p.spec?.deviceResources ?? [];
            const used = usersOf(name);
            const edgexName = p.metadata.annotations?.[EDGEX_NAME_ANNOTATION];
            return html`<details class="profile" key=${name} data-testid=${`profile-${name}`}>
              <summary>
                <strong>${name}</strong>
                <span class="muted small">${[
                  edgexName && edgexName !== name ? `EdgeX ${edgexName}` : '',
                  [p.spec?.manufacturer, p.spec?.model].filter(Boolean).join(' '),
                  plural(rs.length, 'resource'),
                  `used by ${plural(used.length, 'device')}`,
                ]
                  .filter(Boolean)
                  .join(' · ')}</span>
              </summary>
              ${p.spec?.description && html`<p class="muted small">${p.spec.description}</p>`}
              ${rs.length > 0 &&
              html`<table class="grid compact" data-testid="profile-resources">
                <thead><tr><th>Resource</th><th>Type</th><th>Access</th><th>Units</th><th>Description</th></tr></thead>
                <tbody>
                  ${rs.map(
                    (r) => html`<tr key=${r.name}>
                      <td>${r.name}</td><td>${r.properties?.valueType ?? ''}</td><td>${r.properties?.readWrite ?? ''}</td>
                      <td>${r.properties?.units ?? ''}</td><td class="wrap">${r.description ?? ''}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>`}
              ${used.length > 0 && html`<p class="small">Devices: ${used.map((d, i) => html`${i > 0 ? ', ' : ''}<a href=${`#/devices/${enc(d)}`}>${d}</a>`)}</p>`}
              ${admin &&
              html`<div class="buttons start">
                <button type="button" class="danger small" data-testid=${`delete-profile-${name}`} onClick=${() => setDeleting(name)}>Delete profile…</button>
              </div>`}
            </details>`;
          })}
    ${deleting &&
    html`<${ConfirmDelete} title=${`Delete profile ${deleting}?`} testid="delete-profile-dialog" confirmLabel="Delete profile"
      path=${`/api/v1/deviceprofiles/${enc(deleting)}`} onClose=${() => setDeleting(null)} onDone=${() => setDeleting(null)}
      what=${users.length === 0
        ? html`<p>No device uses it.</p>`
        : html`<p class="warning" data-testid="profile-in-use">${plural(users.length, 'device uses', 'devices use')} it: ${users.join(', ')}. The hub keeps a profile while devices use it: delete them or move them to another profile first.</p>`} />`}
  </section>`;
}

/**
 * EdgeX files: import (admins) and export for a chosen site, and the device profiles.
 * @param {{ admin: boolean }} props
 */
export function EdgeXView({ admin }) {
  const sites = list('Site').map((s) => s.metadata.name);
  const [chosen, setChosen] = useState('');
  const site = chosen || sites[0] || '';
  return html`<section class="edgex">
    <h1>EdgeX files</h1>
    <div class="toolbar">
      <label for="edgex-site">Site</label>
      <select id="edgex-site" data-testid="edgex-site" value=${site} onChange=${(/** @type {Event} */ e) => setChosen(inputValue(e))}>
        ${sites.length === 0 && html`<option value="">No sites</option>`}
        ${sites.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}
      </select>
    </div>
    ${admin && html`<${ImportPanel} site=${site} />`}
    <${ExportPanel} key=${site} site=${site} />
    <${ProfilesPanel} admin=${admin} />
  </section>`;
}
