// The admin API, with the key from this tab's sessionStorage sent as a
// bearer header. The key never goes into a URL.
const KEY = 'switchboard-admin-key';

export const session = {
  key: () => sessionStorage.getItem(KEY),
  save: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, body, key = session.key()) {
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = data.error || {};
    throw new ApiError(r.status, e.code || 'HTTP', e.message || `HTTP ${r.status}`);
  }
  return data;
}

export const api = {
  stats: (key) => call('GET', '/admin/stats', undefined, key),
  chat: (id) => call('GET', `/admin/chats/${encodeURIComponent(id)}`),
  sessions: (user) => call('GET', `/admin/sessions?userId=${encodeURIComponent(user)}`),
  disconnect: (user) => call('POST', `/admin/users/${encodeURIComponent(user)}/disconnect`),
  deadLetters: () => call('GET', '/admin/webhooks/dead-letters?limit=50'),
  replay: (id) => call('POST', `/admin/webhooks/dead-letters/${encodeURIComponent(id)}/replay`),
  drop: (id) => call('DELETE', `/admin/webhooks/dead-letters/${encodeURIComponent(id)}`),
  cacheStats: () => call('GET', '/admin/cache/stats'),
  invalidate: (prefix) => call('POST', '/admin/cache/invalidate', { prefix }),
  broadcast: (body) => call('POST', '/admin/broadcast', body),
};
