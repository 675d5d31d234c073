/**
 * The `npm start` demo (node dist/demo/server.js; run `npm run build` first): the page over
 * HTTP, the seed 002 reply over WebSocket, and the whole thing in headless Chromium
 * (Debian's /usr/bin/chromium via playwright-core), which also saves docs/demo.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WebSocket } from '../src/index.js';
import { Child, closed, Inbox, openClient, ROOT, within } from './fixtures/harness.js';

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

/*
 * Functions below that run in the browser are passed as functions, not strings (the page's
 * CSP forbids eval), and reach the DOM through `globalThis` (this project's TS has no DOM types).
 */

/** Waits until the reply div shows `text`. */
async function replyIs(page: Page, text: string): Promise<void> {
  await page.waitForFunction(
    (t) => (globalThis as any).document.getElementById('reply').textContent === t, // eslint-disable-line @typescript-eslint/no-explicit-any
    text,
    { timeout: 8000 },
  );
}

let demo: Child | undefined;
let base = '';
let browser: Browser | undefined;

before(async () => {
  demo = new Child(['dist/demo/server.js'], { env: { PORT: '0', HOST: '127.0.0.1' } });
  const [, url] = await demo.line(/^Demo on (http:\/\/127\.0\.0\.1:\d+)$/);
  base = url!;
});

after(async () => {
  await browser?.close();
  await demo?.kill();
});

test('GET / serves the page: an input, a button and a reply div', async () => {
  const res = await within(fetch(`${base}/`), 'the page');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
  assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'sha256-/);
  const html = await res.text();
  assert.match(html, /<input id="message"/);
  assert.match(html, /<button id="send"/);
  assert.match(html, /<div id="reply"/);
  assert.match(html, /name="viewport" content="width=device-width/);
  assert.match(html, /new WebSocket\(\(location\.protocol === 'https:' \? 'wss:\/\/' : 'ws:\/\/'\) \+ location\.host \+ '\/ws'\)/);

  const missing = await within(fetch(`${base}/nope`), 'a 404');
  assert.equal(missing.status, 404);
  await missing.text();
  const post = await within(fetch(`${base}/`, { method: 'POST' }), 'a 405');
  assert.equal(post.status, 405);
  await post.text();
});

test('/ws replies like seed 002: text.toUpperCase() + "!!!"', async () => {
  const ws = await openClient(`${base.replace('http', 'ws')}/ws`);
  const inbox = new Inbox(ws);
  ws.send('hello');
  ws.send('ça va');
  const [a, b] = await inbox.take(2);
  assert.equal(a!.data.toString(), 'HELLO!!!');
  assert.equal(b!.data.toString(), 'ÇA VA!!!');
  const done = closed(ws);
  ws.send(Buffer.from([1]));
  assert.equal((await done).code, 1003, 'binary is refused: the demo speaks text');

  const wrongPath = new WebSocket(`${base.replace('http', 'ws')}/elsewhere`);
  const failed = await within(new Promise<Error>((resolve) => wrongPath.once('error', resolve)), 'the wrong path to fail');
  assert.match(failed.message, /400|404/);
});

test('in Chromium: type "hello", click Send, see "HELLO!!!"; screenshot docs/demo.png', async () => {
  browser = await within(chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }), 'Chromium to start', 20000);
  const page = await browser.newPage({ viewport: { width: 390, height: 560 }, deviceScaleFactor: 2 });
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  page.on('pageerror', (err) => problems.push(err.message));

  await page.goto(`${base}/`, { timeout: 8000 });
  await page.waitForFunction(
    () => (globalThis as any).document.getElementById('status').dataset.state === 'open', // eslint-disable-line @typescript-eslint/no-explicit-any
    null,
    { timeout: 8000 },
  );
  await page.fill('#message', 'hello', { timeout: 8000 });
  await page.click('#send', { timeout: 8000 });
  await replyIs(page, 'HELLO!!!');
  assert.equal(await page.textContent('#reply'), 'HELLO!!!');
  assert.equal(await page.textContent('#status'), 'Connected');

  // Enter in the input sends too.
  await page.fill('#message', 'websocket', { timeout: 8000 });
  await page.press('#message', 'Enter', { timeout: 8000 });
  await replyIs(page, 'WEBSOCKET!!!');

  // The layout fits a phone-sized window: nothing scrolls sideways.
  const overflow = await page.evaluate(() => {
    const root = (globalThis as any).document.documentElement; // eslint-disable-line @typescript-eslint/no-explicit-any
    return root.scrollWidth - root.clientWidth;
  });
  assert.equal(overflow, 0);

  await page.fill('#message', 'hello', { timeout: 8000 });
  await page.click('#send', { timeout: 8000 });
  await replyIs(page, 'HELLO!!!');
  await page.locator('#message').blur({ timeout: 8000 });
  mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
  await page.screenshot({ path: path.join(ROOT, 'docs/demo.png'), timeout: 8000 });
  assert.deepEqual(problems, [], 'no console errors (e.g. CSP violations)');
});
