import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import { RING_SIZE } from './store.js';

/** @typedef {import('./store.js').Series} Series */

const WIDTH = 96;
const HEIGHT = 24;

/**
 * Draws a series' ring buffer as a polyline, scaled to its own min/max.
 * @param {HTMLCanvasElement} canvas
 * @param {Series | undefined} s
 */
function draw(canvas, s) {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = Math.round(WIDTH * dpr);
  const h = Math.round(HEIGHT * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.clearRect(0, 0, w, h);
  if (!s || !s.t || !s.v || s.len < 2) return;
  const first = s.t[s.start];
  const last = s.t[(s.start + s.len - 1) % RING_SIZE];
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < s.len; i++) {
    const v = s.v[(s.start + i) % RING_SIZE];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max - min || 1;
  const dt = last - first || 1;
  const pad = dpr;
  ctx.beginPath();
  for (let i = 0; i < s.len; i++) {
    const j = (s.start + i) % RING_SIZE;
    const x = ((s.t[j] - first) / dt) * (w - 2 * pad) + pad;
    const y = h - pad - ((s.v[j] - min) / span) * (h - 2 * pad);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  }
  ctx.lineWidth = 1.25 * dpr;
  ctx.strokeStyle = '#2563eb';
  ctx.stroke();
}

/**
 * A small canvas chart of one series; it redraws only when the series changed.
 * @param {{ series: Series | undefined }} props
 */
export function Sparkline({ series }) {
  const ref = useRef(/** @type {HTMLCanvasElement | null} */ (null));
  const drawn = useRef({ series: /** @type {Series | undefined} */ (undefined), rev: -1 });
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    const rev = series ? series.rev : -1;
    if (drawn.current.series === series && drawn.current.rev === rev) return;
    drawn.current = { series, rev };
    draw(canvas, series);
  });
  return html`<canvas ref=${ref} class="spark" width=${WIDTH} height=${HEIGHT} aria-hidden="true"></canvas>`;
}
