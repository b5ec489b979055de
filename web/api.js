// The client of the JSON API: the session's token, JSON requests, uploads with byte progress,
// the live event stream (read with fetch, so the token goes in a header) and short-lived signed
// audio URLs for <audio> and download links (which cannot send headers). The token itself never
// goes into a URL, where it would end up in the browser's history.
//
// The session ends in one place, `endSession()`: when the token's expiry time (its `exp`) comes,
// and at the first 401 of any request — JSON, upload, player, download or the event stream.
// Whatever notices it calls `endSession()`; the page (app.js) reacts once, through
// `onSessionEnded`, keeping what the user was doing for after they log in again.
//
// The token lives in sessionStorage: it survives a reload of the tab but not closing it, and
// other tabs do not share it. It is only ever sent in an Authorization header (never a cookie),
// so another site cannot make the browser send it: there is nothing to forge (no CSRF). See
// docs/architecture.md, "Web UI".

const TOKEN_KEY = 'mp3converter.token';

/** An answer other than 2xx, with the server's stable code and message in words. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The `exp` claim of a JWT in unix milliseconds, or null if it has none or is not a JWT. */
function expiryOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
    return Number.isFinite(claims.exp) ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

export const session = {
  /** The bearer token, or null when logged out. */
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  /** When the token expires (unix milliseconds), or null when unknown. */
  get expiresAt() {
    const token = this.token;
    return token ? expiryOf(token) : null;
  },
  /** True when there is no token or its expiry time has passed. */
  get ended() {
    const at = this.expiresAt;
    return !this.token || (at != null && Date.now() >= at);
  },
  save(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    watchExpiry();
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    clearTimeout(expiryTimer);
  },
};

let sessionEnded = () => {};
let expiryTimer = null;

/** Calls `fn(reason)` once when the session ends: `'expired'` or `'refused'` (a 401). */
export function onSessionEnded(fn) {
  sessionEnded = fn;
}

/**
 * Ends the session: forgets the token and tells the page. Called on the first 401 of any
 * request and when the token's expiry time comes. Does nothing when already logged out.
 */
export function endSession(reason = 'refused') {
  if (!session.token) return;
  session.clear();
  sessionEnded(reason);
}

/** Ends the session when the token's `exp` comes (checked again on wake from sleep). */
export function watchExpiry() {
  clearTimeout(expiryTimer);
  const at = session.expiresAt;
  if (at == null) return;
  // setTimeout holds at most ~24.8 days; check again then.
  const wait = Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1);
  expiryTimer = setTimeout(() => {
    if (session.ended) endSession('expired');
    else watchExpiry();
  }, wait);
}

// A laptop that slept past the expiry: timers were frozen, so check when the page is seen again.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && session.token && session.ended) endSession('expired');
});

/**
 * A message as the page shows it: a sentence starting with a capital and ending with a full
 * stop. The server's messages are lowercase phrases (stable, for scripts); the page's own are
 * sentences, so every message is shown this way.
 */
export function sentence(text) {
  const t = String(text ?? '').trim();
  if (!t) return t;
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
}

/** The error of a failed answer: the API's `{code, message}`, or the seed routes' plain text. */
function errorOf(status, text) {
  try {
    const body = JSON.parse(text);
    if (body && typeof body.message === 'string') {
      const code = body.code ?? `http-${status}`;
      let message = body.message;
      // "… the limit of 95.4 MiB (100000000 bytes)": the exact count is for scripts.
      if (code === 'too-large') message = message.replace(/ \(\d+ bytes\)/, '');
      return new ApiError(status, code, sentence(message));
    }
  } catch {
    // Not JSON: the seed routes answer in plain text.
  }
  return new ApiError(status, `http-${status}`, sentence(text.trim() || `the server answered ${status}`));
}

function networkError() {
  return new ApiError(0, 'network', 'The server could not be reached.');
}

/** `method path` with the token and an optional JSON body; the parsed answer (null for 204). */
export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session.token}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw networkError();
  }
  if (res.status === 401) endSession();
  if (!res.ok) throw errorOf(res.status, await res.text());
  return res.status === 204 ? null : res.json();
}

