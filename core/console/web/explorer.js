import { html } from 'htm/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { describeError, enc, get } from './api.js';
import { formatNumber, formatValue, msToNs, plural } from './format.js';
import { resourceViews } from './model.js';
import { csvHeader, csvRows, isoNs, rangeFileName } from './readings-csv.js';
import { getObj, isNumericType, list, numericValue, state } from './store.js';
import { Badge, Empty, FieldError, followWidth, inputValue, Loading } from './ui.js';

/** @typedef {import('./types.js').Device} Device */
/** @typedef {import('./types.js').Reading} Reading */
/** @typedef {import('./types.js').TelemetryPage} TelemetryPage */

/**
 * The selected time range: a preset that ends now (and follows new readings), or fixed bounds
 * in ms (`to` null: until now, following new readings).
 * @typedef {{ kind: 'preset', preset: string } | { kind: 'custom', from: number, to: number | null }} Range
 */
/**
 * What the page shows, as its link carries it: `d` devices, `s` series (`<device>/<resource>`;
 * device names hold no '/'), `range` a preset or `from`/`to` as ISO 8601 times.
 * @typedef {{ devices: string[], series: string[], range: Range }} Selection
 */
/** @typedef {{ from: number, to: number, live: boolean }} Window ms bounds, inclusive */
/**
 * One (device, resource) as the page holds it: its readings in the range, oldest first.
 * @typedef {object} SeriesData
 * @property {string} key
 * @property {string} device
 * @property {string} resource
 * @property {string} site
 * @property {Reading[]} readings
 * @property {Set<string>} seen de-duplication keys of `readings`
 * @property {boolean} truncated the range holds more than the page keeps of this series
 * @property {string} error
 */

/** Presets: [query value, label, length in ms]. */
const PRESETS = /** @type {const} */ ([
  ['15m', 'Last 15 min', 15 * 60_000],
  ['1h', 'Last 1 h', 3_600_000],
  ['24h', 'Last 24 h', 86_400_000],
  ['7d', 'Last 7 d', 7 * 86_400_000],
]);
const PRESET_MS = new Map(PRESETS.map(([key, , ms]) => [/** @type {string} */ (key), ms]));
const DEFAULT_PRESET = '1h';
/** Readings per history request (the API allows up to 10,000). */
const PAGE = 5000;
/** Readings the page keeps for the chart and tables, over all series: beyond it the newest are kept. */
export const MAX_SHOWN = 60_000;
/** Readings a download may hold: beyond it the download is refused (narrow the range). */
export const DOWNLOAD_MAX = 1_000_000;
const DEVICE_LIST_MAX = 100;
const TABLE_MAX = 500;
const CHART_HEIGHT = 320;
const COLORS = ['#2563eb', '#059669', '#b45309', '#7c3aed', '#db2777', '#0e7490', '#4d7c0f', '#475569'];
const MARK = { bad: '#dc2626', uncertain: '#d97706' };

/** @param {string[]} xs */
const uniq = (xs) => [...new Set(xs)];
/** @param {string} key */
const deviceOf = (key) => key.slice(0, key.indexOf('/'));
/** @param {string} key */
const resourceOf = (key) => key.slice(key.indexOf('/') + 1);

/**
 * @param {URLSearchParams} query
 * @returns {Range}
 */
function parseRange(query) {
  const preset = query.get('range');
  if (preset && PRESET_MS.has(preset)) return { kind: 'preset', preset };
  const from = Date.parse(query.get('from') ?? '');
  const toText = query.get('to');
  const to = toText ? Date.parse(toText) : null;
  if (Number.isFinite(from) && (to === null || (Number.isFinite(to) && to > from))) return { kind: 'custom', from, to };
  return { kind: 'preset', preset: DEFAULT_PRESET };
}

/**
 * @param {URLSearchParams} query
 * @returns {Selection}
 */
export function parseSelection(query) {
  const series = uniq(query.getAll('s').filter((s) => s.indexOf('/') > 0 && s.indexOf('/') < s.length - 1));
  const devices = uniq([...query.getAll('d').filter((d) => d !== ''), ...series.map(deviceOf)]);
  return { devices, series, range: parseRange(query) };
}

/**
 * The query part of the page's link, readable: '/' and ':' left as they are.
 * @param {Selection} sel
 */
export function selectionQuery(sel) {
  /** @type {string[]} */
  const parts = [];
  const add = (/** @type {string} */ k, /** @type {string} */ v) => parts.push(`${k}=${encodeURIComponent(v).replace(/%2F/g, '/').replace(/%3A/g, ':')}`);
  for (const d of sel.devices) add('d', d);
  for (const s of sel.series) add('s', s);
  if (sel.range.kind === 'preset') add('range', sel.range.preset);
  else {
    add('from', new Date(sel.range.from).toISOString());
    if (sel.range.to !== null) add('to', new Date(sel.range.to).toISOString());
  }
  return parts.join('&');
}

