// PROTOCOL §1: connecting with the official client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, node, token, uid } from './helpers.mjs';

test('auth.token, query token and Authorization header all connect', async () => {
  const user = uid('u');
  const a = await connect(node(), { auth: { token: token({ sub: user, device: 'web-1' }) } });
  assert.equal(a.connected.userId, user);
  assert.equal(a.connected.deviceId, 'web-1');
  assert.equal(a.connected.socketId, a.socket.id);
  assert.equal(typeof a.connected.nodeId, 'string');
  // Always exactly three fraction digits (strict iOS/Java parsers).
  assert.match(a.connected.serverTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const b = await connect(node(), { query: { token: token({ sub: user }) } });
  assert.equal(b.connected.userId, user);
  const c = await connect(node(), {
    transports: ['websocket'],
    extraHeaders: { Authorization: `Bearer ${token({ sub: user })}` },
  });
  assert.equal(c.connected.userId, user);
  assert.notEqual(b.connected.deviceId, c.connected.deviceId, 'a per-connection device id');
});

test('refused connections carry one code', async () => {
  await assert.rejects(connect(node(), {}), { message: 'AUTH_MISSING' });
  // err.data: the code again, a message for humans, no retry for auth.
  const err = await connect(node(), {}).then(() => null, (e) => e);
  assert.equal(err.data.code, 'AUTH_MISSING');
  assert.match(err.data.message, /token/);
  assert.equal(err.data.retryAfterMs, undefined);
  await assert.rejects(connect(node(), { auth: { token: token({ sub: 'x' }, 'wrong-secret') } }), { message: 'AUTH_INVALID' });
  await assert.rejects(
    connect(node(), { auth: { token: token({ sub: 'x', exp: Math.floor(Date.now() / 1000) - 3600 }) } }),
    { message: 'AUTH_EXPIRED' },
  );
  await assert.rejects(connect(node(), { auth: { token: 'garbage' } }), { message: 'AUTH_INVALID' });
});

for (const transports of [['websocket'], ['polling'], undefined]) {
  test(`transport ${transports ? transports.join() : 'default (polling, then upgrade)'}`, async () => {
    const user = uid('t');
    const { socket, connected } = await connect(node(), { transports, auth: { token: token({ sub: user }) } });
    assert.equal(connected.userId, user);
    const r = await socket.timeout(5000).emitWithAck('chat:list', {});
    assert.deepEqual(r, { ok: true, chats: [] });
  });
}
