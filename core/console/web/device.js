import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { ApiError, describeError, enc, get, post } from './api.js';
import { DeviceForm } from './device-form.js';
import { ago, absTime, formatNumber, formatValue, isoMs, msToNs } from './format.js';
import { describeDrift, deviceLastSeen, deviceState, resourceViews } from './model.js';
import { backfill, getObj, recent, state } from './store.js';
import { Badge, ConfirmDelete, Empty, followWidth, inputValue, Loading } from './ui.js';

/** @typedef {import('./types.js').Device} Device */
/** @typedef {import('./types.js').Reading} Reading */
/** @typedef {import('./types.js').TelemetryPage} TelemetryPage */
/** @typedef {import('./types.js').CommandAccepted} CommandAccepted */
/** @typedef {import('./types.js').CommandOut} CommandOut */
/** @typedef {import('./types.js').CommandCreateBody} CommandCreateBody */
/** @typedef {import('./model.js').ResourceView} ResourceView */
/** @typedef {import('./store.js').Series} Series */

const CHART_WINDOW_MS = 10 * 60 * 1000;
const CHART_HEIGHT = 160;
const POLL_MS = 500;
const POLL_LIMIT_MS = 30_000;
const INT_TYPES = new Set(['Uint8', 'Uint16', 'Uint32', 'Uint64', 'Int8', 'Int16', 'Int32', 'Int64']);
const FLOAT_TYPES = new Set(['Float32', 'Float64']);
const FINAL_STATES = new Set(['succeeded', 'failed', 'expired']);

/**
 * A line chart of one numeric resource over the last ten minutes. Data is
 * pushed with setData when the series changed or the window moved.
 * @param {{ series: Series | undefined, name: string, units?: string }} props
 */
function Chart({ series, name, units }) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const plot = useRef(/** @type {uPlot | null} */ (null));
  const shown = useRef({ series: /** @type {Series | undefined} */ (undefined), rev: -1, now: 0 });

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const suffix = units ? ` ${units}` : '';
    /** @type {uPlot.Options} */
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: CHART_HEIGHT,
      legend: { show: false },
      cursor: { y: false },
      scales: {
        // The last 10 minutes, or from the first point when there is less history (at least a minute).
        x: {
          time: true,
          range: (_u, dataMin) => {
            const end = state.now / 1000;
            const start = end - CHART_WINDOW_MS / 1000;
            return [dataMin == null || !Number.isFinite(dataMin) ? start : Math.max(start, Math.min(dataMin, end - 60)), end];
          },
        },
      },
      axes: [{ stroke: '#475569' }, { stroke: '#475569', size: 60, values: (_u, ticks) => ticks.map((t) => formatNumber(t)) }],
      series: [
        {},
        { label: name, stroke: '#2563eb', width: 1.5, points: { show: false }, value: (_u, v) => (v == null ? '—' : `${formatNumber(v)}${suffix}`) },
      ],
    };
    const u = new uPlot(opts, [[], []], el);
    plot.current = u;
    shown.current = { series: undefined, rev: -1, now: 0 };
    const unfollow = followWidth(u, el, 200, CHART_HEIGHT);
    return () => {
      unfollow();
      u.destroy();
      plot.current = null;
    };
  }, [name, units]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    const rev = series ? series.rev : -1;
    const last = shown.current;
    if (last.series === series && last.rev === rev && state.now - last.now < 1000) return;
    shown.current = { series, rev, now: state.now };
    u.setData(series ? recent(series, CHART_WINDOW_MS, state.now) : [[], []]);
  });

  return html`<div class="chart" ref=${box} role="img" aria-label=${`${name} over the last 10 minutes`}></div>`;
}

/**
 * What the dialog shows of a command: as accepted, then as polled.
 * @typedef {Pick<CommandOut, 'id' | 'state' | 'result'>} CommandStatus
 */

/**
 * The typed value from the dialog's raw input, or an error text.
 * @param {string} valueType
 * @param {string} raw
 * @returns {{ value: unknown } | { error: string }}
 */