/**
 * @param {Range} range
 * @param {number} now
 * @returns {Window}
 */
function windowOf(range, now) {
  if (range.kind === 'preset') return { from: now - (PRESET_MS.get(range.preset) ?? 3_600_000), to: now, live: true };
  return range.to === null ? { from: range.from, to: Math.max(now, range.from), live: true } : { from: range.from, to: range.to, live: false };
}

/** ns bounds of a window, inclusive: from the first ns of its first ms to the last ns of its last ms. */
const fromNs = (/** @type {number} */ ms) => msToNs(ms);
const toNs = (/** @type {number} */ ms) => (BigInt(Math.floor(ms)) * 1_000_000n + 999_999n).toString();

/** @param {Reading} r */
const readingKey = (r) => `${r.site}|${r.origin}|${r.seq}`;

/**
 * The history query of one series.
 * @param {SeriesData | { site: string, device: string, resource: string }} s
 * @param {{ from: number, to?: number, order: 'asc' | 'desc', limit: number, cursor?: string }} q
 */
function historyUrl(s, q) {
  let url = `/api/v1/telemetry?site=${enc(s.site)}&device=${enc(s.device)}&resource=${enc(s.resource)}&from=${fromNs(q.from)}`;
  if (q.to !== undefined) url += `&to=${toNs(q.to)}`;
  url += `&order=${q.order}&limit=${q.limit}`;
  if (q.cursor !== undefined) url += `&cursor=${enc(q.cursor)}`;
  return url;
}

/**
 * Adds readings of a series (any order), skipping those it holds; keeps it oldest first.
 * @param {SeriesData} s
 * @param {readonly Reading[]} rs
 * @returns {boolean} whether anything was added
 */
function merge(s, rs) {
  let added = false;
  let sorted = true;
  for (const r of rs) {
    const k = readingKey(r);
    if (s.seen.has(k)) continue;
    s.seen.add(k);
    const last = s.readings[s.readings.length - 1];
    if (last && r.origin < last.origin) sorted = false;
    s.readings.push(r);
    added = true;
  }
  if (!sorted) s.readings.sort((a, b) => a.origin - b.origin);
  return added;
}

/**
 * Drops the readings before `fromMs` and, beyond `cap`, the oldest.
 * @param {SeriesData} s
 * @param {number} fromMs
 * @param {number} cap
 */
function trim(s, fromMs, cap) {
  const fromOrigin = fromMs * 1e6;
  let cut = 0;
  while (cut < s.readings.length && /** @type {Reading} */ (s.readings[cut]).origin < fromOrigin) cut++;
  if (s.readings.length - cut > cap) {
    cut = s.readings.length - cap;
    s.truncated = true;
  }
  if (cut === 0) return false;
  for (const r of s.readings.splice(0, cut)) s.seen.delete(readingKey(r));
  return true;
}

/**
 * A Device's site, or '' when the store has no such device.
 * @param {string} name
 */
const siteOf = (name) => getObj('Device', name)?.spec?.site ?? '';

/**
 * The history of the selected series over the range, newest first up to each one's share of
 * MAX_SHOWN, then (for a range that ends now) the live tail from the telemetry stream, merged
 * without duplicates; on a reconnect, the gap is fetched again.
 * @param {string[]} keys
 * @param {Range} range
 */
