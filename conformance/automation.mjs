// A stand-in automation backend (n8n) for the conformance nodes: verifies
// each delivery's signature and answers bot messages by their content.
//   "/done"  → a reply and `complete: { result: { ok: true } }` (§13)
//   "fail"   → 400: the backend refuses for good, so the chat gets bot:error
//   anything → 200 `{ replies: [{ content: "echo: <content>" }] }`
// A delivery with a bad signature gets 401 and is counted at /bad.
// Usage: AUTOMATION_PORT=... SB_WEBHOOK_SECRET=... node automation.mjs
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const secret = process.env.SB_WEBHOOK_SECRET;
const port = Number(process.env.AUTOMATION_PORT);
let bad = 0;

function signed(header, body) {
  const parts = Object.fromEntries((header || '').split(',').map((p) => p.split('=')));
  if (!parts.t || !parts.v1 || Math.abs(Date.now() / 1000 - Number(parts.t)) > 300) return false;
  const want = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest('hex');
  return want.length === parts.v1.length && timingSafeEqual(Buffer.from(want), Buffer.from(parts.v1));
}

createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/bad') {
    res.end(String(bad));
    return;
  }
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (!signed(req.headers['x-switchboard-signature'], body)) {
      bad += 1;
      res.writeHead(401).end();
      return;
    }
    const d = JSON.parse(body);
    const content = d.data?.message?.content ?? '';
    if (content === 'fail') {
      res.writeHead(400).end();
      return;
    }
    const answer = content === '/done'
      ? { replies: [{ content: 'Done.' }], complete: { result: { ok: true, topic: d.session?.topic ?? null } } }
      : { replies: [{ content: `echo: ${content}` }] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
}).listen(port, '127.0.0.1');