/** `POST /api/v1/jobs` with `{url, ...fields}`: the server fetches the file; the new job. */
export function importUrl(url, fields) {
  return api('POST', '/api/v1/jobs', { url, ...fields });
}

/** `POST /login` with HTTP Basic; the token. Wrong credentials and rate limits say so. */
export async function login(email, password) {
  const utf8 = new TextEncoder().encode(`${email}:${password}`);
  const basic = btoa(Array.from(utf8, (b) => String.fromCharCode(b)).join(''));
  let res;
  try {
    res = await fetch('/login', { method: 'POST', headers: { Authorization: `Basic ${basic}` } });
  } catch {
    throw networkError();
  }
  if (res.ok) return (await res.text()).trim();
  if (res.status === 401) {
    throw new ApiError(401, 'invalid-credentials', 'Wrong email or password.');
  }
  if (res.status === 429) {
    const wait = res.headers.get('Retry-After');
    const later = wait ? `in ${wait} s` : 'later';
    throw new ApiError(429, 'rate-limited', `Too many attempts. Try again ${later}.`);
  }
  throw errorOf(res.status, await res.text());
}

/**
 * Uploads `file` to `POST /api/v1/jobs` with the option `fields` (sent before the file, so the
 * server has them when the bytes arrive). `onProgress(sent, total)` follows the request body.
 * Returns `{done, abort}`: `done` resolves to the created job or rejects with an ApiError.
 */
export function upload(file, fields, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('file', file, file.name);
    xhr.open('POST', '/api/v1/jobs');
    xhr.setRequestHeader('Authorization', `Bearer ${session.token}`);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status === 201) {
        resolve(JSON.parse(xhr.responseText));
        return;
      }
      if (xhr.status === 401) endSession();
      reject(errorOf(xhr.status, xhr.responseText));
    });
    xhr.addEventListener('error', () => reject(networkError()));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.')));
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

/**
 * A signed URL of job `id`'s audio (`POST /api/v1/jobs/{id}/audio-url`): it opens that job's
 * MP3 (ranges included) for a few minutes without an Authorization header.
 */
export async function audioUrl(id) {
  const { url } = await api('POST', `/api/v1/jobs/${encodeURIComponent(id)}/audio-url`);
  return url;
}

/** The `(name, data)` of one server-sent event block, or null when it has no data. */
function parseEvent(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  return data.length ? { name, data: data.join('\n') } : null;
}

/**
 * Reads the server-sent events of `path` with fetch and the Authorization header (EventSource
 * cannot send one). `on.open()` once the server accepted; `on.event(name, data)` per event
 * (`message` for unnamed ones); `on.end(status)` once, when the stream is over: the HTTP status
 * of a refusal (401: the token is no longer good), or 0 when the connection broke or the server
 * ended the stream. Returns `{close}`; nothing is called after `close()`.
 */
export function openEvents(path, on) {
  const stop = new AbortController();
  (async () => {
    let status = 0;
    try {
      const res = await fetch(path, {
        headers: { Authorization: `Bearer ${session.token}`, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal: stop.signal,
      });
      if (!res.ok) {
        status = res.status;
        if (status === 401) endSession();
        return;
      }
      on.open();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event && !stop.signal.aborted) on.event(event.name, event.data);
        }
      }
    } catch {
      // Aborted by close(), or the connection broke.
    } finally {
      if (!stop.signal.aborted) on.end(status);
    }
  })();
  return { close: () => stop.abort() };
}

/**
 * A media or stream URL failed (the player, the event stream, which cannot see the status):
 * if the session has ended, say so; else ask the server whether the token is still accepted
 * (a 401 there ends the session too). Resolves true when the session is over.
 */
export async function checkSession() {
  if (session.ended) {
    endSession('expired');
    return true;
  }
  try {
    await api('GET', '/api/v1/me');
    return false;
  } catch (e) {
    return e instanceof ApiError && e.status === 401;
  }
}