function useHistory(keys, range) {
  const data = useRef(/** @type {Map<string, SeriesData>} */ (new Map()));
  const [rev, setRev] = useState(0);
  const [loading, setLoading] = useState(false);
  const keyText = keys.join('\n');
  const rangeText = JSON.stringify(range);
  // Sites come from the store: fetched again once it knows the devices (a link opened before it synced).
  const siteText = keys.map((k) => siteOf(deviceOf(k))).join('\n');

  useEffect(() => {
    const ac = new AbortController();
    const signal = ac.signal;
    const win = windowOf(range, Date.now());
    const cap = keys.length > 0 ? Math.floor(MAX_SHOWN / keys.length) : MAX_SHOWN;
    /** @type {Map<string, SeriesData>} */
    const map = new Map();
    for (const key of keys) {
      const device = deviceOf(key);
      map.set(key, { key, device, resource: resourceOf(key), site: siteOf(device), readings: [], seen: new Set(), truncated: false, error: '' });
    }
    data.current = map;
    const bump = () => {
      if (!signal.aborted) setRev((n) => n + 1);
    };
    bump();
    if (keys.length === 0) return () => ac.abort();

    /**
     * Newest first from `fromMs`, until the series holds `cap` readings.
     * @param {SeriesData} s
     * @param {number} fromMs
     */
    const fill = async (s, fromMs) => {
      if (!s.site) {
        s.error = `no device named “${s.device}”`;
        return;
      }
      /** @type {string | undefined} */
      let cursor;
      let got = 0;
      try {
        do {
          /** @type {{ from: number, to?: number, order: 'desc', limit: number, cursor?: string }} */
          const q = { from: fromMs, order: 'desc', limit: Math.min(PAGE, cap - got) };
          if (!win.live) q.to = win.to;
          if (cursor !== undefined) q.cursor = cursor;
          const page = /** @type {TelemetryPage} */ (await get(historyUrl(s, q), { signal }));
          got += page.items.length;
          merge(s, page.items);
          cursor = page.next;
          bump();
        } while (cursor !== undefined && got < cap && !signal.aborted);
        if (cursor !== undefined && got >= cap) s.truncated = true;
        s.error = '';
      } catch (err) {
        if (!signal.aborted) s.error = describeError(err);
      }
    };

    /** @type {EventSource | null} */
    let es = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    let tick = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    let retry = null;
    if (win.live) {
      const all = [...map.values()];
      const sites = uniq(all.map((s) => s.site));
      const devices = uniq(all.map((s) => s.device));
      const resources = uniq(all.map((s) => s.resource));
      let url = '/api/v1/telemetry/stream';
      if (sites.length === 1 && sites[0]) {
        url += `?site=${enc(/** @type {string} */ (sites[0]))}`;
        if (devices.length === 1) url += `&device=${enc(/** @type {string} */ (devices[0]))}`;
        if (devices.length === 1 && resources.length === 1) url += `&resource=${enc(/** @type {string} */ (resources[0]))}`;
      }
      let opened = 0;
      const open = () => {
        const source = new EventSource(url);
        es = source;
        source.addEventListener('open', () => {
          // After a reconnect: what arrived while the stream was down.
          if (opened++ === 0) return;
          for (const s of map.values()) {
            const newest = s.readings[s.readings.length - 1];
            void fill(s, newest ? Math.floor(newest.origin / 1e6) : windowOf(range, Date.now()).from).then(bump);
          }
        });
        // The browser gives up on a stream answered with an error status; try again a little later.
        source.addEventListener('error', () => {
          if (source.readyState !== EventSource.CLOSED || signal.aborted || retry) return;
          retry = setTimeout(() => {
            retry = null;
            if (!signal.aborted) open();
          }, 5000);
        });
        source.addEventListener('readings', onReadings);
      };
      /** @param {Event} ev */
      const onReadings = (ev) => {
        /** @type {unknown} */
        let batch;
        try {
          batch = JSON.parse(/** @type {MessageEvent} */ (ev).data);
        } catch {
          return;
        }
        if (!Array.isArray(batch)) return;
        let changed = false;
        for (const r of /** @type {Reading[]} */ (batch)) {
          const s = map.get(`${r.device}/${r.resource}`);
          if (s && r.site === s.site && merge(s, [r])) changed = true;
        }
        if (changed) bump();
      };
      open();
      // The window slides with the clock: drop what falls out of it, and redraw.
      tick = setInterval(() => {
        const from = windowOf(range, Date.now()).from;
        for (const s of map.values()) trim(s, from, cap);
        bump();
      }, 1000);
    }

    setLoading(true);
    void (async () => {
      for (const s of map.values()) {
        if (signal.aborted) return;
        await fill(s, win.from);
        trim(s, win.from, cap);
      }
      if (!signal.aborted) setLoading(false);
      bump();
    })();

    return () => {
      ac.abort();
      /** @type {EventSource | null} */ (es)?.close();
      if (tick) clearInterval(tick);
      if (retry) clearTimeout(retry);
    };
    // keyText, rangeText and siteText stand for keys, range and the devices' sites.
  }, [keyText, rangeText, siteText]);

  return { data: data.current, rev, loading };
}

/**
 * A datetime-local input's value for a time in ms (local time, to the second).
 * @param {number} ms
 */
