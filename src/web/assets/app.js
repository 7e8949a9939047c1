// vaultfs web: the page's only script. Talks to the gateway's JSON API (/api/), builds every
// piece of the DOM with createElement/textContent (never parsing strings as HTML), and
// sends the session's CSRF token with every request that changes something. The gateway
// hands that token out only in the login response, so the page keeps it in sessionStorage
// (this tab, this origin) to survive a reload; a new tab logs in again.
'use strict';

const state = {
  user: null,
  csrf: null,
  path: [],            // current folder, as name segments
  entries: [],
  sort: { key: 'name', dir: 1 },
  healthTimer: null,
};

const $ = (id) => document.getElementById(id);

const CSRF_KEY = 'vaultfs-csrf';

function rememberCsrf(token) {
  state.csrf = token;
  try {
    if (token) sessionStorage.setItem(CSRF_KEY, token);
    else sessionStorage.removeItem(CSRF_KEY);
  } catch (e) { /* storage disabled: the token lasts until the page is left */ }
}

function storedCsrf() {
  try { return sessionStorage.getItem(CSRF_KEY); } catch (e) { return null; }
}

// ---- talking to the gateway ----

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, url, body) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = state.csrf || '';
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(url, opts);
  let data = {};
  try { data = await res.json(); } catch (e) { data = {}; }
  if (res.status === 401 && url !== '/api/login' && url !== '/api/session') {
    showLogin('Your session has ended; please log in again.');
  } else if (res.status === 403 && data.login_again) {
    showLogin('This page no longer holds the session\'s token; please log in again.');
  }
  if (!res.ok) throw new ApiError(res.status, data.error || (res.status + ' ' + res.statusText));
  return data;
}

function pathString(parts) { return '/' + parts.join('/'); }
function query(params) { return new URLSearchParams(params).toString(); }

// ---- formatting ----

function humanSize(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return (u === 0 ? String(v) : v.toFixed(1)) + ' ' + units[u];
}

function when(ms) {
  return new Date(ms).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

function el(tag, props, children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'text') e.textContent = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v);
  }
  for (const c of children || []) e.append(c);
  return e;
}

function say(text, isError) {
  const m = $('message');
  m.textContent = text;
  m.classList.toggle('error', !!isError);
  m.hidden = false;
}
function clearMessage() { $('message').hidden = true; }

// ---- dialogs ----

function confirmDialog(text, okLabel) {
  return new Promise((resolve) => {
    const d = $('confirm-dialog');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel;
    d.returnValue = '';
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
    $('confirm-cancel').focus();
  });
}

function promptDialog(label, value, okLabel) {
  return new Promise((resolve) => {
    const d = $('prompt-dialog');
    $('prompt-label').textContent = label;
    $('prompt-ok').textContent = okLabel;
    const input = $('prompt-input');
    input.value = value || '';
    d.returnValue = '';
    d.addEventListener('close', () => {
      resolve(d.returnValue === 'ok' && input.value.trim() !== '' ? input.value.trim() : null);
    }, { once: true });
    d.showModal();
    input.focus();
    input.select();
  });
}

// A name the gateway will take: catches the obvious mistakes before a round trip.
function nameProblem(name) {
  if (name === '.' || name === '..') return '"." and ".." are not allowed as names';
  if (name.includes('/')) return 'a name cannot contain "/"';
  return null;
}

// ---- views ----

