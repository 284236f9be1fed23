import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, describeError, enc, get, issuesByPath, post } from './api.js';
import { list } from './store.js';
import { ConfirmDelete, CopyText, Empty, Field, inputValue, Loading, Modal } from './ui.js';
import { at } from './format.js';

/** @typedef {import('./types.js').ApiTokenInfo} ApiTokenInfo */
/** @typedef {import('./types.js').ApiTokenCreated} ApiTokenCreated */
/** @typedef {import('./types.js').ApiTokenList} ApiTokenList */
/** @typedef {import('./types.js').ApiTokenCreateBody} ApiTokenCreateBody */
/** @typedef {import('./types.js').BootstrapTokenInfo} BootstrapTokenInfo */
/** @typedef {import('./types.js').BootstrapTokenList} BootstrapTokenList */
/** @typedef {import('./types.js').Session} Session */

/** The roles a token may have (core/hub/tokens.ts ROLES), with what each may do. */
const ROLES = /** @type {const} */ ([
  ['viewer', 'Viewer: reads everything, writes nothing'],
  ['admin', 'Admin: everything'],
  ['agent', "Agent: a site agent's token, bound to one site"],
]);

/** Lifetimes offered, in seconds; '' is no expiry. */
const TTLS = /** @type {const} */ ([
  ['', 'Never expires'],
  ['3600', '1 hour'],
  ['86400', '24 hours'],
  ['604800', '7 days'],
  ['2592000', '30 days'],
  ['31536000', '1 year'],
]);

/**
 * The field a token refusal names: the hub's `details.issues` by path, or the single
 * `details.field` of EDGE_ERR_HUB_TOKEN_INVALID.
 * @param {unknown} err
 */
function tokenProblems(err) {
  const issues = issuesByPath(err);
  const d = err instanceof ApiError ? /** @type {{ field?: unknown, reason?: unknown } | undefined} */ (err.details) : undefined;
  if (typeof d?.field === 'string' && typeof d.reason === 'string') issues.set(d.field, d.reason);
  return issues;
}

/**
 * Create an API token; its secret is shown once, here.
 * @param {{ onClose: () => void, onCreated: () => void }} props
 */
function CreateToken({ onClose, onCreated }) {
  const [role, setRole] = useState('viewer');
  const [site, setSite] = useState('');
  const [ttl, setTtl] = useState('86400');
  const [description, setDescription] = useState('');
  const [fields, setFields] = useState(/** @type {Map<string, string>} */ (new Map()));
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState(/** @type {ApiTokenCreated | null} */ (null));
  const sites = list('Site').map((s) => s.metadata.name);

  const submit = async (/** @type {Event} */ e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      /** @type {ApiTokenCreateBody} */
      const body = { role: /** @type {ApiTokenCreateBody['role']} */ (role) };
      if (role === 'agent' && site) body.site = site;
      if (ttl) body.ttlSeconds = Number(ttl);
      if (description.trim()) body.description = description.trim();
      setCreated(/** @type {ApiTokenCreated} */ (await post('/api/v1/tokens', body)));
      onCreated();
    } catch (x) {
      const problems = tokenProblems(x);
      setFields(problems);
      setError(problems.size > 0 ? 'The hub refused the token: see the fields below.' : describeError(x));
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    return html`<${Modal} key="created" title=${`Token ${created.id} created`} onClose=${onClose} testid="token-created">
      <p>The ${created.role} token${created.site ? ` of site ${created.site}` : ''}, to send as <code>Authorization: Bearer …</code>, to log in to this console, or for <code>edgeadm --token-file</code>:</p>
      <${CopyText} text=${created.token} label="token secret" testid="token-secret" />
      <p class="warning" role="note" data-testid="token-once">This is the only time the hub shows it: copy it now and keep it like a password. Lost, it cannot be shown again; revoke it and create another.</p>
      <p class="muted">Expires: ${at(created.expiresAt, Date.now(), 'never')}</p>
      <div class="buttons"><button type="button" class="primary" data-testid="token-created-done" onClick=${onClose} autofocus>Done</button></div>
    </${Modal}>`;
  }
  return html`<${Modal} key="form" title="Create token" onClose=${onClose} testid="token-form">
    <form onSubmit=${submit} novalidate>
      ${error && html`<p class="error" role="alert" data-testid="token-form-error">${error}</p>`}
      <div class="form-grid">
        <${Field} id="token-role" label="Role" error=${fields.get('role')}>
          ${(/** @type {Record<string, unknown>} */ a) => html`<select ...${a} data-testid="token-role" value=${role} onChange=${(/** @type {Event} */ e) => setRole(inputValue(e))}>
            ${ROLES.map(([r, label]) => html`<option key=${r} value=${r}>${label}</option>`)}
          </select>`}
        </${Field}>
        ${role === 'agent' &&
        html`<${Field} id="token-site" label="Site" error=${fields.get('site')} hint="The one site whose agent uses it.">
          ${(/** @type {Record<string, unknown>} */ a) => html`<select ...${a} data-testid="token-site" value=${site} onChange=${(/** @type {Event} */ e) => setSite(inputValue(e))}>
            <option value="">Choose a site</option>
            ${sites.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}
          </select>`}
        </${Field}>`}
        <${Field} id="token-ttl" label="Valid for" error=${fields.get('ttlSeconds')}>
          ${(/** @type {Record<string, unknown>} */ a) => html`<select ...${a} data-testid="token-ttl" value=${ttl} onChange=${(/** @type {Event} */ e) => setTtl(inputValue(e))}>
            ${TTLS.map(([secs, label]) => html`<option key=${secs} value=${secs}>${label}</option>`)}
          </select>`}
        </${Field}>
        <${Field} id="token-description" label="Description" error=${fields.get('description')} hint="Who or what uses it: shown in the list.">
          ${(/** @type {Record<string, unknown>} */ a) => html`<input ...${a} data-testid="token-description" value=${description} onInput=${(/** @type {Event} */ e) => setDescription(inputValue(e))} />`}
        </${Field}>
      </div>
      <div class="buttons">
        <button type="button" onClick=${onClose} disabled=${busy}>Cancel</button>
        <button type="submit" class="primary" data-testid="token-create" disabled=${busy}>${busy ? 'Creating…' : 'Create token'}</button>
      </div>
    </form>
  </${Modal}>`;
}

