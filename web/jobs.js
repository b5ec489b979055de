// The list of jobs: one row per job and per upload still in flight, kept up to date from the
// live event stream. Rows are updated in place (never rebuilt), so progress updates do not
// restart an <audio> that is playing. The list shows the caller's own files, or (admins, #/all)
// every user's with the owner; #/jobs/<id> shows the list with that job brought into view.

import { ApiError, api, audioUrl, checkSession, endSession, openEvents, sentence, session } from './api.js';
import { announce, byId, h } from './dom.js';
import * as fmt from './format.js';
import { SharePanel } from './share.js';

/** A row's fields from a JobView of the API. */
function fromJob(job) {
  return {
    id: job.id,
    ownerId: job.owner_id,
    name: job.original_name,
    state: job.state,
    progress: job.progress,
    error: job.error ? sentence(job.error.message) : null,
    duration: job.duration_secs,
    videoSize: job.video_size,
    sourceSize: job.source_size ?? null,
    audioSize: job.audio_size,
    reusedFrom: job.reused_from ?? null,
    format: (job.options && job.options.format) || 'mp3',
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

const ACTIVE = new Set(['waiting', 'extracting', 'uploading', 'downloading', 'queued', 'converting']);
const FINAL = new Set(['done', 'failed', 'expired']);

/** One job (or upload) on the page. */
class Row {
  constructor(list, fields) {
    this.list = list;
    this.data = { progress: 0, ...fields };
    this.cancel = null;
    this.retry = null;
    this.dismissed = null;
    this.title = h('h3.job-name', { tabindex: -1 });
    this.status = h('span.job-state');
    this.bar = h('progress', { max: 100 });
    this.meta = h('p.job-meta');
    this.why = h('p.job-error');
    this.actions = h('div.job-actions');
    this.el = h('li.job', {}, h('div.job-head', {}, this.title, this.status), this.bar, this.meta, this.why, this.actions);
    this.player = null;
    this.share = null;
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
    this.why.textContent = d.error && (d.state === 'failed' || d.state === 'interrupted' || d.playError) ? d.error : '';

    this.bar.hidden = !ACTIVE.has(d.state);
    this.bar.setAttribute('aria-label', `Progress of ${d.name}`);
    if (['extracting', 'uploading', 'downloading', 'converting'].includes(d.state)) {
      this.bar.value = fmt.percent(d.progress);
      this.bar.setAttribute('aria-valuetext', words);
    } else {
      this.bar.removeAttribute('value'); // indeterminate while waiting or queued
      this.bar.removeAttribute('aria-valuetext');
    }

    const meta = [];
    if (this.list.mode === 'all' && d.ownerId) meta.push(this.list.ownerName(d.ownerId));
    if (d.duration != null) meta.push(fmt.duration(d.duration));
    // An upload that never became a job may not be a video at all.
    if (d.sourceSize != null) {
      // The audio track was taken out on the user's device: say what was (not) sent.
      meta.push(`only the audio was sent: ${fmt.size(d.videoSize)} of ${fmt.size(d.sourceSize)}`);
    } else {
      meta.push(d.id ? `video ${fmt.size(d.videoSize)}` : fmt.size(d.videoSize));
    }
    if (d.audioSize != null) meta.push(`${fmt.formatLabel(d.format)} ${fmt.size(d.audioSize)}`);
    // The same file with the same options was converted before: its audio was reused at once.
    if (d.reusedFrom) meta.push('same file as before: not converted again');
    if (d.createdAt != null) meta.push(fmt.when(d.createdAt));
    this.meta.textContent = meta.join(' · ');

    if (d.state === 'done' && d.id && !this.player) {
      this.player = h('audio', {
        controls: true,
        preload: 'metadata',
        'aria-label': `Play ${d.name}`,
        onerror: () => this.playerFailed(),
      });
      playSigned(this.player, d.id);
      this.meta.after(this.player);
    }
    if (d.state !== 'done' && this.player) {
      this.player.remove();
      this.player = null;
    }
    this.renderActions();

    if (before && before !== d.state && FINAL.has(d.state)) {
      announce(`${d.name}: ${words}${d.state === 'failed' && d.error ? `. ${d.error}` : ''}`);
    }
  }

  /** The player could not load the audio: an ended session says so; anything else is shown. */
  async playerFailed() {
    if (await checkSession()) return;
    this.update({ playError: true, error: 'The player could not load the audio. Reload the page to try again.' });
  }

  /** Opens or closes the share panel under the row (share.js). */
  toggleShare() {
    if (this.share) {
      this.share.el.remove();
      this.share = null;
      return;
    }
    this.share = new SharePanel(this.data.id, this.data.name);
    this.actions.after(this.share.el);
    this.share.open();
  }

  renderActions() {
    const d = this.data;
    const buttons = [];
    if (d.state === 'done' && d.id) {
      buttons.push(
        h('a.button', {
          href: `/api/v1/jobs/${d.id}/audio`,
          download: true,
          onclick: (e) => {
            // An expired token would save the server's 401 answer as the file: log in first.
            if (session.ended) {
              e.preventDefault();
              endSession('expired');
              return;
            }
            downloadSigned(e, d.id);
          },
        }, 'Download', h('span.visually-hidden', {}, ` ${d.name}`)),
      );
    }
    if (d.state === 'done' && d.id) {
      buttons.push(
        h('button.secondary', { type: 'button', onclick: () => this.toggleShare() }, 'Share',
          h('span.visually-hidden', {}, ` ${d.name}`)),
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
    } else if (d.state === 'failed' || d.state === 'interrupted') {
      if (this.retry) {
        buttons.push(
          h('button', { type: 'button', onclick: () => this.retry() }, 'Retry',
            h('span.visually-hidden', {}, ` upload of ${d.name}`)),
        );
      }
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
  /** `me()` is the logged-in user (`/api/v1/me`). */
  constructor(me) {
    this.me = me;
    this.el = byId('jobs');
    this.empty = byId('jobs-empty');
    this.title = byId('list-title');
    this.missing = byId('job-missing');
    this.byId = new Map();
    this.pending = [];
    this.reloading = null;
    this.again = false;
    this.early = new Map();
    this.earlyTimer = null;
    /** `mine` (the caller's own files) or `all` (admins: everyone's, with the owner). */
    this.mode = 'mine';
    /** The job #/jobs/<id> names, kept in the list even when it is not in the listed ones. */
    this.focusId = null;
    this.owners = new Map();
  }

  /** The owner's email in the "All files" view (their id until the users are loaded). */
  ownerName(id) {
    if (this.me()?.id === id) return 'you';
    return this.owners.get(id) ?? id;
  }

  /** Shows `mode`'s list; with `focusId`, brings that job into view (fetching it if needed). */
  async show(mode, focusId) {
    if (mode !== this.mode) {
      this.mode = mode;
      for (const row of this.byId.values()) row.el.remove();
      this.byId.clear();
    }
    this.title.textContent = mode === 'all' ? 'All files' : 'Your files';
    this.focusId = focusId;
    this.missing.hidden = true;
    for (const row of this.byId.values()) row.el.classList.remove('focused');
    await this.reload();
    if (!focusId) return;
    let row = this.byId.get(focusId);
    if (!row) {
      try {
        const job = await api('GET', `/api/v1/jobs/${focusId}`);
        row = new Row(this, fromJob(job));
        this.byId.set(job.id, row);
        this.arrange();
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) throw e;
        this.missing.hidden = false;
        this.missing.focus();
        return;
      }
    }
    row.el.classList.add('focused');
    row.el.scrollIntoView({ block: 'center' });
    row.title.focus({ preventScroll: true });
  }

  /** A row for a file that is about to be uploaded. */
  addPending(file) {
    const row = new Row(this, { name: file.name, state: 'waiting', videoSize: file.size });
    this.pending.push(row);
    this.arrange();
    return row;
  }

  /** A row for an upload that a reload or a closed tab interrupted (`record`: name, size). */
  addInterrupted(record, onDismiss) {
    const row = new Row(this, {
      name: record.name,
      state: 'interrupted',
      videoSize: record.size,
      error: 'The page was left during the upload. Choose the file again to retry.',
    });
    row.dismissed = onDismiss;
    row.update({});
    this.pending.push(row);
    this.arrange();
    return row;
  }

  /** The upload of `row` created `job`: from now on the row is that job's. */
  bind(row, job) {
    this.pending = this.pending.filter((r) => r !== row);
    row.cancel = null;
    row.retry = null;
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

  /** Forgets a failed or interrupted upload. */
  dismiss(row) {
    this.pending = this.pending.filter((r) => r !== row);
    row.el.remove();
    if (row.dismissed) row.dismissed();
    this.arrange();
    this.title.focus();
  }

  /** Deletes a job after asking. */
  async remove(row) {
    const { id, name, state } = row.data;
    // Only a done job has an MP3 to lose.
    const question = state === 'done' ? `Delete “${name}” and its MP3?` : `Delete “${name}”?`;
    if (!window.confirm(question)) return;
    try {
      await api('DELETE', `/api/v1/jobs/${id}`);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) {
        if (e.status !== 401) row.update({ state: 'failed', error: `Could not delete it. ${e.message}` });
        return;
      }
    }
    this.byId.delete(id);
    row.el.remove();
    this.arrange();
    announce(`${name} deleted`);
    this.title.focus();
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
        const mode = this.mode;
        const [jobs] = await Promise.all([
          api('GET', mode === 'all' ? '/api/v1/jobs?owner=all' : '/api/v1/jobs'),
          mode === 'all' ? this.loadOwners() : null,
        ]);
        if (mode !== this.mode) {
          this.again = true;
          continue;
        }
        const seen = new Set();
        for (const job of jobs) {
          seen.add(job.id);
          const row = this.byId.get(job.id);
          if (row) row.update(fromJob(job));
          else this.byId.set(job.id, new Row(this, fromJob(job)));
        }
        for (const [id, row] of this.byId) {
          if (!seen.has(id) && id !== this.focusId) {
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

  /** The users' emails by id, for the owner of each job in the "All files" view. */
  async loadOwners() {
    try {
      for (const user of await api('GET', '/api/v1/users')) this.owners.set(user.id, user.email);
    } catch {
      // Without the emails the ids are shown.
    }
  }

  /** A live event (a JobEvent of the API). */
  applyEvent(event) {
    const row = this.byId.get(event.job_id);
    if (!row) {
      // An admin's stream carries every user's jobs: "Your files" ignores the others'.
      const me = this.me();
      if (this.mode === 'mine' && me && event.owner_id && event.owner_id !== me.id) return;
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
    const error = event.error_message ? sentence(event.error_message) : null;
    row.update({ state: event.state, progress: event.progress, error });
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
    this.owners.clear();
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
 * `onResync()` when events may have been missed (a `resync` event, or a reconnect). The stream
 * is read with `fetch` and the Authorization header (`openEvents`). A `session-ended` event (the
 * token expired or was revoked) or a 401 ends the page's session; a `shutdown` event (the server
 * is restarting) or a broken connection reopens the stream after 2 s, another refusal after 5 s,
 * unless `close()` was called. Returns `{close}`.
 */
export function follow(onEvent, onResync) {
  let stream = null;
  let closed = false;
  let broken = false;
  let timer = null;
  const open = () => {
    let retry = 5000;
    stream = openEvents('/api/v1/events', {
      open() {
        if (broken) onResync();
        broken = false;
        retry = 2000;
      },
      event(name, data) {
        if (name === 'message') onEvent(JSON.parse(data));
        else if (name === 'resync') onResync();
        else if (name === 'shutdown') retry = 2000;
        else if (name === 'session-ended') {
          const { reason } = JSON.parse(data);
          endSession(reason === 'expired' ? 'expired' : 'refused');
        }
      },
      end(status) {
        broken = true;
        // A closed page, or a session that is over (a 401 ends it in openEvents): nothing to reopen.
        if (closed || !session.token) return;
        if (status !== 0) retry = 5000;
        timer = setTimeout(() => {
          if (!closed) open();
        }, retry);
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
