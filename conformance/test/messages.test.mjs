// PROTOCOL §4: messages, receipts, typing, history and sync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { as, fails, ok, pair, uid } from './helpers.mjs';

test('a message is acked with server fields and delivered to the others', async () => {
  const { alice, bob, chat } = await pair();
  const alice2 = await as(alice.user, 1);
  const { message } = await ok(alice.socket, 'message:new', { chatId: chat.id, content: 'hello', senderId: 'mallory' });
  assert.equal(message.senderId, alice.user);
  assert.equal(message.seq, 1);
  assert.equal(message.type, 'text');
  assert.equal(message.encrypted, false);
  assert.match(message.createdAt, /Z$/);
  assert.deepEqual((await bob.inbox.take('message:new')).message, message);
  assert.deepEqual((await alice2.inbox.take('message:new')).message, message);
  await alice.inbox.none('message:new');
});

test('clientId retries store and deliver once', async () => {
  const { alice, bob, chat } = await pair();
  const m = { chatId: chat.id, content: 'once', clientId: uid('cid') };
  const a = await ok(alice.socket, 'message:new', m);
  const b = await ok(alice.socket, 'message:new', m);
  assert.deepEqual(a.message, b.message);
  await bob.inbox.take('message:new');
  await bob.inbox.none('message:new');
});

test('100 sends without waiting keep their order', async () => {
  const { alice, bob, chat } = await pair();
  const acks = await Promise.all(
    Array.from({ length: 100 }, (_, i) => ok(alice.socket, 'message:new', { chatId: chat.id, content: String(i) })),
  );
  acks.forEach((a, i) => {
    assert.equal(a.message.content, String(i));
    assert.equal(a.message.seq, i + 1);
  });
  for (let i = 0; i < 100; i++) {
    const { message } = await bob.inbox.take('message:new');
    assert.equal(message.seq, i + 1);
  }
});

test('receipts move forward and reach the chat', async () => {
  const { alice, bob, chat } = await pair();
  const m1 = (await ok(alice.socket, 'message:new', { chatId: chat.id, content: '1' })).message;
  const m2 = (await ok(alice.socket, 'message:new', { chatId: chat.id, content: '2' })).message;
  await ok(bob.socket, 'message:delivered', { chatId: chat.id, messageId: m2.id });
  const d = await alice.inbox.take('message:delivered');
  assert.deepEqual({ ...d, at: undefined }, { chatId: chat.id, messageId: m2.id, seq: 2, userId: bob.user, at: undefined });
  await ok(bob.socket, 'message:read', { chatId: chat.id, messageId: m2.id });
  assert.equal((await alice.inbox.take('message:read')).seq, 2);
  await ok(bob.socket, 'message:read', { chatId: chat.id, messageId: m1.id });
  await alice.inbox.none('message:read');
  const list = await ok(bob.socket, 'chat:list', {});
  assert.equal(list.chats[0].readSeq, 2);
});

test('typing reaches the others, and the server stops it', async () => {
  const { alice, bob, chat } = await pair();
  alice.socket.emit('message:typing', { chatId: chat.id });
  assert.deepEqual(await bob.inbox.take('message:typing'), { chatId: chat.id, userId: alice.user });
  assert.deepEqual(await bob.inbox.take('message:stop-typing'), { chatId: chat.id, userId: alice.user });
  alice.socket.emit('message:typing', { chatId: chat.id });
  await bob.inbox.take('message:typing');
  alice.socket.disconnect();
  await bob.inbox.take('message:stop-typing', () => true, 1000);
});

test('history pages and sync after being away', async () => {
  const { alice, bob, chat } = await pair();
  bob.socket.disconnect();
  for (let i = 1; i <= 5; i++) await ok(alice.socket, 'message:new', { chatId: chat.id, content: String(i) });
  const h = await ok(alice.socket, 'chat:history', { chatId: chat.id, limit: 2 });
  assert.deepEqual(h.messages.map((m) => m.seq), [4, 5]);
  assert.equal(h.hasMore, true);
  const older = await ok(alice.socket, 'chat:history', { chatId: chat.id, beforeSeq: 4, limit: 10 });
  assert.deepEqual(older.messages.map((m) => m.seq), [1, 2, 3]);
  assert.equal(older.hasMore, false);
  const back = await as(bob.user, 0);
  const s = await ok(back.socket, 'chat:sync', { chats: [{ chatId: chat.id, afterSeq: 2 }] });
  assert.equal(s.chats[0].chatId, chat.id);
  assert.equal(s.chats[0].complete, true);
  assert.deepEqual(s.chats[0].messages.map((m) => m.seq), [3, 4, 5]);
});

test('a non-member can neither send, read nor receive', async () => {
  const { alice, chat } = await pair();
  const mallory = await as(uid('mallory'), 1);
  assert.equal(await fails(mallory.socket, 'message:new', { chatId: chat.id, content: 'x' }), 'FORBIDDEN');
  assert.equal(await fails(mallory.socket, 'chat:history', { chatId: chat.id }), 'FORBIDDEN');
  const s = await ok(mallory.socket, 'chat:sync', { chats: [{ chatId: chat.id, afterSeq: 0 }] });
  assert.equal(s.chats[0].error.code, 'FORBIDDEN');
  assert.deepEqual(s.chats[0].messages, []);
  await ok(alice.socket, 'message:new', { chatId: chat.id, content: 'private' });
  await mallory.inbox.none('message:new');
});
