// PROTOCOL §10, the idle timeout, against a node started with a short
// SB_IDLE_TIMEOUT_SECS (scripts/test.sh: 2 s): a connection that only
// answers pings gets session:idle, then is disconnected by the server; one
// that keeps sending events stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { as, ok, uid } from '../test/helpers.mjs';

const idleSecs = Number(process.env.SB_IDLE_SECS || 2);

test('an idle connection gets session:idle, then is disconnected; an active one stays', async () => {
  const idle = await as(uid('idle'));
  const busy = await as(uid('busy'));
  const closed = new Promise((resolve) => idle.socket.once('disconnect', resolve));
  const started = Date.now();
  const keepBusy = setInterval(() => { ok(busy.socket, 'chat:list', {}).catch(() => {}); }, 500);
  try {
    const notice = await idle.inbox.take('session:idle', () => true, (idleSecs + 5) * 1000);
    assert.deepEqual(notice, { idleSecs });
    assert.equal(await closed, 'io server disconnect');
    assert.ok(Date.now() - started >= idleSecs * 1000 - 100, 'not before the timeout');
    assert.equal(busy.socket.connected, true);
  } finally {
    clearInterval(keepBusy);
  }
});
