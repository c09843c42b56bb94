// The console: log in, then poll the admin API every few seconds and
// render with DOM calls (no markup strings, no inline script or style).
import { api, ApiError, session } from './api.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
const HISTORY = 150; // points of the chart: five minutes at 2 s

let timer = null;
let history = [];
let previous = null;
let sessionsUser = null;
let deadShown = null; // the dead letters on screen, so a refresh leaves them (and their buttons) alone

function text(id, value) {
  $(id).textContent = value;
}

function say(message, error = false) {
  const s = $('status');
  s.textContent = message;
  s.classList.toggle('error', error);
}

function cell(row, value) {
  const td = document.createElement('td');
  td.textContent = value;
  row.append(td);
  return td;
}

function fill(tbody, rows, columns, empty) {
  tbody.replaceChildren();
  if (rows.length === 0) {
    const tr = tbody.insertRow();
    const td = cell(tr, empty);
    td.colSpan = columns;
  }
  return rows.map(() => tbody.insertRow());
}

function duration(secs) {
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min ${secs % 60} s`;
}

function chart() {
  const max = Math.max(1, ...history);
  const step = 300 / Math.max(1, HISTORY - 1);
  const start = HISTORY - history.length;
  const points = history.map((v, i) => `${((start + i) * step).toFixed(1)},${(58 - (v / max) * 56).toFixed(1)}`);
  $('chart-line').setAttribute('points', points.join(' '));
}

function rate(now, key) {
  if (!previous) return '–';
  const secs = (now.at - previous.at) / 1000;
  return secs > 0 ? ((now.totals[key] - previous.totals[key]) / secs).toFixed(1) : '–';
}

async function refresh() {
  try {
    const st = await api.stats();
    const now = { at: Date.now(), totals: st.totals };
    text('t-cluster', st.connections.cluster);
    text('t-cluster-peak', st.connections.clusterPeak);
    text('t-nodes', st.nodes.length);
    text('t-messages', rate(now, 'messagesStored'));
    text('t-deliveries', rate(now, 'fanoutPublishes'));
    text('t-errors', rate(now, 'eventErrors'));
    text('t-node', st.nodeId);
    text('t-uptime', duration(st.uptimeSecs));
    text('t-node-peak', st.connections.nodePeak);
    previous = now;
    history = [...history, st.connections.cluster].slice(-HISTORY);
    chart();
    st.nodes.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    const nodes = fill($('nodes').tBodies[0], st.nodes, 2, 'No node alive');
    st.nodes.forEach((n, i) => { cell(nodes[i], n.nodeId); cell(nodes[i], n.connections); });
    const channels = fill($('channels-table').tBodies[0], st.clusterChannels, 2, 'No channel has subscribers');
    st.clusterChannels.forEach((c, i) => { cell(channels[i], c.channel); cell(channels[i], c.subscribers); });
    const q = st.queues.webhooks;
    text('q-ready', q.ready);
    text('q-in-flight', q.inFlight);
    text('q-dead', q.dead);
    text('q-lag', `${(q.oldestWaitMs / 1000).toFixed(1)} s`);
    if (!$('webhooks').hidden) await refreshWebhooks();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      logout('The admin key was refused. Log in again.');
      return;
    }
    say(`Could not refresh: ${e.message}`, true);
  }
}

async function refreshWebhooks() {
  const { deadLetters } = await api.deadLetters();
  // Rebuild the table only when its letters change: a row replaced under the
  // pointer would swallow the operator's click on Replay or Delete.
  const shown = JSON.stringify(deadLetters.map((d) => [d.id, d.at, d.error]));
  if (shown !== deadShown) {
    deadShown = shown;
    renderDeadLetters(deadLetters);
  }
  const c = await api.cacheStats();
  text('c-entries', c.entries);
  text('c-in-flight', c.inFlight);
  text('c-hits', c.hits);
  text('c-misses', c.misses);
}

function renderDeadLetters(deadLetters) {
  const rows = fill($('dead-table').tBodies[0], deadLetters, 5, 'No dead letters');
  deadLetters.forEach((d, i) => {
    const row = rows[i];
    cell(row, d.at);
    cell(row, d.delivery?.event ?? '');
    cell(row, d.delivery?.chatId ?? '');
    cell(row, d.error);
    const actions = cell(row, '');
    const replay = document.createElement('button');
    replay.type = 'button';
    replay.textContent = 'Replay';
    replay.setAttribute('aria-label', `Replay dead letter ${d.id}`);
    replay.addEventListener('click', () => act(() => api.replay(d.id), `Replayed ${d.id}.`));
    const drop = document.createElement('button');
    drop.type = 'button';
    drop.textContent = 'Delete';
    drop.className = 'danger';
    drop.setAttribute('aria-label', `Delete dead letter ${d.id}`);
    drop.addEventListener('click', () => {
      if (window.confirm(`Delete dead letter ${d.id}? It will not be sent again.`)) {
        act(() => api.drop(d.id), `Deleted ${d.id}.`);
      }
    });
    actions.append(replay, ' ', drop);
  });
}

async function act(request, done) {
  try {
    await request();
    say(done);
    await refresh();
  } catch (e) {
    say(`Failed: ${e.message}`, true);
  }
}

async function findSessions(user) {
  const { sessions } = await api.sessions(user);
  sessionsUser = user;
  text('sessions-user', user);
  const rows = fill($('sessions-table').tBodies[0], sessions, 4, 'No live connection');
  sessions.forEach((s, i) => {
    cell(rows[i], s.nodeId);
    cell(rows[i], s.deviceId);
    cell(rows[i], s.since);
    cell(rows[i], s.socketId);
  });
  $('disconnect').disabled = sessions.length === 0;
  say(`${sessions.length} live connection(s) of ${user}.`);
}

async function showChat(id) {
  const { chat, messages } = await api.chat(id);
  text('chat-name', chat.title ? `${chat.title} (${chat.id})` : chat.id);
  text('chat-members', `${chat.kind}, ${chat.members.length} member(s): ${chat.members.join(', ')}`);
  const rows = fill($('chat-table').tBodies[0], messages, 4, 'No messages');
  messages.forEach((m, i) => {
    cell(rows[i], m.seq);
    cell(rows[i], m.senderId);
    cell(rows[i], m.createdAt);
    cell(rows[i], m.encrypted ? '(encrypted)' : m.content);
  });
  say(`Chat ${chat.id}: ${messages.length} message(s) shown.`);
}

function show(tab) {
  for (const panel of document.querySelectorAll('[data-panel]')) panel.hidden = panel.id !== tab;
  for (const b of document.querySelectorAll('[data-tab]')) {
    if (b.dataset.tab === tab) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  if (tab === 'webhooks') refreshWebhooks().catch((e) => say(`Could not load: ${e.message}`, true));
}

function start() {
  $('login').hidden = true;
  $('console').hidden = false;
  $('logout').hidden = false;
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
}

function logout(message = '') {
  session.clear();
  clearInterval(timer);
  history = [];
  previous = null;
  deadShown = null;
  $('console').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  text('login-error', message);
  $('key').focus();
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const key = $('key').value.trim();
  text('login-error', '');
  try {
    await api.stats(key);
    session.save(key);
    $('key').value = '';
    start();
  } catch (e) {
    text('login-error', e instanceof ApiError && e.status === 401
      ? 'Wrong admin key.'
      : `Cannot reach the admin API: ${e.message}`);
  }
});

$('logout').addEventListener('click', () => logout());

for (const b of document.querySelectorAll('[data-tab]')) {
  b.addEventListener('click', () => show(b.dataset.tab));
}

$('sessions-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  findSessions($('user').value.trim()).catch((e) => say(`Failed: ${e.message}`, true));
});

$('chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  showChat($('chat-id').value.trim()).catch((e) => say(`Failed: ${e.message}`, true));
});

$('disconnect').addEventListener('click', () => {
  const user = sessionsUser;
  if (user && window.confirm(`Disconnect every connection of ${user}, on every node?`)) {
    act(async () => {
      const r = await api.disconnect(user);
      await findSessions(user);
      return r;
    }, `Disconnected ${user}.`);
  }
});

$('invalidate-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const prefix = $('prefix').value;
  act(() => api.invalidate(prefix), `Invalidated the keys starting with ${prefix}.`);
});

$('broadcast-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  let data;
  try {
    data = JSON.parse($('b-data').value || 'null');
  } catch {
    say('The data is not valid JSON.', true);
    return;
  }
  const body = { event: $('b-event').value.trim(), data };
  const target = $('b-target').value;
  if (target) body[target] = $('b-to').value.trim();
  act(() => api.broadcast(body), `Sent ${body.event}.`);
});

if (session.key()) start();
else $('key').focus();