function showLogin(message) {
  state.user = null;
  rememberCsrf(null);
  clearInterval(state.healthTimer);
  $('files-view').hidden = true;
  $('who').hidden = true;
  $('logout').hidden = true;
  $('login-view').hidden = false;
  $('login-password').value = '';
  const err = $('login-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('login-user').focus();
}

function showFiles() {
  $('login-view').hidden = true;
  $('files-view').hidden = false;
  $('who').textContent = state.user;
  $('who').hidden = false;
  $('logout').hidden = false;
  refreshHealth();
  clearInterval(state.healthTimer);
  state.healthTimer = setInterval(refreshHealth, 15000);
  navigate();
}

function currentPathFromHash() {
  const h = location.hash.replace(/^#/, '');
  if (h === '' || h === '/') return [];
  try {
    return h.split('/').filter((s) => s !== '').map(decodeURIComponent);
  } catch (e) {
    return [];
  }
}

function hashFor(parts) { return '#/' + parts.map(encodeURIComponent).join('/'); }

async function navigate() {
  if (!state.user) return;
  state.path = currentPathFromHash();
  await loadListing();
}

async function loadListing() {
  renderBreadcrumbs();
  try {
    const data = await api('GET', '/api/list?' + query({ path: pathString(state.path) }));
    state.entries = data.entries;
    renderRows();
  } catch (e) {
    state.entries = [];
    renderRows();
    if (e.status !== 401) say(e.message, true);
  }
}

function renderBreadcrumbs() {
  const nav = $('breadcrumbs');
  nav.replaceChildren();
  const crumbs = [{ label: 'My vault', parts: [] }];
  state.path.forEach((name, i) => crumbs.push({ label: name, parts: state.path.slice(0, i + 1) }));
  crumbs.forEach((c, i) => {
    if (i > 0) nav.append(el('span', { class: 'sep', text: '/' }));
    if (i === crumbs.length - 1) {
      nav.append(el('span', { class: 'current', text: c.label, 'aria-current': 'page' }));
    } else {
      nav.append(el('a', { href: hashFor(c.parts), text: c.label }));
    }
  });
}

function sortedEntries() {
  const { key, dir } = state.sort;
  const value = (e) => (key === 'size' ? e.size : key === 'mtime' ? e.mtime_ms : e.name);
  return [...state.entries].sort((a, b) => {
    const ad = a.type === 'dir', bd = b.type === 'dir';
    if (ad !== bd) return ad ? -1 : 1;  // folders first, whatever the order
    const va = value(a), vb = value(b);
    let c = typeof va === 'string' ? va.localeCompare(vb) : va - vb;
    if (c === 0) c = a.name.localeCompare(b.name);
    return c * dir;
  });
}

function renderRows() {
  const tbody = $('rows');
  tbody.replaceChildren();
  for (const e of sortedEntries()) {
    const isDir = e.type === 'dir';
    const parts = state.path.concat([e.name]);
    const link = isDir
      ? el('a', { href: hashFor(parts), class: 'open' })
      : el('a', {
        href: '/api/download?' + query({ path: pathString(parts) }),
        download: e.name, class: 'download',
      });
    link.append(el('span', { class: isDir ? 'icon dir' : 'icon file', 'aria-hidden': 'true' }),
      document.createTextNode(e.name));
    const actions = el('td', { class: 'actions' });
    if (!isDir) {
      actions.append(el('a', {
        href: '/api/download?' + query({ path: pathString(parts) }),
        download: e.name, class: 'button get', text: 'Download',
      }));
    }
    actions.append(
      el('button', { type: 'button', class: 'rename', text: 'Rename', onclick: () => renameEntry(e) }),
      el('button', { type: 'button', class: 'delete', text: 'Delete', onclick: () => deleteEntry(e) }));
    tbody.append(el('tr', { dataset: { name: e.name, type: e.type } }, [
      el('td', { class: 'name' }, [link]),
      el('td', { class: 'num size', title: isDir ? '' : e.size + ' bytes', text: isDir ? '—' : humanSize(e.size) }),
      el('td', { class: 'mtime', text: when(e.mtime_ms) }),
      actions,
    ]));
  }
  $('empty').hidden = state.entries.length !== 0;
  for (const th of document.querySelectorAll('th[data-sort]')) {
    if (th.dataset.sort === state.sort.key) {
      th.setAttribute('aria-sort', state.sort.dir > 0 ? 'ascending' : 'descending');
    } else {
      th.removeAttribute('aria-sort');
    }
  }
}

// ---- actions ----

async function newFolder() {
  const name = await promptDialog('Name of the new folder', '', 'Create');
  if (name === null) return;
  const problem = nameProblem(name);
  if (problem) return say(problem, true);
  try {
    await api('POST', '/api/mkdir', { dir: pathString(state.path), name });
    say('Created folder "' + name + '".');
    await loadListing();
  } catch (e) { say(e.message, true); }
}

async function renameEntry(entry) {
  const name = await promptDialog('New name for "' + entry.name + '"', entry.name, 'Rename');
  if (name === null || name === entry.name) return;
  const problem = nameProblem(name);
  if (problem) return say(problem, true);
  try {
    await api('POST', '/api/rename', { dir: pathString(state.path), name: entry.name, new_name: name });
    say('Renamed "' + entry.name + '" to "' + name + '".');
    await loadListing();
  } catch (e) { say(e.message, true); }
}

async function deleteEntry(entry) {
  const isDir = entry.type === 'dir';
  const text = isDir
    ? 'Delete the folder "' + entry.name + '" and everything in it? This cannot be undone.'
    : 'Delete "' + entry.name + '"? This cannot be undone.';
  if (!await confirmDialog(text, 'Delete')) return;
  try {
    await api('POST', '/api/delete', { dir: pathString(state.path), name: entry.name, recursive: isDir });
    say('Deleted "' + entry.name + '".');
    await loadListing();
  } catch (e) { say(e.message, true); }
}

// Uploads `files` into the current folder in one multipart request: each file is preceded by
// a "size" field, which the gateway needs to stream it into the vault as it arrives.
async function uploadFiles(fileList) {
  const files = [...fileList];
  if (files.length === 0) return;
  const existing = new Set(state.entries.map((e) => e.name));
  const clashes = files.filter((f) => existing.has(f.name)).map((f) => f.name);
  if (clashes.length > 0 &&
      !await confirmDialog('Replace ' + clashes.map((n) => '"' + n + '"').join(', ') +
        ' with the uploaded ' + (clashes.length === 1 ? 'file' : 'files') + '?', 'Replace')) {
    return;
  }
  const form = new FormData();
  let total = 0;
  for (const f of files) {
    form.append('size', String(f.size));
    form.append('file', f, f.name);
    total += f.size;
  }
  const label = files.length === 1 ? '"' + files[0].name + '"' : files.length + ' files';
  const status = $('upload-status'), bar = $('upload-progress'), text = $('upload-text');
  status.hidden = false;
  bar.value = 0;
  text.textContent = 'Uploading ' + label + ' (' + humanSize(total) + ')…';
  clearMessage();
  $('upload-button').disabled = true;
  const dir = pathString(state.path);
  try {
    const result = await new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/api/upload?' + query({ dir }));
      xhr.setRequestHeader('X-CSRF-Token', state.csrf || '');
      xhr.responseType = 'json';
      xhr.upload.addEventListener('progress', (ev) => {
        if (!ev.lengthComputable) return;
        bar.value = Math.round((ev.loaded / ev.total) * 100);
        if (ev.loaded === ev.total) text.textContent = 'Storing ' + label + ' in the vault…';
      });
      xhr.addEventListener('load', () => {
        const body = xhr.response || {};
        if (xhr.status === 401) showLogin('Your session has ended; please log in again.');
        else if (xhr.status === 403 && body.login_again) {
          showLogin('This page no longer holds the session\'s token; please log in again.');
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(new ApiError(xhr.status, body.error || ('upload failed: ' + xhr.status)));
      });
      xhr.addEventListener('error', () => reject(new ApiError(0, 'the upload failed (connection lost)')));
      xhr.send(form);
    });
    bar.value = 100;
    say('Uploaded ' + result.uploaded.map((f) => '"' + f.name + '"').join(', ') + '.');
  } catch (e) {
    say(e.message, true);
  } finally {
    status.hidden = true;
    $('upload-button').disabled = false;
    $('file-input').value = '';
    if (state.user && pathString(state.path) === dir) await loadListing();
  }
}

async function refreshHealth() {
  const h = $('health');
  try {
    const s = await api('GET', '/api/health');
    const parts = ['Cluster: ' + s.servers_up + ' of ' + s.servers + ' data servers up'];
    if (s.degraded_files === null) {
      parts.push('repair queue unknown (' + (s.metadata_error || 'metadata service') + ')');
    } else {
      parts.push(s.degraded_files + ' degraded ' + (s.degraded_files === 1 ? 'file' : 'files'));
      parts.push('repair queue: ' + s.repair_queue + (s.repair_queue_capped ? '+' : ''));
    }
    if (typeof s.free_bytes === 'number') parts.push(humanSize(s.free_bytes) + ' free');
    h.textContent = parts.join(' · ');
    h.classList.toggle('warn', s.servers_up < s.servers || !!s.degraded_files || s.degraded_files === null);
  } catch (e) {
    if (e.status === 401) return;
    h.textContent = 'Cluster health unavailable: ' + e.message;
    h.classList.add('warn');
  }
}

async function logout() {
  try { await api('POST', '/api/logout'); } catch (e) { /* the session is gone either way */ }
  history.replaceState(null, '', '/');
  showLogin();
}

async function login(ev) {
  ev.preventDefault();
  const button = $('login-submit');
  const err = $('login-error');
  err.hidden = true;
  button.disabled = true;
  button.textContent = 'Logging in…';
  try {
    const s = await api('POST', '/api/login', {
      user: $('login-user').value, password: $('login-password').value,
    });
    $('login-password').value = '';
    state.user = s.user;
    rememberCsrf(s.csrf);
    showFiles();
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
    $('login-password').select();
  } finally {
    button.disabled = false;
    button.textContent = 'Log in';
  }
}

// ---- wiring ----

function setUpDropZone() {
  const zone = $('drop-zone'), overlay = $('drop-overlay');
  let depth = 0;
  const hasFiles = (ev) => ev.dataTransfer && [...ev.dataTransfer.types].includes('Files');
  zone.addEventListener('dragenter', (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    depth++;
    zone.classList.add('dragging');
    overlay.hidden = false;
  });
  zone.addEventListener('dragover', (ev) => { if (hasFiles(ev)) ev.preventDefault(); });
  zone.addEventListener('dragleave', () => {
    if (--depth <= 0) { depth = 0; zone.classList.remove('dragging'); overlay.hidden = true; }
  });
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    depth = 0;
    zone.classList.remove('dragging');
    overlay.hidden = true;
    if (ev.dataTransfer && ev.dataTransfer.files.length > 0) uploadFiles(ev.dataTransfer.files);
  });
}

async function start() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('new-folder').addEventListener('click', newFolder);
  $('upload-button').addEventListener('click', () => $('file-input').click());
  $('file-input').addEventListener('change', (ev) => uploadFiles(ev.target.files));
  for (const th of document.querySelectorAll('th[data-sort]')) {
    th.querySelector('button').addEventListener('click', () => {
      const key = th.dataset.sort;
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      renderRows();
    });
  }
  setUpDropZone();
  window.addEventListener('hashchange', () => { clearMessage(); navigate(); });
  try {
    const s = await api('GET', '/api/session');
    const token = storedCsrf();
    if (!token) {
      // Logged in, but in another tab: only a login hands out the token.
      showLogin('Log in to use your vault in this tab.');
      return;
    }
    state.user = s.user;
    state.csrf = token;
    showFiles();
  } catch (e) {
    showLogin();
  }
}

document.addEventListener('DOMContentLoaded', start);
