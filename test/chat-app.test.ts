/**
 * `npm start` (node dist/demo/server.js; run `npm run build` first): the chat app's process and
 * HTTP side: the line it prints, PORT checks, the page and its files under a strict CSP, the
 * browser client served by our realtime Server, 404 and 405.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Child, ROOT, within } from './fixtures/harness.js';

let app: Child | undefined;
let base = '';

before(async () => {
  app = new Child(['dist/demo/server.js'], { env: { PORT: '0', HOST: '127.0.0.1' } });
  const [, url] = await app.line(/^Demo on (http:\/\/127\.0\.0\.1:\d+)$/);
  base = url!;
});

after(async () => {
  await app?.kill();
});

async function get(pathname: string, init?: RequestInit): Promise<{ res: Response; body: string }> {
  const res = await within(fetch(`${base}${pathname}`, init), `${init?.method ?? 'GET'} ${pathname}`);
  return { res, body: await within(res.text(), `the body of ${pathname}`) };
}

test('GET / is the chat page: no inline script or style, everything same-origin under a strict CSP', async () => {
  const { res, body } = await get('/');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  assert.match(csp, /connect-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-(inline|eval)/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');

  assert.match(body, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
  assert.deepEqual([...body.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]), [
    '<script src="/socket.io/socket.io.js" defer>',
    '<script src="/chat.js" defer>',
  ]);
  assert.ok(![...body.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].some((m) => m[1]!.trim() !== ''), 'no inline script');
  assert.doesNotMatch(body, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or handler');
  for (const id of ['login', 'nick', 'state', 'rooms', 'members', 'messages', 'typing', 'composer', 'text']) {
    assert.match(body, new RegExp(`id="${id}"`), id);
  }
  const head = await within(fetch(`${base}/`, { method: 'HEAD' }), 'HEAD /');
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(body)));
  assert.equal(await head.text(), '');
});

test('the page script and style; the script never writes HTML', async () => {
  const js = await get('/chat.js');
  assert.equal(js.res.status, 200);
  assert.equal(js.res.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.doesNotMatch(js.body, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  assert.match(js.body, /textContent/);
  const css = await get('/chat.css');
  assert.equal(css.res.status, 200);
  assert.equal(css.res.headers.get('content-type'), 'text/css; charset=utf-8');
  assert.match(css.body, /@media \(max-width: 640px\)/);
});

test('/socket.io/socket.io.js is our browser client, served by our realtime Server', async () => {
  const { res, body } = await get('/socket.io/socket.io.js');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /javascript/);
  assert.equal(body, readFileSync(path.join(ROOT, 'dist/browser/socket.io.js'), 'utf8'));
});

test('other paths are 404, other methods 405', async () => {
  for (const p of ['/nope', '/chat.js/', '/public/chat.js', '/../package.json', '/%2e%2e/package.json', '/src/demo/app.ts', '/index.htm']) {
    const { res } = await get(p);
    assert.equal(res.status, 404, p);
  }
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const { res } = await get('/', { method });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
  }
});

test('PORT is checked; a busy port is a clear error; SIGTERM stops the app', async () => {
  const bad = new Child(['dist/demo/server.js'], { env: { PORT: '80a' } });
  assert.equal((await bad.exit()).code, 2);
  assert.match(bad.stderr, /PORT must be an integer from 0 to 65535, got '80a'/);

  const taken = net.createServer();
  await within(new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve)), 'a port to occupy');
  try {
    const port = (taken.address() as net.AddressInfo).port;
    const busy = new Child(['dist/demo/server.js'], { env: { PORT: String(port), HOST: '127.0.0.1' } });
    assert.equal((await busy.exit()).code, 1);
    assert.match(busy.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  } finally {
    taken.close();
  }

  const second = new Child(['dist/demo/server.js'], { env: { PORT: '0', HOST: '127.0.0.1' } });
  await second.line(/^Demo on http:\/\/127\.0\.0\.1:\d+$/);
  second.proc.kill('SIGTERM');
  assert.deepEqual(await second.exit(), { code: 0, signal: null });
});
