// PROTOCOL §2: acks, errors, unknown events, malformed payloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { as, fails, node, ok, pair, uid } from './helpers.mjs';

test('unknown events: failed ack with an ack, `error` event without', async () => {
  const { socket, inbox } = await as(uid('u'));
  assert.equal(await fails(socket, 'no:such-event', {}), 'INVALID_PAYLOAD');
  socket.emit('no:such-event', {});
  const e = await inbox.take('error');
  assert.equal(e.event, 'no:such-event');
  assert.equal(e.code, 'INVALID_PAYLOAD');
  assert.equal(typeof e.message, 'string');
});

test('malformed payloads get INVALID_PAYLOAD and the connection stays usable', async () => {
  const { alice, chat } = await pair();
  for (const bad of ['a string', 42, null, [1, 2], { content: 'no chat' }, { chatId: chat.id, content: 5 }, { chatId: chat.id }]) {
    assert.equal(await fails(alice.socket, 'message:new', bad), 'INVALID_PAYLOAD', JSON.stringify(bad));
  }
  assert.equal(await fails(alice.socket, 'message:new', { chatId: chat.id, content: 'x'.repeat(20000) }), 'PAYLOAD_TOO_LARGE');
  const media = { url: 'http://cdn.example/a.png', mime: 'image/png' };
  assert.equal(await fails(alice.socket, 'message:new', { chatId: chat.id, type: 'image', media }), 'INVALID_PAYLOAD');
  const { message } = await ok(alice.socket, 'message:new', { chatId: chat.id, content: 'still fine' });
  assert.equal(message.seq, 1, 'nothing was stored by the bad sends');
  assert.equal(alice.socket.connected, true);
});

test('an HTTP API body over the limit gets the 413 envelope, read by fetch', async () => {
  // Node's fetch sends the whole body before it reads: the server reads the
  // rest of the upload before it answers, so the 413 arrives intact.
  const r = await fetch(`${node(0)}/api/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ chatId: 'c', senderId: 's', content: 'x'.repeat(1024 * 1024) }),
  });
  assert.equal(r.status, 413);
  const body = await r.json();
  assert.equal(body.error.code, 'PAYLOAD_TOO_LARGE');
});
