// The admin console (/admin/ui/) in a real headless browser: Debian's
// chromium driven by puppeteer-core, against two nodes sharing Redis.
//   SB_URLS=a,b SB_JWT_SECRET=... SB_ADMIN_KEY=... CHROMIUM=/usr/bin/chromium \
//   SCREENSHOTS=dir node --test console/
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';
import { as, node, ok, uid, urls } from '../test/helpers.mjs';

const key = process.env.SB_ADMIN_KEY;
const shots = process.env.SCREENSHOTS || 'screenshots';
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
after(() => browser.close());

/** A page that records every URL it asks for and every console error. */
async function open(width = 1100, height = 900) {
  const page = await browser.newPage();
  await page.setViewport({ width, height });
  const seen = { urls: [], errors: [] };
  page.on('request', (r) => seen.urls.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(m.text()); });
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  const response = await page.goto(`${node(0)}/admin/ui/`, { waitUntil: 'networkidle0' });
  return { page, seen, response };
}

async function login(page, k) {
  await page.click('#key', { clickCount: 3 });
  await page.type('#key', k);
  await page.click('#login-form button[type=submit]');
}

const textOf = (page, sel) => page.$eval(sel, (e) => e.textContent.trim());

async function seriousViolations(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.length})`);
}

test('the console: login, nodes, live counts, sessions, dead letters, broadcast', async () => {
  const { page, seen, response } = await open();
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const html = await response.text();
  assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/i, 'no inline script');
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline handler');
  assert.deepEqual(await seriousViolations(page), [], 'login page accessibility');

  // 1. A wrong key is refused on the page, with a message.
  await login(page, 'not-the-admin-key-0123456789');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.includes('Wrong admin key'));
  await page.screenshot({ path: `${shots}/login-refused.png` });
  await login(page, key);
  await page.waitForSelector('#console:not([hidden])');

  // 2. Both nodes.
  await page.waitForFunction((n) => document.querySelectorAll('#nodes tbody tr').length === n, {}, urls.length);
  const names = await page.$$eval('#nodes tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
  assert.equal(new Set(names).size, urls.length);

  // 3. 20 clients: the counts rise without a reload.
  const before = Number(await textOf(page, '#t-cluster'));
  const clients = [];
  for (let i = 0; i < 20; i++) clients.push(await as(uid(`console${i}`), i));
  await page.waitForFunction(
    (want) => Number(document.getElementById('t-cluster').textContent) >= want,
    { timeout: 15000 },
    before + 20,
  );
  await page.waitForFunction(() => document.getElementById('chart-line').getAttribute('points').split(' ').length >= 2);
  assert.deepEqual(await seriousViolations(page), [], 'overview accessibility');
  await page.screenshot({ path: `${shots}/overview.png` });

  // 4. A user's sessions, disconnected from the page.
  const target = clients[3];
  const gone = new Promise((resolve) => target.socket.once('disconnect', resolve));
  await page.click('[data-tab=sessions]');
  await page.type('#user', target.user);
  await page.click('#sessions-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#sessions-table tbody tr td').length >= 4);
  assert.deepEqual(await seriousViolations(page), [], 'sessions accessibility');
  await page.screenshot({ path: `${shots}/sessions.png` });
  await page.click('#disconnect');
  assert.equal(await gone, 'io server disconnect');

  // 5. A dead letter (the automation refuses "fail"), replayed from the page.
  const bot = clients[5];
  const { chat } = await ok(bot.socket, 'bot:start', { botId: 'helper' });
  await ok(bot.socket, 'message:new', { chatId: chat.id, content: 'fail' });
  await bot.inbox.take('bot:error', (d) => d.chatId === chat.id);
  await page.click('[data-tab=webhooks]');
  await page.waitForFunction((id) => [...document.querySelectorAll('#dead-table tbody tr')]
    .some((tr) => tr.textContent.includes(id)), { timeout: 10000 }, chat.id);
  assert.deepEqual(await seriousViolations(page), [], 'webhooks accessibility');
  await page.screenshot({ path: `${shots}/webhooks.png` });
  const replay = await page.evaluateHandle((id) => [...document.querySelectorAll('#dead-table tbody tr')]
    .find((tr) => tr.textContent.includes(id)).querySelector('button'), chat.id);
  await replay.click();
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Replayed'));
  // Sent again: refused again, so the chat hears bot:error once more.
  await bot.inbox.take('bot:error', (d) => d.chatId === chat.id);

  // A chat's members and last messages, for support; and the channels.
  await page.click('[data-tab=channels]');
  await page.type('#chat-id', chat.id);
  await page.click('#chat-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#chat-table tbody tr td').length >= 4);
  const members = await textOf(page, '#chat-members');
  assert.ok(members.includes(bot.user) && members.includes('helper'), members);
  const contents = await page.$$eval('#chat-table tbody tr td:last-child', (tds) => tds.map((t) => t.textContent));
  assert.ok(contents.includes('fail'), contents.join('|'));
  assert.deepEqual(await seriousViolations(page), [], 'chats accessibility');

  // 6. A broadcast every client receives.
  await page.click('[data-tab=broadcast]');
  await page.click('#b-data', { clickCount: 3 });
  await page.$eval('#b-data', (t) => { t.value = ''; });
  await page.type('#b-data', '{ "text": "maintenance at 22:00" }');
  await page.click('#broadcast-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sent'));
  for (const c of clients.filter((c) => c !== target)) {
    const n = await c.inbox.take('system:notice');
    assert.equal(n.text, 'maintenance at 22:00');
  }
  assert.deepEqual(await seriousViolations(page), [], 'broadcast accessibility');
  await page.screenshot({ path: `${shots}/broadcast.png` });

  // Security: the key is in no URL, nothing broke the policy.
  assert.equal(seen.urls.filter((u) => u.includes(key)).length, 0, 'the key in a URL');
  // The only error the page may log is the refused wrong key (a 401).
  const unexpected = seen.errors.filter((e) => !e.includes('status of 401'));
  assert.deepEqual(unexpected, [], 'console errors (CSP violations among them)');
  assert.equal(seen.errors.length, 1, 'one 401, for the wrong key');
  await page.close();
});

test('the console on a phone-sized screen', async () => {
  const { page } = await open(375, 740);
  await login(page, key);
  await page.waitForSelector('#console:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#nodes tbody tr').length > 0);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await page.screenshot({ path: `${shots}/phone.png`, fullPage: true });
  await page.close();
});
