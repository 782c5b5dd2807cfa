// The web UI of `conduit serve`: plain JavaScript, no build step.
//
// The page is served with `Content-Security-Policy: default-src 'self'`, so
// everything here is built with DOM calls: no inline handlers, no HTML
// strings. Every string that comes from the server (file names above all) is
// put on the page with textContent or an attribute, never parsed as HTML.
// The API is described in docs/http-api.md.
'use strict';

// ---------------------------------------------------------------- helpers

/** Make an element. `props`: class, text, dataset, on<event> handlers,
 * DOM properties (id, type, value, hidden, htmlFor, ...) and, for names with a
 * dash (aria-*) or unknown to the element, attributes (false: left out).
 * null and undefined props are left out. */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && !key.includes('-')) node[key] = value;
    else if (value !== false) node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replace a node's children; like el(), skips nulls and flattens lists. */
function fill(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

const $ = (id) => document.getElementById(id);

let lastUid = 0;
/** A page-unique id: ids are never made from conduit or file names. */
const uid = (prefix) => `${prefix}-${++lastUid}`;

/** Set a node's text only when it changes, so live regions and alerts are
 * not announced again by the periodic re-render. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function announce(text) {
  const live = $('live');
  // Clearing first makes a repeated message be announced again.
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 50);
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = n;
  let i = -1;
  do {
    value /= 1024;
    i += 1;
  } while (value >= 1024 && i < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[i]}`;
}

function fmtSecs(secs) {
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

function fmtRelative(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso || '—';
  const secs = (t - Date.now()) / 1000;
  const abs = Math.abs(secs);
  if (abs < 45) return secs <= 0 ? 'just now' : 'in a few seconds';
  if (abs < 3600) return relative.format(Math.round(secs / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(secs / 3600), 'hour');
  return relative.format(Math.round(secs / 86400), 'day');
}

function fmtDate(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? (iso || '—') : new Date(t).toLocaleString();
}

/** A <time> with the relative form shown and the full date as its title. */
function timeEl(iso) {
  return el('time', { dateTime: iso, title: fmtDate(iso), text: fmtRelative(iso) });
}

// The counts of a run or an outcome object, in the order json.md lists them.
const COUNTS = [
  'copied', 'folders_created', 'updated', 'deleted', 'folders_removed', 'moved',
  'renamed', 'conflicts', 'unresolved', 'evicted', 'hydrated', 'accepted',
  'skipped', 'failed', 'verified',
];

/** "3 copied, 1 deleted, 64 MiB written": the non-zero counts of a run. */
function summarizeCounts(run) {
  const parts = COUNTS.filter((k) => run[k] > 0).map((k) => `${run[k]} ${k.replace(/_/g, ' ')}`);
  if (run.bytes > 0) parts.push(`${fmtBytes(run.bytes)} written`);
  return parts.join(', ');
}

/** A list of text lines, or nothing when there are none. */
function lines(title, items) {
  if (!items || items.length === 0) return null;
  return el('div', { class: 'lines' },
    el('p', { class: 'lines-title', text: title }),
    el('ul', {}, items.map((line) => el('li', { text: String(line) }))));
}

function table(caption, headers, rows) {
  return el('div', { class: 'table-wrap' },
    el('table', {},
      el('caption', { text: caption }),
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, rows)));
}

// ------------------------------------------------------- units and options

// The text forms the server reads (policies/contract/src/units.rs). The check
// here only catches typos early: the server has the last word.
const SIZE_RE = /^(\d+(\.\d*)?|\.\d+)\s*(b|k|kib|kb|m|mib|mb|g|gib|gb|t|tib|tb)?$/i;
const DURATION_RE = /^\d+\s*(s|m|h|d|w|y)?$/;
const PERCENT_RE = /^(\d+(\.\d*)?|\.\d+)\s*%$/;
const INTEGER_RE = /^-?\d+$/;

/** The largest binary unit that divides n, as the CLI renders sizes. */
function renderSize(n) {
  for (const [unit, factor] of [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]]) {
    if (n >= factor && n % factor === 0) return `${n / factor}${unit}`;
  }
  return String(n);
}

function renderDuration(s) {
  const units = [['y', 365 * 86400], ['w', 7 * 86400], ['d', 86400], ['h', 3600], ['m', 60]];
  for (const [unit, factor] of units) {
    if (s >= factor && s % factor === 0) return `${s / factor}${unit}`;
  }
  return `${s}s`;
}

const PLACEHOLDERS = {
  size: 'e.g. 64M',
  duration: 'e.g. 7d',
  'size-or-percent': 'e.g. 50% or 64M',
  integer: 'e.g. 10',
};

/** An option's default as text the user could type (sizes and durations
 * come as plain numbers of bytes and seconds); null when it has none. */
function renderDefault(spec) {
  const d = spec.default;
  if (d === null || d === undefined) return null;
  if (typeof d === 'number' && (spec.type === 'size' || spec.type === 'size-or-percent')) return renderSize(d);
  if (typeof d === 'number' && spec.type === 'duration') return renderDuration(d);
  if (typeof d === 'boolean') return d ? 'true' : 'false';
  return String(d);
}

/** An option's type. `policy list --json` names a size-or-percent `size`
 * (the first word of "size or percent"); a percent default gives it away. */
function optionType(spec) {
  const percentDefault = typeof spec.default === 'string' && spec.default.endsWith('%');
  return spec.type === 'size' && percentDefault ? 'size-or-percent' : spec.type;
}

const isTrue = (text) => ['true', 'yes', 'on', '1'].includes(String(text).toLowerCase());

/** Why `text` is not a valid value of an option of `type`, or null. */
function invalidValue(type, text) {
  const percentOk = PERCENT_RE.test(text) && parseFloat(text) <= 100;
  switch (type) {
    case 'integer': return INTEGER_RE.test(text) ? null : 'a whole number, e.g. 10';
    case 'size': return SIZE_RE.test(text) ? null : 'a size such as 500M or 10GiB';
    case 'duration': return DURATION_RE.test(text) ? null : 'a duration such as 90s, 30m, 12h or 7d';
    case 'size-or-percent':
      return SIZE_RE.test(text) || percentOk ? null : 'a size such as 10G, or a share from 0% to 100%';
    default: return null;
  }
}

