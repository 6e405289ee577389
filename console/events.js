// Events: the outbox newest first, filtered by status, provider, type, subscription, the vendor's event id and a
// time range, a page at a time (`Older` follows the API's cursor). Filters live in the URL's hash, so a filtered
// view can be bookmarked and the browser's Back button returns to the previous page.

import { get, query } from './api.js';
import { append, badge, field, h, input, replace, route, select, table, time } from './dom.js';

const STATUSES = [['', 'any'], ['pending', 'pending'], ['delivered', 'delivered'], ['dead', 'dead'],
  ['quarantined', 'quarantined']];
const FILTERS = ['status', 'provider', 'type', 'subscription', 'providereventid', 'since', 'until'];
const PAGE = 50;

/** Provider and subscription names for the filters' menus (empty lists when the API cannot say). */
export async function choices() {
  const [providers, subscriptions] = await Promise.allSettled([get('/admin/providers'),
    get('/admin/subscriptions')]);
  const names = (outcome) => (outcome.status === 'fulfilled' ? (outcome.value.data || []).map((x) => x.name) : []);
  return { providers: names(providers), subscriptions: names(subscriptions) };
}

/** Fills `<select>` `element` with "any" and `names`, keeping `selected`. */
export function fill(element, names, selected) {
  const all = selected && !names.includes(selected) ? [...names, selected] : names;
  replace(element, h('option', { value: '' }, 'any'), all.map((n) => h('option', { value: n }, n)));
  element.value = selected || '';
}

/** The operator's time text as RFC 3339 (UTC); empty stays empty; throws on text that is not a time. */
export function rfc3339(text, name) {
  const value = (text || '').trim();
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new Error(`${name} is not a time: write it as 2026-01-02T10:00:00Z (or 2026-01-02 10:00, local time)`);
  }
  return date.toISOString();
}

export function render(main, context) {
  const params = context.params;
  const form = h('form', { class: 'filters', id: 'events-filters' },
    field('Status', select('status', STATUSES, params.status)),
    field('Provider', select('provider', [['', 'any']], params.provider)),
    field('Type', input('type', params.type, 'e.g. acme-crm.customer.updated')),
    field('Subscription', select('subscription', [['', 'any']], params.subscription)),
    field('Provider event id', input('providereventid', params.providereventid, 'the vendor\'s id')),
    field('Since', input('since', params.since, '2026-01-02T10:00:00Z')),
    field('Until', input('until', params.until, '2026-01-02T11:00:00Z')),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', id: 'events-apply' }, 'Apply'),
      h('a', { href: '#/events', class: 'button quiet' }, 'Clear')));
  const results = h('div', { id: 'events-results' }, h('p', { class: 'muted' }, 'Loading…'));
  append(main, [h('div', { class: 'title' }, h('h1', null, 'Events'),
    h('span', { class: 'muted' }, 'newest first')), form, results]);

  choices().then(({ providers, subscriptions }) => {
    fill(form.elements.provider, providers, params.provider);
    fill(form.elements.subscription, subscriptions, params.subscription);
  });

  form.addEventListener('submit', (submitted) => {
    submitted.preventDefault();
    const chosen = {};
    try {
      for (const name of FILTERS) {
        const value = form.elements[name].value.trim();
        chosen[name] = name === 'since' || name === 'until' ? rfc3339(value, name) : value;
      }
    } catch (error) {
      context.notice(error.message, 'error');
      return;
    }
    context.navigate(route('events', chosen));
  });

  load(results, params, context);
}

async function load(results, params, context) {
  const filters = {};
  for (const name of FILTERS) filters[name] = params[name];
  let page;
  try {
    page = await get(`/admin/events${query({ ...filters, order: 'desc', limit: PAGE, cursor: params.cursor })}`);
  } catch (error) {
    replace(results, h('p', { class: 'error' }, `Cannot list events: ${error.describe ? error.describe() : error.message}`));
    return;
  }
  const events = page.data || [];
  const rows = events.map((e) => [
    time(e.received_at),
    h('a', { href: route(`events/${encodeURIComponent(e.id)}`), class: 'mono event-link' }, e.id),
    e.provider,
    h('span', { class: 'mono' }, e.type),
    e.subject ?? h('span', { class: 'muted' }, '–'),
    badge(e.status),
    h('span', { class: 'mono' }, e.providereventid),
  ]);
  const pager = h('div', { class: 'pager' },
    params.cursor ? h('a', { href: route('events', filters), class: 'button quiet', id: 'events-newest' },
      '« Newest') : null,
    page.next_cursor ? h('a', { href: route('events', { ...filters, cursor: page.next_cursor }), class: 'button',
      id: 'events-older' }, 'Older »') : h('span', { class: 'muted' }, 'No older events.'));
  replace(results,
    table(['Received', 'Event', 'Provider', 'Type', 'Subject', 'Status', 'Provider event id'], rows, {
      id: 'events-table',
      empty: 'No event matches these filters.',
      rowProps: (i) => ({ 'data-id': events[i].id, 'data-status': events[i].status }),
    }),
    pager);
  context.notice('');
}