function localInput(ms) {
  const d = new Date(ms);
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** @param {number} ms */
const showTime = (ms) => new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/**
 * A series as the chart draws it.
 * @typedef {{ key: string, label: string, units: string, color: string }} ChartSeries
 */

/**
 * The zoomable chart of the numeric series: one line each, a y axis per unit, readings whose
 * quality is not good marked (a dot in red for bad, amber for uncertain; a red band where a bad
 * reading carries no value). Dragging across it selects a new range.
 * @param {{ series: ChartSeries[], data: Map<string, SeriesData>, rev: number, win: Window, onZoom: (fromMs: number, toMs: number) => void, label: string }} props
 */
function Chart({ series, data, rev, win, onZoom, label }) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const plot = useRef(/** @type {uPlot | null} */ (null));
  const winRef = useRef(win);
  winRef.current = win;
  const zoomRef = useRef(onZoom);
  zoomRef.current = onZoom;
  /** @type {{ current: { x: number, y: number | null, scale: string, quality: string }[] }} */
  const marks = useRef([]);
  const units = uniq(series.map((s) => s.units));
  const scaleOf = (/** @type {string} */ u) => `y${units.indexOf(u)}`;
  const signature = series.map((s) => `${s.key}\u0000${s.units}\u0000${s.color}`).join('\n');

  useEffect(() => {
    const el = box.current;
    if (!el || series.length === 0) return;
    /** @type {uPlot.Scales} */
    const scales = { x: { time: true, range: () => [winRef.current.from / 1000, winRef.current.to / 1000] } };
    /** @type {uPlot.Axis[]} */
    const axes = [{ stroke: '#475569' }];
    units.forEach((u, i) => {
      scales[scaleOf(u)] = { auto: true };
      axes.push({ scale: scaleOf(u), side: i % 2 === 0 ? 3 : 1, stroke: '#475569', size: 64, grid: { show: i === 0 }, label: u || undefined, values: (_u, ticks) => ticks.map((t) => formatNumber(t)) });
    });
    /** @type {uPlot.Options} */
    const opts = {
      width: Math.max(280, el.clientWidth),
      height: CHART_HEIGHT,
      legend: { show: false },
      cursor: { y: false, drag: { x: true, y: false, setScale: false } },
      scales,
      axes,
      series: [
        {},
        ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, scale: scaleOf(s.units), spanGaps: false })),
      ],
      hooks: {
        setSelect: [
          (u) => {
            const { left, width } = u.select;
            if (width < 3) return;
            const a = u.posToVal(left, 'x');
            const b = u.posToVal(left + width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            zoomRef.current(Math.floor(a * 1000), Math.ceil(b * 1000));
          },
        ],
        draw: [
          (u) => {
            const ctx = u.ctx;
            const { left, top, width, height } = u.bbox;
            const r = 4 * devicePixelRatio;
            ctx.save();
            for (const m of marks.current) {
              const cx = u.valToPos(m.x, 'x', true);
              if (cx < left || cx > left + width) continue;
              const color = m.quality === 'bad' ? MARK.bad : MARK.uncertain;
              if (m.y === null) {
                ctx.fillStyle = `${color}55`;
                ctx.fillRect(cx - r / 2, top, r, height);
                continue;
              }
              const cy = u.valToPos(m.y, m.scale, true);
              ctx.beginPath();
              ctx.arc(cx, cy, r, 0, 2 * Math.PI);
              ctx.fillStyle = color;
              ctx.strokeStyle = '#fff';
              ctx.lineWidth = devicePixelRatio;
              ctx.fill();
              ctx.stroke();
            }
            ctx.restore();
          },
        ],
      },
    };
    const u = new uPlot(opts, [[], ...series.map(() => [])], el);
    plot.current = u;
    const unfollow = followWidth(u, el, 280, CHART_HEIGHT);
    return () => {
      unfollow();
      u.destroy();
      plot.current = null;
    };
    // signature stands for series (and so units).
  }, [signature]);

  const drawn = useMemo(() => {
    /** @type {uPlot.AlignedData[]} */
    const tables = [];
    /** @type {{ x: number, y: number | null, scale: string, quality: string }[]} */
    const flagged = [];
    let points = 0;
    for (const s of series) {
      const rs = data.get(s.key)?.readings ?? [];
      const xs = [];
      /** @type {(number | null)[]} */
      const ys = [];
      for (const r of rs) {
        const x = r.origin / 1e9;
        const n = numericValue(r.value);
        const y = Number.isNaN(n) ? null : n;
        if (xs.length > 0 && x <= /** @type {number} */ (xs[xs.length - 1])) continue;
        xs.push(x);
        ys.push(y);
        if (y !== null) points++;
        if (r.quality !== 'good') flagged.push({ x, y, scale: scaleOf(s.units), quality: r.quality });
      }
      tables.push([xs, ys]);
    }
    /** @type {uPlot.AlignedData} */
    const aligned = tables.length === 0 ? [[]] : tables.length === 1 ? /** @type {uPlot.AlignedData} */ (tables[0]) : uPlot.join(tables);
    return { aligned, flagged, points };
    // rev stands for the contents of data.
  }, [rev, signature, data]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    marks.current = drawn.flagged;
    u.setData(drawn.aligned);
  }, [drawn, signature, win.from, win.to]);

  if (series.length === 0) return html`<${Empty}>Pick a numeric resource to draw it; the others are listed below.</${Empty}>`;
  return html`<figure class="tx-chart-box">
    <div class="tx-chart" ref=${box} role="img" aria-label=${label} data-testid="tx-chart" data-points=${drawn.points} data-flagged=${drawn.flagged.length}></div>
    <figcaption class="muted small">
      <span data-testid="tx-points">${plural(drawn.points, 'point')}</span> drawn${drawn.flagged.length > 0 ? html`, <span data-testid="tx-flagged-count">${drawn.flagged.length} not good</span> (marked: red bad, amber uncertain)` : null}.
      Drag across the chart to zoom into a range.
    </figcaption>
  </figure>`;
}

