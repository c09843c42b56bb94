// PROTOCOL §9: channel permissions with the official client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, fails, node, ok, record, token, uid } from './helpers.mjs';

test('channels: prefix rules decide who subscribes and publishes', async () => {
  const { socket: user } = await connect(node(0), { auth: { token: token({ sub: uid('u') }) } });
  const { socket: admin } = await connect(node(1), { auth: { token: token({ sub: uid('a'), role: 'admin' }) } });
  const adminInbox = record(admin);
  await ok(user, 'channel:subscribe', { channel: 'public:status' });
  assert.equal(await fails(user, 'channel:publish', { channel: 'public:status', data: 1 }), 'FORBIDDEN');
  assert.equal(await fails(user, 'channel:subscribe', { channel: 'role:admin:ops' }), 'FORBIDDEN');
  assert.equal(await fails(user, 'channel:subscribe', { channel: 'nobody:x' }), 'FORBIDDEN');
  await ok(admin, 'channel:subscribe', { channel: 'role:admin:ops' });
  await ok(admin, 'channel:publish', { channel: 'role:admin:ops', data: { v: 2 } });
  const m = await adminInbox.take('channel:message');
  assert.deepEqual([m.channel, m.data], ['role:admin:ops', { v: 2 }]);
});