/** One labelled field: label, control, help and a place for its error. */
function field(labelText, control, helpText) {
  const helpId = uid('help');
  const errorId = uid('error');
  const help = helpText ? el('p', { class: 'help', id: helpId, text: helpText }) : null;
  const error = el('p', { class: 'field-error', id: errorId, hidden: true });
  control.setAttribute('aria-describedby', [help ? helpId : null, errorId].filter(Boolean).join(' '));
  const label = el('label', { htmlFor: control.id, text: labelText });
  const isCheck = control.type === 'checkbox';
  const root = isCheck
    ? el('div', { class: 'field check' }, el('div', { class: 'check-row' }, control, label), help, error)
    : el('div', { class: 'field' }, label, control, help, error);
  return {
    root,
    control,
    setError(message) {
      error.hidden = !message;
      error.textContent = message || '';
      if (message) control.setAttribute('aria-invalid', 'true');
      else control.removeAttribute('aria-invalid');
    },
  };
}

/** A form section for `policy`'s options, into `container`. A control starts
 * at the value in `current` (text, as a conduit object holds its options),
 * else empty (text kinds, the default as placeholder) or at the default
 * (flags and choices). Returns validate() and changes(): only the options the
 * user changed, as the strings `--set` takes. */
function optionsForm(container, policy, current) {
  fill(container);
  const entries = [];
  for (const raw of policy.options || []) {
    const spec = { ...raw, type: optionType(raw) };
    const id = uid('opt');
    const shownDefault = renderDefault(spec);
    const given = current && Object.hasOwn(current, spec.name) ? String(current[spec.name]) : null;
    const help = [shownDefault !== null ? `Default: ${shownDefault}.` : 'No default.', spec.help]
      .filter(Boolean).join(' ');
    let control;
    let initial;
    if (spec.type === 'flag') {
      initial = given !== null ? isTrue(given) : spec.default === true;
      control = el('input', { id, type: 'checkbox', checked: initial });
    } else if (spec.type === 'choice') {
      initial = given ?? shownDefault ?? '';
      control = el('select', { id },
        initial === '' ? el('option', { value: '', text: '(not set)' }) : null,
        (spec.choices || []).map((c) => el('option', { value: c, text: c })));
      control.value = initial;
    } else {
      initial = given ?? '';
      control = el('input', {
        id,
        type: spec.type === 'integer' ? 'number' : 'text',
        step: spec.type === 'integer' ? '1' : null,
        inputMode: spec.type === 'integer' ? 'numeric' : null,
        autocomplete: 'off',
        spellcheck: false,
        value: initial,
        placeholder: PLACEHOLDERS[spec.type] || shownDefault || '',
      });
    }
    const f = field(spec.name, control, help);
    container.append(f.root);
    entries.push({ spec, f, initial, shownDefault });
  }
  if (entries.length === 0) container.append(el('p', { class: 'help', text: 'This policy has no options.' }));

  const read = (e) => (e.spec.type === 'flag' ? e.f.control.checked : e.f.control.value.trim());
  return {
    /** Marks the invalid fields; returns the first one's control, or null. */
    validate() {
      let first = null;
      for (const e of entries) {
        const value = read(e);
        let problem = null;
        if (e.spec.type === 'integer' && e.f.control.validity.badInput) problem = 'a whole number, e.g. 10';
        else if (e.spec.type !== 'flag' && value === '' && e.initial !== '') {
          problem = 'a value: a set option cannot be unset here';
        } else if (typeof value === 'string' && value !== '') problem = invalidValue(e.spec.type, value);
        e.f.setError(problem ? `${e.spec.name} expects ${problem}.` : null);
        if (problem && !first) first = e.f.control;
      }
      return first;
    },
    changes() {
      const out = {};
      for (const e of entries) {
        const value = read(e);
        if (value === e.initial || value === '') continue;
        if (e.spec.type === 'flag') {
          out[e.spec.name] = value ? 'true' : 'false';
        } else if (!(e.initial === '' && value === e.shownDefault)) {
          out[e.spec.name] = value;
        }
      }
      return out;
    },
  };
}

const CADENCES = [
  ['manual', 'manual: only when asked'],
  ['instant', 'instant: soon after changes'],
  ['30s', 'every 30 seconds'],
  ['5m', 'every 5 minutes'],
  ['1h', 'every hour'],
  ['1d', 'every day'],
];

function fillCadences(select, current) {
  const known = CADENCES.some(([value]) => value === current);
  fill(select,
    ...CADENCES.map(([value, text]) => el('option', { value, text })),
    known || !current ? null : el('option', { value: current, text: `every ${current}` }),
  );
  select.value = current || 'manual';
}

// --------------------------------------------------------------------- API

const session = {
  key: sessionStorage.getItem('conduit.key'),
  csrf: sessionStorage.getItem('conduit.csrf'),
};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Call the API with the key (and, for changes, the CSRF token). A 401 means
 * the key is no longer this server's: back to the login form. */
async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session.key}` };
  if (method !== 'GET') headers['X-CSRF-Token'] = session.csrf || '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, `The server did not answer (${e.message}). Is \`conduit serve\` still running?`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.status === 401) {
    logout('The server no longer accepts this key: log in again.');
    throw new ApiError(401, 'not logged in');
  }
  if (!res.ok) throw new ApiError(res.status, (data && data.error) || `${res.status} ${res.statusText}`);
  return data;
}

const conduitPath = (name, rest = '') => `/api/conduits/${encodeURIComponent(name)}${rest}`;

// ------------------------------------------------------------------- login

function showLogin(message) {
  $('panel').hidden = true;
  $('manage').hidden = true;
  $('logout').hidden = true;
  $('connection').hidden = true;
  $('login').hidden = false;
  setText($('login-error'), message || '');
  $('login-key').value = '';
  $('login-key').focus();
}

async function login(event) {
  event.preventDefault();
  const key = $('login-key').value.trim();
  const error = $('login-error');
  if (!key) {
    error.textContent = 'Enter the API key: `conduit serve --print-key` prints it.';
    return;
  }
  error.textContent = '';
  let res;
  try {
    res = await fetch('/api/session', { headers: { Authorization: `Bearer ${key}` }, cache: 'no-store' });
  } catch (e) {
    error.textContent = `The server did not answer (${e.message}).`;
    return;
  }
  if (res.status === 401) {
    error.textContent = "That key is not this server's; `conduit serve --print-key` prints it.";
    return;
  }
  const data = await res.json().catch(() => null);
  if (!res.ok || !data) {
    error.textContent = (data && data.error) || `The server answered ${res.status}.`;
    return;
  }
  sessionStorage.setItem('conduit.key', key);
  sessionStorage.setItem('conduit.csrf', data.csrf);
  session.key = key;
  session.csrf = data.csrf;
  enterApp();
}

