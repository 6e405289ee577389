// Dead letters: choose deliveries by subscription, provider, type and time range; "Count" asks the gateway how many
// match (a dry run of the bulk replay); "Replay all N" queues them again, after an in-page confirmation. A preview
// lists the newest matching events.

import { get, post, query } from './api.js';
import { append, badge, confirmInline, field, h, input, replace, route, select, table, time } from './dom.js';
import { choices, fill, rfc3339 } from './events.js';

const STATES = [['dead', 'dead (given up on)'], ['delivered', 'delivered (deliver again)']];

export function render(main, context) {
  const params = context.params;
  const form = h('form', { class: 'filters', id: 'dead-filters' },
    field('Deliveries that are', select('status', STATES, params.status || 'dead')),
    field('Subscription', select('subscription', [['', 'any']], params.subscription)),
    field('Provider', select('provider', [['', 'any']], params.provider)),
    field('Type', input('type', params.type, 'e.g. acme-crm.customer.updated')),
    field('Since', input('since', params.since, '2026-01-02T10:00:00Z')),
    field('Until', input('until', params.until, '2026-01-02T11:00:00Z')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'dead-count' }, 'Count')));
  const outcome = h('div', { id: 'dead-outcome', class: 'card', hidden: true });
  const preview = h('div', { id: 'dead-preview' });
  append(main, [h('div', { class: 'title' }, h('h1', null, 'Dead letters'),
    h('span', { class: 'muted' }, 'bulk replay')), form, outcome, preview]);

  // What is on screen was counted with these filters; any change asks for a new count first.
  let counted = null;
  // A link's filters (from the overview) are counted only once the choices hold them: counted before, the empty
  // selects would count (and offer to replay) every subscription's dead letters.
  const linked = Boolean(params.subscription || params.provider || params.type);
  choices().then(({ providers, subscriptions }) => {
    fill(form.elements.provider, providers, params.provider);
    fill(form.elements.subscription, subscriptions, params.subscription);
    counted = null;
    outcome.hidden = true;
    if (linked) count();
  });
  form.addEventListener('input', () => {
    counted = null;
    outcome.hidden = true;
  });

  const filters = () => {
    const f = {};
    for (const name of ['status', 'subscription', 'provider', 'type']) f[name] = form.elements[name].value.trim();
    f.since = rfc3339(form.elements.since.value, 'since');
    f.until = rfc3339(form.elements.until.value, 'until');
    return f;
  };
  const body = (f, dryRun) => {
    const b = { status: f.status, dry_run: dryRun };
    for (const name of ['subscription', 'provider', 'type', 'since', 'until']) if (f[name]) b[name] = f[name];
    return b;
  };

  const count = async () => {
    let f;
    try {
      f = filters();
    } catch (error) {
      context.notice(error.message, 'error');
      return;
    }
    let answer;
    try {
      answer = await post('/admin/replays', body(f, true));
    } catch (error) {
      context.notice(`Cannot count: ${describe(error)}`, 'error');
      return;
    }
    context.notice('');
    counted = f;
    const n = answer.matched ?? 0;
    const replayButton = h('button', { type: 'button', class: 'danger', id: 'dead-replay', disabled: n === 0 },
      `Replay all ${n}`);
    replayButton.addEventListener('click', () => confirmInline(outcome,
      `Queue ${n} ${f.status} ${n === 1 ? 'delivery' : 'deliveries'} again?`, `Yes, replay ${n}`, () => replay(f)));
    replace(outcome,
      h('p', { id: 'dead-matched' }, h('strong', null, String(n)),
        ` ${f.status} ${n === 1 ? 'delivery matches' : 'deliveries match'}.`),
      replayButton);
    outcome.hidden = false;
    showPreview(preview, f);
  };

  const replay = async (f) => {
    if (counted !== f) {
      context.notice('The filters changed since the count: count again before replaying.', 'error');
      return;
    }
    let answer;
    try {
      answer = await post('/admin/replays', body(f, false));
    } catch (error) {
      context.notice(`Bulk replay refused: ${describe(error)}`, 'error');
      return;
    }
    counted = null;
    replace(outcome, h('p', { id: 'dead-queued' }, `Queued ${answer.queued ?? 0} of ${answer.matched ?? 0} matching `
      + 'deliveries. The relay delivers them now; the overview shows the counts.'));
    context.notice(`Bulk replay: ${answer.queued ?? 0} queued.`, 'ok');
    showPreview(preview, f);
  };

  form.addEventListener('submit', (submitted) => {
    submitted.preventDefault();
    count();
  });
}

function describe(error) {
  return error.describe ? error.describe() : error.message;
}

async function showPreview(preview, f) {
  const filters = { status: f.status, subscription: f.subscription, provider: f.provider, type: f.type,
    since: f.since, until: f.until };
  let page;
  try {
    page = await get(`/admin/events${query({ ...filters, order: 'desc', limit: 20 })}`);
  } catch (error) {
    replace(preview, h('p', { class: 'error' }, `Cannot list the events: ${describe(error)}`));
    return;
  }
  const events = page.data || [];
  const rows = events.map((e) => [
    time(e.received_at),
    h('a', { href: route(`events/${encodeURIComponent(e.id)}`), class: 'mono' }, e.id),
    e.provider,
    h('span', { class: 'mono' }, e.type),
    badge(e.status),
  ]);
  replace(preview, h('h2', null, 'Newest matching events'),
    table(['Received', 'Event', 'Provider', 'Type', 'Status'], rows, { empty: 'None.' }),
    h('p', null, h('a', { href: route('events', filters) }, 'All of them on the Events page »')));
}