/**
 * API tokens and bootstrap tokens (admins): list, create, revoke.
 * @param {{ admin: boolean }} props
 */
export function TokensView({ admin }) {
  const [tokens, setTokens] = useState(/** @type {ApiTokenInfo[] | null} */ (null));
  const [bootstrap, setBootstrap] = useState(/** @type {BootstrapTokenInfo[] | null} */ (null));
  const [error, setError] = useState('');
  const [mine, setMine] = useState('');
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState(/** @type {ApiTokenInfo | null} */ (null));
  const [dropping, setDropping] = useState(/** @type {BootstrapTokenInfo | null} */ (null));

  const load = useCallback(async () => {
    try {
      const [t, b, me] = await Promise.all([get('/api/v1/tokens'), get('/api/v1/bootstrap-tokens'), get('/api/v1/console/session')]);
      setTokens(/** @type {ApiTokenList} */ (t).items);
      setMine(/** @type {Session} */ (me).tokenId);
      setBootstrap(/** @type {BootstrapTokenList} */ (b).items);
      setError('');
    } catch (x) {
      setError(describeError(x));
    }
  }, []);

  useEffect(() => {
    if (admin) void load();
  }, [admin, load]);

  if (!admin) {
    return html`<section>
      <h1>Tokens</h1>
      <p class="notice" data-testid="tokens-admins-only">Tokens are for admins only: log in with an admin token to see and manage them.</p>
    </section>`;
  }
  const now = Date.now();
  const byCreated = (/** @type {{ createdAt: string }} */ a, /** @type {{ createdAt: string }} */ b) => b.createdAt.localeCompare(a.createdAt);
  return html`<section class="tokens">
    <h1>Tokens</h1>
    <div class="page-actions">
      <button type="button" class="primary" data-testid="token-create-open" onClick=${() => setCreating(true)}>Create token</button>
    </div>
    ${error && html`<p class="error" role="alert" data-testid="tokens-error">${error}</p>`}
    ${creating && html`<${CreateToken} onClose=${() => setCreating(false)} onCreated=${() => void load()} />`}
    ${revoking &&
    html`<${ConfirmDelete}
      title=${`Revoke token ${revoking.id}?`}
      what=${html`<p>The ${revoking.role} token <code>${revoking.id}</code>${revoking.description ? ` (${revoking.description})` : ''}${revoking.node ? `, the credential of node ${revoking.node},` : ''} stops working at once: every later request with it is refused${revoking.role === 'agent' ? ', and an agent or node using it is cut off' : ''}. This cannot be undone.</p>
        ${revoking.id === mine ? html`<p class="warning" role="note" data-testid="token-revoke-mine">It is the token of this console session: you are logged out with it.</p>` : null}`}
      confirmLabel="Revoke token"
      path=${`/api/v1/tokens/${enc(revoking.id)}`}
      testid="token-revoke"
      onClose=${() => setRevoking(null)}
      onDone=${() => {
        setRevoking(null);
        void load();
      }}
    />`}
    ${dropping &&
    html`<${ConfirmDelete}
      title=${`Delete bootstrap token ${dropping.id}?`}
      what=${html`<p>No node can join with <code>${dropping.id}</code> any more. Nodes that already joined with it keep their own credentials.</p>`}
      confirmLabel="Delete bootstrap token"
      path=${`/api/v1/bootstrap-tokens/${enc(dropping.id)}`}
      testid="bootstrap-delete"
      onClose=${() => setDropping(null)}
      onDone=${() => {
        setDropping(null);
        void load();
      }}
    />`}
    <h2>API tokens</h2>
    ${tokens === null
      ? html`<${Loading} />`
      : tokens.length === 0
        ? html`<${Empty}>No tokens.</${Empty}>`
        : html`<div class="scroll">
            <table class="grid" data-testid="tokens-table">
              <thead>
                <tr><th scope="col">ID</th><th scope="col">Role</th><th scope="col">Site</th><th scope="col">Node</th><th scope="col">Description</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
              </thead>
              <tbody>
                ${[...tokens].sort(byCreated).map(
                  (t) => html`<tr key=${t.id} data-testid=${`token-${t.id}`}>
                    <td class="ident">${t.id}${t.id === mine ? html` <span class="muted small" data-testid="token-mine">(this session)</span>` : null}</td>
                    <td>${t.role}</td>
                    <td>${t.site ? html`<a href=${`#/sites/${enc(t.site)}`}>${t.site}</a>` : ''}</td>
                    <td>${t.node ? html`<a href=${`#/nodes/${enc(t.node)}`}>${t.node}</a>` : ''}</td>
                    <td class="wrap">${t.description}</td>
                    <td class="time">${at(t.createdAt, now, '—')}</td>
                    <td class="time">${at(t.expiresAt, now, 'never')}</td>
                    <td class="time">${at(t.lastUsedAt, now, 'never')}</td>
                    <td><button type="button" class="small danger" data-testid="token-revoke-open" aria-label=${`Revoke token ${t.id}`} onClick=${() => setRevoking(t)}>Revoke</button></td>
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`}
    <h2>Bootstrap tokens</h2>
    <p class="muted">Nodes join with these (<em>Add a node</em> on a site's page issues one). They always expire.</p>
    ${bootstrap === null
      ? html`<${Loading} />`
      : bootstrap.length === 0
        ? html`<${Empty}>No bootstrap tokens.</${Empty}>`
        : html`<div class="scroll">
            <table class="grid" data-testid="bootstrap-table">
              <thead>
                <tr><th scope="col">ID</th><th scope="col">Site</th><th scope="col">Description</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Joins</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
              </thead>
              <tbody>
                ${[...bootstrap].sort(byCreated).map(
                  (b) => html`<tr key=${b.id} data-testid=${`bootstrap-${b.id}`}>
                    <td class="ident">${b.id}</td>
                    <td>${b.site ? html`<a href=${`#/sites/${enc(b.site)}`}>${b.site}</a>` : html`<span class="muted">any site</span>`}</td>
                    <td class="wrap">${b.description}</td>
                    <td class="time">${at(b.createdAt, now, '—')}</td>
                    <td class="time">${at(b.expiresAt, now, '—')}</td>
                    <td class="num" data-testid="bootstrap-uses">${b.uses}</td>
                    <td><button type="button" class="small danger" data-testid="bootstrap-delete-open" aria-label=${`Delete bootstrap token ${b.id}`} onClick=${() => setDropping(b)}>Delete</button></td>
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`}
  </section>`;
}
