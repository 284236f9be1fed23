import { html } from 'htm/preact';
import { useMemo, useRef, useState } from 'preact/hooks';
import { DeviceForm } from './device-form.js';
import { ago, absTime, formatValue } from './format.js';
import { deviceLastSeen, deviceState, resourceViews, withoutCode } from './model.js';
import { Sparkline } from './spark.js';
import { list, state } from './store.js';
import { Badge, Empty, inputValue, Loading } from './ui.js';

/** @typedef {import('./types.js').Device} Device */

const ROW_HEIGHT = 40;
/** Above this many rows only the visible window is rendered. */
const VIRTUAL_AFTER = 200;
const OVERSCAN = 8;
const SHOWN_VALUES = 4;

/** @param {{ device: Device, now: number }} props */
function DeviceRow({ device, now }) {
  const name = device.metadata.name;
  const views = resourceViews(device);
  const shown = views.slice(0, SHOWN_VALUES);
  const spark = views.find((v) => v.numeric && v.series);
  let updated = 0;
  for (const v of shown) if (v.hasValue && v.origin > updated) updated = v.origin;
  const seen = deviceLastSeen(device);
  const st = deviceState(device);
  return html`<tr class="row" data-testid=${`device-${name}`} data-updated=${updated > 0 ? String(updated) : undefined}>
    <td class="name"><a href=${`#/devices/${encodeURIComponent(name)}`}>${name}</a></td>
    <td><a href=${`#/sites/${encodeURIComponent(device.spec?.site ?? '')}`}>${device.spec?.site ?? ''}</a></td>
    <td class="state">
      <${Badge} word=${st.word} testid="device-state" title=${st.reason} />
      ${st.word !== 'UP' && st.reason ? html`<span class=${`cause ${st.word === 'DOWN' ? 'bad' : 'off'}`} data-testid="device-cause" title=${st.reason}>${withoutCode(st.reason)}</span>` : null}
    </td>
    <td class="time" title=${absTime(seen)}>${ago(seen, now)}</td>
    <td class="trend">${spark ? html`<${Sparkline} series=${spark.series} />` : null}</td>
    <td class="values">
      ${shown.map(
        (v) => html`<span class=${`val q-${v.quality ?? 'good'}`} key=${v.name}>
          <span class="rname">${v.name}</span>
          <span class="rval" data-testid=${`value-${v.name}`}>${v.hasValue ? formatValue(v.value, v.units) : '—'}</span>
        </span>`,
      )}
    </td>
    <td>${device.spec?.profile ?? ''}</td>
  </tr>`;
}

/**
 * Devices, optionally limited to one site; filterable by text and site.
 * @param {{ site?: string }} props
 */
export function DevicesTable({ site }) {
  const [text, setText] = useState('');
  const [siteFilter, setSiteFilter] = useState('');
  const [view, setView] = useState({ top: 0, height: 800 });
  const scroller = useRef(/** @type {HTMLDivElement | null} */ (null));
  const frame = useRef(0);

  const all = list('Device');
  const rows = useMemo(() => {
    const q = text.trim().toLowerCase();
    const onlySite = site ?? siteFilter;
    return all.filter((d) => {
      if (onlySite && d.spec?.site !== onlySite) return false;
      if (!q) return true;
      return [d.metadata.name, d.spec?.site, d.spec?.profile, d.spec?.plugin].some((s) => s?.toLowerCase().includes(q));
    });
  }, [all, text, siteFilter, site]);

  const siteNames = useMemo(() => {
    const names = new Set(list('Site').map((s) => s.metadata.name));
    for (const d of all) if (d.spec?.site) names.add(d.spec.site);
    return [...names].sort();
  }, [all]);

  const onScroll = () => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      const el = scroller.current;
      if (el) setView({ top: el.scrollTop, height: el.clientHeight });
    });
  };

  const virtual = rows.length > VIRTUAL_AFTER;
  let from = 0;
  let to = rows.length;
  if (virtual) {
    from = Math.max(0, Math.floor(view.top / ROW_HEIGHT) - OVERSCAN);
    to = Math.min(rows.length, Math.ceil((view.top + view.height) / ROW_HEIGHT) + OVERSCAN);
  }
  const now = state.now;

  return html`<div class="devices">
    <div class="toolbar">
      <input type="search" placeholder="Filter devices" aria-label="Filter devices" value=${text}
        onInput=${(/** @type {Event} */ e) => setText(inputValue(e))} />
      ${site === undefined &&
      html`<select aria-label="Site" value=${siteFilter} onChange=${(/** @type {Event} */ e) => setSiteFilter(inputValue(e))}>
        <option value="">All sites</option>
        ${siteNames.map((s) => html`<option value=${s} key=${s}>${s}</option>`)}
      </select>`}
      <span class="muted count">${rows.length} of ${all.length}</span>
    </div>
    ${!state.synced
      ? html`<${Loading} />`
      : rows.length === 0
        ? html`<${Empty}>No devices${text || siteFilter ? ' match' : ''}.</${Empty}>`
        : html`<div class=${`scroll${virtual ? ' virtual' : ''}`} ref=${scroller} onScroll=${virtual ? onScroll : undefined}>
            <table class="grid">
              <thead>
                <tr><th>Name</th><th>Site</th><th>State</th><th>Last seen</th><th>Trend</th><th>Latest values</th><th>Profile</th></tr>
              </thead>
              <tbody>
                ${from > 0 && html`<tr class="spacer" style=${{ height: `${from * ROW_HEIGHT}px` }}></tr>`}
                ${rows.slice(from, to).map((d) => html`<${DeviceRow} key=${d.metadata.name} device=${d} now=${now} />`)}
                ${to < rows.length && html`<tr class="spacer" style=${{ height: `${(rows.length - to) * ROW_HEIGHT}px` }}></tr>`}
              </tbody>
            </table>
          </div>`}
  </div>`;
}

/** @param {{ admin?: boolean }} props */
export function DevicesView({ admin = false }) {
  const [adding, setAdding] = useState(false);
  return html`<section>
    <h1>Devices</h1>
    ${admin &&
    html`<div class="page-actions">
      <button type="button" class="primary" data-testid="add-device" onClick=${() => setAdding(true)}>Add device</button>
      <a href="#/edgex" class="button-link">Import EdgeX files</a>
    </div>`}
    <${DevicesTable} />
    ${adding &&
    html`<${DeviceForm} onClose=${() => setAdding(false)}
      onDone=${(/** @type {string} */ name) => {
        setAdding(false);
        location.hash = `#/devices/${encodeURIComponent(name)}`;
      }} />`}
  </section>`;
}
