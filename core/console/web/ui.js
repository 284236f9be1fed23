import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, describeError } from './api.js';
import { tone } from './format.js';

/**
 * A status word in a colored pill; the word itself carries the meaning.
 * @param {{ word: string | undefined, testid?: string, title?: string, fallback?: string }} props
 */
export function Badge({ word, testid, title, fallback = 'unknown' }) {
  return html`<span class=${`badge ${tone(word)}`} data-testid=${testid} title=${title}>${word ?? fallback}</span>`;
}

/** Shown until the watch stream has delivered its first snapshot. */
export function Loading() {
  return html`<p class="muted loading" role="status">Loading…</p>`;
}

/** @param {{ children: unknown }} props */
export function Empty({ children }) {
  return html`<p class="muted empty">${children}</p>`;
}

/**
 * An input/select/textarea event's current value.
 * @param {Event} e
 */
export const inputValue = (e) => /** @type {HTMLInputElement} */ (e.currentTarget).value;

/**
 * A command or value to copy: shown whole in a read-only code block, with a
 * Copy button that says when it worked (the clipboard needs a secure page,
 * which the hub's HTTPS is).
 * @param {{ text: string, label: string, testid?: string }} props
 */
export function CopyText({ text, label, testid }) {
  const [copied, setCopied] = useState('');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('Copied');
    } catch {
      setCopied('Select the text and copy it');
    }
  };
  return html`<div class="copy">
    <pre class="copy-text" data-testid=${testid} aria-label=${label} tabindex="0"><code>${text}</code></pre>
    <button type="button" class="small" onClick=${copy} aria-label=${`Copy ${label}`}>Copy</button>
    <span class="muted small" role="status">${copied}</span>
  </div>`;
}

/**
 * A modal dialog (the native <dialog>: focus stays inside, Escape closes it),
 * labelled by its title; `onClose` runs however it closes.
 * @param {{ title: string, onClose: () => void, testid?: string, children: unknown }} props
 */
export function Modal({ title, onClose, testid, children }) {
  const ref = useRef(/** @type {HTMLDialogElement | null} */ (null));
  const [id] = useState(() => `modal-${Math.random().toString(36).slice(2, 10)}`);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return html`<dialog ref=${ref} class="modal" data-testid=${testid} aria-labelledby=${id} onClose=${onClose}>
    <h2 id=${id}>${title}</h2>
    ${children}
  </dialog>`;
}

/**
 * A field's problem under it, referenced by the field's aria-describedby (`${id}-error`).
 * @param {{ id: string, message: string | undefined }} props
 */
export function FieldError({ id, message }) {
  return message ? html`<p class="field-error" id=${`${id}-error`} data-testid=${`${id}-error`}>${message}</p>` : null;
}

/**
 * `key=value` lines as a map; a line without '=' is an error naming it.
 * @param {string} text
 * @returns {{ value: Record<string, string> } | { error: string }}
 */
export function fromLines(text) {
  /** @type {Record<string, string>} */
  const value = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    const at = line.indexOf('=');
    if (at <= 0) return { error: `line ${i + 1} (“${line}”) is not key=value` };
    value[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return { value };
}

/**
 * A labelled input with its problem under it.
 * @param {{ id: string, label: string, error?: string, hint?: string, children: (aria: Record<string, unknown>) => unknown }} props
 */
export function Field({ id, label, error, hint, children }) {
  const describedBy = [error ? `${id}-error` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;
  return html`<label for=${id}>${label}</label>
    <div class="field">
      ${children({ id, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': describedBy })}
      ${hint && html`<span class="hint" id=${`${id}-hint`}>${hint}</span>`}
      <${FieldError} id=${id} message=${error} />
    </div>`;
}

/**
 * Asks before deleting: names what goes, then sends the DELETE; the hub's
 * refusal is shown in the dialog.
 * @param {{ title: string, what: unknown, confirmLabel: string, path: string, testid: string, onClose: () => void, onDone: () => void }} props
 */
export function ConfirmDelete({ title, what, confirmLabel, path, testid, onClose, onDone }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const go = async () => {
    setBusy(true);
    setError('');
    try {
      await del(path);
      onDone();
    } catch (x) {
      setError(describeError(x));
      setBusy(false);
    }
  };
  return html`<${Modal} title=${title} onClose=${onClose} testid=${testid}>
    <div class="confirm-what">${what}</div>
    ${error && html`<p class="error" role="alert" data-testid="delete-error">${error}</p>`}
    <div class="buttons">
      <button type="button" data-testid="delete-cancel" onClick=${onClose} disabled=${busy} autofocus>Cancel</button>
      <button type="button" class="danger" data-testid="delete-confirm" onClick=${() => void go()} disabled=${busy}>${busy ? 'Deleting…' : confirmLabel}</button>
    </div>
  </${Modal}>`;
}

/**
 * Keeps a chart (uPlot) as wide as its box, at least `minWidth`; returns what stops it.
 * @param {{ width: number, setSize: (size: { width: number, height: number }) => void }} chart
 * @param {HTMLElement} box
 * @param {number} minWidth
 * @param {number} height
 * @returns {() => void}
 */
export function followWidth(chart, box, minWidth, height) {
  const ro = new ResizeObserver(() => {
    const w = Math.max(minWidth, box.clientWidth);
    if (w !== chart.width) chart.setSize({ width: w, height });
  });
  ro.observe(box);
  return () => ro.disconnect();
}
