import { api, ApiError } from './api.js';
import { h } from './dom.js';

/** The sign-in form: the token is checked with /api/v1/auth/verify, then kept for this tab only. */
export function signInPage(reason: string | null, onSignedIn: () => void): HTMLElement {
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'arc_…', 'aria-label': 'API token' });
  const message = h('p', { id: 'signin-message', class: reason ? 'error-text' : 'hint' }, reason ?? 'Paste an API token. The console keeps it for this browser tab only (sessionStorage).');
  const button = h('button', { id: 'signin', class: 'primary', type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin', novalidate: true },
    h('h2', {}, 'Sign in to arc-ts'),
    h('label', {}, 'API token', input),
    button,
    message,
    h('p', { class: 'hint' }, 'The first admin token is printed on the server’s stderr at its first start; `arc token create` makes more.'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token === '') return;
    button.disabled = true;
    api
      .verify(token)
      .then((verified) => {
        api.adopt(token, verified);
        onSignedIn();
      })
      .catch((err: unknown) => {
        message.className = 'error-text';
        message.textContent = err instanceof ApiError ? `The server refused this token: ${err.message}` : `Could not check the token: ${String(err)}`;
      })
      .finally(() => (button.disabled = false));
  });
  queueMicrotask(() => input.focus());
  return h('div', { class: 'page signin-page' }, form);
}