function logout(message) {
  sessionStorage.removeItem('conduit.key');
  sessionStorage.removeItem('conduit.csrf');
  session.key = null;
  session.csrf = null;
  events.stop();
  clearInterval(app.ticker);
  clearTimeout(refreshTimer);
  refreshTimer = null;
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  app.conduits = [];
  app.status.clear();
  app.progress.clear();
  for (const card of app.cards.values()) card.root.remove();
  app.cards.clear();
  app.manage = null;
  fill($('manage'));
  showLogin(message);
}

// --------------------------------------------------------------- app state

const app = {
  conduits: [], // conduit objects, in the server's order
  status: new Map(), // name -> status object
  // name -> {p: progress object, done}: the last progress of each conduit,
  // kept after the run ends (done) so the final line stays until the next run.
  progress: new Map(),
  cards: new Map(), // name -> card, in the status panel
  manage: null, // the management view, when open
  ticker: null,
};

async function enterApp() {
  // Check the stored key and take a fresh CSRF token (the server may have
  // restarted since the key was stored).
  try {
    const data = await api('GET', '/api/session');
    session.csrf = data.csrf;
    sessionStorage.setItem('conduit.csrf', data.csrf);
    // The status fetched next already shows what older events told.
    events.lastId = String(data.last_event);
  } catch (e) {
    if (e.status !== 401) showLogin(e.message);
    return;
  }
  $('login').hidden = true;
  $('panel').hidden = false;
  $('logout').hidden = false;
  await refresh();
  events.start();
  // Relative times ("5 minutes ago") age: re-render them now and then.
  app.ticker = setInterval(renderAll, 30000);
  $('panel-title').focus({ preventScroll: true });
}

const conduitNamed = (name) => app.conduits.find((c) => c.name === name);

let refreshTimer = null;
let refreshing = null;
let refreshAgain = false;

/** Refresh soon: many events in a row cost one round of requests. */
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refresh();
  }, 150);
}

/** Read every conduit's settings and status, and re-render. */
async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      const [status, conduits] = await Promise.all([api('GET', '/api/status'), api('GET', '/api/conduits')]);
      app.conduits = conduits;
      app.status = new Map(status.map((s) => [s.conduit, s]));
      for (const s of status) mergeProgress(s);
      setText($('panel-error'), '');
      renderAll();
    } catch (e) {
      if (e.status !== 401) setText($('panel-error'), `Could not read the status: ${e.message}`);
    }
  })();
  await refreshing;
  refreshing = null;
  if (refreshAgain) {
    refreshAgain = false;
    await refresh();
  }
}

/** Fold a status object's progress into what the event stream told. */
function mergeProgress(s) {
  const known = app.progress.get(s.conduit);
  if (s.progress) {
    // A run in flight: take it unless the stream already has fresher news of it.
    if (!known || known.done) app.progress.set(s.conduit, { p: s.progress, done: false });
  } else if (known && !known.done && s.state !== 'scanning' && s.state !== 'syncing') {
    known.done = true; // its end was missed (e.g. while reconnecting)
  }
}

function renderAll() {
  renderPanel();
  if (app.manage) app.manage.card.update();
}

// ------------------------------------------------------------ status cards

function renderPanel() {
  const names = app.conduits.map((c) => c.name);
  for (const [name, card] of app.cards) {
    if (!names.includes(name)) {
      card.root.remove();
      app.cards.delete(name);
    }
  }
  const list = $('cards');
  names.forEach((name, i) => {
    let card = app.cards.get(name);
    if (!card) {
      card = makeCard(name, { inManage: false });
      app.cards.set(name, card);
    }
    // Keep the server's order, moving a card only when needed: a moved
    // element loses the keyboard focus.
    if (list.children[i] !== card.root) list.insertBefore(card.root, list.children[i] || null);
    card.update();
  });
  $('empty').hidden = names.length > 0;
}

/** A conduit's summary: the card of the status panel, or (inManage) the head
 * of the management view. update() re-reads app state. */
function makeCard(name, { inManage }) {
  const titleId = uid('card');
  const facts = el('dl', { class: 'facts' });
  const fact = (term, key) => {
    const dd = el('dd', { dataset: { field: key } });
    const row = el('div', { class: 'fact' }, el('dt', { text: term }), dd);
    facts.append(row);
    return { row, dd };
  };
  const f = {
    state: el('span', { class: 'badge', dataset: { field: 'state' } }),
    source: el('span', { class: 'path' }),
    destination: el('span', { class: 'path' }),
    policy: fact('Policy', 'policy'),
    lastSync: fact('Last sync', 'last-sync'),
    nextSync: fact('Next sync', 'next-sync'),
    conflicts: fact('Conflicts', 'conflicts'),
    offloaded: fact('Offloaded', 'offloaded'),
    bar: el('progress', { max: 100, 'aria-label': `Progress of ${name}` }),
    progressText: el('p', { class: 'progress-text', dataset: { field: 'progress' } }),
    alertText: el('p', { class: 'alert-text' }),
    note: el('p', { class: 'note', role: 'status' }),
  };
  const progressBox = el('div', { class: 'progress', hidden: true }, f.bar, f.progressText);
  const say = (text, isError) => {
    f.note.textContent = text;
    f.note.classList.toggle('error', Boolean(isError));
  };
  const syncButton = el('button', { type: 'button', class: 'primary', text: 'Sync now', onclick: () => syncNow(name, say) });
  const pauseButton = el('button', { type: 'button', text: 'Pause', onclick: () => togglePause(name, say) });
  const retry = el('button', { type: 'button', text: 'Retry', onclick: () => syncNow(name, say) });
  const alertBox = el('div', { class: 'alert', role: 'alert', hidden: true }, f.alertText, retry);
  const actions = el('div', { class: 'actions' }, syncButton, pauseButton,
    inManage ? null : el('button', { type: 'button', text: 'Manage', onclick: () => openManage(name) }));

  const root = el(inManage ? 'div' : 'article', {
    class: inManage ? 'card summary' : 'card',
    'aria-labelledby': inManage ? null : titleId,
    dataset: { conduit: name },
  },
  el('div', { class: 'card-head' },
    inManage ? el('span', { class: 'visually-hidden', text: 'State:' }) : el('h2', { id: titleId, text: name }),
    f.state),
  el('p', { class: 'route' }, f.source,
    el('span', { class: 'arrow', 'aria-hidden': 'true', text: '→' }),
    el('span', { class: 'visually-hidden', text: 'to' }), f.destination),
  facts, progressBox, alertBox, actions, f.note);

  function update() {
    const c = conduitNamed(name);
    if (!c) return;
    const s = app.status.get(name) || {};
    const paused = c.enabled === false || s.state === 'paused';
    const state = s.state || (paused ? 'paused' : 'idle');
    setText(f.state, state);
    f.state.className = `badge state-${state}`;
    setText(f.source, c.source);
    setText(f.destination, c.destination);
    setText(f.policy.dd, `${c.policy}, ${c.cadence === 'manual' ? 'run by hand' : `cadence ${c.cadence}`}`);

    const run = s.last_run;
    if (run && run.halted) {
      fill(f.lastSync.dd, timeEl(run.ended || run.started), ': halted, nothing changed');
    } else if (run) {
      const counts = `${run.copied || 0} copied, ${run.deleted || 0} deleted, `
        + `${plural(run.conflicts || 0, 'conflict')}, ${run.failed || 0} failed`;
      const number = run.generation > 0 ? ` (run ${run.generation})` : '';
      fill(f.lastSync.dd, timeEl(run.ended || run.started), `${number}: ${counts}`);
    } else {
      setText(f.lastSync.dd, 'never');
    }
    if (paused) setText(f.nextSync.dd, 'paused');
    else if (s.next_run) fill(f.nextSync.dd, timeEl(s.next_run));
    else setText(f.nextSync.dd, c.cadence === 'manual' ? 'when asked' : '—');

    const open = s.conflicts || 0;
    setText(f.conflicts.dd, open ? plural(open, 'open conflict') : 'no open conflicts');
    f.conflicts.row.classList.toggle('warn', open > 0);
    f.offloaded.row.hidden = !(s.offloaded > 0 || c.policy === 'offload');
    setText(f.offloaded.dd, `${plural(s.offloaded || 0, 'file')}, ${fmtBytes(s.offloaded_bytes || 0)}`);

    // A halt says why and what to do; Retry runs it again.
    const problem = (run && run.halted) || s.error;
    alertBox.hidden = !problem;
    setText(f.alertText, problem || '');

    setText(pauseButton, paused ? 'Resume' : 'Pause');
    showProgress(progressBox, f.bar, f.progressText, app.progress.get(name));
  }

  return { root, update, actions, say };
}

