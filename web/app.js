// The web UI's entry point: logging in and out, the pages (#/ for files, #/users for admins)
// and the live event stream while logged in.

import { api, login, onExpired, session } from './api.js';
import { byId } from './dom.js';
import { JobList, follow } from './jobs.js';
import { Uploader } from './upload.js';
import { UsersPage } from './users.js';

const VIEWS = ['login-view', 'jobs-view', 'users-view', 'forbidden-view'];

let me = null;
let live = null;
const jobs = new JobList();
const uploader = new Uploader(jobs);
const users = new UsersPage(() => me);

/** Shows one view; `focus` moves the keyboard focus to its heading (after a navigation). */
function show(view, focus) {
  for (const id of VIEWS) byId(id).hidden = id !== view;
  if (view === 'login-view') {
    byId('login-email').focus();
  } else if (focus) {
    byId(view).querySelector('h1').focus();
  }
}

function page() {
  return location.hash === '#/users' ? 'users' : 'jobs';
}

async function route(focus) {
  if (!me) {
    show('login-view');
    return;
  }
  const current = page();
  byId('nav-jobs').toggleAttribute('aria-current', false);
  byId('nav-users').toggleAttribute('aria-current', false);
  byId(current === 'users' ? 'nav-users' : 'nav-jobs').setAttribute('aria-current', 'page');
  document.title = current === 'users' ? 'Users · mp3converter' : 'mp3converter';
  if (current === 'users') {
    if (!me.admin) {
      show('forbidden-view', focus);
      return;
    }
    show('users-view', focus);
    await users.load();
  } else {
    show('jobs-view', focus);
    await jobs.reload();
  }
}

/** With a token in the session: who am I, then the event stream and the page. */
async function start(focus) {
  me = await api('GET', '/api/v1/me');
  byId('who').textContent = me.email;
  byId('nav-users').hidden = !me.admin;
  byId('nav').hidden = false;
  live = follow(
    (event) => jobs.applyEvent(event),
    () => jobs.reload().catch(() => {}),
    // Closed for good: if the token is the reason, the next request logs out.
    () => api('GET', '/api/v1/me').catch(() => {}),
  );
  // A list that fails to load is not a reason to log out; the next event or reload retries.
  await route(focus).catch((e) => console.warn('could not load the page:', e.message));
}

function logout(message) {
  session.clear();
  me = null;
  if (live) live.close();
  live = null;
  uploader.cancelAll();
  jobs.clear();
  byId('nav').hidden = true;
  byId('who').textContent = '';
  byId('login-error').textContent = message ?? '';
  byId('login-form').reset();
  show('login-view');
}

onExpired(() => {
  if (me) logout('Your session has ended. Please log in again.');
});

byId('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const email = byId('login-email').value.trim();
  const password = byId('login-password').value;
  const error = byId('login-error');
  if (!email || !password) {
    error.textContent = 'Enter your email and password.';
    byId(email ? 'login-password' : 'login-email').focus();
    return;
  }
  const button = e.target.querySelector('button[type="submit"]');
  button.disabled = true;
  error.textContent = '';
  try {
    session.save(await login(email, password));
    byId('login-password').value = '';
    await start(true);
  } catch (err) {
    if (!me) session.clear();
    error.textContent = err.message;
    byId('login-password').focus();
  } finally {
    button.disabled = false;
  }
});

byId('logout').addEventListener('click', () => logout());
window.addEventListener('hashchange', () => route(true).catch(() => {}));

if (session.token) {
  start(false).catch(() => logout());
} else {
  show('login-view');
}
