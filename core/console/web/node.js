import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { describeError, enc, get, post } from './api.js';
import { ago, at, isoMs, plural } from './format.js';
import { nodeStanding } from './model.js';
import { getObj, state } from './store.js';
import { Badge, ConfirmDelete, CopyText, Empty, Loading, Modal } from './ui.js';

/** @typedef {import('./types.js').EdgeNode} EdgeNode */
/** @typedef {import('./types.js').HostKeysOut} HostKeysOut */
/** @typedef {import('./types.js').ApiTokenList} ApiTokenList */
/** @typedef {import('./types.js').LiteApiserverReport} LiteApiserverReport */

/** @param {number} bytes */
const size = (bytes) => (bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/**
 * The node's lite-apiserver as its agent last reported it, in the node's Site's status
 * (`status.agents["node:<name>"].liteApiserver`, what `edgeadm node show` reads too).
 * @param {EdgeNode} node
 * @returns {LiteApiserverReport | undefined}
 */
function liteReport(node) {
  const site = node.spec?.site ? getObj('Site', node.spec.site) : undefined;
  return site?.status?.agents?.[`node:${node.metadata.name}`]?.liteApiserver;
}

/** @param {{ lite: LiteApiserverReport | undefined, now: number }} props */
function LiteApiserver({ lite, now }) {
  if (!lite) return html`<p class="muted" data-testid="node-lite">None reported: not a Kubernetes-mode node, or no report yet.</p>`;
  if (lite.state === 'failed') {
    return html`<p data-testid="node-lite"><${Badge} word="failed" /> since ${at(lite.since, now)}: ${lite.lastError ?? 'see the node agent log'}</p>`;
  }
  return html`<dl class="facts" data-testid="node-lite">
    <dt>State</dt><dd><${Badge} word=${lite.state} /> since ${at(lite.since, now)}${lite.state === 'online' ? '' : ': the node answers its components from its cache'}</dd>
    <dt>Cache</dt><dd>${size(lite.cacheBytes)} in ${plural(lite.cacheEntries, 'entry', 'entries')}; ${lite.hits} answered offline, ${lite.misses} not cached</dd>
    <dt>Outages</dt><dd>${lite.outages} (${Math.round(lite.offlineSeconds)} s offline in all)${lite.lastError ? `; last error: ${lite.lastError}` : ''}</dd>
  </dl>`;
}

/** @param {{ node: EdgeNode, now: number }} props */
function Vote({ node, now }) {
  const h = node.status?.health;
  if (!h) return html`<span class="muted">no vote: the site has no health settings, or its peers have not reported</span>`;
  return html`<span data-testid="node-detail-vote">
    <${Badge} word=${h.verdict} /> ${h.pros} pass, ${h.cons} fail of ${h.expected} expected; since ${at(h.since, now)}; last vote ${at(h.votedAt, now)};
    reported by ${h.reportedBy}${h.reportedAt ? ` ${ago(isoMs(h.reportedAt), now)}` : ''}
  </span>`;
}

/**
 * @param {{ title: string, keys: HostKeysOut['trusted'], testid: string }} props
 */
function KeyTable({ title, keys, testid }) {
  return html`<table class="grid" data-testid=${testid}>
    <caption class="sr-caption">${title}</caption>
    <thead><tr><th scope="col">Type</th><th scope="col">Fingerprint</th></tr></thead>
    <tbody>
      ${keys.map((k) => html`<tr key=${k.fingerprint}><td>${k.type}</td><td class="ident" data-testid="host-key-fingerprint">${k.fingerprint}</td></tr>`)}
    </tbody>
  </table>`;
}

/**
 * The node's SSH host keys: those `edgeadm ssh` trusts, and any change a later join reported;
 * admins trust or reject the change.
 * @param {{ name: string, keysAt: string, admin: boolean }} props
 */
function HostKeys({ name, keysAt, admin }) {
  const [view, setView] = useState(/** @type {HostKeysOut | null} */ (null));
  const [error, setError] = useState('');
  const [confirm, setConfirm] = useState(/** @type {'' | 'trust' | 'reject'} */ (''));
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState('');

  // Read again when the Node's keys change (a join records them in its status), not at each of its other updates.
  useEffect(() => {
    const ac = new AbortController();
    get(`/api/v1/nodes/${enc(name)}/host-keys`, { signal: ac.signal })
      .then((v) => {
        setView(/** @type {HostKeysOut} */ (v));
        setError('');
      })
      .catch((/** @type {unknown} */ x) => {
        if (!ac.signal.aborted) setError(describeError(x));
      });
    return () => ac.abort();
  }, [name, keysAt]);

  const act = async (/** @type {'trust' | 'reject'} */ what) => {
    setBusy(true);
    setActionError('');
    try {
      setView(/** @type {HostKeysOut} */ (await post(`/api/v1/nodes/${enc(name)}/host-keys/${what}`, what === 'trust' ? {} : undefined)));
      setConfirm('');
    } catch (x) {
      setActionError(describeError(x));
    } finally {
      setBusy(false);
    }
  };

  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!view) return html`<${Loading} />`;
  const now = state.now;
  const pending = view.pending;
  return html`<div data-testid="host-keys">
    ${view.trusted.length === 0
      ? html`<${Empty}>No host keys recorded: the node reported none when it joined.</${Empty}>`
      : html`<p class="muted">Trusted since ${at(view.trustedAt, now)}.</p>
          <div class="scroll"><${KeyTable} title="Trusted host keys" keys=${view.trusted} testid="host-keys-trusted" /></div>`}
    ${pending &&
    html`<div class="warning" role="note" data-testid="host-keys-pending">
        A join ${at(pending.reportedAt, now)}${pending.bootstrapTokenId ? html` with bootstrap token <code>${pending.bootstrapTokenId}</code>` : ''} reported other host keys.
        <code>edgeadm ssh</code> refuses this node until an admin checks them on the node (<code>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code>) and trusts or rejects them.
      </div>
      <div class="scroll"><${KeyTable} title="Pending host keys" keys=${pending.keys} testid="host-keys-pending-keys" /></div>
      ${admin &&
      html`<div class="page-actions node-key-actions">
        <button type="button" class="primary" data-testid="host-keys-trust-open" onClick=${() => setConfirm('trust')}>Trust the pending keys</button>
        <button type="button" class="danger" data-testid="host-keys-reject-open" onClick=${() => setConfirm('reject')}>Reject them</button>
      </div>`}`}
    ${confirm &&
    html`<${Modal} title=${confirm === 'trust' ? `Trust the new host keys of ${name}?` : `Reject the new host keys of ${name}?`} onClose=${() => setConfirm('')} testid="host-keys-confirm">
      ${confirm === 'trust'
        ? html`<p>These replace the trusted keys. Trust them only if each fingerprint is what <code>ssh-keygen -lf</code> prints on the node itself:</p>
            <ul>${(pending?.keys ?? []).map((k) => html`<li key=${k.fingerprint}><code>${k.type} ${k.fingerprint}</code></li>`)}</ul>`
        : html`<p>The trusted keys stay; the reported ones are dropped.</p>`}
      ${actionError && html`<p class="error" role="alert" data-testid="host-keys-error">${actionError}</p>`}
      <div class="buttons">
        <button type="button" onClick=${() => setConfirm('')} disabled=${busy} autofocus>Cancel</button>
        <button type="button" class=${confirm === 'trust' ? 'primary' : 'danger'} data-testid="host-keys-confirm-button" onClick=${() => void act(confirm)} disabled=${busy}>
          ${confirm === 'trust' ? 'Trust them' : 'Reject them'}
        </button>
      </div>
    </${Modal}>`}
  </div>`;
}