/** Percent done: by bytes, or by files when there are no bytes to move. */
function percent(p) {
  let share = 1;
  if (p.bytes_total > 0) share = p.bytes / p.bytes_total;
  else if (p.files_total > 0) share = p.files / p.files_total;
  // Floor: 100% only when everything is there.
  return Math.floor(Math.min(1, Math.max(0, share)) * 100);
}

function showProgress(box, bar, text, entry) {
  box.hidden = !entry;
  if (!entry) return;
  const p = entry.p;
  if (p.phase === 'scanning') {
    bar.removeAttribute('value'); // indeterminate: the totals are not known yet
    setText(text, `${entry.done ? 'Scanned' : 'Scanning'}: ${p.entries || 0} entries, `
      + `${fmtBytes(p.hashed_bytes || 0)} hashed`);
    return;
  }
  const pct = percent(p);
  bar.value = pct;
  const parts = [`${p.files}/${p.files_total} files`, `${fmtBytes(p.bytes)} of ${fmtBytes(p.bytes_total)}`];
  if (!entry.done) {
    parts.push(p.speed ? `${fmtBytes(p.speed)}/s` : 'measuring speed');
    parts.push(p.eta_secs === null || p.eta_secs === undefined ? 'ETA unknown' : `ETA ${fmtSecs(p.eta_secs)}`);
  }
  setText(text, `${pct}% — ${parts.join(', ')}`);
}

/** A new run begins: the last run's final progress line goes. */
function forgetFinishedProgress(name) {
  const known = app.progress.get(name);
  if (known && known.done) app.progress.delete(name);
}

async function syncNow(name, say) {
  say('Starting a sync…');
  // Before the request: the new run's events may arrive before its answer.
  forgetFinishedProgress(name);
  try {
    await api('POST', conduitPath(name, '/sync'), {});
    say('');
    announce(`${name}: sync started`);
    renderAll();
  } catch (e) {
    if (e.status !== 401) say(e.message, true);
  }
}

async function togglePause(name, say) {
  const c = conduitNamed(name);
  const s = app.status.get(name) || {};
  const paused = (c && c.enabled === false) || s.state === 'paused';
  try {
    await api('POST', conduitPath(name, paused ? '/resume' : '/pause'));
    say(paused ? 'Resumed.' : 'Paused.');
    await refresh();
  } catch (e) {
    if (e.status !== 401) say(e.message, true);
  }
}

// ------------------------------------------------------------ event stream

// EventSource cannot send the Authorization header, so the stream is read
// with fetch() and parsed here as the HTML standard describes it.
const events = {
  controller: null,
  lastId: null,

  start() {
    this.stop();
    this.controller = new AbortController();
    this.run(this.controller.signal);
  },

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  },

  async run(signal) {
    let delay = 1000;
    let connectedBefore = false;
    while (!signal.aborted) {
      try {
        const headers = { Authorization: `Bearer ${session.key}`, Accept: 'text/event-stream' };
        if (this.lastId !== null) headers['Last-Event-ID'] = this.lastId;
        const res = await fetch('/api/events', { headers, signal, cache: 'no-store' });
        if (res.status === 401) {
          logout('The server no longer accepts this key: log in again.');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
        setConnection(true);
        // Events missed while away may be gone from the server's buffer.
        if (connectedBefore) scheduleRefresh();
        connectedBefore = true;
        delay = 1000;
        await this.read(res.body, signal);
      } catch {
        // fall through to the retry below
      }
      if (signal.aborted) return;
      setConnection(false);
      await new Promise((resolve) => { setTimeout(resolve, delay); });
      delay = Math.min(delay * 2, 15000);
    }
  },

  async read(body, signal) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let skipLF = false; // the last chunk ended in \r: a \n next is the same line end
    let type = '';
    let data = [];
    for (;;) {
      // The server sends a comment every 15 s: silence means a dead connection.
      let timer;
      const silence = new Promise((resolve) => { timer = setTimeout(resolve, 45000, { silent: true }); });
      const next = await Promise.race([reader.read(), silence]);
      clearTimeout(timer);
      if (next.silent || signal.aborted) {
        reader.cancel().catch(() => {});
        return;
      }
      if (next.done) return;
      let chunk = next.value;
      if (skipLF && chunk.startsWith('\n')) chunk = chunk.slice(1);
      skipLF = chunk.endsWith('\r');
      buffer += chunk;
      const parts = buffer.split(/\r\n|\r|\n/);
      buffer = parts.pop(); // an unfinished line
      for (const line of parts) {
        if (line === '') {
          if (data.length) this.dispatch(type || 'message', data.join('\n'));
          type = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue; // a comment: keep-alive
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        let fieldValue = colon < 0 ? '' : line.slice(colon + 1);
        if (fieldValue.startsWith(' ')) fieldValue = fieldValue.slice(1);
        if (name === 'event') type = fieldValue;
        else if (name === 'data') data.push(fieldValue);
        else if (name === 'id' && !fieldValue.includes('\0')) this.lastId = fieldValue;
      }
    }
  },

  dispatch(type, text) {
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      return;
    }
    onEvent(type, data);
  },
};

