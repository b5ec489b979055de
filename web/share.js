// Sharing: the panel under a finished job's row that makes public links to its audio (shown once,
// with a Copy button), lists the live ones and revokes them; and the private podcast feed's
// address (show, copy, rotate) in the "Podcast feed" box of the files page. Every text goes in
// through dom.js's h(), never as HTML.

import { api, sentence } from './api.js';
import { byId, h } from './dom.js';
import * as fmt from './format.js';

const EXPIRIES = [
  [86400, '1 day'],
  [7 * 86400, '7 days'],
  [30 * 86400, '30 days'],
  [90 * 86400, '90 days'],
];

/** A read-only field holding `url` with a Copy button. */
function copyable(url, label) {
  const input = h('input', { type: 'text', readonly: true, value: url, 'aria-label': label });
  const status = h('span.muted', { role: 'status' });
  const copy = h('button.secondary', {
    type: 'button',
    onclick: async () => {
      input.select();
      try {
        await navigator.clipboard.writeText(url);
        status.textContent = 'Copied';
      } catch {
        status.textContent = 'Press Ctrl+C to copy';
      }
    },
  }, 'Copy');
  return h('div.copyable', {}, input, copy, status);
}

/** The share panel of job `id` (named `name`): toggled open under its row. */
export class SharePanel {
  constructor(id, name) {
    this.id = id;
    this.name = name;
    this.expiry = h('select', { 'aria-label': 'The link works for' },
      EXPIRIES.map(([secs, words]) => h('option', { value: secs, selected: secs === 7 * 86400 }, words)));
    this.created = h('div');
    this.error = h('p.error', { role: 'alert' });
    this.list = h('ul.shares');
    this.el = h('div.share-panel', {},
      h('div.row', {},
        h('label', {}, 'Public link for ', this.expiry),
        h('button', { type: 'button', onclick: () => this.create() }, 'Create link')),
      this.created, this.error, this.list);
  }

  /** Loads the live links. */
  async open() {
    this.error.textContent = '';
    try {
      this.render(await api('GET', `/api/v1/jobs/${this.id}/shares`));
    } catch (e) {
      this.error.textContent = sentence(e.message);
    }
  }

  render(shares) {
    this.list.replaceChildren(...shares.map((s) => h('li', {},
      h('span', {}, `Link made ${fmt.when(s.created_at)}, works until ${fmt.when(s.expires_at)}`),
      h('button.danger', { type: 'button', onclick: () => this.revoke(s.id) }, 'Revoke',
        h('span.visually-hidden', {}, ` link to ${this.name}`)))));
  }

  async create() {
    this.error.textContent = '';
    try {
      const share = await api('POST', `/api/v1/jobs/${this.id}/shares`,
        { expires_in_secs: Number(this.expiry.value) });
      this.created.replaceChildren(
        h('p.hint', {}, 'Anyone with this link can listen and download until it expires or you revoke it. It is shown only now.'),
        copyable(share.url, `Public link to ${this.name}`));
      await this.open();
    } catch (e) {
      this.error.textContent = sentence(e.message);
    }
  }

  async revoke(shareId) {
    this.error.textContent = '';
    try {
      await api('DELETE', `/api/v1/shares/${shareId}`);
      this.created.replaceChildren();
      await this.open();
    } catch (e) {
      this.error.textContent = sentence(e.message);
    }
  }
}

/** The "Podcast feed" box: its address is fetched when the box is opened. */
export class FeedPanel {
  constructor() {
    this.el = byId('feed-panel');
    this.body = byId('feed-url');
    this.error = byId('feed-error');
    this.el.addEventListener('toggle', () => {
      if (this.el.open) this.load('GET', '/api/v1/me/feed');
    });
    byId('feed-rotate').addEventListener('click', () => {
      if (window.confirm('Podcast apps that use the current address will stop updating. Make a new address?')) {
        this.load('POST', '/api/v1/me/feed/rotate');
      }
    });
  }

  async load(method, path) {
    this.error.textContent = '';
    try {
      const { url } = await api(method, path);
      this.body.replaceChildren(copyable(url, 'Podcast feed address'));
    } catch (e) {
      this.error.textContent = sentence(e.message);
    }
  }
}
