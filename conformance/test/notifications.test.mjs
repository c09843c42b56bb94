// PROTOCOL §8: notifications with the official client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { as, fails, ok, pair } from './helpers.mjs';

test('a mention is pushed live, listed, read and cleared; only by its owner', async () => {
  const { alice, bob, chat } = await pair();
  await bob.inbox.take('notification:new', (d) => d.notification.type === 'chat');
  await ok(alice.socket, 'message:new', { chatId: chat.id, content: `@${bob.user} hello` });
  const { notification } = await bob.inbox.take('notification:new', (d) => d.notification.type === 'mention');
  assert.equal(notification.read, false);
  assert.match(notification.createdAt, /Z$/);
  const { notifications } = await ok(bob.socket, 'notification:get-pending', { limit: 5 });
  assert.equal(notifications[0].id, notification.id);
  assert.equal(await fails(alice.socket, 'notification:read', { id: notification.id }), 'NOT_FOUND');
  await ok(bob.socket, 'notification:read', { id: notification.id });
  const after = await ok(bob.socket, 'notification:get-pending', {});
  assert.equal(after.notifications[0].read, true);
  await ok(bob.socket, 'notification:clear', { id: notification.id });
  const { cleared } = await ok(bob.socket, 'notification:clear-all', {});
  assert.equal(cleared, 1, 'the chat notification was left');
  const other = await as(bob.user, 1);
  assert.deepEqual((await ok(other.socket, 'notification:get-pending', {})).notifications, []);
});