function setConnection(live) {
  const node = $('connection');
  node.hidden = false;
  setText(node, live ? 'Live' : 'Reconnecting…');
  node.classList.toggle('offline', !live);
}

function onEvent(type, data) {
  const name = data.conduit;
  switch (type) {
    case 'sync-progress': {
      const { conduit, ...p } = data;
      app.progress.set(conduit, { p, done: false });
      renderAll();
      return;
    }
    case 'sync-started':
      forgetFinishedProgress(name);
      break;
    case 'sync-completed': {
      const known = app.progress.get(name);
      if (known) known.done = true;
      const report = data.report || {};
      announce(`${name}: sync ${data.generation ? `run ${data.generation} ` : ''}done. ${summarizeCounts(report) || 'Nothing to do.'}`);
      break;
    }
    case 'sync-failed': {
      const known = app.progress.get(name);
      if (known) known.done = true;
      announce(`${name}: ${data.error || 'the sync failed'}`);
      break;
    }
    case 'conduit-removed':
      if (app.manage && app.manage.name === name) closeManage(`${name} was removed.`);
      break;
    case 'conflict-detected':
    case 'conduit-created':
    case 'conduit-changed':
    case 'state':
    case 'verification-complete':
      break;
    default:
      return;
  }
  scheduleRefresh();
  if (app.manage && app.manage.name === name) scheduleManageReload();
}

// --------------------------------------------------------- Sync To dialog

const syncTo = { policies: [], form: null };

async function openSyncTo() {
  const dialog = $('sync-to');
  $('sync-to-form').reset();
  setText($('st-error'), '');
  hidePreview();
  fillCadences($('st-cadence'), 'manual');
  try {
    syncTo.policies = await api('GET', '/api/policies');
  } catch (e) {
    if (e.status === 401) return;
    setText($('panel-error'), `Could not read the policies: ${e.message}`);
    return;
  }
  const select = $('st-policy');
  fill(select, ...syncTo.policies.map((p) => el('option', {
    value: p.name,
    text: p.error ? `${p.name} (cannot load)` : p.name,
    disabled: Boolean(p.error),
  })));
  const usable = syncTo.policies.find((p) => !p.error);
  if (usable) select.value = usable.name;
  showPolicy();
  dialog.showModal();
  $('st-source').focus();
}

function showPolicy() {
  const policy = syncTo.policies.find((p) => p.name === $('st-policy').value);
  setText($('st-policy-summary'), policy ? (policy.error || policy.summary || '') : '');
  syncTo.form = optionsForm($('st-options-fields'), policy || { options: [] }, null);
}

/** The new-conduit body, or null after marking what is missing or wrong. */
function newConduitBody() {
  const error = $('st-error');
  error.textContent = '';
  const required = [['st-source', 'a source folder'], ['st-destination', 'a destination folder'], ['st-name', 'a name']];
  const missing = required.filter(([id]) => $(id).value.trim() === '');
  for (const [id] of required) {
    if (missing.some(([m]) => m === id)) $(id).setAttribute('aria-invalid', 'true');
    else $(id).removeAttribute('aria-invalid');
  }
  const bad = syncTo.form.validate();
  const problems = [];
  if (missing.length) problems.push(`Give ${missing.map(([, what]) => what).join(', ')}.`);
  if (bad) problems.push('Some options are not valid: see the messages under them.');
  if (problems.length) {
    error.textContent = problems.join(' ');
    (missing.length ? $(missing[0][0]) : bad).focus();
    return null;
  }
  const body = {
    name: $('st-name').value.trim(),
    source: $('st-source').value.trim(),
    destination: $('st-destination').value.trim(),
    policy: $('st-policy').value,
    cadence: $('st-cadence').value,
  };
  const options = syncTo.form.changes();
  if (Object.keys(options).length) body.options = options;
  return body;
}

function setDialogBusy(busy) {
  $('sync-to-form').setAttribute('aria-busy', busy ? 'true' : 'false');
  for (const id of ['st-preview-button', 'st-create']) $(id).disabled = busy;
}

function hidePreview() {
  $('st-preview').hidden = true;
  fill($('st-preview-body'));
}

async function preview() {
  const body = newConduitBody();
  if (!body) return;
  setDialogBusy(true);
  $('st-preview').hidden = false;
  fill($('st-preview-body'), el('p', { text: 'Planning the first run (nothing is written)…' }));
  try {
    const run = await api('POST', '/api/preview', body);
    renderPlan($('st-preview-body'), run);
    $('st-preview').scrollIntoView({ block: 'nearest' });
    announce('Preview ready.');
  } catch (e) {
    hidePreview();
    if (e.status !== 401) $('st-error').textContent = e.message;
  } finally {
    setDialogBusy(false);
  }
}

/** A dry run's plan: its counts, then up to 10 paths per action. */
function renderPlan(container, run) {
  const items = run.items || [];
  const groups = new Map();
  for (const item of items) {
    if (!groups.has(item.action)) groups.set(item.action, []);
    groups.get(item.action).push(item);
  }
  const summary = summarizeCounts(run);
  fill(container,
    el('p', { class: 'plan-summary', text: summary ? `The first run would do: ${summary}.` : 'Nothing to do: both sides agree.' }),
    run.halted ? el('p', { class: 'error', text: run.halted }) : null,
    lines('Could not read:', run.scan_errors),
    lines('Problems:', run.problems),
    [...groups].map(([action, list]) => {
      const headingId = uid('plan');
      const shown = list.slice(0, 10);
      return el('section', { class: 'plan-group', dataset: { action }, 'aria-labelledby': headingId },
        el('h4', { id: headingId, text: `${action} (${list.length})` }),
        el('ul', {},
          shown.map((item) => el('li', { title: item.why || '', text: item.path })),
          list.length > shown.length ? el('li', { class: 'more', text: `… and ${list.length - shown.length} more` }) : null));
    }),
  );
}

async function createConduit(event) {
  event.preventDefault();
  const body = newConduitBody();
  if (!body) return;
  setDialogBusy(true);
  try {
    const created = await api('POST', '/api/conduits', body);
    $('sync-to').close();
    announce(`Created ${created.name}.`);
    await refresh();
    const card = app.cards.get(created.name);
    if (card) card.root.querySelector('button').focus();
  } catch (e) {
    if (e.status !== 401) $('st-error').textContent = e.message;
  } finally {
    setDialogBusy(false);
  }
}

