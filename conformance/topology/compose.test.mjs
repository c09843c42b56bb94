// The docker-compose topology run as processes (scripts/compose-check.sh):
// three nodes on one Redis behind HAProxy. Official socket.io-clients over
// WebSocket and over long-polling connect through the balancer, keep
// sending (resending unacked messages with the same clientId, as an app
// does), while one node is drained (SIGTERM) and another is SIGKILLed.
// Every client must come back through the balancer, and every acked
// message must be in the history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { token, uid } from '../test/helpers.mjs';

const lb = process.env.LB_URL;
const apiKey = process.env.SB_API_KEY;
const drainPid = Number(process.env.DRAIN_PID);
const killPid = Number(process.env.KILL_PID);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, pred, ms = 20000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

function client(user, transports) {
  // Reconnection on, to the balancer's URL: what a real app does.
  const socket = io(lb, {
    transports,
    auth: { token: token({ sub: user }) },
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    randomizationFactor: 0.5,
    timeout: 5000,
    // Keeps the balancer's affinity cookie (a browser does this itself).
    withCredentials: true,
  });
  socket.nodes = [];
  socket.errors = [];
  socket.on('connected', (c) => socket.nodes.push(c.nodeId));
  socket.on('connect_error', (e) => socket.errors.push(e.message));
  return socket;
}

const ack = (s, ev, data, ms = 3000) =>
  new Promise((resolve) => s.timeout(ms).emit(ev, data, (err, a) => resolve(err ? null : a)));

test('through HAProxy: WebSocket and long-polling, a drain and a crash, no acked message lost', async () => {
  const chat = uid('compose');
  const users = Array.from({ length: 12 }, (_, i) => uid(`u${i}`));
  const put = await fetch(`${lb}/api/v1/chats/${chat}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'group', members: users }),
  });
  assert.equal(put.status, 200, await put.text());

  const sockets = users.map((u, i) => client(u, i % 3 === 0 ? ['polling'] : ['websocket']));
  await until('all connected', () => sockets.every((s) => s.connected && s.nodes.length > 0)).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(sockets.map((s) => [s.connected, s.nodes, s.errors.slice(-2)]))}`);
  });
  for (const [i, s] of sockets.entries()) {
    assert.equal(s.io.engine.transport.name, i % 3 === 0 ? 'polling' : 'websocket');
  }
  const spread = new Set(sockets.map((s) => s.nodes[0]));
  assert.ok(spread.size >= 2, `the balancer spreads clients: ${[...spread]}`);

  const acked = new Map();
  let stop = false;
  async function sender(s, i) {
    let n = 0;
    while (!stop) {
      const clientId = uid('c');
      const content = `m${i}-${n++}`;
      // Resend with the same clientId until acked.
      while (!stop) {
        if (s.connected) {
          const a = await ack(s, 'message:new', { chatId: chat, content, clientId });
          if (a?.ok) {
            acked.set(a.message.id, content);
            break;
          }
        }
        await sleep(100);
      }
      await sleep(30);
    }
  }
  const senders = sockets.map((s, i) => sender(s, i));
  await sleep(1000);
  process.kill(drainPid, 'SIGTERM');
  await sleep(1500);
  process.kill(killPid, 'SIGKILL');
  await sleep(6000);
  stop = true;
  await Promise.all(senders);

  await until('every client reconnected', () => sockets.every((s) => s.connected));
  const moved = sockets.filter((s) => s.nodes.length > 1).length;
  assert.ok(moved > 0, 'clients of the stopped nodes reconnected through the balancer');

  // The history, read through the balancer, holds every acked message.
  const reader = sockets[1];
  const seen = new Set();
  let after = 0;
  for (;;) {
    const page = await ack(reader, 'chat:history', { chatId: chat, afterSeq: after, limit: 100 });
    assert.ok(page?.ok, JSON.stringify(page));
    for (const m of page.messages) seen.add(m.id);
    if (page.messages.length < 100) break;
    after = page.messages.at(-1).seq;
  }
  const lost = [...acked.keys()].filter((id) => !seen.has(id));
  console.log(`compose: ${acked.size} acked messages, ${moved} clients moved, ${lost.length} lost`);
  assert.ok(acked.size > 20, `enough traffic (${acked.size})`);
  assert.deepEqual(lost, []);
  for (const s of sockets) s.close();
});
