import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { AddonsTable } from './addons.js';
import { ApiError, describeError, enc, issuesByPath, post } from './api.js';
import { DevicesTable } from './devices.js';
import { absTime, ago, isoMs, plural, untilText } from './format.js';
import { addonSites, agentProcesses, siteHealth, siteMembers, siteStanding } from './model.js';
import { NodesTable } from './nodes.js';
import { getObj, list, state } from './store.js';
import { Badge, ConfirmDelete, CopyText, Empty, Field, fromLines, inputValue, Loading, Modal } from './ui.js';

/** @typedef {import('./types.js').Site} Site */
/** @typedef {import('./types.js').BootstrapTokenCreated} BootstrapTokenCreated */

/** @param {{ site: Site, now: number }} props */
function SiteRow({ site, now }) {
  const name = site.metadata.name;
  const members = siteMembers(name);
  const up = members.devices.filter((d) => d.status?.operatingState === 'UP').length;
  const health = siteHealth(site);
  const seen = isoMs(site.status?.lastSeen);
  const proc = agentProcesses(site);
  const href = `#/sites/${encodeURIComponent(name)}`;
  return html`<tr data-testid=${`site-${name}`} class="clickable" onClick=${() => (location.hash = href)}>
    <td class="name"><a href=${href}>${name}</a>${site.spec?.displayName ? html`<div class="muted small">${site.spec.displayName}</div>` : null}</td>
    <td><${Badge} word=${site.status?.phase ?? 'Pending'} testid="site-phase" title=${site.status?.message} /></td>
    <td data-testid="site-standing">${siteStanding(site, list('Node'))}</td>
    <td class="time" data-testid="site-last-seen" title=${absTime(seen)}>${ago(seen, now)}</td>
    <td>
      <span data-testid="site-health" class=${`health h-${health.word}`}>
        <${Badge} word=${health.word} />${health.reason ? html` <span class="reason">${health.reason}</span>` : null}
      </span>
    </td>
    <td class="num">${up}/${members.devices.length}</td>
    <td class="num">${members.nodes}</td>
    <td class="num">${members.addons}</td>
    <td class="muted">${site.status?.agentVersion ?? ''}</td>
    <td class="num" data-testid="site-agent-process" title=${proc?.detail ?? ''}>${proc?.text ?? ''}</td>
  </tr>`;
}

/**
 * Where each of the hub's field problems goes in the site form; the rest are shown above it.
 * @param {Map<string, string>} issues
 */
function placeSiteIssues(issues) {
  /** @type {Map<string, string>} */
  const fields = new Map();
  /** @type {string[]} */
  const rest = [];
  const add = (/** @type {string} */ key, /** @type {string} */ msg) => fields.set(key, fields.has(key) ? `${fields.get(key)}; ${msg}` : msg);
  for (const [path, msg] of issues) {
    if (path === 'metadata.name') add('name', msg);
    else if (path.startsWith('metadata.labels')) add('labels', `${path.slice('metadata.labels.'.length)} ${msg}`.trim());
    else if (path === 'spec.displayName') add('displayName', msg);
    else if (path === 'spec.description') add('description', msg);
    else rest.push(path ? `${path}: ${msg}` : msg);
  }
  return { fields, rest };
}

/**
 * Create a Site (admins). The hub checks everything; its problems are shown at their fields.
 * @param {{ onClose: () => void, onDone: (name: string) => void }} props
 */