// ---------------------------------------------------------- folder browser

const browser = { target: null, at: null, request: 0 };

async function openBrowser(target, which) {
  browser.target = target;
  setText($('browser-title'), `Choose the ${which} folder`);
  setText($('browser-error'), '');
  $('browser-path').value = '';
  $('browser-current').value = '';
  browser.at = null;
  $('browser').showModal();
  $('browser-path').focus();
  const start = target.value.trim();
  // Start where the field points; if that cannot be read, at the home folder.
  if (!(await browseTo(start || null, false)) && start) {
    const why = $('browser-error').textContent;
    await browseTo(null, false);
    setText($('browser-error'), why);
  }
}

/** Show the folders in `path` (null: the home folder). */
async function browseTo(path, focusList) {
  const list = $('browser-folders');
  const pathBox = $('browser-path');
  // Only the newest answer is shown, and what the user typed meanwhile stays.
  const request = ++browser.request;
  const typed = pathBox.value;
  list.setAttribute('aria-busy', 'true');
  try {
    const r = await api('GET', `/api/browse${path ? `?path=${encodeURIComponent(path)}` : ''}`);
    if (request !== browser.request) return true;
    browser.at = r;
    $('browser-current').value = r.path;
    if (pathBox.value === typed) pathBox.value = r.path;
    $('browser-up').disabled = !r.parent;
    fill(list, ...r.folders.map((folder) => el('li', {},
      el('button', { type: 'button', class: 'folder', text: folder.name, onclick: () => browseTo(folder.path, true) }))));
    $('browser-none').hidden = r.folders.length > 0;
    setText($('browser-error'), '');
    if (focusList) (list.querySelector('button') || $('browser-choose')).focus();
    return true;
  } catch (e) {
    if (e.status !== 401 && request === browser.request) setText($('browser-error'), e.message);
    return false;
  } finally {
    if (request === browser.request) list.setAttribute('aria-busy', 'false');
  }
}

function chooseFolder() {
  if (!browser.at) return;
  browser.target.value = browser.at.path;
  $('browser').close();
  hidePreview(); // the plan was for the other folder
  browser.target.focus();
}

// -------------------------------------------------------- management view

const TABS = ['Settings', 'History', 'Conflicts', 'Trash'];

function openManage(name, tab = 'Settings') {
  const section = $('manage');
  section.dataset.conduit = name;
  const card = makeCard(name, { inManage: true });
  const note = el('p', { class: 'note', role: 'status' });
  const m = { name, tab, card, note, panels: new Map(), tabs: new Map() };
  app.manage = m;

  const verify = el('button', { type: 'button', text: 'Verify', onclick: () => runVerify(m, verify) });
  const remove = el('button', { type: 'button', class: 'danger', text: 'Remove', onclick: () => askRemove(m) });
  card.actions.append(verify, remove);

  const confirmText = el('p', {
    text: `Remove the conduit ${name}? Conduit forgets it; the files and trash on both sides stay.`,
  });
  m.confirm = el('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirm removal', hidden: true },
    confirmText,
    el('div', { class: 'actions' },
      el('button', { type: 'button', class: 'danger', text: 'Yes, remove it', onclick: () => removeConduit(m) }),
      el('button', { type: 'button', text: 'Keep it', onclick: () => { m.confirm.hidden = true; remove.focus(); } })));
  m.confirm.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      m.confirm.hidden = true;
      remove.focus();
    }
  });
  m.verifyResult = el('div', { class: 'verify-result', hidden: true });

  const tablist = el('div', { role: 'tablist', 'aria-label': `Sections of ${name}`, class: 'tabs' });
  for (const label of TABS) {
    const tabId = uid('tab');
    const panelId = uid('tabpanel');
    const button = el('button', {
      type: 'button', role: 'tab', id: tabId, 'aria-controls': panelId, text: label,
      onclick: () => selectTab(m, label, false),
    });
    const panel = el('div', { role: 'tabpanel', id: panelId, 'aria-labelledby': tabId, tabIndex: 0, hidden: true });
    m.tabs.set(label, button);
    m.panels.set(label, panel);
    tablist.append(button);
  }
  // Arrow keys move between tabs (the ARIA tabs pattern).
  tablist.addEventListener('keydown', (event) => {
    const at = TABS.indexOf(m.tab);
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: TABS.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    selectTab(m, TABS[(to + TABS.length) % TABS.length], true);
  });

  const title = el('h1', { id: 'manage-title', tabIndex: -1, text: name });
  fill(section,
    el('div', { class: 'manage-head' },
      el('button', { type: 'button', class: 'quiet', text: 'Back', onclick: () => closeManage() }), title),
    card.root, m.confirm, m.verifyResult, note, tablist, ...m.panels.values());
  card.update();
  $('panel').hidden = true;
  section.hidden = false;
  selectTab(m, tab, false);
  title.focus();
}

function closeManage(message) {
  const m = app.manage;
  app.manage = null;
  $('manage').hidden = true;
  fill($('manage'));
  delete $('manage').dataset.conduit;
  $('panel').hidden = false;
  renderPanel();
  setText($('panel-note'), message || '');
  const card = m && app.cards.get(m.name);
  const manageButton = card && [...card.root.querySelectorAll('button')].find((b) => b.textContent === 'Manage');
  (manageButton || $('panel-title')).focus();
}

function selectTab(m, label, focus) {
  m.tab = label;
  for (const [name, button] of m.tabs) {
    const on = name === label;
    button.setAttribute('aria-selected', on ? 'true' : 'false');
    button.tabIndex = on ? 0 : -1;
    m.panels.get(name).hidden = !on;
  }
  if (focus) m.tabs.get(label).focus();
  loadTab(m);
}

let manageTimer = null;
function scheduleManageReload() {
  if (manageTimer) return;
  manageTimer = setTimeout(() => {
    manageTimer = null;
    // Settings are not reloaded under the user's edits.
    if (app.manage && app.manage.tab !== 'Settings') loadTab(app.manage);
  }, 300);
}

/** Fill the selected tab's panel from the server. */
async function loadTab(m) {
  const panel = m.panels.get(m.tab);
  const hadFocus = panel.contains(document.activeElement);
  const loaders = { Settings: loadSettings, History: loadHistory, Conflicts: loadConflicts, Trash: loadTrash };
  panel.setAttribute('aria-busy', 'true');
  try {
    await loaders[m.tab](m, panel);
  } catch (e) {
    if (e.status !== 401) fill(panel, el('p', { class: 'error', role: 'alert', text: e.message }));
  } finally {
    panel.setAttribute('aria-busy', 'false');
  }
  // Re-rendering removed the focused control: keep the focus in the panel.
  if (hadFocus && !panel.contains(document.activeElement)) panel.focus();
}