/**
 * The copyable `edgeadm ssh` and `edgeadm port-forward` for this node, as cli/ssh.ts takes them,
 * against this hub (the page's origin).
 * @param {{ name: string }} props
 */
function Commands({ name }) {
  const [port, setPort] = useState('10250');
  const valid = /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
  const hub = location.origin;
  return html`<div data-testid="node-commands">
    <p class="muted">Both ride on the node's tunnel and need an admin token (<code>--token-file</code>, <code>EDGEADM_TOKEN</code> or your <code>edgeadm config</code> context) and, for this hub's certificate, <code>--ca-file</code>.</p>
    <h3>A shell on the node</h3>
    <${CopyText} text=${`edgeadm ssh ${name} --hub ${hub}`} label="ssh command" testid="node-ssh-command" />
    <h3>A port on the node, here</h3>
    <div class="form-grid">
      <label for="pf-port">Port on the node</label>
      <div class="field">
        <input id="pf-port" data-testid="pf-port" inputmode="numeric" value=${port} aria-describedby="pf-port-hint" aria-invalid=${valid ? undefined : 'true'}
          onInput=${(/** @type {Event} */ e) => setPort(/** @type {HTMLInputElement} */ (e.currentTarget).value.trim())} />
        <span class="hint" id="pf-port-hint">The node lets the tunnel reach 127.0.0.1:22 and 127.0.0.1:10250 unless it joined with other <code>--allow</code>; a free local port is chosen and printed.</span>
      </div>
    </div>
    ${valid
      ? html`<${CopyText} text=${`edgeadm port-forward ${name} ${port} --hub ${hub}`} label="port-forward command" testid="node-pf-command" />`
      : html`<p class="field-error" role="alert">A port is 1 to 65535.</p>`}
  </div>`;
}

