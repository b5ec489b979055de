// The client of the JSON API: the session's token, JSON requests, uploads with byte progress,
// the live event stream (read with fetch, so the token goes in a header) and short-lived signed
// audio URLs for <audio> and download links (which cannot send headers). The token itself never
// goes into a URL, where it would end up in the browser's history.
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

export const session = {
  /** The bearer token, or null when logged out. */
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  save(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

let expired = () => {};

/** Calls `fn` when the server refuses the token (expired, or the account was disabled). */
export function onExpired(fn) {
  expired = fn;
}

/** The error of a failed answer: the API's `{code, message}`, or the seed routes' plain text. */
function errorOf(status, text) {
  try {
    const body = JSON.parse(text);
    if (body && typeof body.message === 'string') {
      return new ApiError(status, body.code ?? `http-${status}`, body.message);
    }
  } catch {
    // Not JSON: the seed routes answer in plain text.
  }
  return new ApiError(status, `http-${status}`, text.trim() || `the server answered ${status}`);
}

function networkError() {
  return new ApiError(0, 'network', 'the server could not be reached');
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
  if (res.status === 401) expired();
  if (!res.ok) throw errorOf(res.status, await res.text());
  return res.status === 204 ? null : res.json();
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
      if (xhr.status === 401) expired();
      reject(errorOf(xhr.status, xhr.responseText));
    });
    xhr.addEventListener('error', () => reject(networkError()));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'the upload was cancelled')));
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
        if (status === 401) expired();
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
