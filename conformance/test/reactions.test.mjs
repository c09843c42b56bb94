// PROTOCOL §7: reactions with the official client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fails, ok, pair } from './helpers.mjs';

test('reactions: one per user per emoji, broadcast to the chat, validated', async () => {
  const { alice, bob, chat } = await pair();
  const { message } = await ok(alice.socket, 'message:new', { chatId: chat.id, content: 'poll' });
  const r = { chatId: chat.id, messageId: message.id, emoji: '🎉' };
  assert.deepEqual((await ok(bob.socket, 'reaction:new', r)).reactions, { '🎉': [bob.user] });
  assert.deepEqual(await alice.inbox.take('reaction:new'), { ...r, userId: bob.user });
  assert.deepEqual((await ok(bob.socket, 'reaction:new', r)).reactions, { '🎉': [bob.user] });
  await alice.inbox.none('reaction:new');
  assert.equal(await fails(bob.socket, 'reaction:new', { ...r, emoji: 'party' }), 'INVALID_PAYLOAD');
  assert.deepEqual((await ok(bob.socket, 'reaction:remove', r)).reactions, {});
  assert.deepEqual((await ok(alice.socket, 'reaction:get', { chatId: chat.id, messageId: message.id })).reactions, {});
});
