// The admin API client: the operator's token is kept in this tab's sessionStorage (never a cookie, never a URL) and
// sent as `Authorization: Bearer`. A 401 clears it and sends the operator back to the login page.

const KEY = 'gatehouse.admin-token';
// A copy in memory, for browsers that refuse sessionStorage (the token then lasts as long as the page).
let memory = null;
let unauthorized = () => {};

/** The operator's token, or null before login. */
export function token() {
  try {
    return sessionStorage.getItem(KEY) || memory;
  } catch {
    return memory;
  }
}

export function setToken(value) {
  memory = value || null;
  try {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage refused: the copy in memory serves.
  }
}

/** What to do when the gateway answers 401 (set by the app: back to the login page). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/** A failed call: the HTTP status and the problem document's detail (or title), as text. */
export class ApiError extends Error {
  constructor(status, problem) {
    const detail = (problem && (problem.detail || problem.title)) || `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.problem = problem || {};
  }

  /** The message an operator reads: the detail and the correlation id to find the log lines. */
  describe() {
    const id = this.problem.correlationid || this.problem.correlation_id;
    return `${this.message} (${this.status}${id ? `, correlation id ${id}` : ''})`;
  }
}

/** `?a=1&b=2` of the non-empty `params` (empty string when none). */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Calls the admin API: `method path` with an optional JSON `body`; resolves to the parsed JSON answer. */
export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, { detail: `the gateway cannot be reached (${error.message})` });
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.status === 401) {
    setToken(null);
    unauthorized(json && json.detail ? json.detail : 'the admin token was refused');
    throw new ApiError(401, json);
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);
