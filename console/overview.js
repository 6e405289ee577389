// Overview: every provider (breaker, failure rate, calls in flight, rate limit, recent vendor errors) and every
// subscription (pending depth, oldest pending age, delivered / retrying / dead), polled every few seconds.

import { get } from './api.js';
import { age, append, badge, h, percent, replace, route, table, time } from './dom.js';

const EVERY_MS = 3000;

export function render(main, context) {
  const providers = h('div', { id: 'providers' }, h('p', { class: 'muted' }, 'Loading…'));
  const subscriptions = h('div', { id: 'subscriptions' }, h('p', { class: 'muted' }, 'Loading…'));
  const updated = h('span', { id: 'updated', class: 'muted' });
  append(main, [
    h('div', { class: 'title' }, h('h1', null, 'Overview'), updated),
    h('section', null, h('h2', null, 'Providers'), providers),
    h('section', null, h('h2', null, 'Subscriptions'), subscriptions),
  ]);

  let timer = null;
  let stopped = false;
  const poll = async () => {
    const [p, s] = await Promise.allSettled([get('/admin/providers'), get('/admin/subscriptions')]);
    if (stopped) return;
    show(providers, p, providerTable);
    show(subscriptions, s, subscriptionTable);
    replace(updated, `Updated ${new Date().toLocaleTimeString()} · refreshes every ${EVERY_MS / 1000} s`);
    if (p.status === 'rejected' && p.reason.status === 401) return;
    timer = setTimeout(poll, EVERY_MS);
  };
  poll();
  context.notice('');
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function show(container, outcome, build) {
  if (outcome.status === 'fulfilled') {
    replace(container, build(outcome.value.data || []));
  } else {
    const error = outcome.reason;
    replace(container, h('p', { class: 'error' }, `Cannot load: ${error.describe ? error.describe() : error.message}`));
  }
}

function providerTable(providers) {
  const rows = providers.map((provider) => {
    const out = provider.outbound;
    if (!out) {
      return [h('strong', null, provider.name), provider.adapter, provider.webhooks ? 'yes' : 'no',
        h('span', { class: 'muted' }, 'no outbound calls'), '', '', '', ''];
    }
    const breaker = out.breaker || {};
    const state = h('span', { class: 'breaker' }, badge(breaker.state),
      breaker.state === 'open' && breaker.open_for_seconds !== null && breaker.open_for_seconds !== undefined
        ? h('span', { class: 'muted' }, ` ${age(breaker.open_for_seconds)} left`) : null,
      breaker.state === 'half_open' ? h('span', { class: 'muted' }, ` ${breaker.half_open_probes} probing`) : null);
    const rates = h('span', null, `${percent(breaker.failure_rate)} failed`,
      h('br'), h('span', { class: 'muted' }, `${percent(breaker.slow_call_rate)} slow · ${plural(breaker.calls_in_window ?? 0, 'call')}`));
    const limit = out.rate_limit
      ? h('span', null, `${out.rate_limit.per_second}/s, burst ${out.rate_limit.burst}`, h('br'),
        h('span', { class: 'muted' }, out.rate_limit.scope || ''))
      : h('span', { class: 'muted' }, 'none');
    return [h('strong', null, provider.name), provider.adapter, provider.webhooks ? 'yes' : 'no', state, rates,
      `${out.in_flight ?? 0} / ${out.concurrency ?? '–'}`, limit, recentErrors(out.recent_errors)];
  });
  return table(['Provider', 'Adapter', 'Webhooks', 'Breaker', 'Failure rate', 'In flight', 'Rate limit',
    'Recent errors'], rows, {
    id: 'providers-table',
    empty: 'No providers configured.',
    rowProps: (i) => ({ 'data-name': providers[i].name, class: rowClass(providers[i]) }),
  });
}

function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function rowClass(provider) {
  const state = provider.outbound && provider.outbound.breaker && provider.outbound.breaker.state;
  return state === 'open' ? 'row-alert' : state === 'half_open' ? 'row-warn' : null;
}

function recentErrors(errors) {
  if (!errors || errors.length === 0) return h('span', { class: 'muted' }, 'none');
  const shown = errors.slice(0, 3);
  return h('ul', { class: 'errors' }, shown.map((e) => h('li', null, h('span', { class: 'muted' }, time(e.at)), ' ',
    e.error)), errors.length > shown.length ? h('li', { class: 'muted' }, `and ${errors.length - shown.length} more`) : null);
}

function subscriptionTable(subscriptions) {
  const rows = subscriptions.map((s) => [
    h('strong', null, s.name),
    h('a', { href: route('events', { subscription: s.name, status: 'pending' }) }, String(s.pending ?? 0)),
    age(s.oldest_pending_seconds),
    String(s.retrying ?? 0),
    s.dead ? h('a', { href: route('dead-letters', { subscription: s.name }), class: 'dead-count' }, String(s.dead))
      : '0',
    String(s.delivered ?? 0),
  ]);
  return table(['Subscription', 'Pending', 'Oldest pending', 'Retrying', 'Dead', 'Delivered'], rows, {
    id: 'subscriptions-table',
    empty: 'No subscriptions configured.',
    rowProps: (i) => ({ 'data-name': subscriptions[i].name, class: subscriptions[i].dead ? 'row-warn' : null }),
  });
}