/**
 * What deleting a node does: the hub revokes its credentials (listed when the hub gives them) and drops its tunnel.
 * @param {{ name: string }} props
 */
function NodeDeleteText({ name }) {
  const [creds, setCreds] = useState(/** @type {string[] | null} */ (null));
  useEffect(() => {
    const ac = new AbortController();
    get('/api/v1/tokens', { signal: ac.signal })
      .then((l) => setCreds(/** @type {ApiTokenList} */ (l).items.filter((t) => t.node === name).map((t) => t.id)))
      .catch(() => setCreds(null));
    return () => ac.abort();
  }, [name]);
  return html`<p>The hub deletes the Node <strong>${name}</strong>, revokes its credentials${creds && creds.length > 0
      ? html` (${plural(creds.length, 'token')}: ${creds.map((id) => html`<code key=${id}>${id}</code> `)})`
      : ''} and drops its tunnel: its agent can no longer reach the hub.</p>
    <p>To bring the node back, join it again with a new bootstrap token (<em>Add a node</em> on its site's page).</p>`;
}

/**
 * One node.
 * @param {{ name: string, admin: boolean }} props
 */
export function NodeDetail({ name, admin }) {
  const [deleting, setDeleting] = useState(false);
  const node = getObj('Node', name);
  if (!state.synced) return html`<section><h1>Node ${name}</h1><${Loading} /></section>`;
  if (!node) {
    return html`<section>
      <h1>Node ${name}</h1>
      <${Empty}>No node named “${name}”. <a href="#/nodes">All nodes</a></${Empty}>
    </section>`;
  }
  const now = state.now;
  const s = node.status;
  const site = node.spec?.site ?? '';
  return html`<section class="node-detail" data-testid=${`node-detail-${name}`}>
    <p class="crumbs"><a href="#/nodes">Nodes</a> /</p>
    <h1>${name} <${Badge} word=${s?.connected ? 'connected' : 'disconnected'} testid="node-detail-connected" /></h1>
    ${admin &&
    html`<div class="page-actions">
      <button type="button" class="danger" data-testid="node-delete-open" onClick=${() => setDeleting(true)}>Delete node</button>
    </div>`}
    ${deleting &&
    html`<${ConfirmDelete}
      title=${`Delete node ${name}?`}
      what=${html`<${NodeDeleteText} name=${name} />`}
      confirmLabel=${`Delete node ${name}`}
      path=${`/api/v1/nodes/${enc(name)}`}
      testid="node-delete"
      onClose=${() => setDeleting(false)}
      onDone=${() => {
        setDeleting(false);
        location.hash = site ? `#/sites/${enc(site)}` : '#/nodes';
      }}
    />`}
    <dl class="facts">
      <dt>Site</dt><dd><a href=${`#/sites/${enc(site)}`} data-testid="node-detail-site">${site}</a></dd>
      <dt>Hostname</dt><dd>${node.spec?.hostname ?? '—'}</dd>
      <dt>Addresses</dt><dd>${(node.spec?.addresses ?? []).join(', ') || '—'}</dd>
      <dt>Connection</dt><dd>${s?.connected ? 'connected' : 'disconnected'}${s?.message ? `: ${s.message}` : ''}</dd>
      <dt>Tunnel replica</dt><dd data-testid="node-detail-replica">${s?.connected && s.tunnel ? html`${s.tunnel.replica} <span class="muted">since ${at(s.tunnel.since, now)}</span>` : '—'}</dd>
      <dt>Last seen</dt><dd data-testid="node-detail-last-seen">${at(s?.lastSeen, now)}</dd>
      <dt>Joined</dt><dd data-testid="node-detail-joined">${at(s?.joinedAt, now)}</dd>
      <dt>Standing</dt><dd data-testid="node-detail-standing">${nodeStanding(node)}</dd>
      <dt>Peers' vote</dt><dd><${Vote} node=${node} now=${now} /></dd>
    </dl>
    <h2>lite-apiserver</h2>
    <${LiteApiserver} lite=${liteReport(node)} now=${now} />
    <h2>SSH host keys</h2>
    <${HostKeys} name=${name} keysAt=${`${node.status?.sshHostKeysTrustedAt ?? ''} ${node.status?.sshHostKeysPending?.reportedAt ?? ''}`} admin=${admin} />
    <h2>Reach it</h2>
    <${Commands} name=${name} />
  </section>`;
}