function CreateSite({ onClose, onDone }) {
  const [draft, setDraft] = useState({ name: '', displayName: '', description: '', labels: '' });
  const [fields, setFields] = useState(/** @type {Map<string, string>} */ (new Map()));
  const [top, setTop] = useState('');
  const [busy, setBusy] = useState(false);
  const onText = (/** @type {keyof typeof draft} */ key) => (/** @type {Event} */ e) => setDraft({ ...draft, [key]: inputValue(e) });
  const err = (/** @type {string} */ key) => fields.get(key);

  const submit = async (/** @type {Event} */ e) => {
    e.preventDefault();
    const name = draft.name.trim();
    const labels = fromLines(draft.labels);
    if ('error' in labels) {
      setFields(new Map([['labels', labels.error]]));
      setTop('');
      return;
    }
    setBusy(true);
    setTop('');
    try {
      /** @type {{ displayName?: string, description?: string }} */
      const spec = {};
      if (draft.displayName.trim()) spec.displayName = draft.displayName.trim();
      if (draft.description.trim()) spec.description = draft.description.trim();
      await post('/api/v1/sites', { metadata: { name, labels: labels.value }, spec });
      onDone(name);
    } catch (x) {
      const placed = placeSiteIssues(issuesByPath(x));
      // A name already taken is the name field's problem.
      if (x instanceof ApiError && x.code === 'EDGE_ERR_STORE_EXISTS') placed.fields.set('name', `a site named “${name}” already exists`);
      setFields(placed.fields);
      setTop(placed.fields.size > 0 && placed.rest.length === 0 ? 'The hub refused the site: see the fields below.' : placed.rest.length > 0 ? placed.rest.join('; ') : describeError(x));
      setBusy(false);
    }
  };

  return html`<${Modal} title="Create site" onClose=${onClose} testid="site-form">
    <form onSubmit=${submit} novalidate>
      ${top && html`<p class="error" role="alert" data-testid="site-form-error">${top}</p>`}
      <div class="form-grid">
        <${Field} id="site-name" label="Name" error=${err('name')} hint="Lowercase letters, digits and '-' (a DNS label); it cannot change later.">
          ${(/** @type {Record<string, unknown>} */ a) => html`<input ...${a} data-testid="site-name" autocomplete="off" spellcheck="false" value=${draft.name} onInput=${onText('name')} />`}
        </${Field}>
        <${Field} id="site-display-name" label="Display name" error=${err('displayName')}>
          ${(/** @type {Record<string, unknown>} */ a) => html`<input ...${a} data-testid="site-display-name" value=${draft.displayName} onInput=${onText('displayName')} />`}
        </${Field}>
        <${Field} id="site-description" label="Description" error=${err('description')}>
          ${(/** @type {Record<string, unknown>} */ a) => html`<textarea ...${a} data-testid="site-description" rows="2" value=${draft.description} onInput=${onText('description')}></textarea>`}
        </${Field}>
        <${Field} id="site-labels" label="Labels" error=${err('labels')} hint="One key=value a line; Addons select sites by them.">
          ${(/** @type {Record<string, unknown>} */ a) => html`<textarea ...${a} data-testid="site-labels" rows="2" spellcheck="false" value=${draft.labels} onInput=${onText('labels')}></textarea>`}
        </${Field}>
      </div>
      <div class="buttons">
        <button type="button" onClick=${onClose} disabled=${busy}>Cancel</button>
        <button type="submit" class="primary" data-testid="site-create" disabled=${busy}>${busy ? 'Creating…' : 'Create site'}</button>
      </div>
    </form>
  </${Modal}>`;
}

/** @param {{ admin?: boolean }} props */
export function SitesView({ admin = false }) {
  const [creating, setCreating] = useState(false);
  const sites = list('Site');
  return html`<section>
    <h1>Sites</h1>
    ${admin && html`<div class="page-actions">
      <button type="button" class="primary" data-testid="site-create-open" onClick=${() => setCreating(true)}>Create site</button>
    </div>`}
    ${creating && html`<${CreateSite} onClose=${() => setCreating(false)} onDone=${(/** @type {string} */ name) => {
      setCreating(false);
      location.hash = `#/sites/${enc(name)}`;
    }} />`}
    ${!state.synced
      ? html`<${Loading} />`
      : sites.length === 0
        ? html`<${Empty}>No sites yet. ${admin ? 'Create one above, or' : 'An admin creates one'} with <code>edgeadm site create</code>.</${Empty}>`
        : html`<div class="scroll">
            <table class="grid">
              <thead>
                <tr><th>Site</th><th>Connection</th><th>Standing</th><th>Last seen</th><th>Health</th><th>Devices up</th><th>Nodes</th><th>Addons</th><th>Agent</th><th>Agent memory, CPU</th></tr>
              </thead>
              <tbody>
                ${sites.map((s) => html`<${SiteRow} key=${s.metadata.name} site=${s} now=${state.now} />`)}
              </tbody>
            </table>
          </div>`}
  </section>`;
}

/** The site as a unit of the grid: how many of its nodes are connected. @param {string} site */
function unitText(site) {
  const nodes = list('Node').filter((n) => n.spec?.site === site);
  const connected = nodes.filter((n) => n.status?.connected === true).length;
  return `${connected}/${nodes.length} nodes connected`;
}

/** Bootstrap token lifetimes offered, in seconds (the hub allows up to 30 days). */
const JOIN_TTLS = /** @type {const} */ ([
  [3600, '1 hour'],
  [86400, '24 hours'],
  [7 * 86400, '7 days'],
]);

