// Sagas (multi-vendor operations with compensation): a list newest first, filtered by saga name and status, a page
// at a time; one saga's detail (its input, each step's call and compensation), with Retry for a `failed` one (its
// compensations run again from the step that could not be undone). While a saga is still moving (running or
// compensating) its page refreshes itself.

import { get, post, query } from './api.js';
import { append, badge, block, confirmInline, facts, field, h, input, pretty, replace, route, select, table, time }
  from './dom.js';

const STATUSES = [['', 'any'], ['running', 'running'], ['compensating', 'compensating'], ['completed', 'completed'],
  ['compensated', 'compensated'], ['failed', 'failed']];
const FILTERS = ['name', 'status'];
const FINAL = ['completed', 'compensated', 'failed'];
const EVERY_MS = 2000;

export function render(main, context) {
  return context.id ? detail(main, context) : list(main, context);
}

function describe(error) {
  return error.describe ? error.describe() : error.message;
}

/** A value, or a muted dash when there is none. */
function orDash(value, props) {
  if (value === null || value === undefined || value === '') return h('span', { class: 'muted' }, '–');
  return h('span', props || null, String(value));
}

function list(main, context) {
  const params = context.params;
  const form = h('form', { class: 'filters', id: 'sagas-filters' },
    field('Saga', input('name', params.name, 'e.g. checkout')),
    field('Status', select('status', STATUSES, params.status)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'sagas-apply' }, 'Apply'),
      h('a', { href: '#/sagas', class: 'button quiet' }, 'Clear')));
  const results = h('div', { id: 'sagas-results' }, h('p', { class: 'muted' }, 'Loading…'));
  append(main, [h('div', { class: 'title' }, h('h1', null, 'Sagas'), h('span', { class: 'muted' }, 'newest first')),
    form, results]);
  form.addEventListener('submit', (submitted) => {
    submitted.preventDefault();
    const chosen = {};
    for (const name of FILTERS) chosen[name] = form.elements[name].value.trim();
    context.navigate(route('sagas', chosen));
  });
  load(results, params);
}

async function load(results, params) {
  const filters = {};
  for (const name of FILTERS) filters[name] = params[name];
  let page;
  try {
    page = await get(`/admin/sagas${query({ ...filters, limit: 50, cursor: params.cursor })}`);
  } catch (error) {
    replace(results, h('p', { class: 'error' }, `Cannot list sagas: ${describe(error)}`));
    return;
  }
  const sagas = page.data || [];
  const rows = sagas.map((s) => [
    time(s.updated_at),
    h('a', { href: route(`sagas/${encodeURIComponent(s.id)}`), class: 'mono saga-link' }, s.id),
    s.saga,
    badge(s.status),
    s.caller,
    orDash(s.failed_step, { class: 'mono failed-step' }),
  ]);
  replace(results,
    table(['Updated', 'Saga', 'Name', 'Status', 'Caller', 'Failed step'], rows, {
      id: 'sagas-table',
      empty: 'No saga matches these filters.',
      rowProps: (i) => ({ 'data-id': sagas[i].id, 'data-status': sagas[i].status,
        class: sagas[i].status === 'failed' ? 'row-alert' : null }),
    }),
    h('div', { class: 'pager' },
      params.cursor ? h('a', { href: route('sagas', filters), class: 'button quiet' }, '« Newest') : null,
      page.next_cursor ? h('a', { href: route('sagas', { ...filters, cursor: page.next_cursor }), class: 'button',
        id: 'sagas-older' }, 'Older »') : h('span', { class: 'muted' }, 'No older sagas.')));
}

function detail(main, context) {
  const id = context.id;
  const body = h('div', { id: 'saga' }, h('p', { class: 'muted' }, 'Loading…'));
  append(main, [h('p', { class: 'crumbs' }, h('a', { href: '#/sagas' }, '« Sagas')),
    h('div', { class: 'title' }, h('h1', null, 'Saga'), h('span', { class: 'mono muted' }, id)), body]);
  const path = `/admin/sagas/${encodeURIComponent(id)}`;
  let timer = null;
  let stopped = false;
  const show = (saga) => {
    clearTimeout(timer);
    if (stopped) return;
    replace(body, view(saga, retry));
    if (!FINAL.includes(saga.status)) timer = setTimeout(refresh, EVERY_MS);
  };
  const refresh = async () => {
    clearTimeout(timer);
    try {
      show(await get(path));
    } catch (error) {
      if (!stopped) replace(body, h('p', { class: 'error' }, `Cannot load the saga: ${describe(error)}`));
    }
  };
  const retry = (container) => confirmInline(container, 'Retry this saga? Its compensations run again from the '
    + 'step that could not be undone.', 'Yes, retry it', async () => {
    try {
      const saga = await post(`${path}/retry`);
      show(saga);
      context.notice(`The saga is retried: it is ${saga.status} again.`, 'ok');
    } catch (error) {
      context.notice(`Cannot retry: ${describe(error)}`, 'error');
      refresh();
    }
  });
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function view(s, retry) {
  const actions = h('div', { class: 'actions' });
  if (s.status === 'failed') {
    append(actions,
      h('button', { type: 'button', class: 'danger', id: 'saga-retry', onclick: () => retry(actions) }, 'Retry'),
      h('span', { class: 'muted' }, 'Once the vendor can undo the failed step.'));
  }
  const live = !FINAL.includes(s.status);
  const steps = s.steps || [];
  return [
    h('section', { class: `card${s.status === 'failed' ? ' card-alert' : ''}` }, facts([
      ['Status', h('span', { id: 'saga-status' }, badge(s.status))],
      ['Saga', s.saga],
      ['Caller', s.caller],
      ['Failed step', orDash(s.failed_step, { class: 'mono', id: 'saga-failed-step' })],
      ['Retries', String(s.retries ?? 0)],
      ['Next attempt', live ? time(s.next_attempt_at) : '–'],
      ['Running now', live && s.running ? 'yes' : 'no'],
      ['Correlation id', h('span', { class: 'mono' }, s.correlationid)],
      ['Created', time(s.created_at)],
      ['Updated', time(s.updated_at)],
    ]), actions),
    h('section', { id: 'saga-steps' }, h('h2', null, 'Steps'),
      steps.length === 0 ? h('p', { class: 'muted' }, 'No step.') : steps.map(step)),
    h('section', null, h('h2', null, 'Input'), block(pretty(s.input ?? null), { id: 'saga-input' })),
  ];
}

function step(st) {
  const bad = st.status === 'failed' || st.status === 'compensation_failed';
  return h('section', { class: `card step step-${bad ? 'bad' : 'ok'}`, 'data-step': st.name, 'data-status': st.status },
    h('div', { class: 'title' }, h('h3', null, st.name), badge(st.status)),
    facts([
      ['Attempts', String(st.attempts ?? 0)],
      ['Result', st.result === undefined || st.result === null ? h('span', { class: 'muted' }, '–')
        : block(pretty(st.result), { class: 'block step-result' })],
      ['Last error', st.error ? h('span', { class: 'mono step-error' }, st.error) : '–'],
      ['Compensation attempts', String(st.compensation_attempts ?? 0)],
      ['Last compensation error', st.compensation_error
        ? h('span', { class: 'mono step-compensation-error' }, st.compensation_error) : '–'],
    ]));
}
