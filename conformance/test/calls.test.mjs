// PROTOCOL §6: call signaling with the official client (ring time 2 s here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { as, fails, ok, pair, uid } from './helpers.mjs';

const offer = { type: 'offer', sdp: 'v=0\r\n' };
const answer = { type: 'answer', sdp: 'v=0\r\n' };

test('calls: initiate, answer, ICE both ways, end', async () => {
  const { alice, bob } = await pair();
  const { callId } = await ok(alice.socket, 'call:initiate', { calleeId: bob.user, media: 'audio', offer });
  const incoming = await bob.inbox.take('call:incoming');
  assert.deepEqual(incoming, { callId, callerId: alice.user, media: 'audio', offer });
  await ok(bob.socket, 'call:answer', { callId, answer });
  assert.deepEqual(await alice.inbox.take('call:answer'), { callId, answer, userId: bob.user });
  alice.socket.emit('call:ice-candidate', { callId, candidate: { candidate: 'a' } });
  assert.deepEqual(await bob.inbox.take('call:ice-candidate'), { callId, candidate: { candidate: 'a' }, userId: alice.user });
  bob.socket.emit('call:ice-candidate', { callId, candidate: { candidate: 'b' } });
  assert.equal((await alice.inbox.take('call:ice-candidate')).userId, bob.user);
  await ok(alice.socket, 'call:end', { callId });
  assert.deepEqual(await bob.inbox.take('call:end'), { callId, userId: alice.user, reason: 'ended' });
  const { calls } = await ok(bob.socket, 'call:history', {});
  assert.equal(calls[0].callId, callId);
  assert.equal(calls[0].outcome, 'answered');
});

test('calls: an outsider is refused, an unanswered call times out', async () => {
  const { alice, bob } = await pair();
  const eve = await as(uid('eve'), 1);
  const { callId } = await ok(alice.socket, 'call:initiate', { calleeId: bob.user, media: 'video', offer });
  assert.equal(await fails(eve.socket, 'call:answer', { callId, answer }), 'FORBIDDEN');
  eve.socket.emit('call:ice-candidate', { callId, candidate: {} });
  const err = await eve.inbox.take('error');
  assert.equal(err.code, 'FORBIDDEN');
  assert.equal(await fails(eve.socket, 'call:initiate', { calleeId: alice.user, media: 'audio', offer }), 'FORBIDDEN');
  assert.deepEqual(await alice.inbox.take('call:end', () => true, 8000), { callId, reason: 'timeout' });
  assert.deepEqual(await bob.inbox.take('call:end'), { callId, reason: 'timeout' });
  const n = await bob.inbox.take('notification:new', (d) => d.notification.type === 'call');
  assert.equal(n.notification.data.callId, callId);
});
