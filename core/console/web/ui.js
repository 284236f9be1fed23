import { html } from 'htm/preact';
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
