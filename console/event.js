// One event: its summary, the envelope, the raw body exactly as the vendor sent it (shown as text, never as HTML),
// each subscription's delivery state with every attempt, and replay (to one subscription or to all). While a
// delivery is pending the page refreshes itself.

import { post, get } from './api.js';
import { append, badge, block, facts, h, pretty, replace, route, table, time } from './dom.js';

const EVERY_MS = 2000;

export function render(main, context) {
  const id = context.id;
  const body = h('div', { id: 'event' }, h('p', { class: 'muted' }, 'Loading…'));
  append(main, [
    h('p', { class: 'crumbs' }, h('a', { href: '#/events' }, '« Events')),
    h('div', { class: 'title' }, h('h1', null, 'Event'), h('span', { class: 'mono muted' }, id)),
    body,
  ]);
  let timer = null;
  let stopped = false;
  const refresh = async () => {
    clearTimeout(timer);
    let event;
    try {
      event = await get(`/admin/events/${encodeURIComponent(id)}`);
    } catch (error) {
      if (!stopped) replace(body, h('p', { class: 'error' }, `Cannot load the event: ${describe(error)}`));
      return;
    }
    if (stopped) return;
    replace(body, view(event, replay));
    const pending = (event.deliveries || []).some((d) => d.state === 'pending');
    if (pending) timer = setTimeout(refresh, EVERY_MS);
  };
  const replay = async (subscription) => {
    const path = `/admin/events/${encodeURIComponent(id)}/replay${subscription
      ? `?subscription=${encodeURIComponent(subscription)}` : ''}`;
    try {
      const answer = await post(path);
      // `queued`: the subscriptions queued (names), or how many.
      const queued = answer.queued;
      const names = Array.isArray(queued) ? queued : null;
      const count = names ? names.length : Number(queued) || 0;
      let text = 'Nothing queued: no subscription wants this event now, or its delivery is still pending.';
      if (names && count) text = `Replay queued for ${names.join(', ')}.`;
      else if (count && subscription) text = `Replay queued for ${subscription}.`;
      else if (count) text = `Replay queued for ${count} ${count === 1 ? 'subscription' : 'subscriptions'}.`;
      context.notice(text, count ? 'ok' : 'info');
    } catch (error) {
      context.notice(`Replay refused: ${describe(error)}`, 'error');
    }
    refresh();
  };
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function describe(error) {
  return error.describe ? error.describe() : error.message;
}

function view(event, replay) {
  const quarantined = event.status === 'quarantined';
  const deliveries = event.deliveries || [];
  const summary = facts([
    ['Status', badge(event.status)],
    ['Provider', event.provider],
    ['Type', h('span', { class: 'mono', id: 'event-type' }, event.type)],
    ['Subject', event.subject ?? '–'],
    ['Provider event id', h('span', { class: 'mono' }, event.providereventid)],
    ['Received', time(event.received_at)],
    ['Correlation id', h('span', { class: 'mono' }, event.correlationid)],
  ]);
  const actions = h('div', { class: 'actions' },
    h('button', { type: 'button', id: 'replay-all', disabled: quarantined, onclick: () => replay(null) },
      'Replay to every subscription'),
    quarantined ? h('span', { class: 'muted' }, 'Quarantined events are retranslated (CLI or API) before replay.')
      : null);
  const quarantine = event.quarantine
    ? h('section', { class: 'card card-alert' }, h('h2', null, 'Quarantined'),
      h('p', null, 'The adapter could not translate this body:'), block(event.quarantine.error, { id: 'quarantine-error' }))
    : null;
  return [
    h('section', { class: 'card' }, summary, actions),
    quarantine,
    h('section', null, h('h2', null, 'Deliveries'),
      deliveries.length === 0 ? h('p', { class: 'muted' }, 'No subscription has a delivery of this event.')
        : deliveries.map((d) => delivery(d, replay, quarantined))),
    h('section', null, h('h2', null, 'Envelope'), block(pretty(event.envelope), { id: 'envelope' })),
    h('section', null, h('h2', null, 'Raw body'),
      h('p', { class: 'muted' }, 'Exactly as the vendor sent it, shown as text.'),
      block(event.raw_body, { id: 'raw-body' }),
      event.raw_body_base64 ? [h('p', { class: 'muted' }, 'The body is not valid UTF-8 (above with replacement '
        + 'characters); its bytes in base64:'), block(event.raw_body_base64, { id: 'raw-body-base64' })] : null),
  ];
}

function delivery(d, replay, quarantined) {
  const history = (d.history || []).map((a) => [
    String(a.attempt),
    time(a.at),
    badge(a.outcome),
    a.latency_ms === null || a.latency_ms === undefined ? '–' : `${a.latency_ms} ms`,
    a.error ? h('span', { class: 'mono' }, a.error) : h('span', { class: 'muted' }, '–'),
  ]);
  return h('section', { class: `card delivery delivery-${d.state === 'dead' ? 'dead' : 'ok'}`,
    'data-subscription': d.subscription, 'data-state': d.state },
  h('div', { class: 'title' },
    h('h3', null, d.subscription), badge(d.state),
    h('button', { type: 'button', class: 'replay-one', disabled: quarantined, onclick: () => replay(d.subscription) },
      `Replay to ${d.subscription}`)),
  facts([
    ['Attempts', String(d.attempts ?? 0)],
    ['Next attempt', d.state === 'pending' ? time(d.next_attempt_at) : '–'],
    ['Last error', d.last_error ? h('span', { class: 'mono' }, d.last_error) : '–'],
    ['Updated', time(d.updated_at)],
  ]),
  table(['#', 'At', 'Outcome', 'Latency', 'Error'], history, { class: 'grid compact', empty: 'No attempt yet.' }),
  h('p', { class: 'muted' }, h('a', { href: route('events', { subscription: d.subscription, status: d.state }) },
    `Other ${d.state} events of ${d.subscription}`)));
}
