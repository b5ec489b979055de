// The webhooks page (#/webhooks): the user's endpoints for job events, adding one (its signing
// secret is shown once, with a copy button), deleting one, and each endpoint's recent deliveries
// with a replay button. Everything goes through /api/v1/webhooks.

import { api } from './api.js';
import { announce, byId, h } from './dom.js';
import * as fmt from './format.js';

const STATUS = { pending: 'Pending', delivered: 'Delivered', failed: 'Failed' };

export class WebhooksPage {
  constructor() {
    this.list = byId('webhooks');
    this.empty = byId('webhooks-empty');
    this.error = byId('webhook-error');
    this.secretBox = byId('webhook-secret');
    const form = byId('webhook-form');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.create(form);
    });
    byId('webhook-secret-copy').addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(byId('webhook-secret-value').textContent);
        announce('Secret copied');
      } catch {
        announce('Select the secret and copy it');
      }
    });
  }

  async load() {
    const endpoints = await api('GET', '/api/v1/webhooks');
    this.empty.hidden = endpoints.length > 0;
    this.list.replaceChildren(...endpoints.map((e) => this.item(e)));
  }

  item(endpoint) {
    const deliveries = h('div.deliveries', {});
    const show = h('button.secondary', { type: 'button', 'aria-expanded': 'false' }, 'Recent deliveries');
    show.addEventListener('click', async () => {
      const open = show.getAttribute('aria-expanded') === 'true';
      show.setAttribute('aria-expanded', String(!open));
      if (open) deliveries.replaceChildren();
      else await this.showDeliveries(endpoint, deliveries);
    });
    const remove = h('button.danger', { type: 'button', onclick: () => this.remove(endpoint) }, 'Delete',
      h('span.visually-hidden', {}, ` ${endpoint.url}`));
    return h('li.webhook.card', { 'data-id': endpoint.id },
      h('p.url', {}, endpoint.url),
      h('p.muted', {}, endpoint.events.join(', '), endpoint.description ? ` · ${endpoint.description}` : '',
        endpoint.enabled ? '' : ' · disabled', ` · added ${fmt.day(endpoint.created_at)}`),
      h('div.actions', {}, show, remove),
      deliveries);
  }

  async showDeliveries(endpoint, box) {
    try {
      const list = await api('GET', `/api/v1/webhooks/${endpoint.id}/deliveries`);
      if (!list.length) {
        box.replaceChildren(h('p.muted', {}, 'No deliveries yet: they start when one of your files is done or has failed.'));
        return;
      }
      const rows = list.map((d) => h('tr', { 'data-delivery': d.id },
        h('td', { 'data-label': 'Event' }, d.event),
        h('td', { 'data-label': 'Status' }, STATUS[d.status] ?? d.status),
        h('td', { 'data-label': 'Attempts' }, String(d.attempts)),
        h('td', { 'data-label': 'Answer' }, d.response_code != null ? String(d.response_code) : '—',
          d.latency_ms != null ? ` (${d.latency_ms} ms)` : ''),
        h('td', { 'data-label': 'Last error' }, d.last_error ?? ''),
        h('td', { 'data-label': 'Next attempt' }, d.next_attempt_at ? fmt.when(d.next_attempt_at) : ''),
        h('td.actions', {}, h('button.secondary', { type: 'button', onclick: () => this.replay(endpoint, d, box) },
          'Replay', h('span.visually-hidden', {}, ` ${d.id}`)))));
      box.replaceChildren(h('div.table-wrap', {}, h('table', {},
        h('caption.visually-hidden', {}, `Deliveries to ${endpoint.url}`),
        h('thead', {}, h('tr', {}, ...['Event', 'Status', 'Attempts', 'Answer', 'Last error', 'Next attempt']
          .map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span.visually-hidden', {}, 'Actions')))),
        h('tbody', {}, ...rows))));
    } catch (e) {
      box.replaceChildren(h('p.error', {}, e.message));
    }
  }

  async replay(endpoint, delivery, box) {
    try {
      await api('POST', `/api/v1/webhooks/${endpoint.id}/deliveries/${delivery.id}/replay`);
      announce('Sending again');
    } catch (e) {
      this.error.textContent = e.message;
    }
    await this.showDeliveries(endpoint, box);
  }

  async create(form) {
    const url = byId('webhook-url').value.trim();
    const events = ['job.done', 'job.failed'].filter((e) => byId(`webhook-${e.replace('.', '-')}`).checked);
    const description = byId('webhook-description').value.trim();
    if (!/^https?:\/\//i.test(url)) return this.fail('Enter the endpoint’s address, starting with https://', 'webhook-url');
    if (!events.length) return this.fail('Choose at least one event.', 'webhook-job-done');
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const created = await api('POST', '/api/v1/webhooks', { url, events, description: description || undefined });
      form.reset();
      this.error.textContent = '';
      byId('webhook-secret-value').textContent = created.secret;
      this.secretBox.hidden = false;
      announce('Webhook added. Copy its secret now: it is not shown again.');
      await this.load();
    } catch (e) {
      this.fail(e.message, 'webhook-url');
    } finally {
      button.disabled = false;
    }
  }

  fail(message, field) {
    this.error.textContent = message;
    byId(field).focus();
  }

  async remove(endpoint) {
    if (!window.confirm(`Delete the webhook to ${endpoint.url}?`)) return;
    try {
      await api('DELETE', `/api/v1/webhooks/${endpoint.id}`);
      this.error.textContent = '';
      announce('Webhook deleted');
    } catch (e) {
      this.error.textContent = e.message;
    }
    await this.load();
  }

  /** Forgets a shown secret (on leaving the page or logging out). */
  clear() {
    this.secretBox.hidden = true;
    byId('webhook-secret-value').textContent = '';
  }
}
