// Deferred commands (`Prefer: respond-async`): a list newest first, filtered by status, provider and caller, and one
// command's detail (attempts, last error, request body, the vendor's response), with Cancel for a pending one.

import { get, post, query } from './api.js';
import { append, badge, block, confirmInline, facts, field, h, input, pretty, replace, route, select, table, time }
  from './dom.js';
import { choices, fill } from './events.js';

const STATUSES = [['', 'any'], ['pending', 'pending'], ['succeeded', 'succeeded'], ['failed', 'failed'],
  ['cancelled', 'cancelled']];
const FILTERS = ['status', 'provider', 'caller'];

export function render(main, context) {
  return context.id ? detail(main, context) : list(main, context);
}

function describe(error) {
  return error.describe ? error.describe() : error.message;
}

function list(main, context) {
  const params = context.params;
  const form = h('form', { class: 'filters', id: 'commands-filters' },
    field('Status', select('status', STATUSES, params.status)),
    field('Provider', select('provider', [['', 'any']], params.provider)),
    field('Caller', input('caller', params.caller, 'caller name')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'commands-apply' }, 'Apply'),
      h('a', { href: '#/commands', class: 'button quiet' }, 'Clear')));
  const results = h('div', { id: 'commands-results' }, h('p', { class: 'muted' }, 'Loading…'));
  append(main, [h('div', { class: 'title' }, h('h1', null, 'Commands'), h('span', { class: 'muted' }, 'newest first')),
    form, results]);
  choices().then(({ providers }) => fill(form.elements.provider, providers, params.provider));
  form.addEventListener('submit', (submitted) => {
    submitted.preventDefault();
    const chosen = {};
    for (const name of FILTERS) chosen[name] = form.elements[name].value.trim();
    context.navigate(route('commands', chosen));
  });
  load(results, params);
}

async function load(results, params) {
  const filters = {};
  for (const name of FILTERS) filters[name] = params[name];
  let page;
  try {
    page = await get(`/admin/commands${query({ ...filters, limit: 50, cursor: params.cursor })}`);
  } catch (error) {
    replace(results, h('p', { class: 'error' }, `Cannot list commands: ${describe(error)}`));
    return;
  }
  const commands = page.data || [];
  const rows = commands.map((c) => [
    time(c.created_at),
    h('a', { href: route(`commands/${encodeURIComponent(c.id)}`), class: 'mono command-link' }, c.id),
    c.caller,
    c.provider,
    h('span', { class: 'mono' }, `${c.method} ${c.path}`),
    badge(c.status),
    String(c.attempts ?? 0),
    c.last_error ? h('span', { class: 'mono' }, c.last_error) : h('span', { class: 'muted' }, '–'),
  ]);
  replace(results,
    table(['Created', 'Command', 'Caller', 'Provider', 'Request', 'Status', 'Attempts', 'Last error'], rows, {
      id: 'commands-table',
      empty: 'No command matches these filters.',
      rowProps: (i) => ({ 'data-id': commands[i].id, 'data-status': commands[i].status }),
    }),
    h('div', { class: 'pager' },
      params.cursor ? h('a', { href: route('commands', filters), class: 'button quiet' }, '« Newest') : null,
      page.next_cursor ? h('a', { href: route('commands', { ...filters, cursor: page.next_cursor }), class: 'button',
        id: 'commands-older' }, 'Older »') : h('span', { class: 'muted' }, 'No older commands.')));
}

function detail(main, context) {
  const id = context.id;
  const body = h('div', { id: 'command' }, h('p', { class: 'muted' }, 'Loading…'));
  append(main, [h('p', { class: 'crumbs' }, h('a', { href: '#/commands' }, '« Commands')),
    h('div', { class: 'title' }, h('h1', null, 'Command'), h('span', { class: 'mono muted' }, id)), body]);
  const path = `/admin/commands/${encodeURIComponent(id)}`;
  const show = (command) => replace(body, view(command, cancel));
  const refresh = async () => {
    try {
      show(await get(path));
    } catch (error) {
      replace(body, h('p', { class: 'error' }, `Cannot load the command: ${describe(error)}`));
    }
  };
  const cancel = (container) => confirmInline(container, 'Cancel this command? It will not be sent to the vendor '
    + 'again.', 'Yes, cancel it', async () => {
    try {
      show(await post(`${path}/cancel`));
      context.notice('The command is cancelled.', 'ok');
    } catch (error) {
      context.notice(`Cannot cancel: ${describe(error)}`, 'error');
      refresh();
    }
  });
  refresh();
}

function view(c, cancel) {
  const actions = h('div', { class: 'actions' });
  if (c.status === 'pending') {
    append(actions, h('button', { type: 'button', class: 'danger', id: 'command-cancel',
      onclick: () => cancel(actions) }, 'Cancel command'));
  }
  const response = c.response
    ? [facts([['Status', String(c.response.status)]]), block(pretty(c.response.body), { id: 'command-response' })]
    : h('p', { class: 'muted' }, 'No response yet.');
  return [
    h('section', { class: 'card' }, facts([
      ['Status', h('span', { id: 'command-status' }, badge(c.status))],
      ['Caller', c.caller],
      ['Provider', c.provider],
      ['Request', h('span', { class: 'mono' }, `${c.method} ${c.path}`)],
      ['Attempts', String(c.attempts ?? 0)],
      ['Next attempt', c.status === 'pending' ? time(c.next_attempt_at) : '–'],
      ['Last error', c.last_error ? h('span', { class: 'mono' }, c.last_error) : '–'],
      ['Correlation id', h('span', { class: 'mono' }, c.correlationid)],
      ['Created', time(c.created_at)],
      ['Updated', time(c.updated_at)],
    ]), actions),
    h('section', null, h('h2', null, 'Request body'), block(pretty(c.body), { id: 'command-body' })),
    h('section', null, h('h2', null, 'Response'), response),
  ];
}
