// PROTOCOL §3: chats with the official client (two nodes when given two URLs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { as, fails, ok, pair, uid } from './helpers.mjs';

test('create, conflict, add and remove members, and the events members see', async () => {
  const { alice, bob, chat } = await pair();
  assert.equal(chat.kind, 'group');
  assert.deepEqual(chat.members, [alice.user, bob.user]);
  assert.deepEqual(chat.owners, [alice.user]);
  assert.deepEqual(chat.bots, []);
  assert.match(chat.createdAt, /Z$/);
  assert.equal(await fails(alice.socket, 'chat:create', { kind: 'group', members: [], chatId: chat.id }), 'CONFLICT');

  const carol = await as(uid('carol'), 1);
  assert.equal(await fails(bob.socket, 'chat:add-members', { chatId: chat.id, userIds: [carol.user] }), 'FORBIDDEN');
  const r = await ok(alice.socket, 'chat:add-members', { chatId: chat.id, userIds: [carol.user] });
  assert.deepEqual(r.chat.members, [alice.user, bob.user, carol.user]);
  await carol.inbox.take('chat:updated', (d) => d.chat.id === chat.id);
  assert.deepEqual(await bob.inbox.take('chat:member-joined'), { chatId: chat.id, userId: carol.user });
  // Carol receives the next message without chat:join.
  await ok(alice.socket, 'message:new', { chatId: chat.id, content: 'hi carol' });
  assert.equal((await carol.inbox.take('message:new')).message.content, 'hi carol');

  await ok(carol.socket, 'chat:remove-members', { chatId: chat.id, userIds: [carol.user] });
  assert.deepEqual(await alice.inbox.take('chat:member-left'), { chatId: chat.id, userId: carol.user });
  carol.inbox.clear();
  await ok(alice.socket, 'message:new', { chatId: chat.id, content: 'after' });
  await bob.inbox.take('message:new', (d) => d.message.content === 'after');
  await carol.inbox.none('message:new');
});

test('join, leave, join-multiple, active members and list', async () => {
  const { alice, bob, chat } = await pair();
  const mallory = await as(uid('mallory'));
  await ok(bob.socket, 'chat:leave', { chatId: chat.id });
  await ok(alice.socket, 'message:new', { chatId: chat.id, content: 'while away' });
  await bob.inbox.none('message:new');
  await ok(bob.socket, 'chat:join', { chatId: chat.id });
  const missing = uid('missing');
  const jm = await ok(bob.socket, 'chat:join-multiple', { chatIds: [chat.id, missing] });
  assert.deepEqual(jm.joined, [chat.id]);
  assert.deepEqual(jm.failed, [{ chatId: missing, code: 'NOT_FOUND' }]);
  assert.equal(await fails(mallory.socket, 'chat:join', { chatId: chat.id }), 'FORBIDDEN');
  assert.equal(await fails(mallory.socket, 'chat:get-active-members', { chatId: chat.id }), 'FORBIDDEN');

  const active = await ok(alice.socket, 'chat:get-active-members', { chatId: chat.id });
  assert.deepEqual(active.members.map((m) => m.userId).sort(), [alice.user, bob.user].sort());
  assert.ok(active.members.every((m) => m.status === 'online'));

  const list = await ok(bob.socket, 'chat:list', {});
  assert.equal(list.chats.length, 1);
  assert.equal(list.chats[0].chat.id, chat.id);
  assert.equal(list.chats[0].lastSeq, 1);
  assert.equal(list.chats[0].readSeq, 0);
  assert.equal(list.chats[0].unread, 1);
});