/**
 * The `edgeadm join` a node runs, as cli/join.ts takes it: the hub (this page's origin), the
 * bootstrap token, the site, and the pin of the hub's CA when the hub gave one.
 * @param {string} hub
 * @param {BootstrapTokenCreated} t
 * @param {string} site
 */
export function joinCommand(hub, t, site) {
  return `edgeadm join ${hub} --token ${t.token} --site ${site}${t.caCertHash ? ` --ca-cert-hash ${t.caCertHash}` : ''}`;
}

/**
 * Issue a bootstrap token for this site (admins) and show the `edgeadm join` to run on the node.
 * @param {{ site: string, onClose: () => void }} props
 */
function AddNode({ site, onClose }) {
  const [ttl, setTtl] = useState('86400');
  const [description, setDescription] = useState('');
  const [issued, setIssued] = useState(/** @type {BootstrapTokenCreated | null} */ (null));
  const [error, setError] = useState('');
  const [fields, setFields] = useState(/** @type {Map<string, string>} */ (new Map()));
  const [busy, setBusy] = useState(false);

  const issue = async (/** @type {Event} */ e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const body = { site, ttlSeconds: Number(ttl), ...(description.trim() ? { description: description.trim() } : {}) };
      setIssued(/** @type {BootstrapTokenCreated} */ (await post('/api/v1/bootstrap-tokens', body)));
    } catch (x) {
      setFields(issuesByPath(x));
      setError(describeError(x));
    } finally {
      setBusy(false);
    }
  };

  if (issued) {
    const expires = isoMs(issued.expiresAt);
    return html`<${Modal} key="issued" title=${`Add a node to ${site}`} onClose=${onClose} testid="add-node">
      <p>Run this on the node, as root. It joins the node to <strong>${site}</strong> and runs its agent in the foreground;
        add <code>--install</code> to run it under systemd instead, <code>${'--node <name>'}</code> to name the node other than by its hostname.</p>
      <${CopyText} text=${joinCommand(location.origin, issued, site)} label="join command" testid="join-command" />
      <p class="warning" role="note" data-testid="join-once">The token is shown only now: copy the command before closing this dialog.</p>
      <dl class="facts">
        <dt>Token</dt><dd><code>${issued.id}</code> (list or delete it on the Tokens page)</dd>
        <dt>Expires</dt><dd data-testid="join-expires">${absTime(expires)} (${untilText(expires, Date.now())})</dd>
        <dt>Uses</dt><dd>Any number of nodes of ${site} may join with it until then.</dd>
        ${issued.caCertHash ? null : html`<dt>CA</dt><dd>The hub serves no TLS: no CA to pin.</dd>`}
      </dl>
      <div class="buttons"><button type="button" class="primary" data-testid="add-node-done" onClick=${onClose} autofocus>Done</button></div>
    </${Modal}>`;
  }
  return html`<${Modal} key="form" title=${`Add a node to ${site}`} onClose=${onClose} testid="add-node">
    <form onSubmit=${issue} novalidate>
      <p>A node joins with a bootstrap token: it can do nothing but join ${site}, and it expires.</p>
      ${error && html`<p class="error" role="alert" data-testid="add-node-error">${error}</p>`}
      <div class="form-grid">
        <${Field} id="join-ttl" label="Valid for" error=${fields.get('ttlSeconds')}>
          ${(/** @type {Record<string, unknown>} */ a) => html`<select ...${a} data-testid="join-ttl" value=${ttl} onChange=${(/** @type {Event} */ e) => setTtl(inputValue(e))}>
            ${JOIN_TTLS.map(([secs, label]) => html`<option key=${secs} value=${String(secs)}>${label}</option>`)}
          </select>`}
        </${Field}>
        <${Field} id="join-description" label="Description" error=${fields.get('description')} hint="Optional: who or what it is for.">
          ${(/** @type {Record<string, unknown>} */ a) => html`<input ...${a} data-testid="join-description" value=${description} onInput=${(/** @type {Event} */ e) => setDescription(inputValue(e))} />`}
        </${Field}>
      </div>
      <div class="buttons">
        <button type="button" onClick=${onClose} disabled=${busy}>Cancel</button>
        <button type="submit" class="primary" data-testid="join-issue" disabled=${busy}>${busy ? 'Issuing…' : 'Issue token'}</button>
      </div>
    </form>
  </${Modal}>`;
}

