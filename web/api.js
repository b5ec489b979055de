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
function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return {};
  }
}

function expiryOf(token) {
  const { exp } = claimsOf(token);
  return Number.isFinite(exp) ? exp * 1000 : null;
}

export const session = {
  /** The bearer token, or null when logged out. */
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  /** The logged-in user's id (the token's subject), or null. */
  get userId() {
    const token = this.token;
    return token ? (claimsOf(token).sub ?? null) : null;
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

/** `GET /api/v1/auth/providers`: the login methods (`{password, sso: {name, login_url} | null}`). */
export async function providers() {
  const res = await fetch('/api/v1/auth/providers');
  if (!res.ok) throw errorOf(res.status, await res.text());
  return res.json();
}

/**
 * `POST /api/v1/auth/sso/token`: the token of the single sign-on login that just came back. The
 * server hands it over once, to the browser holding the HttpOnly cookie its callback set.
 */
export async function ssoToken() {
  let res;
  try {
    res = await fetch('/api/v1/auth/sso/token', { method: 'POST', credentials: 'same-origin' });
  } catch {
    throw networkError();
  }
  if (res.ok) return (await res.json()).token;
  throw errorOf(res.status, await res.text());
}

/** Bytes sent per PATCH: a dropped connection costs at most the part of one in flight. */
const PATCH_BYTES = 32 * 1024 * 1024;
/** Pauses between attempts after a failure (the last one repeats) and how many in a row. */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const MAX_FAILURES = 12;
const RESUME_KEY = 'mp3converter.resume';

/** Waits before attempt `n + 1` after `n` failures in a row. */
function pause(n) {
  return new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[Math.min(n, RETRY_DELAYS_MS.length) - 1]));
}

/** The same file chosen again (also after a reload) by the same user: where its upload is. */
function fingerprint(file) {
  return [session.userId ?? '', file.name, file.size, file.lastModified].join('|');
}

function resumeUrls() {
  try {
    const map = JSON.parse(sessionStorage.getItem(RESUME_KEY) ?? '{}');
    return map && typeof map === 'object' ? map : {};
  } catch {
    return {};
  }
}

function rememberUpload(file, url) {
  const map = resumeUrls();
  if (url) map[fingerprint(file)] = url;
  else delete map[fingerprint(file)];
  if (Object.keys(map).length) sessionStorage.setItem(RESUME_KEY, JSON.stringify(map));
  else sessionStorage.removeItem(RESUME_KEY);
}

/** `Upload-Metadata`: the file's name and the option fields, base64 as tus wants. */
function metadataOf(file, fields) {
  const b64 = (text) => {
    const bytes = new TextEncoder().encode(text);
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary);
  };
  return [['filename', file.name], ...Object.entries(fields)]
    .map(([k, v]) => `${k} ${b64(String(v))}`)
    .join(',');
}

/** One tus request with XHR (for upload progress); resolves to the XHR whatever its status. */
function tusRequest(method, url, headers, body, onProgress, current) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    current.xhr = xhr;
    xhr.open(method, url);
    xhr.setRequestHeader('Authorization', `Bearer ${session.token}`);
    xhr.setRequestHeader('Tus-Resumable', '1.0.0');
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    if (onProgress) {
      xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded));
    }
    xhr.addEventListener('load', () => resolve(xhr));
    xhr.addEventListener('error', () => reject(networkError()));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.')));
    xhr.send(body ?? null);
  });
}

/**
 * Stores `cover` as the picture of the upload at `url`, trying again through a short network
 * drop or a failing server. A refused picture gives the upload up (it would not be the job that
 * was asked for) and rejects with the server's reason.
 */
async function sendCover(url, cover, current, fail, forget) {
  for (let failures = 0; ; failures += 1) {
    let xhr = null;
    try {
      xhr = await tusRequest('PUT', `${url}/cover`, { 'Content-Type': cover.type || 'application/octet-stream' }, cover, null, current);
    } catch (e) {
      if (current.aborted) throw e;
    }
    if (xhr?.status === 204) return;
    const transient = !xhr || xhr.status === 429 || xhr.status >= 500;
    if (!transient || failures >= MAX_FAILURES) {
      if (xhr && xhr.status !== 401) {
        forget();
        await tusRequest('DELETE', url, {}, null, null, current).catch(() => null);
      }
      throw xhr ? fail(xhr) : networkError();
    }
    await pause(failures + 1);
    if (current.aborted) throw new ApiError(0, 'aborted', 'The upload was cancelled.');
  }
}

