// The client of the JSON API: the session's token, JSON requests, uploads with byte progress,
// and the URLs that carry the token for <audio> and EventSource (which cannot send headers).
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

/** `path` with the token as `?access_token=` (only the audio and event routes accept it). */
export function withToken(path) {
  return `${path}?access_token=${encodeURIComponent(session.token ?? '')}`;
}
