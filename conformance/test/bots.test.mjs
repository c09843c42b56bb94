// PROTOCOL §12–§14 with the official client: bot sessions started and
// resumed across nodes, answered and completed by an automation backend
// (conformance/automation.mjs), bot:error when the backend refuses, and a
// guest from a website widget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { as, connect, fails, node, ok, record, uid } from './helpers.mjs';

const fromBot = (text) => (d) => d.message.senderId === 'helper' && d.message.content === text;

test('bot:start creates a session, another device resumes it, a reply completes it', async () => {
  const user = uid('u');
  const phone = await as(user, 0, { device: 'phone' });
  const laptop = await as(user, 1, { device: 'laptop' });
  const first = await ok(phone.socket, 'bot:start', { botId: 'helper', topic: 'billing', metadata: { page: '/' } });
  assert.equal(first.resumed, false);
  assert.equal(first.chat.kind, 'bot');
  assert.equal(first.chat.topic, 'billing');
  assert.deepEqual(first.chat.bots, ['helper']);
  assert.deepEqual(first.chat.metadata, { page: '/' });
  assert.match(first.chat.id, /^bot_[0-9a-f]{32}$/);
  const chatId = first.chat.id;
  const again = await ok(laptop.socket, 'bot:start', { botId: 'helper', topic: 'billing' });
  assert.deepEqual([again.chat.id, again.resumed], [chatId, true]);
  assert.equal(await fails(phone.socket, 'bot:start', { botId: 'nobody' }), 'NOT_FOUND');

  await ok(phone.socket, 'message:new', { chatId, content: 'hi' });
  await laptop.inbox.take('message:new', fromBot('echo: hi'));

  await ok(phone.socket, 'message:new', { chatId, content: '/done' });
  // The replies first, then the completion, on both nodes.
  await laptop.inbox.take('message:new', fromBot('Done.'));
  const done = await laptop.inbox.take('chat:completed', (d) => d.chatId === chatId);
  assert.deepEqual(done.result, { ok: true, topic: 'billing' });
  await phone.inbox.take('chat:completed', (d) => d.chatId === chatId);
  assert.equal(await fails(phone.socket, 'message:new', { chatId, content: 'more' }), 'CONFLICT');
  const next = await ok(laptop.socket, 'bot:start', { botId: 'helper', topic: 'billing' });
  assert.equal(next.resumed, false);
  assert.notEqual(next.chat.id, chatId);
});

test('a refusing backend gives the chat bot:error', async () => {
  const user = await as(uid('u'), 1);
  const { chat } = await ok(user.socket, 'bot:start', { botId: 'helper' });
  await ok(user.socket, 'message:new', { chatId: chat.id, content: 'fail' });
  const e = await user.inbox.take('bot:error', (d) => d.chatId === chat.id);
  assert.equal(e.code, 'BOT_UNAVAILABLE');
  assert.equal(e.retryable, false);
  assert.equal(typeof e.correlationId, 'string');
  assert.equal(typeof e.message, 'string');
});

test('a guest gets a token over HTTP, talks to its bot, and may do nothing else', async () => {
  const r = await fetch(`${node(0)}/api/v1/guest-sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ botId: 'helper', name: 'Visitor' }),
  });
  assert.equal(r.status, 201);
  const g = await r.json();
  assert.match(g.userId, /^guest_/);
  assert.match(g.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const chatId = g.chat.id;

  const history = await fetch(`${node(1)}/api/v1/chats/${chatId}/messages`, {
    headers: { authorization: `Bearer ${g.token}` },
  });
  assert.equal(history.status, 200);
  assert.deepEqual((await history.json()).messages, []);

  const { socket, connected } = await connect(node(1), { auth: { token: g.token } });
  const inbox = record(socket);
  assert.equal(connected.userId, g.userId);
  const resumed = await ok(socket, 'bot:start', { botId: 'helper' });
  assert.deepEqual([resumed.chat.id, resumed.resumed], [chatId, true]);
  await ok(socket, 'message:new', { chatId, content: 'hello' });
  await inbox.take('message:new', fromBot('echo: hello'));
  assert.equal(await fails(socket, 'chat:create', { kind: 'group', members: [] }), 'FORBIDDEN');
  assert.equal(await fails(socket, 'presence:update', { status: 'online' }), 'FORBIDDEN');
  assert.equal(await fails(socket, 'chat:list', {}), 'FORBIDDEN');
});
