import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { describeError, enc, post } from './api.js';
import { ago, absTime, isoMs } from './format.js';
import { pendingPhase } from './model.js';
import { list, state } from './store.js';
import { Badge, Empty, inputValue, Loading } from './ui.js';

/** @typedef {import('./types.js').PendingDevice} PendingDevice */

/** @param {{ p: PendingDevice, now: number }} props */
function Seen({ p, now }) {
  const first = isoMs(p.spec?.firstSeen);
  const last = isoMs(p.spec?.lastSeen);
  return html`<td class="time"><span title=${absTime(first)}>${ago(first, now)}</span> / <span title=${absTime(last)}>${ago(last, now)}</span></td>`;
}

/** @param {PendingDevice} p */
const resourceNames = (p) => (p.spec?.profile?.deviceResources ?? []).map((r) => r.name).join(', ');

/** @param {PendingDevice} p */
const makeModel = (p) => [p.spec?.manufacturer, p.spec?.model].filter(Boolean).join(' / ');

/** @param {{ p: PendingDevice, admin: boolean, now: number }} props */
function PendingRow({ p, admin, now }) {
  const name = p.metadata.name;
  const [approving, setApproving] = useState(false);
  const [deviceName, setDeviceName] = useState(p.spec?.suggestedName ?? name);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  /** @param {'approve' | 'reject'} action @param {object} body */
  const act = async (action, body) => {
    setBusy(true);
    setError('');
    try {
      await post(`/api/v1/pendingdevices/${enc(name)}/${action}`, body);
      setApproving(false);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  /** @param {Event} e */
  const confirm = (e) => {
    e.preventDefault();
    const chosen = deviceName.trim();
    void act('approve', chosen ? { name: chosen } : {});
  };

  const warnings = p.spec?.warnings ?? [];
  return html`<tr data-testid=${`pending-${name}`}>
    <td class="name">${name}${p.spec?.displayName ? html`<div class="muted small">${p.spec.displayName}</div>` : null}</td>
    ${admin &&
    html`<td class="actions">
      ${approving
        ? html`<form class="approve" onSubmit=${confirm}>
            <label>Device name <input data-testid="approve-name" value=${deviceName} required
              onInput=${(/** @type {Event} */ e) => setDeviceName(inputValue(e))} /></label>
            <button type="submit" class="primary" data-testid="approve-confirm" disabled=${busy}>Approve</button>
            <button type="button" onClick=${() => setApproving(false)} disabled=${busy}>Cancel</button>
          </form>`
        : html`<button type="button" class="primary" data-testid=${`approve-${name}`} onClick=${() => setApproving(true)}>Approve…</button>
            <button type="button" class="danger" data-testid=${`reject-${name}`} disabled=${busy} onClick=${() => void act('reject', {})}>Reject</button>`}
      ${error && html`<div class="error" role="alert" data-testid="pending-error">${error}</div>`}
    </td>`}
    <td>${p.spec?.site ?? ''}</td>
    <td>${p.spec?.source ?? ''}</td>
    <td class="ident">${p.spec?.identifier ?? ''}</td>
    <td>${makeModel(p)}</td>
    <td class="wrap">${resourceNames(p)}</td>
    <td class="wrap">${warnings.length ? html`<ul class="warnings">${warnings.map((w) => html`<li>${w}</li>`)}</ul>` : ''}</td>
    <${Seen} p=${p} now=${now} />
  </tr>`;
}

/** @param {{ admin: boolean }} props */
export function PendingView({ admin }) {
  if (!state.synced) return html`<section><h1>Pending devices</h1><${Loading} /></section>`;
  const all = list('PendingDevice');
  const open = all.filter((p) => pendingPhase(p) === 'Pending');
  const decided = all.filter((p) => pendingPhase(p) !== 'Pending');
  const now = state.now;
  return html`<section>
    <h1>Pending devices</h1>
    ${open.length === 0
      ? html`<${Empty}>Nothing waiting for approval.</${Empty}>`
      : html`<div class="scroll">
          <table class="grid">
            <thead>
              <tr><th>Name</th>${admin && html`<th></th>`}<th>Site</th><th>Source</th><th>Identifier</th><th>Make / model</th><th>Resources</th><th>Warnings</th><th>First / last seen</th></tr>
            </thead>
            <tbody>
              ${open.map((p) => html`<${PendingRow} key=${p.metadata.name} p=${p} admin=${admin} now=${now} />`)}
            </tbody>
          </table>
        </div>`}
    <details class="decided" data-testid="pending-decided">
      <summary>Decided (${decided.length})</summary>
      ${decided.length === 0
        ? html`<${Empty}>None yet.</${Empty}>`
        : html`<div class="scroll">
            <table class="grid">
              <thead><tr><th>Name</th><th>Site</th><th>Identifier</th><th>Decision</th><th>Message</th></tr></thead>
              <tbody>
                ${decided.map(
                  (p) => html`<tr key=${p.metadata.name} data-testid=${`decided-${p.metadata.name}`}>
                    <td class="name">${p.metadata.name}</td>
                    <td>${p.spec?.site ?? ''}</td>
                    <td class="ident">${p.spec?.identifier ?? ''}</td>
                    <td><${Badge} word=${pendingPhase(p)} /></td>
                    <td class="message">${p.status?.message ?? ''}</td>
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`}
    </details>
  </section>`;
}