/**
 * What deleting a site leaves behind, truthfully: the hub deletes the Site alone.
 * @param {{ name: string }} props
 */
function SiteDeleteText({ name }) {
  const members = siteMembers(name);
  const nodes = list('Node').filter((n) => n.spec?.site === name).map((n) => n.metadata.name);
  const addons = list('Addon').filter((a) => addonSites(a).includes(name)).map((a) => a.metadata.name);
  const devices = members.devices.map((d) => d.metadata.name);
  const names = (/** @type {string[]} */ xs) => (xs.length === 0 ? 'none' : xs.join(', '));
  return html`<p>The hub deletes the Site <strong>${name}</strong> alone. What names it stays, and still names it:</p>
    <ul data-testid="site-delete-left">
      <li>${plural(devices.length, 'device')}: ${names(devices)}</li>
      <li>${plural(nodes.length, 'node')}: ${names(nodes)}</li>
      <li>${plural(addons.length, 'addon')} targeting it: ${names(addons)}</li>
    </ul>
    <p>Its agents' tokens and node credentials are not revoked: revoke them on the Tokens page, and delete the nodes and devices on their pages.</p>`;
}

/** @param {{ name: string, admin?: boolean }} props */
export function SiteDetail({ name, admin = false }) {
  const [dialog, setDialog] = useState(/** @type {'' | 'add-node' | 'delete'} */ (''));
  const site = getObj('Site', name);
  if (!state.synced) return html`<section><h1>Site ${name}</h1><${Loading} /></section>`;
  if (!site) {
    return html`<section>
      <h1>Site ${name}</h1>
      <${Empty}>No site named “${name}”. <a href="#/sites">All sites</a></${Empty}>
    </section>`;
  }
  const health = siteHealth(site);
  const seen = isoMs(site.status?.lastSeen);
  const proc = agentProcesses(site);
  return html`<section class="site-detail" data-testid=${`site-detail-${name}`}>
    <p class="crumbs"><a href="#/sites">Sites</a> /</p>
    <h1>${site.spec?.displayName || name} <${Badge} word=${site.status?.phase ?? 'Pending'} /></h1>
    ${site.spec?.description ? html`<p>${site.spec.description}</p>` : null}
    ${admin && html`<div class="page-actions">
      <button type="button" class="primary" data-testid="add-node-open" onClick=${() => setDialog('add-node')}>Add a node</button>
      <button type="button" class="danger" data-testid="site-delete-open" onClick=${() => setDialog('delete')}>Delete site</button>
    </div>`}
    ${dialog === 'add-node' && html`<${AddNode} site=${name} onClose=${() => setDialog('')} />`}
    ${dialog === 'delete' &&
    html`<${ConfirmDelete}
      title=${`Delete site ${name}?`}
      what=${html`<${SiteDeleteText} name=${name} />`}
      confirmLabel=${`Delete site ${name}`}
      path=${`/api/v1/sites/${enc(name)}`}
      testid="site-delete"
      onClose=${() => setDialog('')}
      onDone=${() => {
        setDialog('');
        location.hash = '#/sites';
      }}
    />`}
    <dl class="facts">
      <dt>Name</dt><dd>${name}</dd>
      ${Object.keys(site.metadata.labels ?? {}).length > 0
        ? html`<dt>Labels</dt><dd data-testid="site-labels-shown">${Object.entries(site.metadata.labels ?? {}).map(([k, v]) => html`<code key=${k} class="label">${k}=${v}</code> `)}</dd>`
        : null}
      <dt>Health</dt><dd><${Badge} word=${health.word} /> ${health.reason}</dd>
      <dt>Last seen</dt><dd title=${absTime(seen)}>${ago(seen, state.now)}</dd>
      <dt>Agent</dt><dd>${site.status?.agentVersion ?? '—'}</dd>
      <dt>Agent process</dt><dd data-testid="site-detail-agent-process" title=${proc?.detail ?? ''}>${proc?.text ?? '—'}</dd>
      <dt>Unit</dt><dd data-testid="site-unit" title="A site is a NodeUnit of the grid: its nodes are the unit's members">${unitText(name)}</dd>
      ${site.status?.message ? html`<dt>Message</dt><dd>${site.status.message}</dd>` : null}
    </dl>
    <h2>Nodes</h2>
    <${NodesTable} site=${name} />
    <h2>Devices</h2>
    <${DevicesTable} site=${name} />
    <h2>Addons</h2>
    <${AddonsTable} site=${name} />
  </section>`;
}
