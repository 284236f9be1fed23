import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
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
