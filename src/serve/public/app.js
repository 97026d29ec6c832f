// vmlab serve: the page's script. Values from the server are always put in as text.
'use strict';

const $ = (id) => document.getElementById(id);
let me = null;

async function api(method, url, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && me) headers['x-vmlab-csrf'] = me.csrf;
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = r.headers.get('content-type')?.includes('json') ? await r.json() : null;
  if (!r.ok) throw Object.assign(new Error((data && data.error) || `${r.status}`), { status: r.status });
  return data;
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text == null ? '' : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function show(section) {
  for (const id of ['login', 'student', 'teacher']) $(id).hidden = id !== section;
  $('logout').hidden = section === 'login';
}

async function start() {
  try {
    me = await api('GET', '/api/me');
  } catch {
    me = null;
  }
  if (!me) return show('login');
  $('title').textContent = me.title;
  $('who').textContent = `${me.id} (${me.role})`;
  const wanted = new URLSearchParams(location.hash.slice(1)).get('student');
  if (me.role === 'teacher' && !wanted) return teacher();
  return student(wanted || me.id);
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    await api('POST', '/api/login', { id: f.get('id'), password: f.get('password') });
    $('login-error').textContent = '';
    await start();
  } catch (e) {
    $('login-error').textContent = e.status === 429 ? 'Too many attempts: wait a minute.' : 'Wrong login or password.';
  }
});

$('logout').addEventListener('click', async () => {
  await api('POST', '/api/logout').catch(() => undefined);
  me = null;
  location.hash = '';
  show('login');
});

window.addEventListener('hashchange', () => me && start());

// --- a student's lab -------------------------------------------------------
let current = null;

function renderScore(run) {
  const body = $('score').tBodies[0];
  body.replaceChildren();
  if (!run) return ($('total').textContent = '');
  for (const c of run.checks) {
    const tr = document.createElement('tr');
    cell(tr, c.name);
    cell(tr, c.stage);
    cell(tr, c.vm);
    cell(tr, c.passed ? 'passed' : 'FAILED', c.passed ? 'pass' : 'fail');
    cell(tr, `${c.earned}/${c.points}`);
    cell(tr, c.passed ? '' : `${c.message} (${c.detail})`);
    body.appendChild(tr);
  }
  $('total').textContent = `Score ${run.score}/${run.maxScore}: ${run.passed} passed, ${run.failed} failed (checked ${run.checkedAt})`;
}

async function student(id) {
  current = id;
  show('student');
  const s = await api('GET', `/api/students/${encodeURIComponent(id)}`);
  $('lab-title').textContent = `${s.name || s.student}: lab ${s.lab}`;
  $('topology').src = `/api/students/${encodeURIComponent(id)}/graph.svg`;
  const body = $('vms').tBodies[0];
  body.replaceChildren();
  for (const v of s.vms) {
    const tr = document.createElement('tr');
    tr.dataset.vm = v.name;
    cell(tr, v.name);
    cell(tr, v.state);
    cell(tr, v.profile);
    cell(tr, v.accel);
    cell(tr, v.addresses.join(', '));
    cell(tr, v.ready ? 'ready' : v.failing.length ? `not working: ${v.failing.join('; ')}` : 'not ready', v.ready ? 'pass' : 'fail');
    const btn = document.createElement('button');
    btn.textContent = 'console';
    btn.className = 'open-console';
    btn.addEventListener('click', () => openConsole(id, v.name));
    cell(tr, '').appendChild(btn);
    body.appendChild(tr);
  }
  for (const vm of openConsoles(id)) openConsole(id, vm);
  const a = s.assignment;
  $('assignment').hidden = !a;
  if (a) {
    const stage = a.stages[Math.min((s.stage || 1) - 1, a.stages.length - 1)];
    $('stage-title').textContent = a.stages.length > 1 ? `${a.title} — stage ${stage.index}/${a.stages.length}: ${stage.title}` : a.title;
    $('tasks').textContent = (a.stages.length > 1 ? stage.tasks : a.tasks) || a.tasks;
    const sel = $('rescue-stage');
    sel.replaceChildren(
      ...a.stages.map((x) => {
        const o = document.createElement('option');
        o.value = String(x.index);
        o.textContent = `${x.index}: ${x.title}`;
        return o;
      }),
    );
    $('rescue-box').hidden = a.stages.length < 2;
  }
}

async function act(action, body) {
  const id = current;
  const buttons = ['check', 'reset', 'rescue', 'undo'].map($);
  buttons.forEach((b) => (b.disabled = true));
  $('activity').textContent = `${action}…`;
  const poll = setInterval(async () => {
    const x = await api('GET', `/api/students/${encodeURIComponent(id)}/activity`).catch(() => null);
    if (x) $('activity').textContent = [`${x.action}…`, ...x.lines].join('\n');
  }, 1000);
  try {
    const r = await api('POST', `/api/students/${encodeURIComponent(id)}/${action}`, body || {});
    if (action === 'check') renderScore(r.run);
    $('activity').textContent =
      action === 'check' ? 'checked' : action === 'undo' ? `back to ${r.revert.snapshot}` : `back at stage ${r.stage}${r.autosave ? `; your work was saved as ${r.autosave.snapshot}` : ''}`;
    // A reset or rescue can be undone: back to the autosave it took.
    const undo = $('undo');
    undo.hidden = !(r && r.autosave);
    if (r && r.autosave) {
      undo.textContent = `Undo: back to ${r.autosave.snapshot}`;
      undo.dataset.snapshot = r.autosave.snapshot;
    }
    await student(id);
  } catch (e) {
    $('activity').textContent = `${action} failed: ${e.message}`;
  } finally {
    clearInterval(poll);
    buttons.forEach((b) => (b.disabled = false));
  }
}

