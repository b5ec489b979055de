// Picking and dropping files, the advanced options, and the upload queue: two uploads at a time
// (a browser keeps at most six connections to a server, and the event stream and the players
// need some), each with a progress bar for its bytes. Unless turned off in the advanced options,
// the audio track of a video is first taken out on this device (extract.js) and only that is
// uploaded; a file that cannot be handled that way is sent whole. Or a URL the server imports itself: its
// row then shows the server's download (`downloading 42 %`) before the conversion.
//
// Uploads are not lost silently: leaving the page while one runs asks first (`beforeunload`),
// and each running upload is recorded in sessionStorage, so that after a reload the page shows
// the ones that were interrupted. When the session ends, the queue waits (an upload refused
// with 401 goes back to it) and goes on after the same user logs in again.

import { ApiError, api, importUrl, session, upload } from './api.js';
import { byId } from './dom.js';
import { extractAudio } from './extract.js';
import { parseTime, size } from './format.js';

const AT_ONCE = 2;
const RECORD_KEY = 'mp3converter.uploads';
/** This page load: records of other loads are uploads that a reload interrupted. */
const PAGE = `${Date.now()}-${Math.random().toString(36).slice(2)}`;

function records() {
  try {
    const list = JSON.parse(sessionStorage.getItem(RECORD_KEY) ?? '[]');
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function saveRecords(list) {
  if (list.length) sessionStorage.setItem(RECORD_KEY, JSON.stringify(list));
  else sessionStorage.removeItem(RECORD_KEY);
}

/**
 * What each preset sets in the form (the server's presets, `crates/core/src/preset.rs`; the
 * browser test checks that a preset's job has the server's options).
 */
const PRESETS = {
  speech: { format: 'opus', bitrate: '32', mono: true, loudness: '-16' },
  podcast: { format: 'mp3', bitrate: '96', mono: true, loudness: '-16' },
  music: { format: 'mp3', vbr: '0', mono: false, loudness: '' },
  audiobook: { format: 'mp3', bitrate: '64', mono: true, loudness: '-18' },
};

/** The cover pictures the server takes (by their bytes; the type is checked here first). */
const COVER_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp']);
/** The largest cover picture the server takes (16 MiB). */
const MAX_COVER_BYTES = 16 * 1024 * 1024;

/** What is wrong with the chosen cover picture (`file`, or none), or null. */
function coverProblem(file) {
  if (!file) return null;
  if (!COVER_TYPES.has(file.type)) return 'The cover picture must be a JPEG, PNG or WebP image.';
  if (file.size === 0) return 'The cover picture is empty.';
  if (file.size > MAX_COVER_BYTES) return `The cover picture is too large (${size(file.size)}): it may be at most 16 MiB (16,777,216 bytes).`;
  if (byId('cover-time').value.trim() !== '') return 'Choose a cover picture or a time in the video, not both: clear "Cover from video at" or remove the picture.';
  return null;
}

/** Formats with no bitrate or VBR quality. */
const LOSSLESS = new Set(['flac', 'wav']);

/** Errors worth another try with the same file: the network, a busy or failing server. */
function retryable(e) {
  return e.status === 0 || e.status === 429 || e.status >= 500;
}

/**
 * The chosen options as form fields (and the cover picture, `cover`, a File or null), or an error
 * message. Only what differs from the server's defaults is sent, so an MP3 source can still be
 * copied rather than re-encoded.
 */
export function readOptions() {
  const fields = {};
  const preset = byId('preset').value;
  if (preset !== '') fields.preset = preset;
  const format = byId('format').value;
  if (format !== 'mp3') fields.format = format;
  const loudness = byId('loudness').value;
  if (loudness !== '') fields.loudness = loudness;
  if (LOSSLESS.has(format)) {
    // No quality setting applies.
  } else if (byId('mode-vbr').checked && format === 'mp3') {
    fields.vbr = byId('vbr').value;
  } else {
    const bitrate = byId('bitrate');
    const chosen = bitrate.selectedOptions[0];
    if (chosen && !chosen.defaultSelected) fields.bitrate = bitrate.value;
  }
  if (byId('mono').checked) fields.mono = 'true';
  const start = parseTime(byId('start').value);
  const end = parseTime(byId('end').value);
  if (Number.isNaN(start)) return { error: 'Start is not a time: use seconds (90) or minutes:seconds (1:30).', field: 'start' };
  if (Number.isNaN(end)) return { error: 'End is not a time: use seconds (90) or minutes:seconds (1:30).', field: 'end' };
  if (start != null && end != null && end <= start) return { error: 'End must be after start.', field: 'end' };
  if (start != null) fields.start = String(start);
  if (end != null) fields.end = String(end);
  const split = byId('split').value;
  if (split !== '') fields.split = split;
  const tags = readTags();
  if (tags.error) return tags;
  Object.assign(fields, tags.fields);
  return { fields, cover: tags.cover };
}

/** The tag fields that are filled in, checked as the server will, and the cover time. */
function readTags() {
  const fields = {};
  for (const [id, name] of [['tag-title', 'title'], ['tag-artist', 'artist'], ['tag-album', 'album'],
    ['tag-genre', 'genre'], ['tag-comment', 'comment']]) {
    const value = byId(id).value.trim();
    if (value !== '') fields[name] = value;
  }
  const date = byId('tag-date').value.trim();
  if (date !== '') {
    if (!/^\d{4}(-\d{2}(-\d{2})?)?$/.test(date)) return { error: 'Date must be YYYY, YYYY-MM or YYYY-MM-DD.', field: 'tag-date' };
    fields.date = date;
  }
  const track = byId('tag-track').value.trim();
  if (track !== '') {
    if (!/^\d{1,4}$/.test(track) || Number(track) < 1) return { error: 'Track number must be 1 to 9999.', field: 'tag-track' };
    fields.track_number = track;
  }
  const cover = parseTime(byId('cover-time').value);
  if (Number.isNaN(cover)) return { error: 'Cover time is not a time: use seconds (5) or minutes:seconds (0:05).', field: 'cover-time' };
  if (cover != null) fields.cover_from_video = String(cover);
  if (byId('no-tags').checked) fields.no_tags = 'true';
  const picture = byId('cover-file').files[0] ?? null;
  const problem = coverProblem(picture);
  if (problem) return { error: problem, field: 'cover-file' };
  return { fields, cover: picture };
}

/** The upload form and its queue of files. */
export class Uploader {
  /** `me()` is the logged-in user (`/api/v1/me`), or null. */
  constructor(jobs, me) {
    this.jobs = jobs;
    this.me = me;
    this.queue = [];
    this.running = new Set();
    this.error = byId('options-error');
    this.nextRecord = 0;
    this.shown = new Set();

    window.addEventListener('beforeunload', (e) => {
      if (this.running.size === 0 && this.queue.length === 0) return;
      e.preventDefault();
      e.returnValue = ''; // older browsers need it set to ask
    });
    // Uploads that the page's end cuts off stay recorded: the next load shows them.
    this.leaving = false;
    window.addEventListener('pagehide', () => {
      this.leaving = true;
    });

    const input = byId('file-input');
    input.addEventListener('change', () => {
      this.add([...input.files]);
      this.estimate.chose(input.files[input.files.length - 1]);
      input.value = '';
    });
    this.estimate = new Estimate();

    const drop = byId('drop');
    drop.addEventListener('dragenter', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
    });
    drop.addEventListener('dragleave', (e) => {
      if (!drop.contains(e.relatedTarget)) drop.classList.remove('over');
    });
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      const files = [...(e.dataTransfer?.files ?? [])];
      this.add(files);
      this.estimate.chose(files[files.length - 1]);
    });
    // A file dropped next to the zone must not make the browser leave the page to show it.
    window.addEventListener('dragover', (e) => e.preventDefault());
    window.addEventListener('drop', (e) => e.preventDefault());

    const vbr = byId('vbr');
    const bitrate = byId('bitrate');
    const format = byId('format');
    // The quality settings follow the format: none for lossless ones, VBR quality for MP3 only.
    const syncMode = () => {
      const lossless = LOSSLESS.has(format.value);
      const mp3 = format.value === 'mp3';
      byId('quality').disabled = lossless;
      byId('mode-vbr').disabled = !mp3;
      if (!mp3 && byId('mode-vbr').checked) byId('mode-cbr').checked = true;
      vbr.disabled = !byId('mode-vbr').checked;
      bitrate.disabled = !byId('mode-cbr').checked;
    };
    byId('mode-cbr').addEventListener('change', syncMode);
    byId('mode-vbr').addEventListener('change', syncMode);
    format.addEventListener('change', syncMode);
    // A preset fills in the options; the user may change any of them afterwards.
    byId('preset').addEventListener('change', () => {
      const p = PRESETS[byId('preset').value];
      if (!p) return;
      format.value = p.format;
      if (p.vbr != null) {
        byId('mode-vbr').checked = true;
        vbr.value = p.vbr;
      } else {
        byId('mode-cbr').checked = true;
        bitrate.value = p.bitrate;
      }
      byId('mono').checked = p.mono;
      byId('loudness').value = p.loudness;
      syncMode();
    });
    // The cover picture: checked as soon as it is chosen, the message next to it; while one is
    // chosen the cover cannot also come from the video.
    const coverFile = byId('cover-file');
    const coverTime = byId('cover-time');
    const syncCover = () => {
      const picture = coverFile.files[0] ?? null;
      byId('cover-file-error').textContent = coverProblem(picture) ?? '';
      byId('cover-file-clear').hidden = !picture;
      coverTime.disabled = picture !== null && coverTime.value.trim() === '';
    };
    coverFile.addEventListener('change', syncCover);
    coverTime.addEventListener('input', syncCover);
    byId('cover-file-clear').addEventListener('click', () => {
      coverFile.value = '';
      syncCover();
      coverFile.focus();
    });
    // Enter in the URL field, or the Import button.
    byId('upload-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.importUrl();
    });
  }

  /** Asks the server to import the URL in the field, with the options chosen now. */
  importUrl() {
    const input = byId('url-input');
    const failure = byId('import-error');
    const url = input.value.trim();
    failure.textContent = '';
    if (!url) return;
    if (!/^https?:\/\//i.test(url)) {
      failure.textContent = 'Enter an http:// or https:// address.';
      input.focus();
      return;
    }
    const chosen = this.options();
    if (!chosen) return;
    if (chosen.cover) {
      failure.textContent = 'A cover picture cannot go with an import: remove it, or download the file and upload it with the picture.';
      return;
    }
    const { fields } = chosen;
    const button = byId('import-button');
    button.disabled = true;
    importUrl(url, fields)
      .then((job) => {
        input.value = '';
        const row = this.jobs.addPending({ name: job.original_name, size: 0 });
        this.jobs.bind(row, job);
      })
      .catch((e) => {
        failure.textContent = e.message;
        input.focus();
      })
      .finally(() => {
        button.disabled = false;
      });
  }

  /**
   * The options chosen now as form fields and the cover picture (`{fields, cover}`); null (the
   * faulty field shown) when one is bad.
   */
  options() {
    const { fields, cover, error, field } = readOptions();
    this.error.textContent = error ?? '';
    if (!error) return { fields, cover };
    byId('advanced').open = true;
    byId(field).focus();
    return null;
  }

  /** Queues `files` with the options chosen now. */
  add(files) {
    if (files.length === 0) return;
    const chosen = this.options();
    if (!chosen) return;
    const { fields, cover } = chosen;
    // A cover taken from the video needs the video itself on the server.
    const extract = byId('extract-audio').checked && fields.cover_from_video === undefined;
    for (const file of files) {
      const row = this.jobs.addPending(file);
      const item = { file, fields, cover, extract, sent: null, row, abort: null, cancelled: false };
      this.enqueue(item);
    }
    this.pump();
  }

  enqueue(item, first = false) {
    const { row } = item;
    item.abort = null;
    row.cancel = () => this.cancel(item);
    row.retry = null;
    row.update({ state: 'waiting', progress: 0, error: null });
    if (first) this.queue.unshift(item);
    else this.queue.push(item);
  }

  /** Uploads waiting or running (kept when the session ends). */
  pendingCount() {
    return this.queue.length + this.running.size;
  }

  /** Logged in (again): show uploads a reload interrupted, and go on with the queue. */
  loggedIn() {
    const me = this.me();
    for (const record of records().filter((r) => r.page !== PAGE && r.user === me?.id)) {
      if (this.shown.has(record.key)) continue;
      this.shown.add(record.key);
      // Kept (and shown after another reload) until dismissed.
      this.jobs.addInterrupted(record, () => this.forget(record.key));
    }
    this.pump();
  }

  pump() {
    // While logged out the queue waits for the next login.
    if (!session.token) return;
    while (this.running.size < AT_ONCE && this.queue.length > 0) this.start(this.queue.shift());
  }

  /** Notes a running upload in sessionStorage; the key to forget it by. */
  remember(item) {
    this.nextRecord += 1;
    const key = `${PAGE}/${this.nextRecord}`;
    const list = records();
    list.push({ key, page: PAGE, user: this.me()?.id ?? null, name: item.file.name, size: item.file.size });
    saveRecords(list);
    return key;
  }

  forget(key) {
    saveRecords(records().filter((r) => r.key !== key));
  }

  start(item) {
    this.running.add(item);
    const { row } = item;
    const record = this.remember(item);
    this.send(item)
      .then((job) => this.jobs.bind(row, job))
      .catch((e) => {
        if (item.cancelled) {
          row.cancel = null;
          this.jobs.dismiss(row);
        } else if (e.status === 401) {
          // The session ended: send it again after the next login.
          this.enqueue(item, true);
        } else {
          row.cancel = null;
          row.retry = retryable(e) ? () => this.retry(item) : null;
          row.update({ state: 'failed', error: e.message });
        }
      })
      .finally(() => {
        if (this.leaving) return;
        this.forget(record);
        this.running.delete(item);
        this.pump();
      });
  }

  /**
   * Extracts the audio (once per file: a retry sends the same bytes), then uploads. Resolves to
   * the job.
   */
  async send(item) {
    const { row } = item;
    if (!item.sent) {
      item.sent = { file: item.file, fields: item.fields };
      if (item.extract) {
        item.abort = () => {};
        row.update({ state: 'extracting', progress: 0 });
        const { track, ...others } = item.fields;
        const result = await extractAudio(item.file, {
          track: track === undefined ? null : Number(track),
          onProgress: (read, total) => row.update({ progress: total > 0 ? read / total : 0 }),
        });
        if (result.file) {
          // The job keeps the file's name; `source_size` tells the server what was left out.
          item.sent = { file: result.file, fields: { ...others, source_size: String(item.file.size) } };
        }
      }
    }
    if (item.cancelled) throw new ApiError(0, 'aborted', 'The upload was cancelled.');
    row.update({ state: 'uploading', progress: 0 });
    const { done, abort } = upload(item.sent.file, item.sent.fields, (sent, total) => {
      row.update({ progress: total > 0 ? sent / total : 0 });
    }, item.cover);
    item.abort = abort;
    return done;
  }

  /** Sends a failed upload again, with the options it had. */
  retry(item) {
    item.cancelled = false;
    this.enqueue(item);
    this.pump();
  }

  /** Stops one upload (waiting or running) and drops its row. */
  cancel(item) {
    item.cancelled = true;
    if (item.abort) {
      item.abort();
    } else {
      this.queue = this.queue.filter((i) => i !== item);
      this.jobs.dismiss(item.row);
    }
  }

  /** Stops everything (logging out). */
  cancelAll() {
    for (const item of [...this.queue, ...this.running]) {
      item.cancelled = true;
      if (item.abort) item.abort();
    }
    this.queue = [];
  }
}