function say(m, text, isError) {
  m.note.textContent = text;
  m.note.classList.toggle('error', Boolean(isError));
}

async function loadSettings(m, panel) {
  const [c, policies] = await Promise.all([api('GET', conduitPath(m.name)), api('GET', '/api/policies')]);
  const policy = policies.find((p) => p.name === c.policy) || { options: [] };
  const error = el('p', { class: 'error', role: 'alert' });
  const optionsBox = el('div');
  const options = optionsForm(optionsBox, policy, c.options || {});

  const cadence = el('select', { id: uid('cadence') });
  fillCadences(cadence, c.cadence);
  const trashDays = el('input', { id: uid('trash-days'), type: 'number', min: '0', step: '1', value: String(c.trash_days) });
  const maxDelete = el('input', {
    id: uid('max-delete'), type: 'text', autocomplete: 'off', placeholder: 'e.g. 50%', value: `${c.max_delete_pct}%`,
  });
  const host = [
    { key: 'cadence', f: field('Cadence', cadence), initial: cadence.value, check: () => null },
    {
      key: 'trash-days',
      f: field('Trash days', trashDays, 'Days a trashed version is kept before it may be purged.'),
      initial: trashDays.value,
      check: (v) => (/^\d+$/.test(v) && !trashDays.validity.badInput ? null : 'Trash days expects a whole number of days.'),
    },
    {
      key: 'max-delete',
      f: field('Max delete', maxDelete, 'The mass-delete guard: the largest share of a side one run may delete, e.g. 50%.'),
      initial: maxDelete.value,
      check: (v) => (/^\d+(\.\d+)?%?$/.test(v) && parseFloat(v) <= 100 ? null : 'Max delete expects a percentage from 0% to 100%.'),
    },
  ];

  const form = el('form', { class: 'settings', novalidate: true },
    el('h2', { text: 'Settings' }),
    el('fieldset', { class: 'options' }, el('legend', { text: `Options of ${c.policy}` }), optionsBox),
    host.map((h) => h.f.root),
    error,
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: 'Save' })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    let bad = options.validate();
    for (const h of host) {
      const problem = h.check(h.f.control.value.trim());
      h.f.setError(problem);
      bad = bad || (problem ? h.f.control : null);
    }
    if (bad) {
      bad.focus();
      return;
    }
    const settings = options.changes();
    for (const h of host) {
      const value = h.f.control.value.trim();
      if (value !== h.initial) settings[h.key] = value;
    }
    if (Object.keys(settings).length === 0) {
      say(m, 'Nothing to save: no setting was changed.');
      return;
    }
    try {
      await api('PATCH', conduitPath(m.name), { settings });
      say(m, `Saved: ${Object.keys(settings).join(', ')}.`);
      await refresh();
      await loadTab(m);
    } catch (e) {
      if (e.status !== 401) error.textContent = e.message;
    }
  });
  fill(panel, form);
}

async function loadHistory(m, panel) {
  const runs = await api('GET', conduitPath(m.name, '/history?limit=50'));
  const details = el('section', { class: 'run-details', hidden: true, 'aria-live': 'polite' });
  const rows = runs.map((run) => el('tr', {},
    el('td', {}, run.generation > 0
      ? el('button', {
        type: 'button', class: 'link', text: `Run ${run.generation}`, onclick: () => showRun(m, run.generation, details, true),
      })
      : el('span', { text: 'not started' })),
    el('td', {}, timeEl(run.started)),
    el('td', { class: 'num', text: String(run.copied || 0) }),
    el('td', { class: 'num', text: String(run.deleted || 0) }),
    el('td', { class: 'num', text: String(run.conflicts || 0) }),
    el('td', { class: 'num', text: String(run.failed || 0) }),
    el('td', { text: run.halted || '—' })));
  fill(panel,
    el('h2', { text: 'History' }),
    runs.length
      ? table('Runs, newest first', ['Run', 'Started', 'Copied', 'Deleted', 'Conflicts', 'Failed', 'Halted'], rows)
      : el('p', { text: 'No runs yet.' }),
    details);
  // A reload (after an event) keeps the run the user opened.
  if (m.shownRun) await showRun(m, m.shownRun, details, false);
}

async function showRun(m, generation, details, focus) {
  m.shownRun = generation;
  details.hidden = false;
  fill(details, el('p', { text: `Reading run ${generation}…` }));
  try {
    const run = await api('GET', conduitPath(m.name, `/history/${generation}`));
    const title = el('h3', { tabIndex: -1, text: `Run ${generation}` });
    const trashed = (t) => (Array.isArray(t) ? t.join(', ') : (t || ''));
    const rows = (run.items || []).map((item) => el('tr', {},
      el('td', { class: 'path', text: item.path }),
      el('td', { text: item.action }),
      el('td', { text: item.why || '' }),
      el('td', { text: item.outcome || '' }),
      el('td', { text: item.detail || '' }),
      el('td', { class: 'path', text: trashed(item.trashed) })));
    fill(details,
      title,
      el('p', {}, `Started ${fmtDate(run.started)}, ended ${run.ended ? fmtDate(run.ended) : 'never (interrupted)'}. `,
        summarizeCounts(run) ? `${summarizeCounts(run)}.` : 'Nothing was done.'),
      run.halted ? el('p', { class: 'error', text: run.halted }) : null,
      lines('Problems:', run.problems),
      rows.length
        ? table(`What run ${generation} did`, ['Path', 'Action', 'Why', 'Outcome', 'Detail', 'Trashed to'], rows)
        : el('p', { text: 'No actions.' }));
    if (focus) title.focus();
  } catch (e) {
    if (e.status !== 401) fill(details, el('p', { class: 'error', role: 'alert', text: e.message }));
  }
}

function sideFacts(label, side) {
  return el('section', { class: 'side' },
    el('h4', { text: label }),
    side
      ? el('dl', { class: 'facts' },
        el('div', { class: 'fact' }, el('dt', { text: 'Kind' }), el('dd', { text: side.kind })),
        el('div', { class: 'fact' }, el('dt', { text: 'Size' }), el('dd', { text: fmtBytes(side.size) })),
        el('div', { class: 'fact' }, el('dt', { text: 'Modified' }), el('dd', { text: fmtDate(side.mtime) })))
      : el('p', { class: 'absent', text: 'absent' }));
}

