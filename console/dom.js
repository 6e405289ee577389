// DOM helpers for the console. Every string given to `h` becomes a text node: data from the gateway (vendor- or
// caller-controlled) is never parsed as HTML. Links may only point inside the console (`#/...`).

/** Creates `tag` with `props` (attributes; `on<event>` handlers; `class`) and `children` (nodes or text). */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      element.className = value;
    } else if (key === 'href') {
      element.setAttribute('href', insideHref(value));
    } else {
      element.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends nodes or text (as text nodes) to `element`; null, undefined and false are skipped. */
export function append(element, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Replaces the children of `element` with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

function insideHref(value) {
  const text = String(value);
  return text.startsWith('#/') ? text : '#/';
}

/** `#/path?query` with the non-empty `params`. */
export function route(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== '') query.set(key, value);
  }
  const text = query.toString();
  return `#/${path}${text ? `?${text}` : ''}`;
}

/** An RFC 3339 time as `YYYY-MM-DD HH:MM:SSZ` (UTC, as the gateway logs it), or a dash. */
export function time(rfc3339) {
  if (!rfc3339) return '–';
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return String(rfc3339);
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** A duration in seconds, short: `42 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`. */
export function age(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** A ratio in [0, 1] as a percentage. */
export function percent(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(Number(ratio))) return '–';
  return `${(Number(ratio) * 100).toFixed(Number(ratio) < 0.1 && Number(ratio) > 0 ? 1 : 0)} %`;
}

/** JSON as indented text (a string stays as it is). */
export function pretty(value) {
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 2);
}

/** A status badge: the text, styled by a class from a fixed list (unknown states look neutral). */
export function badge(state) {
  const known = ['closed', 'open', 'half_open', 'pending', 'delivered', 'dead', 'quarantined', 'retry',
    'succeeded', 'failed', 'cancelled', 'running', 'compensating', 'completed', 'compensated', 'compensation_failed'];
  const text = String(state ?? '–');
  return h('span', { class: `badge ${known.includes(text) ? `badge-${text}` : 'badge-other'}` }, text.replaceAll('_', '-'));
}

/** A table: `columns` are header texts; `rows` arrays of cells (nodes or text); `rowProps` per row, optional. */
export function table(columns, rows, options = {}) {
  const head = h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c))));
  const body = h('tbody', null, rows.map((cells, i) => h('tr', options.rowProps ? options.rowProps(i) : null,
    cells.map((cell) => h('td', null, cell)))));
  if (rows.length === 0) {
    append(body, h('tr', null, h('td', { colspan: columns.length, class: 'muted empty' }, options.empty || 'Nothing here.')));
  }
  return h('table', { class: options.class || 'grid', id: options.id }, head, body);
}

/** A `<label>` around a caption and a control. */
export function field(caption, control) {
  return h('label', { class: 'field' }, h('span', null, caption), control);
}

/** A `<select>` of `[value, text]` options with `selected` chosen. */
export function select(name, options, selected) {
  return h('select', { name, id: `f-${name}` }, options.map(([value, text]) => h('option',
    { value, selected: String(value) === String(selected ?? '') }, text)));
}

/** A text `<input>`. */
export function input(name, value, placeholder) {
  return h('input', { name, id: `f-${name}`, type: 'text', value: value || '', placeholder, autocomplete: 'off',
    spellcheck: 'false' });
}

/** A definition list of `[term, value]` pairs (values: nodes or text). */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.flatMap(([term, value]) => [h('dt', null, term), h('dd', null, value)]));
}

/** A monospace block of text (`<pre>`): JSON, raw bodies, errors. */
export function block(text, props) {
  return h('pre', Object.assign({ class: 'block' }, props || {}), text ?? '');
}

/**
 * An in-page confirmation at the end of `container`: `question`, a button `yes` that runs `action`, and Cancel.
 * (No `window.confirm`: a native dialog would hide what the operator is confirming.)
 */
export function confirmInline(container, question, yes, action) {
  const box = h('div', { class: 'confirm', role: 'alertdialog' });
  const close = () => box.remove();
  append(box, [
    h('span', null, question),
    h('button', { type: 'button', class: 'danger', id: 'confirm-yes', onclick: () => { close(); action(); } }, yes),
    h('button', { type: 'button', class: 'quiet', id: 'confirm-no', onclick: close }, 'Cancel'),
  ]);
  container.querySelectorAll('.confirm').forEach((old) => old.remove());
  container.append(box);
  return box;
}
