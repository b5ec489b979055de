// The administrators' users page: every account, adding one, disabling one and enabling it
// again. On a phone the table is laid out as one card per account (app.css), so the cells say
// what they are (`data-label`).

import { api } from './api.js';
import { announce, byId, h } from './dom.js';
import * as fmt from './format.js';

export class UsersPage {
  /** `me()` is the logged-in user (`/api/v1/me`). */
  constructor(me) {
    this.me = me;
    this.body = byId('users');
    this.error = byId('user-error');
    const form = byId('user-form');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.create(form);
    });
  }

  async load() {
    const users = await api('GET', '/api/v1/users');
    this.body.replaceChildren(...users.map((u) => this.row(u)));
  }

  row(user) {
    const self = user.id === this.me()?.id;
    let action = null;
    if (user.disabled) {
      action = h('button.secondary', { type: 'button', onclick: () => this.enable(user) }, 'Enable',
        h('span.visually-hidden', {}, ` ${user.email}`));
    } else if (!self) {
      action = h('button.danger', { type: 'button', onclick: () => this.disable(user) }, 'Disable',
        h('span.visually-hidden', {}, ` ${user.email}`));
    }
    return h('tr', { 'data-email': user.email },
      h('td.email', { 'data-label': 'Email' }, user.email, self ? ' (you)' : ''),
      h('td', { 'data-label': 'Role' }, user.admin ? 'Administrator' : 'User'),
      h(user.disabled ? 'td.disabled' : 'td', { 'data-label': 'Status' }, user.disabled ? 'Disabled' : 'Active'),
      h('td', { 'data-label': 'Created' }, fmt.day(user.created_at)),
      h('td.actions', {}, action));
  }

  async create(form) {
    const email = byId('user-email').value.trim();
    const password = byId('user-password').value;
    const admin = byId('user-admin').checked;
    if (!email || !email.includes('@')) return this.fail('Enter the new user’s email address.', 'user-email');
    if ([...password].length < 8) return this.fail('The password needs at least 8 characters.', 'user-password');
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await api('POST', '/api/v1/users', { email, password, admin });
      form.reset();
      this.error.textContent = '';
      announce(`${email} added`);
      await this.load();
    } catch (e) {
      this.fail(e.message, 'user-email');
    } finally {
      button.disabled = false;
    }
  }

  fail(message, field) {
    this.error.textContent = message;
    byId(field).focus();
  }

  async enable(user) {
    try {
      await api('POST', `/api/v1/users/${user.id}/enable`);
      this.error.textContent = '';
      announce(`${user.email} enabled`);
    } catch (e) {
      this.error.textContent = e.message;
    }
    await this.load();
  }

  async disable(user) {
    if (!window.confirm(`Disable ${user.email}? They will no longer be able to log in.`)) return;
    try {
      await api('POST', `/api/v1/users/${user.id}/disable`);
      this.error.textContent = '';
      announce(`${user.email} disabled`);
    } catch (e) {
      this.error.textContent = e.message;
    }
    await this.load();
  }
}