// The estimate shown near the upload button for the last file chosen: "≈ 14 MB, ready ≈ 20 s
// after upload". The duration is read here, from the file's metadata (a hidden media element;
// its object URL is revoked at once), and the server's `POST /api/v1/estimate` predicts the
// rest for the options chosen now; it is asked again whenever they change. Hidden while the
// duration is unknown (a file the browser cannot read, no file yet) or the options are invalid.

/** The duration of `file` in seconds as the browser reads it, or null (after at most 5 s). */
function mediaDuration(file) {
  return new Promise((resolve) => {
    if (!file) {
      resolve(null);
      return;
    }
    const url = URL.createObjectURL(file);
    const el = document.createElement(file.type.startsWith('audio/') ? 'audio' : 'video');
    let settled = false;
    const done = (secs) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      URL.revokeObjectURL(url);
      el.removeAttribute('src');
      resolve(Number.isFinite(secs) && secs > 0 ? secs : null);
    };
    const timer = setTimeout(() => done(null), 5000);
    el.preload = 'metadata';
    el.muted = true;
    el.addEventListener('loadedmetadata', () => done(el.duration), { once: true });
    el.addEventListener('error', () => done(null), { once: true });
    el.src = url;
  });
}

/** `≈ 20 s`, `≈ 3 min`: a predicted wait in words. */
function wait(secs) {
  if (secs < 90) return `${Math.max(1, Math.round(secs))} s`;
  return `${Math.round(secs / 60)} min`;
}

/** The estimate line (`#estimate`) and what it was computed for. */
class Estimate {
  constructor() {
    this.el = byId('estimate');
    this.duration = null;
    this.asked = 0;
    const form = byId('upload-form');
    const again = (e) => {
      if (e.target.id !== 'file-input' && e.target.id !== 'url-input') this.refresh();
    };
    form.addEventListener('change', again);
    form.addEventListener('input', again);
  }

  /** A file was chosen: read its duration, then ask. */
  async chose(file) {
    this.duration = await mediaDuration(file);
    this.refresh();
  }

  /** Asks the server for the options chosen now; the newest answer wins. */
  async refresh() {
    const asked = ++this.asked;
    const { fields } = readOptions();
    if (this.duration == null || !fields || !session.token) {
      this.el.hidden = true;
      return;
    }
    try {
      const e = await api('POST', '/api/v1/estimate', { duration_secs: this.duration, ...fields });
      if (asked !== this.asked) return;
      this.el.textContent = `≈ ${size(e.bytes)}, ready ≈ ${wait(e.seconds)} after upload`;
      this.el.hidden = false;
    } catch {
      if (asked === this.asked) this.el.hidden = true;
    }
  }
}
