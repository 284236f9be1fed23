import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { describeError, login } from './api.js';
import { inputValue } from './ui.js';

/** @typedef {import('./types.js').Session} Session */

/**
 * @param {{ onLogin: (s: Session) => void, notice?: string }} props
 */
export function LoginView({ onLogin, notice }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const session = await login(token.trim());
      setToken('');
      onLogin(session);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return html`<main class="login">
    <form class="login-box" onSubmit=${submit}>
      <h1>edgeadm console</h1>
      ${notice && !error && html`<p class="notice" role="status">${notice}</p>`}
      <label for="login-token">Hub token</label>
      <input id="login-token" data-testid="login-token" type="password" autocomplete="current-password"
        value=${token} onInput=${(/** @type {Event} */ e) => setToken(inputValue(e))} />
      <button type="submit" class="primary" data-testid="login-submit" disabled=${busy}>${busy ? 'Logging in…' : 'Log in'}</button>
      ${error && html`<p class="error" role="alert" data-testid="login-error">${error}</p>`}
      <p class="muted small">
        The admin token is the hub's <code>admin.token</code> file (the demo's: <code>.data/demo/hub/admin.token</code>).
        <code>edgeadm token create --role viewer</code> makes a read-only one.
      </p>
    </form>
  </main>`;
}
