// The console's shell: hash routing (`#/page/id?filters`), the login page, the navigation and the notice bar.
// Each page module exports `render(main, context)`, which may return a function that stops its timers.

import { get, onUnauthorized, setToken, token } from './api.js';
import { h, replace } from './dom.js';
import * as overview from './overview.js';
import * as events from './events.js';
import * as event from './event.js';
import * as dead from './dead.js';
import * as commands from './commands.js';
import * as sagas from './sagas.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const noticeBar = document.getElementById('notice');
let stop = null;
let loginMessage = '';

/** Shows `text` in the notice bar (`kind`: info, ok or error); an empty text hides it. */
export function notice(text, kind = 'info') {
  noticeBar.hidden = !text;
  noticeBar.className = `notice notice-${kind}`;
  replace(noticeBar, text || '');
}

/** `#/a/b?x=1` → `{ parts: ['a', 'b'], params: { x: '1' } }`. */
function parse(hash) {
  const text = hash.replace(/^#\/?/, '');
  const [path, search] = text.split('?', 2);
  const decode = (part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part; // a malformed escape (`%zz`) is kept as typed rather than leaving a blank page
    }
  };
  const parts = path.split('/').filter(Boolean).map(decode);
  return { parts, params: Object.fromEntries(new URLSearchParams(search || '')) };
}

function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function render() {
  if (stop) {
    stop();
    stop = null;
  }
  const { parts, params } = parse(location.hash);
  const page = parts[0] || 'overview';
  if (!token() && page !== 'login') {
    navigate('#/login');
    return;
  }
  nav.hidden = page === 'login';
  for (const link of nav.querySelectorAll('a')) {
    link.classList.toggle('active', link.dataset.page === page);
  }
  const context = { params, id: parts[1], navigate, notice, refresh: render };
  main.replaceChildren();
  let result;
  switch (page) {
    case 'login': result = login(); break;
    case 'overview': result = overview.render(main, context); break;
    case 'events': result = parts[1] ? event.render(main, context) : events.render(main, context); break;
    case 'dead-letters': result = dead.render(main, context); break;
    case 'commands': result = commands.render(main, context); break;
    case 'sagas': result = sagas.render(main, context); break;
    default: navigate('#/overview'); return;
  }
  stop = typeof result === 'function' ? result : null;
}

function login() {
  const input = h('input', { id: 'login-token', name: 'token', type: 'password', autocomplete: 'off',
    spellcheck: 'false', required: true, autofocus: true });
  const message = h('p', { id: 'login-message', class: 'error', role: 'alert', hidden: !loginMessage }, loginMessage);
  const button = h('button', { id: 'login-submit', type: 'submit' }, 'Log in');
  const form = h('form', { class: 'login', id: 'login-form' },
    h('h1', null, 'Log in'),
    h('p', { class: 'muted' }, 'The admin token (the one whose SHA-256 is [admin] token_sha256 in the gateway\'s '
      + 'config). It stays in this browser tab only and is sent to the gateway as a bearer header.'),
    h('label', { class: 'field' }, h('span', null, 'Admin token'), input),
    message,
    button);
  form.addEventListener('submit', async (submitted) => {
    submitted.preventDefault();
    button.disabled = true;
    setToken(input.value.trim());
    try {
      await get('/admin/providers');
      loginMessage = '';
      notice('');
      navigate('#/overview');
    } catch (error) {
      if (error.status !== 401) {
        setToken(null);
        replace(message, `Cannot check the token: ${error.describe ? error.describe() : error.message}`);
        message.hidden = false;
      }
    } finally {
      button.disabled = false;
    }
  });
  notice('');
  main.append(form);
  input.focus();
}

onUnauthorized((detail) => {
  loginMessage = `The gateway refused the admin token (401: ${detail}). Log in again.`;
  notice('');
  if (parse(location.hash).parts[0] === 'login') render();
  else navigate('#/login');
});

document.getElementById('logout').addEventListener('click', () => {
  setToken(null);
  loginMessage = '';
  notice('');
  navigate('#/login');
});

window.addEventListener('hashchange', () => {
  notice('');
  render();
});
render();
