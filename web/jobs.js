// The list of jobs: one row per job and per upload still in flight, kept up to date from the
// live event stream. Rows are updated in place (never rebuilt), so progress updates do not
// restart an <audio> that is playing.

import { ApiError, api, audioUrl, openEvents } from './api.js';
import { announce, byId, h } from './dom.js';
import * as fmt from './format.js';

/** A row's fields from a JobView of the API. */
function fromJob(job) {
  return {
    id: job.id,
    name: job.original_name,
    state: job.state,
    progress: job.progress,
    error: job.error ? job.error.message : null,
    duration: job.duration_secs,
    videoSize: job.video_size,
    audioSize: job.audio_size,
    createdAt: job.created_at,
    audio: job.links ? job.links.audio : null,
  };
}

/** Points `audio` at a signed URL of job `id`, and at a fresh one when that expires mid-play. */
function playSigned(audio, id) {
  let signedAt = 0;
  const sign = async () => {
    signedAt = Date.now();
    const at = audio.currentTime;
    const playing = !audio.paused;
    audio.src = await audioUrl(id);
    if (at > 0) audio.currentTime = at;
    if (playing) audio.play().catch(() => {});
  };
  audio.addEventListener('error', () => {
    if (Date.now() - signedAt > 10_000) sign().catch(() => {});
  });
  sign().catch(() => {});
}

