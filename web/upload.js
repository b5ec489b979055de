// Picking and dropping files, the advanced options, and the upload queue: two uploads at a time
// (a browser keeps at most six connections to a server, and the event stream and the players
// need some), each with a progress bar for its bytes.

import { upload } from './api.js';
import { byId } from './dom.js';
import { parseTime } from './format.js';

const AT_ONCE = 2;

/**
 * The chosen options as form fields, or an error message. Only what differs from the server's
 * defaults is sent, so an MP3 source can still be copied rather than re-encoded.
 */
export function readOptions() {
  const fields = {};
  if (byId('mode-vbr').checked) {
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
  return { fields };
}

/** The upload form and its queue of files. */
export class Uploader {
  constructor(jobs) {
    this.jobs = jobs;
    this.queue = [];
    this.running = new Set();
    this.error = byId('options-error');

    const input = byId('file-input');
    input.addEventListener('change', () => {
      this.add([...input.files]);
      input.value = '';
    });

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
      this.add([...(e.dataTransfer?.files ?? [])]);
    });
    // A file dropped next to the zone must not make the browser leave the page to show it.
    window.addEventListener('dragover', (e) => e.preventDefault());
    window.addEventListener('drop', (e) => e.preventDefault());

    const vbr = byId('vbr');
    const bitrate = byId('bitrate');
    const syncMode = () => {
      vbr.disabled = !byId('mode-vbr').checked;
      bitrate.disabled = !byId('mode-cbr').checked;
    };
    byId('mode-cbr').addEventListener('change', syncMode);
    byId('mode-vbr').addEventListener('change', syncMode);
    byId('upload-form').addEventListener('submit', (e) => e.preventDefault());
  }

  /** Queues `files` with the options chosen now. */
  add(files) {
    if (files.length === 0) return;
    const { fields, error, field } = readOptions();
    this.error.textContent = error ?? '';
    if (error) {
      byId('advanced').open = true;
      byId(field).focus();
      return;
    }
    for (const file of files) {
      const row = this.jobs.addPending(file);
      const item = { file, fields, row, abort: null, cancelled: false };
      row.cancel = () => this.cancel(item);
      row.update({});
      this.queue.push(item);
    }
    this.pump();
  }

  pump() {
    while (this.running.size < AT_ONCE && this.queue.length > 0) this.start(this.queue.shift());
  }

  start(item) {
    this.running.add(item);
    const { row } = item;
    row.update({ state: 'uploading', progress: 0 });
    const { done, abort } = upload(item.file, item.fields, (sent, total) => {
      row.update({ progress: total > 0 ? sent / total : 0 });
    });
    item.abort = abort;
    done
      .then((job) => this.jobs.bind(row, job))
      .catch((e) => {
        row.cancel = null;
        if (item.cancelled) this.jobs.dismiss(row);
        else row.update({ state: 'failed', error: e.message });
      })
      .finally(() => {
        this.running.delete(item);
        this.pump();
      });
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
