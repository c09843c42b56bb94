// PROTOCOL §5: presence with the official client (grace period 500 ms here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { as, fails, ok, pair, uid } from './helpers.mjs';

test('presence: subscribe, status changes, offline after the grace period', async () => {
  const { alice, bob } = await pair();
  const sub = await ok(bob.socket, 'presence:subscribe', { userIds: [alice.user] });
  assert.equal(sub.presences[0].status, 'online');
  assert.deepEqual(sub.failed, []);
  const up = await ok(alice.socket, 'presence:update', { status: 'busy', customStatus: 'in a meeting' });
  assert.equal(up.presence.status, 'busy');
  const seen = await bob.inbox.take('presence:update');
  assert.equal(seen.presence.userId, alice.user);
  assert.equal(seen.presence.status, 'busy');
  assert.equal(seen.presence.customStatus, 'in a meeting');
  assert.equal(await fails(alice.socket, 'presence:update', { status: 'asleep' }), 'INVALID_PAYLOAD');

  alice.socket.disconnect();
  const gone = await bob.inbox.take('presence:update', (d) => d.presence.status === 'offline', 8000);
  assert.equal(typeof gone.presence.lastSeen, 'string');
  const got = await ok(bob.socket, 'presence:get', { userIds: [alice.user] });
  assert.equal(got.presences[0].status, 'offline');
});

test('presence: users who share no chat are refused', async () => {
  const a = await as(uid('a'), 0);
  const b = await as(uid('b'), 1);
  const r = await ok(a.socket, 'presence:subscribe', { userIds: [b.user] });
  assert.deepEqual(r.presences, []);
  assert.deepEqual(r.failed, [{ userId: b.user, code: 'FORBIDDEN' }]);
});