async function loadConflicts(m, panel) {
  const conflicts = await api('GET', conduitPath(m.name, '/conflicts'));
  const items = conflicts.map((c) => {
    const headingId = uid('conflict');
    const buttons = [['Keep source', 'source'], ['Keep destination', 'destination'], ['Keep both', 'both']]
      .map(([text, keep]) => el('button', { type: 'button', text, onclick: () => resolve(m, c.path, keep) }));
    return el('article', { class: 'conflict', dataset: { path: c.path }, 'aria-labelledby': headingId },
      el('h3', { id: headingId, class: 'path', text: c.path }),
      c.reason ? el('p', { text: c.reason }) : null,
      el('div', { class: 'sides' }, sideFacts('Source', c.source), sideFacts('Destination', c.destination)),
      el('div', { class: 'actions' }, buttons));
  });
  fill(panel,
    el('h2', { text: 'Conflicts' }),
    items.length ? el('div', { class: 'conflicts' }, items) : el('p', { text: 'No open conflicts.' }));
}

async function resolve(m, path, keep) {
  say(m, `Settling ${path}…`);
  try {
    const outcome = await api('POST', conduitPath(m.name, '/resolve'), { path, keep });
    const problems = outcome.problems || [];
    say(m, `${path}: kept ${keep === 'both' ? 'both versions' : `the ${keep}'s version`}. `
      + `${summarizeCounts(outcome)}${problems.length ? `. Problems: ${problems.join('; ')}` : ''}`, problems.length > 0);
    await loadTab(m);
    scheduleRefresh();
  } catch (e) {
    if (e.status !== 401) say(m, e.message, true);
  }
}

async function loadTrash(m, panel) {
  const filterInput = el('input', { id: uid('trash-path'), type: 'text', autocomplete: 'off', spellcheck: false, value: m.trashPath || '' });
  const filter = el('form', { class: 'filter', novalidate: true },
    field('Only under this path (optional)', filterInput).root,
    el('button', { type: 'submit', text: 'Show' }));
  filter.addEventListener('submit', (event) => {
    event.preventDefault();
    m.trashPath = filterInput.value.trim();
    loadTab(m);
  });
  const query = m.trashPath ? `?path=${encodeURIComponent(m.trashPath)}` : '';
  const versions = await api('GET', conduitPath(m.name, `/trash${query}`));
  const rows = versions.map((v) => el('tr', { dataset: { path: v.path, side: v.side } },
    el('td', { class: 'num', text: String(v.version) }),
    el('td', { class: 'path', text: v.path }),
    el('td', { text: v.side }),
    el('td', { class: 'num', text: v.kind === 'directory' ? 'folder' : fmtBytes(v.size) }),
    el('td', {}, timeEl(v.trashed)),
    el('td', { text: v.generation === null || v.generation === undefined ? '—' : String(v.generation) }),
    el('td', {}, el('button', {
      type: 'button',
      text: 'Restore',
      'aria-label': `Restore ${v.path} version ${v.version} (${v.side})`,
      onclick: () => restore(m, v),
    }))));
  fill(panel,
    el('h2', { text: 'Trash' }),
    filter,
    versions.length
      ? table('Trashed versions, newest first', ['Version', 'Path', 'Side', 'Size', 'Trashed', 'Run', 'Action'], rows)
      : el('p', { text: 'The trash is empty.' }));
}

async function restore(m, v) {
  say(m, `Restoring ${v.path}…`);
  try {
    const r = await api('POST', conduitPath(m.name, '/restore'), { path: v.path, version: v.version });
    const replaced = r.replaced || [];
    say(m, [`Restored ${r.path} from the ${r.from}: it is on both sides.`, ...replaced.map((line) => `Replaced: ${line}.`)].join(' '));
    await loadTab(m);
    scheduleRefresh();
  } catch (e) {
    if (e.status !== 401) say(m, e.message, true);
  }
}

async function runVerify(m, button) {
  button.disabled = true;
  m.verifyResult.hidden = false;
  fill(m.verifyResult, el('p', { text: 'Verifying: re-reading both sides…' }));
  try {
    const r = await api('POST', conduitPath(m.name, '/verify'), {});
    const corrupted = r.corrupted || [];
    fill(m.verifyResult,
      el('p', { class: corrupted.length ? 'error' : 'ok' },
        `Verified ${plural(r.verified || 0, 'file')} (${fmtBytes(r.bytes || 0)}): `,
        corrupted.length ? `${corrupted.length} corrupted.` : 'all match the index.'),
      lines('Corrupted:', corrupted),
      lines('Changed since the last scan (a sync handles them):', r.changed),
      lines('Repaired:', r.repaired),
      lines('Not repaired:', r.unrepaired));
    announce(`${m.name}: verify done`);
  } catch (e) {
    if (e.status !== 401) fill(m.verifyResult, el('p', { class: 'error', role: 'alert', text: e.message }));
  } finally {
    button.disabled = false;
  }
}

function askRemove(m) {
  m.confirm.hidden = false;
  m.confirm.querySelector('button').focus();
}

async function removeConduit(m) {
  try {
    await api('DELETE', conduitPath(m.name));
    app.progress.delete(m.name);
    announce(`Removed ${m.name}.`);
    closeManage(`Removed ${m.name}: its files and trash stay on both sides.`);
    await refresh();
  } catch (e) {
    if (e.status !== 401) say(m, e.message, true);
  }
}

// -------------------------------------------------------------------- boot

function boot() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => logout('Logged out.'));
  $('sync-to-open').addEventListener('click', openSyncTo);
  $('panel-title').tabIndex = -1;

  const form = $('sync-to-form');
  form.addEventListener('submit', createConduit);
  $('st-policy').addEventListener('change', showPolicy);
  $('st-preview-button').addEventListener('click', preview);
  $('st-cancel').addEventListener('click', () => $('sync-to').close());
  $('st-source-browse').addEventListener('click', () => openBrowser($('st-source'), 'source'));
  $('st-destination-browse').addEventListener('click', () => openBrowser($('st-destination'), 'destination'));
  // A plan shown for other settings would mislead: any edit hides it.
  for (const type of ['input', 'change']) {
    form.addEventListener(type, (event) => {
      if (!$('st-preview').contains(event.target)) hidePreview();
    });
  }

  $('browser-go').addEventListener('submit', (event) => {
    event.preventDefault();
    browseTo($('browser-path').value.trim() || null, false);
  });
  $('browser-up').addEventListener('click', () => browser.at && browser.at.parent && browseTo(browser.at.parent, true));
  $('browser-choose').addEventListener('click', chooseFolder);
  $('browser-cancel').addEventListener('click', () => $('browser').close());

  if (session.key) enterApp();
  else showLogin();
}

boot();
