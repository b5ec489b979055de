// The API keys page (#/keys): the user's keys for scripts, creating one (name, scopes, expiry)
// with its secret shown once and a copy button, and revoking one. The secret is only ever in
// the page's memory and the DOM until the user leaves or creates another key.

import { api } from './api.js';
import { announce, byId, h } from './dom.js';
import * as fmt from './format.js';

export class KeysPage {
  /** `me()` is the logged-in user (`/api/v1/me`): only admins may give the `admin` scope. */
  constructor(me) {
    this.me = me;
    this.body = byId('keys');
    this.error = byId('key-error');
    const form = byId('key-form');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.create(form);
    });
    byId('key-copy').addEventListener('click', () => this.copy());
  }

  async load() {
    byId('key-scope-admin-row').hidden = !this.me()?.admin;
    const keys = await api('GET', '/api/v1/keys');
    this.body.replaceChildren(...keys.map((k) => this.row(k)));
    byId('keys-empty').hidden = keys.length > 0;
  }

  /** Forgets a secret shown earlier (leaving the page, logging out). */
  hideSecret() {
    byId('key-secret').textContent = '';
    byId('key-created').hidden = true;
  }

  row(key) {
    const revoke = h('button.danger', { type: 'button', onclick: () => this.revoke(key) }, 'Revoke',
      h('span.visually-hidden', {}, ` ${key.name}`));
    const expired = key.expires_at != null && key.expires_at <= Date.now();
    return h('tr', { 'data-key-id': key.id, 'data-name': key.name },
      h('td.name', { 'data-label': 'Name' }, key.name),
      h('td', { 'data-label': 'Scopes' }, key.scopes.join(', ')),
      h('td', { 'data-label': 'Key' }, h('code', {}, `${key.prefix}…${key.last4}`)),
      h('td', { 'data-label': 'Created' }, fmt.day(key.created_at)),
      h(expired ? 'td.disabled' : 'td', { 'data-label': 'Expires' },
        key.expires_at == null ? 'Never' : `${expired ? 'Expired ' : ''}${fmt.day(key.expires_at)}`),
      h('td', { 'data-label': 'Last used' }, key.last_used_at == null ? 'Never' : fmt.when(key.last_used_at)),
      h('td.actions', {}, revoke));
  }

  async create(form) {
    const name = byId('key-name').value.trim();
    const scopes = [...form.querySelectorAll('input[name="scope"]:checked')].map((i) => i.value);
    const days = byId('key-expiry').value;
    if (!name) return this.fail('Give the key a name.', 'key-name');
    if (!scopes.length) return this.fail('Choose at least one permission.', 'key-scope-read');
    const body = { name, scopes };
    if (days) body.expires_in_days = Number(days);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const created = await api('POST', '/api/v1/keys', body);
      form.reset();
      this.error.textContent = '';
      byId('key-secret').textContent = created.key;
      byId('key-created').hidden = false;
      byId('key-copied').textContent = '';
      byId('key-copy').focus();
      announce(`Key ${name} created. Copy it now: it is shown only once.`);
      await this.load();
    } catch (e) {
      this.fail(e.message, 'key-name');
    } finally {
      button.disabled = false;
    }
  }

  async copy() {
    const field = byId('key-secret');
    try {
      await navigator.clipboard.writeText(field.textContent);
      byId('key-copied').textContent = 'Copied.';
    } catch {
      // No clipboard permission: select the key so that the user can copy it themselves.
      const range = document.createRange();
      range.selectNodeContents(field);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      byId('key-copied').textContent = 'Press Ctrl+C (⌘C) to copy the selected key.';
    }
  }

  fail(message, field) {
    this.error.textContent = message;
    byId(field).focus();
  }

  async revoke(key) {
    if (!window.confirm(`Revoke the key “${key.name}”? Scripts using it stop working at once.`)) return;
    try {
      await api('DELETE', `/api/v1/keys/${encodeURIComponent(key.id)}`);
      this.error.textContent = '';
      announce(`Key ${key.name} revoked`);
    } catch (e) {
      this.error.textContent = e.message;
    }
    await this.load();
  }
}