// --- serial consoles -------------------------------------------------------
// One xterm.js terminal per VM, over a WebSocket; the server keeps the scrollback, so a
// reloaded page (which reopens the consoles it had open) sees what was on the screen.
const consoles = new Map();
const storeKey = (id) => `vmlab-consoles-${id}`;
const openConsoles = (id) => JSON.parse(window.sessionStorage.getItem(storeKey(id)) || '[]');
function rememberConsoles(id) {
  window.sessionStorage.setItem(storeKey(id), JSON.stringify([...consoles.keys()]));
}

function openConsole(id, vm) {
  if (consoles.has(vm)) return;
  const box = document.createElement('div');
  box.className = 'console';
  box.dataset.vm = vm;
  const h = document.createElement('h4');
  h.textContent = `${vm}: serial console `;
  const close = document.createElement('button');
  close.textContent = 'close';
  h.appendChild(close);
  const screen = document.createElement('div');
  box.append(h, screen);
  $('consoles').appendChild(box);
  const term = new Terminal({ convertEol: false, scrollback: 5000, cols: 100, rows: 24 });
  term.open(screen);
  const c = { term, ws: null, closed: false, delay: 500 };
  consoles.set(vm, c);
  rememberConsoles(id);
  const connect = () => {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/students/${encodeURIComponent(id)}/vms/${encodeURIComponent(vm)}/console`);
    ws.binaryType = 'arraybuffer';
    c.ws = ws;
    ws.onopen = () => (c.delay = 500);
    ws.onmessage = (ev) => term.write(typeof ev.data === 'string' ? ev.data : new Uint8Array(ev.data));
    ws.onclose = (ev) => {
      if (c.closed || ev.code === 1013 || ev.code === 1011) return;
      setTimeout(connect, c.delay);
      c.delay = Math.min(c.delay * 2, 10000);
    };
  };
  term.onData((data) => c.ws && c.ws.readyState === 1 && c.ws.send(JSON.stringify({ type: 'input', data })));
  close.addEventListener('click', () => {
    c.closed = true;
    if (c.ws) c.ws.close();
    term.dispose();
    box.remove();
    consoles.delete(vm);
    rememberConsoles(id);
  });
  connect();
}

$('check').addEventListener('click', () => act('check'));
$('undo').addEventListener('click', () => act('undo', { snapshot: $('undo').dataset.snapshot }));
$('reset').addEventListener('click', () => act('reset'));
$('rescue').addEventListener('click', () => act('rescue', { stage: Number($('rescue-stage').value) }));

// --- the teacher's class table ---------------------------------------------
let rows = [];
let sortKey = 'student';

function renderClass() {
  const q = $('filter').value.trim().toLowerCase();
  const body = $('class').tBodies[0];
  body.replaceChildren();
  const val = (r, k) => (k === 'score' ? (r.score ? r.score.score : -1) : r[k] ?? '');
  const shown = rows.filter((r) => !q || r.student.includes(q) || r.name.toLowerCase().includes(q)).sort((a, b) => (val(a, sortKey) < val(b, sortKey) ? -1 : val(a, sortKey) > val(b, sortKey) ? 1 : 0));
  for (const r of shown) {
    const tr = document.createElement('tr');
    tr.dataset.student = r.student;
    cell(tr, r.student);
    cell(tr, r.name);
    cell(tr, `${r.running}/${r.vms}`, r.running === r.vms ? 'pass' : 'fail');
    cell(tr, r.stage ?? '-');
    cell(tr, r.score ? `${r.score.score}/${r.score.maxScore}` : '-');
    cell(tr, r.checkedAt ?? '-');
    const td = cell(tr, '');
    const open = document.createElement('a');
    open.href = `#student=${encodeURIComponent(r.student)}`;
    open.textContent = 'open';
    td.appendChild(open);
    if (r.score) {
      const junit = document.createElement('a');
      junit.href = `/api/class/junit/${encodeURIComponent(r.student)}`;
      junit.textContent = 'JUnit';
      td.append(' · ', junit);
    }
    body.appendChild(tr);
  }
}

async function teacher() {
  show('teacher');
  const c = await api('GET', '/api/class');
  rows = c.students;
  renderClass();
}

$('filter').addEventListener('input', renderClass);
$('reset-all').addEventListener('click', async () => {
  if (!window.confirm('Reset every student to the start? Their work is kept as an autosave each.')) return;
  $('reset-all').disabled = true;
  $('class-activity').textContent = 'resetting every student…';
  try {
    const r = await api('POST', '/api/class/reset', {});
    $('class-activity').textContent = `reset ${r.reset.length}${r.failed.length ? `; failed: ${r.failed.map((f) => f.student).join(', ')}` : ''}`;
    await teacher();
  } catch (e) {
    $('class-activity').textContent = `reset failed: ${e.message}`;
  } finally {
    $('reset-all').disabled = false;
  }
});
$('check-all').addEventListener('click', async () => {
  $('check-all').disabled = true;
  $('class-activity').textContent = 'checking every student…';
  try {
    const r = await api('POST', '/api/class/check', {});
    $('class-activity').textContent = `checked ${r.checked}; not passing everything: ${r.failed.join(', ') || 'nobody'}`;
    await teacher();
  } catch (e) {
    $('class-activity').textContent = `check failed: ${e.message}`;
  } finally {
    $('check-all').disabled = false;
  }
});
for (const th of document.querySelectorAll('#class th[data-key]')) {
  th.addEventListener('click', () => {
    sortKey = th.dataset.key;
    renderClass();
  });
}
setInterval(() => me && me.role === 'teacher' && !$('teacher').hidden && teacher().catch(() => undefined), 5000);

start();