/**
 * Readings as a table, newest first.
 * @param {{ rows: Reading[], total: number, caption: string, testid: string }} props
 */
function ReadingTable({ rows, total, caption, testid }) {
  return html`<div class="tx-table-wrap" role="region" aria-label=${caption} tabindex="0">
    <table class="grid tx-table" data-testid=${testid}>
      <caption>${caption}${total > rows.length ? ` (newest ${rows.length} of ${total})` : ''}</caption>
      <thead><tr><th scope="col">Time (UTC)</th><th scope="col">Device</th><th scope="col">Resource</th><th scope="col">Value</th><th scope="col">Units</th><th scope="col">Quality</th><th scope="col">Detail</th></tr></thead>
      <tbody>
        ${rows.map(
          (r) => html`<tr key=${readingKey(r) + r.device + r.resource} data-testid=${`${testid}-row`}>
            <td class="time ident">${isoNs(r.origin)}</td>
            <td>${r.device}</td>
            <td>${r.resource}</td>
            <td class="num wrap">${formatValue(r.value)}</td>
            <td>${r.units ?? ''}</td>
            <td><${Badge} word=${r.quality} /></td>
            <td class="message">${r.qualityDetail ?? ''}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/**
 * Devices to pick from: those picked first, then the store's devices matching the filter.
 * @param {{ selected: string[], onToggle: (name: string) => void }} props
 */
function DevicePicker({ selected, onToggle }) {
  const [filter, setFilter] = useState('');
  const all = list('Device');
  const f = filter.trim().toLowerCase();
  const chosen = new Set(selected);
  // all is the store's array, replaced only when a resource changes.
  const matching = useMemo(
    () => (f === '' ? all : all.filter((d) => [d.metadata.name, d.spec?.site ?? '', d.spec?.profile ?? ''].some((t) => t.toLowerCase().includes(f)))),
    [all, f],
  );
  const matches = matching.filter((d) => !chosen.has(d.metadata.name));
  const shown = matches.slice(0, DEVICE_LIST_MAX);
  const names = [...selected, ...shown.map((d) => d.metadata.name)];
  return html`<fieldset class="tx-devices">
    <legend>Devices</legend>
    <label for="tx-device-filter">Filter devices</label>
    <input id="tx-device-filter" type="search" data-testid="tx-device-filter" value=${filter} autocomplete="off"
      aria-describedby="tx-device-count" onInput=${(/** @type {Event} */ e) => setFilter(inputValue(e))} />
    <p id="tx-device-count" class="hint">
      ${plural(all.length, 'device')}${f ? `, ${matching.length} matching` : ''}${matches.length > shown.length ? `; the first ${shown.length} listed, type to narrow` : ''}
    </p>
    <ul class="tx-checks">
      ${names.map((name) => {
        const d = getObj('Device', name);
        return html`<li key=${name}>
          <label>
            <input type="checkbox" checked=${chosen.has(name)} data-testid=${`tx-device-${name}`} onChange=${() => onToggle(name)} />
            ${' '}${name} <span class="muted small">${d ? `${d.spec?.site ?? ''} · ${d.spec?.profile ?? ''}` : 'not found'}</span>
          </label>
        </li>`;
      })}
    </ul>
  </fieldset>`;
}

/**
 * The resources of each picked device, from its profile (and any seen in readings).
 * @param {{ devices: string[], series: string[], onToggle: (key: string) => void }} props
 */
function ResourcePicker({ devices, series, onToggle }) {
  const chosen = new Set(series);
  if (devices.length === 0) return html`<fieldset class="tx-resources"><legend>Resources</legend><p class="muted">Pick a device first.</p></fieldset>`;
  return html`<div class="tx-resources">
    ${devices.map((name) => {
      const device = getObj('Device', name);
      const views = device ? resourceViews(device) : [];
      return html`<fieldset key=${name} data-testid=${`tx-resources-${name}`}>
        <legend>Resources of ${name}</legend>
        ${views.length === 0 ? html`<p class="muted small">${device ? 'No resources known.' : 'No such device.'}</p>` : null}
        <ul class="tx-checks">
          ${views.map((v) => {
            const key = `${name}/${v.name}`;
            return html`<li key=${key}>
              <label>
                <input type="checkbox" checked=${chosen.has(key)} data-testid=${`tx-series-${key}`} onChange=${() => onToggle(key)} />
                ${' '}${v.name}${v.units ? html` <span class="muted small">${v.units}</span>` : null}${v.numeric ? null : html` <span class="muted small">(table only)</span>`}
              </label>
            </li>`;
          })}
        </ul>
      </fieldset>`;
    })}
  </div>`;
}

/**
 * Presets, and custom bounds in local time (To left empty: until now).
 * @param {{ range: Range, win: Window, onRange: (r: Range) => void, zoomed: boolean, onResetZoom: () => void }} props
 */
function RangePicker({ range, win, onRange, zoomed, onResetZoom }) {
  const [fromText, setFromText] = useState('');
  const [toText, setToText] = useState('');
  const [errors, setErrors] = useState(/** @type {{ from?: string, to?: string }} */ ({}));
  const rangeText = JSON.stringify(range);
  useEffect(() => {
    setFromText(localInput(win.from));
    setToText(range.kind === 'custom' && range.to !== null ? localInput(range.to) : '');
    setErrors({});
    // Filled again only when the range itself changes, not as a live window slides.
  }, [rangeText]);

  /** @param {Event} e */
  const apply = (e) => {
    e.preventDefault();
    const from = new Date(fromText).getTime();
    const to = toText.trim() === '' ? null : new Date(toText).getTime();
    /** @type {{ from?: string, to?: string }} */
    const errs = {};
    if (!Number.isFinite(from)) errs.from = 'enter a date and time';
    if (to !== null && !Number.isFinite(to)) errs.to = 'enter a date and time, or leave empty for now';
    else if (to !== null && Number.isFinite(from) && to <= from) errs.to = 'must be after From';
    setErrors(errs);
    if (errs.from || errs.to) return;
    onRange({ kind: 'custom', from, to });
  };

  const active = range.kind === 'preset' ? range.preset : '';
  return html`<fieldset class="tx-range">
    <legend>Time range</legend>
    <div class="tx-presets" role="group" aria-label="Preset ranges">
      ${PRESETS.map(
        ([key, label]) => html`<button type="button" key=${key} class=${`small${active === key ? ' primary' : ''}`} aria-pressed=${active === key ? 'true' : 'false'}
          data-testid=${`tx-preset-${key}`} onClick=${() => onRange({ kind: 'preset', preset: key })}>${label}</button>`,
      )}
    </div>
    <form class="tx-custom" onSubmit=${apply} novalidate>
      <div class="field">
        <label for="tx-from">From (local time)</label>
        <input id="tx-from" type="datetime-local" step="1" data-testid="tx-from" value=${fromText} onInput=${(/** @type {Event} */ e) => setFromText(inputValue(e))}
          aria-invalid=${errors.from ? 'true' : undefined} aria-describedby=${errors.from ? 'tx-from-error' : undefined} />
        <${FieldError} id="tx-from" message=${errors.from} />
      </div>
      <div class="field">
        <label for="tx-to">To (local time)</label>
        <input id="tx-to" type="datetime-local" step="1" data-testid="tx-to" value=${toText} onInput=${(/** @type {Event} */ e) => setToText(inputValue(e))}
          aria-invalid=${errors.to ? 'true' : undefined} aria-describedby=${errors.to ? 'tx-to-error tx-to-hint' : 'tx-to-hint'} />
        <span id="tx-to-hint" class="hint">empty: until now, following new readings</span>
        <${FieldError} id="tx-to" message=${errors.to} />
      </div>
      <div class="tx-apply">
        <button type="submit" data-testid="tx-apply">Apply range</button>
        ${zoomed ? html`<button type="button" data-testid="tx-reset-zoom" onClick=${onResetZoom}>Reset zoom</button>` : null}
      </div>
    </form>
    <p class="tx-range-label" data-testid="tx-range-label">
      ${showTime(win.from)} – ${win.live ? 'now' : showTime(win.to)}${win.live ? html` <span class="badge ok">live</span>` : null}
    </p>
  </fieldset>`;
}

/**
 * Every reading of the series in the window, page after page in time order, as one file.
 * @param {{ site: string, device: string, resource: string }[]} series
 * @param {Window} win fixed bounds
 * @param {'csv' | 'json'} format
 * @param {AbortSignal} signal
 * @param {(count: number) => void} progress
 */
async function downloadRange(series, win, format, signal, progress) {
  /** @type {string[]} */
  const parts = [format === 'csv' ? csvHeader() : '['];
  let count = 0;
  for (const s of series) {
    /** @type {string | undefined} */
    let cursor;
    do {
      /** @type {{ from: number, to: number, order: 'asc', limit: number, cursor?: string }} */
      const q = { from: win.from, to: win.to, order: 'asc', limit: 10_000 };
      if (cursor !== undefined) q.cursor = cursor;
      const page = /** @type {TelemetryPage} */ (await get(historyUrl(s, q), { signal }));
      if (count + page.items.length > DOWNLOAD_MAX) {
        throw new Error(`the range holds more than ${DOWNLOAD_MAX.toLocaleString()} readings: narrow it or pick fewer resources`);
      }
      if (format === 'csv') parts.push(csvRows(page.items));
      else for (const r of page.items) parts.push(`${count++ === 0 ? '\n' : ',\n'}${JSON.stringify(r)}`);
      if (format === 'csv') count += page.items.length;
      cursor = page.next;
      progress(count);
    } while (cursor !== undefined);
  }
  if (format === 'json') parts.push(count === 0 ? ']\n' : '\n]\n');
  const name = rangeFileName(win.from, win.to, format);
  const href = URL.createObjectURL(new Blob(parts, { type: format === 'csv' ? 'text/csv;charset=utf-8' : 'application/json' }));
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
  return { name, count };
}

/**
 * The telemetry explorer: devices and their resources over a time range, drawn (numeric
 * resources) and listed (readings not of good quality; values of the others), downloadable.
 * @param {{ query: URLSearchParams }} props
 */
export function TelemetryView({ query }) {
  const [sel, setSel] = useState(() => parseSelection(query));
  /** The range before the first zoom, for Reset zoom. */
  const [zoomBase, setZoomBase] = useState(/** @type {Range | null} */ (null));
  const [download, setDownload] = useState({ busy: false, text: '', error: '' });
  const downloadAbort = useRef(/** @type {AbortController | null} */ (null));
  const selRef = useRef(sel);
  selRef.current = sel;

  // A link opened or edited while on the page: take its selection.
  useEffect(() => {
    const next = parseSelection(query);
    if (selectionQuery(next) !== selectionQuery(selRef.current)) {
      setSel(next);
      setZoomBase(null);
    }
  }, [query]);

  // The selection in the link, without a new history entry or a remount.
  const queryText = selectionQuery(sel);
  useEffect(() => {
    const hash = `#/telemetry?${queryText}`;
    if (location.hash !== hash) history.replaceState(history.state, '', hash);
  }, [queryText]);

  useEffect(() => () => downloadAbort.current?.abort(), []);

  const { data, rev, loading } = useHistory(sel.series, sel.range);
  const win = windowOf(sel.range, state.now);

  /** @param {Range} range */
  const setRange = (range) => {
    setZoomBase(null);
    setSel({ ...sel, range });
  };
  /** @param {number} from @param {number} to */
  const zoom = (from, to) => {
    const current = selRef.current;
    if (!(to > from)) return;
    setZoomBase((base) => base ?? current.range);
    setSel({ ...current, range: { kind: 'custom', from, to } });
  };
  const resetZoom = () => {
    if (zoomBase) setSel({ ...sel, range: zoomBase });
    setZoomBase(null);
  };
  /** @param {string} name */
  const toggleDevice = (name) => {
    if (sel.devices.includes(name)) setSel({ ...sel, devices: sel.devices.filter((d) => d !== name), series: sel.series.filter((k) => deviceOf(k) !== name) });
    else setSel({ ...sel, devices: [...sel.devices, name] });
  };
  /** @param {string} key */
  const toggleSeries = (key) => setSel({ ...sel, series: sel.series.includes(key) ? sel.series.filter((k) => k !== key) : [...sel.series, key] });

  // Which series the chart draws: those whose profile (or, lacking one, readings) says numeric.
  const views = useMemo(() => {
    /** @type {Map<string, { numeric: boolean, units: string }>} */
    const out = new Map();
    for (const key of sel.series) {
      const device = getObj('Device', deviceOf(key));
      const v = device ? resourceViews(device).find((x) => x.name === resourceOf(key)) : undefined;
      const held = data.get(key)?.readings ?? [];
      const sample = held[held.length - 1];
      out.set(key, { numeric: v ? v.numeric || (!v.def && isNumericType(sample?.valueType)) : isNumericType(sample?.valueType), units: v?.units ?? sample?.units ?? '' });
    }
    return out;
    // rev: readings may name units and types a profile lacks; resRev: profiles changed.
  }, [sel.series, rev, state.resRev]);

  /** @type {ChartSeries[]} */
  const charted = sel.series
    .filter((k) => views.get(k)?.numeric)
    .map((key, i) => ({ key, label: `${deviceOf(key)} ${resourceOf(key)}`, units: views.get(key)?.units ?? '', color: /** @type {string} */ (COLORS[i % COLORS.length]) }));
  const colorOf = new Map(charted.map((c) => [c.key, c.color]));

  const tables = useMemo(() => {
    /** @type {Reading[]} */
    const flagged = [];
    /** @type {Reading[]} */
    const other = [];
    let total = 0;
    for (const key of sel.series) {
      const s = data.get(key);
      if (!s) continue;
      total += s.readings.length;
      const numeric = views.get(key)?.numeric;
      for (const r of s.readings) {
        if (r.quality !== 'good') flagged.push(r);
        if (!numeric) other.push(r);
      }
    }
    const newestFirst = (/** @type {Reading} */ a, /** @type {Reading} */ b) => b.origin - a.origin;
    flagged.sort(newestFirst);
    other.sort(newestFirst);
    return { flagged, other, total };
    // rev stands for the contents of data.
  }, [rev, data, views]);

  /** @type {SeriesData[]} */
  const problems = [];
  for (const k of sel.series) {
    const s = data.get(k);
    if (s && (s.error || s.truncated)) problems.push(s);
  }

  /** @param {'csv' | 'json'} format */
  const startDownload = async (format) => {
    downloadAbort.current?.abort();
    const ac = new AbortController();
    downloadAbort.current = ac;
    const fixed = windowOf(sel.range, Date.now());
    const all = sel.series.map((key) => ({ key, site: siteOf(deviceOf(key)), device: deviceOf(key), resource: resourceOf(key) }));
    const series = all.filter((s) => s.site !== '');
    const skipped = all.filter((s) => s.site === '').map((s) => s.key);
    const note = skipped.length > 0 ? ` Left out (no such device): ${skipped.join(', ')}.` : '';
    setDownload({ busy: true, text: `Fetching readings for ${format.toUpperCase()}…`, error: '' });
    try {
      const done = await downloadRange(series, { ...fixed, live: false }, format, ac.signal, (n) => {
        if (!ac.signal.aborted) setDownload({ busy: true, text: `Fetched ${n.toLocaleString()} readings…`, error: '' });
      });
      if (!ac.signal.aborted) setDownload({ busy: false, text: `Downloaded ${plural(done.count, 'reading')} as ${done.name}.${note}`, error: '' });
    } catch (err) {
      if (!ac.signal.aborted) setDownload({ busy: false, text: '', error: `Download failed: ${describeError(err)}` });
    }
  };

  if (!state.synced) return html`<section><h1>Telemetry</h1><${Loading} /></section>`;

  const chartLabel = charted.length === 0 ? 'No numeric resource picked' : `Chart of ${charted.map((c) => c.label).join(', ')} from ${showTime(win.from)} to ${win.live ? 'now' : showTime(win.to)}`;
  return html`<section class="telemetry-explorer" data-testid="telemetry-explorer">
    <h1>Telemetry</h1>
    <div class="tx-pickers">
      <${DevicePicker} selected=${sel.devices} onToggle=${toggleDevice} />
      <${ResourcePicker} devices=${sel.devices} series=${sel.series} onToggle=${toggleSeries} />
      <${RangePicker} range=${sel.range} win=${win} onRange=${setRange} zoomed=${zoomBase !== null} onResetZoom=${resetZoom} />
    </div>

    <div class="page-actions">
      <button type="button" data-testid="tx-download-csv" disabled=${sel.series.length === 0 || download.busy} onClick=${() => void startDownload('csv')}>Download CSV</button>
      <button type="button" data-testid="tx-download-json" disabled=${sel.series.length === 0 || download.busy} onClick=${() => void startDownload('json')}>Download JSON</button>
      <span class="muted small" role="status" data-testid="tx-download-status">${download.text}</span>
    </div>
    ${download.error ? html`<p class="error" role="alert" data-testid="tx-download-error">${download.error}</p>` : null}

    <p class="muted small" role="status" data-testid="tx-status">
      ${sel.series.length === 0
        ? 'Pick devices and resources to see their readings.'
        : `${loading ? 'Loading history… ' : ''}${plural(tables.total, 'reading')} of ${plural(sel.series.length, 'resource')} in the range.`}
    </p>
    ${problems.map(
      (s) => html`<p key=${s.key} class=${s.error ? 'error' : 'warning'} data-testid="tx-problem">
        ${s.device} ${s.resource}: ${s.error ||
        `the range holds more readings than the page keeps (${Math.floor(MAX_SHOWN / Math.max(1, sel.series.length)).toLocaleString()} per resource); the newest are shown, since ${
          s.readings[0] ? showTime(s.readings[0].origin / 1e6) : '—'
        }. Narrow the range to see the rest; downloads hold every reading.`}
      </p>`,
    )}

    ${sel.series.length > 0
      ? html`<${Chart} series=${charted} data=${data} rev=${rev} win=${win} onZoom=${zoom} label=${chartLabel} />
          ${charted.length > 0
            ? html`<ul class="tx-legend" aria-label="Series">
                ${charted.map((c) => {
                  const s = data.get(c.key);
                  return html`<li key=${c.key} data-testid=${`tx-legend-${c.key}`}>
                    <span class="tx-swatch" style=${{ background: colorOf.get(c.key) }}></span>${c.label}${c.units ? ` (${c.units})` : ''}: ${plural(s?.readings.length ?? 0, 'reading')}
                  </li>`;
                })}
              </ul>`
            : null}
          <h2>Quality</h2>
          ${tables.flagged.length === 0
            ? html`<p class="muted" data-testid="tx-quality-none">Every reading in the range is of good quality.</p>`
            : html`<${ReadingTable} rows=${tables.flagged.slice(0, TABLE_MAX)} total=${tables.flagged.length} caption="Readings not of good quality" testid="tx-quality" />`}
          ${tables.other.length > 0
            ? html`<h2>Other values</h2>
                <${ReadingTable} rows=${tables.other.slice(0, TABLE_MAX)} total=${tables.other.length} caption="Readings of resources the chart does not draw" testid="tx-values" />`
            : null}`
      : null}
  </section>`;
}