/**
 * Uploads `file` resumably (tus, `/api/v1/uploads`) with the option `fields`. The file is sent in
 * slices, never read whole. After a dropped connection or a failing server it asks the server how
 * much arrived and sends the rest; the same file chosen again after a reload of the tab (the URL is
 * kept in sessionStorage, like the token) continues where its
 * upload stopped. `onProgress(sent, total)` follows the bytes. A `cover` picture (a File) is sent
 * once the upload exists and before its bytes (`PUT /api/v1/uploads/{id}/cover`): the job embeds
 * it. Returns `{done, abort}`: `done` resolves to the created job or rejects with an ApiError.
 */
export function upload(file, fields, onProgress, cover = null) {
  const current = { xhr: null, aborted: false };
  const fail = (xhr) => {
    if (xhr.status === 401) endSession();
    return errorOf(xhr.status, xhr.responseText);
  };
  const done = (async () => {
    if (file.size === 0) throw new ApiError(400, 'empty-file', 'The file is empty.');
    let url = resumeUrls()[fingerprint(file)] ?? null;
    let offset = null;
    if (url) {
      const head = await tusRequest('HEAD', url, {}, null, null, current).catch(() => null);
      if (head?.status === 200) offset = Number(head.getResponseHeader('Upload-Offset'));
      else url = null;
    }
    if (!url) {
      const created = await tusRequest('POST', '/api/v1/uploads', {
        'Upload-Length': String(file.size),
        'Upload-Metadata': metadataOf(file, fields),
      }, null, null, current);
      if (created.status !== 201) throw fail(created);
      url = created.getResponseHeader('Location');
      offset = 0;
      rememberUpload(file, url);
    }
    if (cover && offset < file.size) await sendCover(url, cover, current, fail, () => rememberUpload(file, null));
    let jobId = null;
    let failures = 0;
    while (jobId === null) {
      onProgress(offset, file.size);
      let xhr;
      try {
        const end = Math.min(file.size, offset + PATCH_BYTES);
        const at = offset;
        xhr = await tusRequest('PATCH', url, {
          'Content-Type': 'application/offset+octet-stream',
          'Upload-Offset': String(at),
        }, file.slice(at, end), (sent) => onProgress(at + sent, file.size), current);
      } catch (e) {
        if (current.aborted) throw e;
        xhr = null;
      }
      if (xhr?.status === 204) {
        offset = Number(xhr.getResponseHeader('Upload-Offset'));
        jobId = xhr.getResponseHeader('X-Job-Id');
        failures = 0;
        continue;
      }
      const transient = !xhr || xhr.status === 409 || xhr.status === 429 || xhr.status >= 500;
      if (!transient) {
        if (xhr.status === 404 || xhr.status === 410 || xhr.status === 415) rememberUpload(file, null);
        throw fail(xhr);
      }
      failures += 1;
      if (failures > MAX_FAILURES) throw xhr ? fail(xhr) : networkError();
      await pause(failures);
      if (current.aborted) throw new ApiError(0, 'aborted', 'The upload was cancelled.');
      const head = await tusRequest('HEAD', url, {}, null, null, current).catch(() => null);
      if (head?.status === 200) {
        const at = Number(head.getResponseHeader('Upload-Offset'));
        if (at > offset) failures = 0;
        offset = at;
        jobId = head.getResponseHeader('X-Job-Id');
      } else if (head && head.status !== 0 && head.status < 500) {
        rememberUpload(file, null);
        throw fail(head);
      }
    }
    rememberUpload(file, null);
    onProgress(file.size, file.size);
    // The job exists now: reading it is worth waiting for through a short network drop too.
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await api('GET', `/api/v1/jobs/${encodeURIComponent(jobId)}`);
      } catch (e) {
        if (e.status !== 0 || attempt > MAX_FAILURES || current.aborted) throw e;
        await pause(attempt);
      }
    }
  })();
  return {
    done,
    abort: () => {
      current.aborted = true;
      current.xhr?.abort();
    },
  };
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
