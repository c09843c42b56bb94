// Helpers for the conformance tests: node URLs, tokens, connections, acks.
import { createHmac, randomBytes } from 'node:crypto';
import { io } from 'socket.io-client';
import { after } from 'node:test';

export const urls = (process.env.SB_URLS || '').split(',').filter(Boolean);
const secret = process.env.SB_JWT_SECRET;
if (urls.length === 0 || !secret) {
  throw new Error('set SB_URLS (comma-separated node URLs) and SB_JWT_SECRET');
}

/** The URL of node `i` (wraps around when fewer nodes are running). */
export const node = (i = 0) => urls[i % urls.length];

/** A unique id for this run. */
export const uid = (label) => `${label}-${randomBytes(6).toString('hex')}`;

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

/** An HS256 JWT signed with the test secret. */
export function token(claims, key = secret) {
  const body = { exp: Math.floor(Date.now() / 1000) + 600, ...claims };
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const payload = b64(body);
  const sig = createHmac('sha256', key).update(`${head}.${payload}`).digest('base64url');
  return `${head}.${payload}.${sig}`;
}

const open = new Set();
after(() => { for (const s of open) s.close(); });

/**
 * Connects and resolves with { socket, connected } once `connected` arrives;
 * rejects with the connect_error message.
 */
export function connect(url, opts = {}) {
  const socket = io(url, { reconnection: false, forceNew: true, timeout: 5000, ...opts });
  open.add(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connected event')), 5000);
    socket.once('connected', (connected) => {
      clearTimeout(timer);
      resolve({ socket, connected });
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
}

/** Connects as `user` on node `i` with auth.token. */
export async function as(user, i = 0, extra = {}) {
  const { socket } = await connect(node(i), { auth: { token: token({ sub: user, ...extra }) } });
  const inbox = record(socket);
  return { socket, inbox, user };
}

/** Buffers every event a socket receives, so tests can wait for any of them. */
export function record(socket) {
  const events = [];
  const waiters = [];
  socket.onAny((name, data) => {
    events.push({ name, data });
    for (const w of [...waiters]) w();
  });
  return {
    events,
    /** The first not-yet-taken event `name` matching `pred`, within `ms`. */
    take(name, pred = () => true, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const i = events.findIndex((e) => e.name === name && pred(e.data));
          if (i >= 0) {
            const [e] = events.splice(i, 1);
            cleanup();
            resolve(e.data);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`no ${name} within ${ms} ms`)); }, ms);
        const cleanup = () => { clearTimeout(timer); const k = waiters.indexOf(check); if (k >= 0) waiters.splice(k, 1); };
        if (!check()) waiters.push(check);
      });
    },
    /** Resolves when no `name` event matching `pred` arrives within `ms`. */
    async none(name, pred = () => true, ms = 300) {
      await new Promise((r) => setTimeout(r, ms));
      const hit = events.find((e) => e.name === name && pred(e.data));
      if (hit) throw new Error(`unexpected ${name}: ${JSON.stringify(hit.data)}`);
    },
    clear() { events.length = 0; },
  };
}

/** Emits with an ack (5 s timeout) and returns the ack. */
export const ack = (socket, event, payload) => socket.timeout(5000).emitWithAck(event, payload);

/** Emits with an ack and asserts `ok: true`. */
export async function ok(socket, event, payload) {
  const r = await ack(socket, event, payload);
  if (!r || r.ok !== true) throw new Error(`${event} ${JSON.stringify(payload)} → ${JSON.stringify(r)}`);
  return r;
}

/** Emits with an ack and returns the error code of a failed ack. */
export async function fails(socket, event, payload) {
  const r = await ack(socket, event, payload);
  if (!r || r.ok !== false) throw new Error(`${event} expected to fail → ${JSON.stringify(r)}`);
  if (typeof r.error?.message !== 'string') throw new Error(`error without message: ${JSON.stringify(r)}`);
  return r.error.code;
}

/** alice (node 0) and bob (node 1) in a new group chat. */
export async function pair() {
  const alice = await as(uid('alice'), 0);
  const bob = await as(uid('bob'), 1);
  const { chat } = await ok(alice.socket, 'chat:create', { kind: 'group', members: [bob.user] });
  await bob.inbox.take('chat:updated', (d) => d.chat.id === chat.id);
  return { alice, bob, chat };
}
