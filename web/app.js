// The web UI's entry point: logging in and out, the pages (#/ your files, #/jobs/<id> one of
// them, #/keys the user's API keys, #/webhooks the user's webhooks, #/all every user's files and
// #/users for admins), the live event stream while logged in, and what happens when the session
// ends.

import { api, login, onSessionEnded, providers, session, ssoToken, watchExpiry } from './api.js';
import { byId } from './dom.js';
import { JobList, follow } from './jobs.js';
import { KeysPage } from './keys.js';
import { FeedPanel } from './share.js';
import { Uploader } from './upload.js';
import { UsersPage } from './users.js';
import { WebhooksPage } from './webhooks.js';
import * as fmt from './format.js';

const VIEWS = ['login-view', 'jobs-view', 'users-view', 'keys-view', 'webhooks-view', 'forbidden-view'];

let me = null;
let live = null;
/** Whose work the page still holds after the session ended (kept for the same user only). */
let keptFor = null;
const jobs = new JobList(() => me);
const uploader = new Uploader(jobs, () => me);
const users = new UsersPage(() => me);
const keys = new KeysPage(() => me);
const webhooks = new WebhooksPage();
// The podcast feed's box loads its address when opened.
new FeedPanel();

/** Shows one view; `focus` moves the keyboard focus to its heading (after a navigation). */
function show(view, focus) {
  for (const id of VIEWS) byId(id).hidden = id !== view;
  if (view === 'login-view') {
    byId('login-email').focus();
  } else if (focus) {
    byId(view).querySelector('h1').focus();
  }
}

/** The page the address names: `{name: 'mine' | 'all' | 'users' | 'keys' | 'webhooks' | 'job', id}`. */
function page() {
  const hash = location.hash;
  if (hash === '#/users') return { name: 'users' };
  if (hash === '#/keys') return { name: 'keys' };
  if (hash === '#/webhooks') return { name: 'webhooks' };
  if (hash === '#/all') return { name: 'all' };
  const job = /^#\/jobs\/([0-9A-Za-z-]+)$/.exec(hash);
  if (job) return { name: 'job', id: job[1] };
  return { name: 'mine' };
}

const TITLES = {
  mine: 'mp3converter',
  job: 'mp3converter',
  all: 'All files · mp3converter',
  users: 'Users · mp3converter',
  keys: 'API keys · mp3converter',
  webhooks: 'Webhooks · mp3converter',
};

async function route(focus) {
  if (!me) {
    show('login-view');
    return;
  }
  const current = page();
  const navs = [
    ['nav-jobs', ['mine', 'job']],
    ['nav-all', ['all']],
    ['nav-users', ['users']],
    ['nav-keys', ['keys']],
    ['nav-webhooks', ['webhooks']],
  ];
  for (const [id, names] of navs) {
    if (names.includes(current.name)) byId(id).setAttribute('aria-current', 'page');
    else byId(id).removeAttribute('aria-current');
  }
  document.title = TITLES[current.name];
  if ((current.name === 'users' || current.name === 'all') && !me.admin) {
    show('forbidden-view', focus);
    return;
  }
  if (current.name !== 'keys') keys.hideSecret();
  if (current.name !== 'webhooks') webhooks.clear();
  if (current.name === 'webhooks') {
    show('webhooks-view', focus);
    await webhooks.load();
    return;
  }
  if (current.name === 'users') {
    show('users-view', focus);
    await users.load();
    return;
  }
  if (current.name === 'keys') {
    show('keys-view', focus);
    await keys.load();
    return;
  }
  show('jobs-view', focus && current.name !== 'job');
  await jobs.show(current.name === 'all' ? 'all' : 'mine', current.id ?? null);
}

/** With a token in the session: who am I, then the event stream and the page. */
async function start(focus) {
  me = await api('GET', '/api/v1/me');
  if (keptFor && keptFor !== me.id) {
    // Someone else logged in: the last user's unfinished uploads are not theirs to send.
    uploader.cancelAll();
    jobs.clear();
  }
  keptFor = null;
  watchExpiry();
  byId('who').textContent = me.email;
  byId('who').title = usageText(me);
  byId('nav-users').hidden = !me.admin;
  byId('nav-all').hidden = !me.admin;
  byId('nav').hidden = false;
  byId('session-note').hidden = true;
  live = follow(
    (event) => jobs.applyEvent(event),
    () => jobs.reload().catch(() => {}),
  );
  uploader.loggedIn();
  // A list that fails to load is not a reason to log out; the next event or reload retries.
  await route(focus).catch((e) => console.warn('could not load the page:', e.message));
}

/** The caller's quotas in words, for the tooltip of their name: only the limits that apply. */
function usageText({ limits, usage }) {
  if (!limits || !usage) return '';
  const parts = [];
  if (limits.storage_bytes != null) {
    parts.push(`Storage: ${fmt.size(usage.storage_bytes)} of ${fmt.size(limits.storage_bytes)}`);
  }
  if (limits.jobs_per_day != null) parts.push(`Jobs today: ${usage.jobs_today} of ${limits.jobs_per_day}`);
  if (limits.concurrent_jobs != null) {
    parts.push(`In progress: ${usage.concurrent_jobs} of ${limits.concurrent_jobs}`);
  }
  return parts.join(' · ');
}

/** Leaves the logged-in pages; `keep` holds on to the uploads and rows for the next login. */
function leave(message, keep) {
  session.clear();
  if (live) live.close();
  live = null;
  if (keep) {
    if (me) keptFor = me.id;
  } else {
    keptFor = null;
    uploader.cancelAll();
    jobs.clear();
  }
  me = null;
  keys.hideSecret();
  webhooks.clear();
  byId('nav').hidden = true;
  byId('who').textContent = '';
  byId('login-form').reset();
  byId('login-error').textContent = '';
  const note = byId('session-note');
  note.textContent = message ?? '';
  note.hidden = !message;
  show('login-view');
}

// The one place that reacts to the end of a session, whichever request or timer noticed it.
onSessionEnded((reason) => {
  const why = reason === 'expired' ? 'Your session has expired.' : 'Your session has ended.';
  const kept = me && uploader.pendingCount() > 0 ? ' Your files and this page are kept: log in again to go on.' : ' Log in again to go on where you were.';
  leave(`${why}${kept}`, true);
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

byId('logout').addEventListener('click', () => leave(null, false));
window.addEventListener('hashchange', () => route(true).catch(() => {}));

// The single sign-on button, when the server has a provider.
providers()
  .then(({ sso }) => {
    if (!sso) return;
    const button = byId('sso-button');
    button.textContent = `Sign in with ${sso.name}`;
    button.href = sso.login_url;
    byId('sso').hidden = false;
  })
  .catch(() => {});

/** Back from the provider (`#sso`): fetch the token its callback left for this browser. */
async function finishSso() {
  history.replaceState(null, '', `${location.pathname}#/`);
  try {
    session.save(await ssoToken());
    await start(true);
  } catch (err) {
    if (!me) session.clear();
    show('login-view');
    byId('login-error').textContent = err.message;
  }
}

if (location.hash === '#sso') {
  finishSso();
} else if (session.token && !session.ended) {
  start(false).catch(() => {
    // A 401 has already ended the session (and said so); anything else: log in afresh.
    if (session.token) leave(null, false);
  });
} else {
  if (session.token) {
    session.clear();
    byId('session-note').textContent = 'Your session has expired. Log in again to go on where you were.';
    byId('session-note').hidden = false;
  }
  show('login-view');
}