function parseInput(valueType, raw) {
  if (valueType === 'Bool') return { value: raw === 'true' };
  if (valueType === 'String' || valueType === 'Binary') return { value: raw };
  if (INT_TYPES.has(valueType) || FLOAT_TYPES.has(valueType)) {
    const text = raw.trim();
    if (text === '') return { error: 'enter a number' };
    const n = Number(text);
    if (!Number.isFinite(n)) return { error: `“${text}” is not a number` };
    // 64-bit integers beyond 2^53 travel as decimal strings to keep every digit.
    if (INT_TYPES.has(valueType) && !Number.isSafeInteger(n) && /^-?\d+$/.test(text)) return { value: text };
    return { value: n };
  }
  try {
    return { value: /** @type {unknown} */ (JSON.parse(raw)) };
  } catch (err) {
    return { error: `not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** @param {ResourceView} view */
function initialInput(view) {
  const vt = view.def?.properties?.valueType ?? 'String';
  const v = view.value;
  if (vt === 'Bool') return v === true ? 'true' : 'false';
  if (v === undefined || v === null) return '';
  if (typeof v === 'string' && !(INT_TYPES.has(vt) || FLOAT_TYPES.has(vt) || vt === 'String' || vt === 'Binary')) return JSON.stringify(v);
  if (typeof v === 'object') return JSON.stringify(v, null, 2);
  return String(v);
}

/** @param {unknown} v */
const bound = (v) => (typeof v === 'number' || (typeof v === 'string' && v !== '') ? String(v) : undefined);

/**
 * The write dialog: sends the command, then polls it to a final state.
 * @param {{ device: Device, view: ResourceView, onClose: () => void }} props
 */
function WriteDialog({ device, view, onClose }) {
  const dialog = useRef(/** @type {HTMLDialogElement | null} */ (null));
  const aborter = useRef(new AbortController());
  const [raw, setRaw] = useState(() => initialInput(view));
  const [error, setError] = useState('');
  const [sending, setSending] = useState(false);
  const [command, setCommand] = useState(/** @type {CommandStatus | null} */ (null));
  const props = view.def?.properties;
  const vt = props?.valueType ?? 'String';
  const site = device.spec?.site ?? '';

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    const abort = aborter.current;
    return () => abort.abort();
  }, []);

  /** @param {string} id */
  const poll = async (id) => {
    const signal = aborter.current.signal;
    const deadline = Date.now() + POLL_LIMIT_MS;
    while (!signal.aborted && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      if (signal.aborted) return;
      try {
        const c = /** @type {CommandOut} */ (await get(`/api/v1/commands/${enc(id)}`, { signal }));
        setCommand(c);
        if (FINAL_STATES.has(c.state)) return;
      } catch (err) {
        if (signal.aborted) return;
        setError(describeError(err));
        return;
      }
    }
    if (!signal.aborted) setError('no final state after 30 s; the device twin shows the outcome when the site reports it');
  };

  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    setError('');
    setCommand(null);
    const parsed = parseInput(vt, raw);
    if ('error' in parsed) {
      setError(`value for “${view.name}”: ${parsed.error}`);
      return;
    }
    setSending(true);
    try {
      const url = `/api/v1/sites/${enc(site)}/devices/${enc(device.metadata.name)}/commands`;
      /** @type {CommandCreateBody} */
      const body = { resource: view.name, value: parsed.value };
      const accepted = /** @type {CommandAccepted} */ (await post(url, body, { signal: aborter.current.signal }));
      setCommand({ id: accepted.id, state: accepted.state });
      await poll(accepted.id);
    } catch (err) {
      if (!aborter.current.signal.aborted) {
        setError(err instanceof ApiError && err.status === 400 ? `value for “${view.name}”: ${describeError(err)}` : describeError(err));
      }
    } finally {
      setSending(false);
    }
  };

  const onInput = (/** @type {Event} */ e) => setRaw(inputValue(e));
  let input;
  if (vt === 'Bool') {
    input = html`<select id="write-value" data-testid="write-value" value=${raw} onChange=${onInput}>
      <option value="true">true</option><option value="false">false</option>
    </select>`;
  } else if (INT_TYPES.has(vt) || FLOAT_TYPES.has(vt)) {
    input = html`<input id="write-value" data-testid="write-value" type="number" step=${INT_TYPES.has(vt) ? '1' : 'any'}
      min=${bound(props?.minimum)} max=${bound(props?.maximum)} value=${raw} onInput=${onInput} required />`;
  } else if (vt === 'String' || vt === 'Binary') {
    input = html`<input id="write-value" data-testid="write-value" type="text" value=${raw} onInput=${onInput} />`;
  } else {
    input = html`<textarea id="write-value" data-testid="write-value" rows="5" spellcheck="false" value=${raw} onInput=${onInput}></textarea>`;
  }

  const range = [bound(props?.minimum), bound(props?.maximum)];
  const result = command?.result;
  return html`<dialog ref=${dialog} class="write" data-testid="write-dialog" onClose=${onClose}>
    <form onSubmit=${submit} novalidate>
      <h2>Write ${view.name}</h2>
      <p class="muted small">
        ${device.metadata.name} at ${site} · ${vt}${props?.units ? ` · ${props.units}` : ''}
        ${range[0] !== undefined || range[1] !== undefined ? ` · range ${range[0] ?? '−∞'} … ${range[1] ?? '∞'}` : ''}
      </p>
      <label for="write-value">Value</label>
      ${input}
      <div class="progress" aria-live="polite">
        ${command && html`<p>State: <${Badge} word=${command.state} testid="write-state" /></p>`}
        ${command?.state === 'succeeded' &&
        result?.reported !== undefined &&
        html`<p data-testid="write-reported">reported: ${formatValue(result.reported)}</p>`}
        ${result?.error && html`<p class="error" data-testid="write-error">${result.error.code}: ${result.error.message}</p>`}
        ${error && html`<p class="error" role="alert" data-testid="write-error">${error}</p>`}
      </div>
      <div class="buttons">
        <button type="button" data-testid="write-close" onClick=${() => dialog.current?.close()}>Close</button>
        <button type="submit" class="primary" data-testid="write-submit" disabled=${sending}>${sending ? 'Writing…' : 'Write'}</button>
      </div>
    </form>
  </dialog>`;
}

/** @param {{ view: ResourceView, device: Device, admin: boolean, onWrite: (v: ResourceView) => void }} props */
function ResourceCard({ view, device, admin, onWrite }) {
  const desired = device.spec?.desired;
  const hasDesired = desired !== undefined && Object.hasOwn(desired, view.name);
  const reported = device.status?.reported?.[view.name];
  const q = view.quality ?? 'good';
  const when = view.origin / 1e6;
  return html`<article class=${`card q-${q}`} data-testid=${`resource-${view.name}`}>
    <header>
      <h3>${view.name}</h3>
      ${admin && view.writable && html`<button type="button" class="small" data-testid=${`write-${view.name}`} onClick=${() => onWrite(view)}>Write…</button>`}
    </header>
    ${view.def?.description && html`<p class="muted small">${view.def.description}</p>`}
    <p class="big" data-testid="resource-value">${view.hasValue ? formatValue(view.value, view.units) : '—'}</p>
    <p class="small">
      ${q !== 'good' ? html`<span class="badge bad-q" title=${view.qualityDetail}>${q}${view.qualityDetail ? `: ${view.qualityDetail}` : ''}</span> ` : null}
      <span class="muted" title=${absTime(when)}>${view.origin ? ago(when, state.now) : 'no reading yet'}</span>
      <span class="muted"> · ${view.def?.properties?.valueType ?? 'unknown type'}${view.def?.properties?.readWrite ? ` · ${view.def.properties.readWrite}` : ''}</span>
    </p>
    ${hasDesired &&
    html`<p class="small twin">
      desired <strong>${formatValue(desired?.[view.name], view.units)}</strong>${' · reported '}<strong>${reported ? formatValue(reported.value, view.units) : '—'}</strong>
    </p>`}
    ${view.numeric && html`<${Chart} series=${view.series} name=${view.name} units=${view.units} />`}
  </article>`;
}

/** @param {{ name: string, admin: boolean }} props */
export function DeviceDetail({ name, admin }) {
  const device = getObj('Device', name);
  const [writing, setWriting] = useState(/** @type {string | null} */ (null));
  const [historyError, setHistoryError] = useState('');
  const [dialog, setDialog] = useState(/** @type {'edit' | 'delete' | null} */ (null));
  const site = device?.spec?.site;

  useEffect(() => {
    if (!site) return;
    const ac = new AbortController();
    const from = msToNs(Date.now() - CHART_WINDOW_MS);
    const url = `/api/v1/telemetry?site=${enc(site)}&device=${enc(name)}&order=desc&limit=2000&from=${from}`;
    get(url, { signal: ac.signal })
      .then((page) => {
        const items = /** @type {Partial<TelemetryPage>} */ (page).items;
        if (Array.isArray(items)) backfill(name, items);
        setHistoryError('');
      })
      .catch((/** @type {unknown} */ err) => {
        if (!ac.signal.aborted) setHistoryError(describeError(err));
      });
    return () => ac.abort();
  }, [name, site]);

  if (!device) {
    return html`<section data-testid="device-detail">
      <h1>Device ${name}</h1>
      ${state.synced ? html`<${Empty}>No device named “${name}”. <a href="#/devices">All devices</a></${Empty}>` : html`<${Loading} />`}
    </section>`;
  }

  const views = resourceViews(device);
  const st = deviceState(device);
  const seen = deviceLastSeen(device);
  const writeView = writing ? views.find((v) => v.name === writing) : undefined;
  const protocolNames = Object.keys(device.spec?.protocols ?? {});
  return html`<section class="device-detail" data-testid="device-detail">
    <p class="crumbs"><a href="#/devices">Devices</a> /</p>
    <h1>${name} <${Badge} word=${st.word} testid="device-state" /></h1>
    ${st.reason && html`<p class=${st.word === 'DOWN' ? 'error' : 'muted'} data-testid="device-message">${st.reason}</p>`}
    ${Object.entries(device.status?.drift ?? {}).map(([r, x]) => html`<p class=${x.resolvedAt === undefined ? 'warning' : 'muted'} data-testid=${`drift-${r}`} key=${r}>${describeDrift(r, x)}</p>`)}
    ${admin &&
    html`<div class="page-actions">
      <button type="button" data-testid="edit-device" onClick=${() => setDialog('edit')}>Edit</button>
      <button type="button" class="danger" data-testid="delete-device" onClick=${() => setDialog('delete')}>Delete…</button>
    </div>`}
    <dl class="facts">
      <dt>Site</dt><dd><a href=${`#/sites/${encodeURIComponent(site ?? '')}`}>${site ?? '—'}</a></dd>
      <dt>Profile</dt><dd>${device.spec?.profile ? html`<a href="#/edgex" data-testid="device-profile">${device.spec.profile}</a>` : '—'}</dd>
      ${protocolNames.length > 0 ? html`<dt>Protocol</dt><dd data-testid="device-protocol">${protocolNames.join(', ')}</dd>` : null}
      ${device.spec?.description ? html`<dt>Description</dt><dd>${device.spec.description}</dd>` : null}
      ${device.spec?.plugin ? html`<dt>Plugin</dt><dd>${device.spec.plugin}</dd>` : null}
      <dt>Admin state</dt><dd>${device.spec?.adminState ?? 'UNLOCKED'}</dd>
      <dt>Last seen</dt><dd title=${absTime(seen)}>${ago(seen, state.now)}</dd>
      <dt>Created</dt><dd>${absTime(isoMs(device.metadata.creationTimestamp)) || '—'}</dd>
    </dl>
    ${historyError && html`<p class="error">History unavailable: ${historyError}</p>`}
    ${views.length === 0
      ? html`<${Empty}>This device has no resources yet.</${Empty}>`
      : html`<div class="cards">
          ${views.map((v) => html`<${ResourceCard} key=${v.name} view=${v} device=${device} admin=${admin} onWrite=${(/** @type {ResourceView} */ w) => setWriting(w.name)} />`)}
        </div>`}
    ${writeView && html`<${WriteDialog} key=${writeView.name} device=${device} view=${writeView} onClose=${() => setWriting(null)} />`}
    ${dialog === 'edit' && html`<${DeviceForm} device=${device} onClose=${() => setDialog(null)} onDone=${() => setDialog(null)} />`}
    ${dialog === 'delete' &&
    html`<${ConfirmDelete} title=${`Delete device ${name}?`} testid="delete-device-dialog" confirmLabel="Delete device"
      path=${`/api/v1/devices/${enc(name)}`} onClose=${() => setDialog(null)}
      onDone=${() => {
        setDialog(null);
        location.hash = '#/devices';
      }}
      what=${html`<p>The site ${site ?? ''} stops reading and writing ${name}; its recorded readings stay in the telemetry history. Its profile ${device.spec?.profile ?? ''} stays.</p>`} />`}
  </section>`;
}