/** A click on a download link: fetches a fresh signed URL and downloads that instead. */
function downloadSigned(e, id) {
  e.preventDefault();
  audioUrl(id)
    .then((url) => {
      const a = h('a', { href: url, download: true, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    })
    .catch((err) => announce(`Download failed: ${err.message}`));
}

const ACTIVE = new Set(['waiting', 'uploading', 'queued', 'converting']);
const FINAL = new Set(['done', 'failed', 'expired']);

/** One job (or upload) on the page. */
class Row {
  constructor(list, fields) {
    this.list = list;
    this.data = { progress: 0, ...fields };
    this.cancel = null;
    this.title = h('h3.job-name');
    this.status = h('span.job-state');
    this.bar = h('progress', { max: 100 });
    this.meta = h('p.job-meta');
    this.actions = h('div.job-actions');
    this.el = h('li.job', {}, h('div.job-head', {}, this.title, this.status), this.bar, this.meta, this.actions);
    this.player = null;
    this.render(null);
  }

  /** Merges `fields` and redraws what changed. */
  update(fields) {
    const before = this.data.state;
    Object.assign(this.data, fields);
    this.render(before);
  }

  render(before) {
    const d = this.data;
    const words = fmt.stateText(d);
    this.el.dataset.state = d.state;
    if (d.id) this.el.dataset.id = d.id;
    this.title.textContent = d.name;
    this.status.textContent = words;
    this.status.dataset.state = d.state;

    this.bar.hidden = !ACTIVE.has(d.state);
    this.bar.setAttribute('aria-label', `Progress of ${d.name}`);
    if (d.state === 'uploading' || d.state === 'converting') {
      this.bar.value = fmt.percent(d.progress);
      this.bar.setAttribute('aria-valuetext', words);
    } else {
      this.bar.removeAttribute('value'); // indeterminate while waiting or queued
      this.bar.removeAttribute('aria-valuetext');
    }

    const meta = [];
    if (d.duration != null) meta.push(fmt.duration(d.duration));
    // An upload that never became a job may not be a video at all.
    meta.push(d.id ? `video ${fmt.size(d.videoSize)}` : fmt.size(d.videoSize));
    if (d.audioSize != null) meta.push(`MP3 ${fmt.size(d.audioSize)}`);
    if (d.createdAt != null) meta.push(fmt.when(d.createdAt));
    this.meta.textContent = meta.join(' · ');

    if (d.state === 'done' && d.id && !this.player) {
      this.player = h('audio', {
        controls: true,
        preload: 'metadata',
        'aria-label': `Play ${d.name}`,
      });
      playSigned(this.player, d.id);
      this.meta.after(this.player);
    }
    if (d.state !== 'done' && this.player) {
      this.player.remove();
      this.player = null;
    }
    this.renderActions();

    if (before && before !== d.state && FINAL.has(d.state)) announce(`${d.name}: ${words}`);
  }

  renderActions() {
    const d = this.data;
    const buttons = [];
    if (d.state === 'done' && d.id) {
      buttons.push(
        h('a.button', { href: `/api/v1/jobs/${d.id}/audio`, download: true, onclick: (e) => downloadSigned(e, d.id) },
          'Download', h('span.visually-hidden', {}, ` ${d.name}`)),
      );
    }
    if (d.id) {
      buttons.push(
        h('button.danger', { type: 'button', onclick: () => this.list.remove(this) }, 'Delete',
          h('span.visually-hidden', {}, ` ${d.name}`)),
      );
    } else if (this.cancel) {
      buttons.push(
        h('button.secondary', { type: 'button', onclick: () => this.cancel() }, 'Cancel',
          h('span.visually-hidden', {}, ` upload of ${d.name}`)),
      );
    } else if (d.state === 'failed') {
      buttons.push(
        h('button.secondary', { type: 'button', onclick: () => this.list.dismiss(this) }, 'Dismiss',
          h('span.visually-hidden', {}, ` ${d.name}`)),
      );
    }
    // Redraw only when the set of actions changes, so a focused button keeps its focus.
    const key = buttons.map((b) => b.textContent).join('|') + (d.id ?? '');
    if (key !== this.actionsKey) {
      this.actionsKey = key;
      this.actions.replaceChildren(...buttons);
    }
  }
}

/** Every row of the page, by job id (and the uploads that have no id yet). */
export class JobList {
  constructor() {
    this.el = byId('jobs');
    this.empty = byId('jobs-empty');
    this.byId = new Map();
    this.pending = [];
    this.reloading = null;
    this.again = false;
    this.early = new Map();
    this.earlyTimer = null;
  }

  /** A row for a file that is about to be uploaded. */
  addPending(file) {
    const row = new Row(this, { name: file.name, state: 'waiting', videoSize: file.size });
    this.pending.push(row);
    this.arrange();
    return row;
  }

  /** The upload of `row` created `job`: from now on the row is that job's. */
  bind(row, job) {
    this.pending = this.pending.filter((r) => r !== row);
    row.cancel = null;
    const existing = this.byId.get(job.id);
    if (existing) {
      // The event stream already brought this job in with a reload: keep that row.
      row.el.remove();
    } else {
      row.update(fromJob(job));
      this.byId.set(job.id, row);
    }
    this.arrange();
    const early = this.early.get(job.id);
    if (early) {
      this.early.delete(job.id);
      this.applyEvent(early);
    }
  }

  /** Forgets a failed upload. */
  dismiss(row) {
    this.pending = this.pending.filter((r) => r !== row);
    row.el.remove();
    this.arrange();
    byId('list-title').focus();
  }

  /** Deletes a job after asking. */
  async remove(row) {
    const { id, name } = row.data;
    if (!window.confirm(`Delete “${name}” and its MP3?`)) return;
    try {
      await api('DELETE', `/api/v1/jobs/${id}`);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) {
        row.update({ state: 'failed', error: `could not delete: ${e.message}` });
        return;
      }
    }
    this.byId.delete(id);
    row.el.remove();
    this.arrange();
    announce(`${name} deleted`);
    byId('list-title').focus();
  }

  /** Fetches the list again and merges it (coalescing calls made while one runs). */
  async reload() {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.again = false;
        const jobs = await api('GET', '/api/v1/jobs');
        const seen = new Set();
        for (const job of jobs) {
          seen.add(job.id);
          const row = this.byId.get(job.id);
          if (row) row.update(fromJob(job));
          else this.byId.set(job.id, new Row(this, fromJob(job)));
        }
        for (const [id, row] of this.byId) {
          if (!seen.has(id)) {
            this.byId.delete(id);
            row.el.remove();
          }
        }
        this.arrange();
      } while (this.again);
    })().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  /** A live event (a JobEvent of the API). */
  applyEvent(event) {
    const row = this.byId.get(event.job_id);
    if (!row) {
      // A job this page does not know yet. Most often it is an upload from this page whose
      // answer is still on its way (the server announces the job before it answers): keep the
      // latest event for bind(). If no upload claims it soon, the job came from elsewhere (another
      // tab or device) and the list is reloaded.
      this.early.set(event.job_id, event);
      const uploading = this.pending.some((r) => r.data.state === 'uploading');
      clearTimeout(this.earlyTimer);
      this.earlyTimer = setTimeout(() => {
        if (this.early.size === 0) return;
        this.early.clear();
        this.reload().catch(() => {});
      }, uploading ? 3000 : 0);
      return;
    }
    row.update({ state: event.state, progress: event.progress, error: event.error_message });
    if (event.state === 'done') {
      // The event carries no sizes or duration: read the job once.
      api('GET', `/api/v1/jobs/${event.job_id}`)
        .then((job) => row.update(fromJob(job)))
        .catch(() => {});
    }
  }

  /** Removes every row (logging out). */
  clear() {
    clearTimeout(this.earlyTimer);
    this.early.clear();
    this.byId.clear();
    this.pending = [];
    this.el.replaceChildren();
    this.empty.hidden = true;
  }

  /**
   * Puts the rows in order (uploads in flight first, then jobs newest first), moving only the
   * rows that are out of place: moving an element that holds a playing <audio> would stop it.
   */
  arrange() {
    const jobs = [...this.byId.values()].sort((a, b) => (b.data.createdAt ?? 0) - (a.data.createdAt ?? 0));
    const wanted = [...this.pending, ...jobs].map((r) => r.el);
    wanted.forEach((el, i) => {
      const here = this.el.children[i];
      if (here !== el) this.el.insertBefore(el, here ?? null);
    });
    while (this.el.children.length > wanted.length) this.el.lastElementChild.remove();
    this.empty.hidden = wanted.length > 0;
  }
}

/**
 * Follows `/api/v1/events` (every job of the caller). `onEvent(jobEvent)` for each change;
 * `onResync()` when events may have been missed (a `resync` event, or a reconnect);
 * `onRefused()` when the server refused the stream or ended it with `session-ended` (the token
 * expired or was revoked) — it is opened again after a pause unless `close()` was called. A
 * broken connection is reopened after 2 s. Returns `{close}`.
 */
export function follow(onEvent, onResync, onRefused) {
  let stream = null;
  let closed = false;
  let broken = false;
  let timer = null;
  const open = () => {
    let sessionEnded = false;
    stream = openEvents('/api/v1/events', {
      open() {
        if (broken) onResync();
        broken = false;
      },
      event(name, data) {
        if (name === 'message') onEvent(JSON.parse(data));
        else if (name === 'resync') onResync();
        else if (name === 'session-ended') sessionEnded = true;
      },
      end(status) {
        broken = true;
        if (closed) return;
        const refused = status !== 0 || sessionEnded;
        if (refused) onRefused();
        timer = setTimeout(() => {
          if (!closed) open();
        }, refused ? 5000 : 2000);
      },
    });
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      stream.close();
    },
  };
}
