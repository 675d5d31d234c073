/**
 * The browser bundle of our Socket.IO client (scripts/build-client.mjs -> dist/browser/) and its
 * serving by our Server at /socket.io/socket.io.js (src/realtime/serve-client.ts): the HTTP
 * side, then headless Chromium loading the bundle as a classic script and as an ES module,
 * against our Server and against the real `socket.io` 4.8 server. Loopback only.
 *
 * The bundle is built before the tests when dist/browser/ lacks it or it is older than its sources
 * (`npm test` builds it anyway).
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { Server as SioServer } from 'socket.io';
import { Server, type ServerOptions } from '../src/realtime/index.js';
import { attachServeClient, BUNDLE_DIR } from '../src/realtime/serve-client.js';
import { chromiumMissing, chromiumProblem, launchChromium } from './helpers/chromium.js';
import { within } from './helpers/realtime-harness.js';

const BUNDLE = new URL('socket.io.js', BUNDLE_DIR);
const ESM_BUNDLE = new URL('socket.io.esm.min.js', BUNDLE_DIR);
const PAGE_WAIT_MS = 20_000;

/** Whether `bundle` is missing, or older than a source its map names (one that still exists). */
async function stale(bundle: URL): Promise<boolean> {
  const map = new URL(`${bundle.href}.map`);
  if (!existsSync(bundle) || !existsSync(map)) return true;
  const built = statSync(bundle).mtimeMs;
  const { sources } = JSON.parse(await readFile(map, 'utf8')) as { sources: string[] };
  return sources.some((src) => {
    const file = new URL(src, map);
    return existsSync(file) && statSync(file).mtimeMs > built;
  });
}

before(async () => {
  if (!(await stale(BUNDLE)) && !(await stale(ESM_BUNDLE))) return;
  const { buildClient } = (await import('../scripts/build-client.mjs')) as { buildClient(): Promise<string[]> };
  await within(buildClient(), 'the client bundle build', 60_000);
});

// ---------------------------------------------------------------------------------------------
// servers

interface Started {
  http: HttpServer;
  origin: string;
  close(): Promise<void>;
}

/** The app's own 'request' listener: the test pages, `/fd/*` from dist/browser, 404 'app' otherwise. */
function app(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '').split('?')[0]!;
  const page = PAGES[path];
  if (page !== undefined) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page);
  } else if (path.startsWith('/fd/') && /^[\w.]+$/.test(path.slice(4))) {
    readFile(new URL(path.slice(4), BUNDLE_DIR)).then(
      (body) => res.writeHead(200, { 'Content-Type': 'application/javascript' }).end(body),
      () => res.writeHead(404).end('no such bundle file'),
    );
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('app');
  }
}

/** An http server with the app listener, then `attach` (our Server or socket.io), on 127.0.0.1. */
async function start(attach: (http: HttpServer) => { close(cb: () => void): unknown }): Promise<Started & { io: any }> {
  const http = createServer(app);
  const io = attach(http);
  await within(new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve)), 'listening');
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    http,
    io,
    origin,
    async close() {
      http.closeAllConnections();
      await within(new Promise<void>((resolve) => io.close(() => resolve())), 'server close');
    },
  };
}

const startOurs = (options: ServerOptions = {}) => start((http) => new Server(http, options));

interface Fetched {
  status: number;
  headers: Headers;
  body: string;
}

async function get(url: string, init: RequestInit = {}): Promise<Fetched> {
  const res = await within(fetch(url, init), `GET ${url}`);
  return { status: res.status, headers: res.headers, body: await within(res.text(), `body of ${url}`) };
}

// ---------------------------------------------------------------------------------------------
// HTTP

describe('serving the client bundle', () => {
  test('the bundles and maps are served with their content types, ETag and Cache-Control', async () => {
    const s = await startOurs();
    try {
      const onDisk = await readFile(BUNDLE, 'utf8');
      const js = await get(`${s.origin}/socket.io/socket.io.js`);
      assert.equal(js.status, 200);
      assert.equal(js.headers.get('content-type'), 'application/javascript; charset=utf-8');
      assert.equal(js.headers.get('cache-control'), 'public, max-age=0');
      assert.match(js.headers.get('etag') ?? '', /^"[\w-]+"$/);
      assert.equal(js.body, onDisk);
      assert.match(js.body, /\/\/# sourceMappingURL=socket\.io\.js\.map\s*$/);

      const min = await get(`${s.origin}/socket.io/socket.io.min.js?v=4`);
      assert.equal(min.status, 200);
      assert.equal(min.body, onDisk);
      assert.equal(min.headers.get('etag'), js.headers.get('etag'));

      const esm = await get(`${s.origin}/socket.io/socket.io.esm.min.js`);
      assert.equal(esm.status, 200);
      assert.equal(esm.headers.get('content-type'), 'application/javascript; charset=utf-8');
      assert.equal(esm.body, await readFile(ESM_BUNDLE, 'utf8'));
      assert.notEqual(esm.headers.get('etag'), js.headers.get('etag'));

      for (const name of ['socket.io.js.map', 'socket.io.min.js.map', 'socket.io.esm.min.js.map']) {
        const map = await get(`${s.origin}/socket.io/${name}`);
        assert.equal(map.status, 200, name);
        assert.equal(map.headers.get('content-type'), 'application/json; charset=utf-8', name);
        const parsed = JSON.parse(map.body) as { version: number; sources: string[]; sourcesContent: string[]; mappings: string };
        assert.equal(parsed.version, 3);
        for (const src of ['client/engine.ts', 'client/manager.ts', 'client/socket.ts', 'parser.ts', 'engine/packet.ts', 'platform.browser.ts']) {
          assert.ok(parsed.sources.includes(`../../src/realtime/${src}`), `${name} names ${src}: ${parsed.sources.join(', ')}`);
        }
        assert.ok(!parsed.sources.some((f) => /platform\.ts$|src\/(node|web)\//.test(f)), `${name} has no Node module`);
        assert.equal(parsed.sourcesContent.length, parsed.sources.length);
        assert.ok(parsed.mappings.length > 0);
      }

      const head = await within(fetch(`${s.origin}/socket.io/socket.io.js`, { method: 'HEAD' }), 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(onDisk)));
      assert.equal(await head.text(), '');
    } finally {
      await s.close();
    }
  });

  test('If-None-Match with the current ETag gets 304, a stale one the file', async () => {
    const s = await startOurs();
    try {
      const url = `${s.origin}/socket.io/socket.io.js`;
      const etag = (await get(url)).headers.get('etag')!;
      for (const header of [etag, `W/${etag}`, `"stale", ${etag}`, '*']) {
        const res = await get(url, { headers: { 'If-None-Match': header } });
        assert.equal(res.status, 304, header);
        assert.equal(res.body, '');
        assert.equal(res.headers.get('etag'), etag);
        assert.equal(res.headers.get('cache-control'), 'public, max-age=0');
      }
      const stale = await get(url, { headers: { 'If-None-Match': '"stale"' } });
      assert.equal(stale.status, 200);
      assert.ok(stale.body.length > 1000);
    } finally {
      await s.close();
    }
  });

  test('Engine.IO and the app\'s own listener keep working beside the bundle', async () => {
    const s = await startOurs();
    try {
      const handshake = await get(`${s.origin}/socket.io/?EIO=4&transport=polling`);
      assert.equal(handshake.status, 200);
      assert.match(handshake.body, /^0\{"sid":"[^"]+"/);
      const noSlash = await get(`${s.origin}/socket.io?EIO=4&transport=polling`);
      assert.match(noSlash.body, /^0\{"sid":/);
      assert.equal((await get(`${s.origin}/page/classic`)).status, 200);
      for (const path of ['/socket.io/other.js', '/socket.io/socket.io.jsx', '/other/socket.io.js', '/socket.io.js']) {
        const res = await get(s.origin + path);
        assert.deepEqual([res.status, res.body], [404, 'app'], path);
      }
      const post = await get(`${s.origin}/socket.io/socket.io.js`, { method: 'POST', body: 'x' });
      assert.deepEqual([post.status, post.body], [404, 'app'], 'only GET and HEAD are served');
    } finally {
      await s.close();
    }
  });

  test('serveClient: false, or serveClient(false) before attaching, leaves the path to the app', async () => {
    const off = await startOurs({ serveClient: false });
    try {
      assert.equal(off.io.serveClient(), false);
      const res = await get(`${off.origin}/socket.io/socket.io.js`);
      assert.deepEqual([res.status, res.body], [404, 'app']);
      assert.match((await get(`${off.origin}/socket.io/?EIO=4&transport=polling`)).body, /^0\{"sid":/);
    } finally {
      await off.close();
    }
    const later = await start((http) => new Server().serveClient(false).attach(http));
    try {
      assert.equal((await get(`${later.origin}/socket.io/socket.io.js`)).body, 'app');
    } finally {
      await later.close();
    }
  });

  test('the bundle follows a custom path', async () => {
    const s = await startOurs({ path: '/rt/' });
    try {
      assert.equal((await get(`${s.origin}/rt/socket.io.js`)).status, 200);
      assert.equal((await get(`${s.origin}/socket.io/socket.io.js`)).body, 'app');
      assert.match((await get(`${s.origin}/rt/?EIO=4&transport=polling`)).body, /^0\{"sid":/);
    } finally {
      await s.close();
    }
  });

  /** Listens on 127.0.0.1; returns the origin and a close function. */
  async function listen(http: HttpServer): Promise<{ origin: string; close(): Promise<void> }> {
    await within(new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve)), 'listening');
    return {
      origin: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
      async close() {
        http.closeAllConnections();
        await within(new Promise((resolve) => http.close(resolve)), 'http close');
      },
    };
  }

  test('a bundle that is not built: the app\'s own listeners answer, or with none a 404 saying to build it', async () => {
    const dir = pathToFileURL((await mkdtemp(join(tmpdir(), 'fd-no-bundle-'))) + '/');
    const bare = createServer();
    attachServeClient(bare, '/socket.io', dir);
    const withApp = createServer((_req, res) => res.end('the app\'s own copy'));
    attachServeClient(withApp, '/socket.io', dir);
    const [a, b] = [await listen(bare), await listen(withApp)];
    try {
      const res = await get(`${a.origin}/socket.io/socket.io.js`);
      assert.equal(res.status, 404);
      assert.match(res.body, /not built; run `npm run build`/);
      const own = await get(`${b.origin}/socket.io/socket.io.js`);
      assert.deepEqual([own.status, own.body], [200, 'the app\'s own copy']);
    } finally {
      await a.close();
      await b.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a request listener added after attaching answers first: the bundle is not written over it, nothing throws', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fd-bundle-'));
    await writeFile(join(dir, 'socket.io.js'), 'window.io = {};');
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const http = createServer();
    attachServeClient(http, '/socket.io', pathToFileURL(dir + '/'));
    // An app's 404 added later (Express's final handler, say): Node calls it at once.
    http.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (req.headers['x-late'] === 'yes') res.writeHead(404).end('late');
    });
    const s = await listen(http);
    try {
      const late = await get(`${s.origin}/socket.io/socket.io.js`, { headers: { 'x-late': 'yes' } });
      assert.deepEqual([late.status, late.body], [404, 'late']);
      // Both requests wait on the same read of the file, in order: once the second is answered,
      // the first one's turn has come and gone.
      const served = await get(`${s.origin}/socket.io/socket.io.js`);
      assert.deepEqual([served.status, served.body], [200, 'window.io = {};']);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the bundles themselves', () => {
  test('no Node globals; the classic script sets a global io shaped like socket.io-client\'s', async () => {
    const code = await readFile(BUNDLE, 'utf8');
    const esm = await readFile(ESM_BUNDLE, 'utf8');
    for (const [name, text] of [['socket.io.js', code], ['socket.io.esm.min.js', esm]] as const) {
      assert.doesNotMatch(text, /\bBuffer\b|\bprocess\.|\brequire\(|node:/, name);
    }
    const sandbox: Record<string, any> = {};
    runInNewContext(code, sandbox, { timeout: 5000 });
    const io = sandbox.io;
    assert.equal(typeof io, 'function');
    assert.equal(io.io, io);
    assert.equal(io.connect, io);
    assert.equal(typeof io.Manager, 'function');
    assert.equal(typeof io.Socket, 'function');
  });

  test('the ES module exports io (also default), connect, Manager and Socket', async () => {
    const mod = await import(ESM_BUNDLE.href);
    assert.equal(typeof mod.io, 'function');
    assert.equal(mod.default, mod.io);
    assert.equal(mod.connect, mod.io);
    assert.equal(typeof mod.Manager, 'function');
    assert.equal(typeof mod.Socket, 'function');
  });
});

// ---------------------------------------------------------------------------------------------
// the browser

/** Runs in the page: `fd.run(lookup name, transports)` does the whole scenario, every wait bounded. */
const PAGE_SCRIPT = String.raw`
'use strict';
const WAIT_MS = 10000;
function within(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('page timed out waiting for ' + what)), WAIT_MS); }),
  ]).finally(() => clearTimeout(timer));
}
function next(emitter, ev) {
  return within(new Promise((resolve) => emitter.once(ev, (...args) => resolve(args))), '"' + ev + '"');
}
function describeValue(v) {
  if (v instanceof ArrayBuffer) return { ArrayBuffer: Array.from(new Uint8Array(v)) };
  if (ArrayBuffer.isView(v)) return { view: Object.prototype.toString.call(v) };
  if (Array.isArray(v)) return v.map(describeValue);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, describeValue(x)]));
  return v;
}
function connected(socket) {
  return within(new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  }), 'connect');
}
window.fd = {
  shape() {
    return { io: typeof io, self: io.io === io, connect: io.connect === io, Manager: typeof io.Manager, Socket: typeof io.Socket };
  },
  async run(lookupName, transports) {
    const lookup = lookupName === 'esm' ? window.esm.io : window.io;
    const opts = { forceNew: true, reconnection: false, ...(transports ? { transports } : {}) };
    const a = lookup(opts);
    const b = lookup(opts);
    try {
      await Promise.all([connected(a), connected(b)]);
      if (!transports && a.io.engine.transport !== 'websocket') await next(a.io.engine, 'upgrade');
      const ack = await within(new Promise((resolve) => a.emit('echo', 'hi', { n: [1, 2] }, (...r) => resolve(r))), 'the ack');
      const news = next(a, 'news');
      a.emit('poke', 'me');
      const newsArgs = await news;
      const heard = Promise.all([next(a, 'all'), next(b, 'all')]);
      b.emit('shout', 'everyone');
      const bytes = new Uint8Array([0, 1, 2, 254, 255]);
      const reply = await within(
        new Promise((resolve) => a.emit('binary', bytes.buffer, { nested: bytes.subarray(1, 3) }, (...r) => resolve(r))),
        'the binary ack',
      );
      return { transport: a.io.engine.transport, ack, news: newsArgs, heard: await heard, reply: describeValue(reply) };
    } finally {
      a.disconnect();
      b.disconnect();
    }
  },
};
`;

const PAGES: Record<string, string> = {
  '/page/classic': `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script src="/socket.io/socket.io.js"></script><script>${PAGE_SCRIPT}</script>`,
  '/page/esm': `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script>${PAGE_SCRIPT}</script>
<script type="module">import io, { io as named, connect, Manager, Socket } from '/socket.io/socket.io.esm.min.js';
window.esm = { io, same: io === named && io === connect, Manager: typeof Manager, Socket: typeof Socket };</script>`,
  '/page/sio': `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script src="/fd/socket.io.js"></script><script>${PAGE_SCRIPT}</script>`,
};

/** What the server side saw of the binary event. */
interface BinarySeen {
  isBuffer: boolean;
  bytes: number[];
  nestedIsBuffer: boolean;
  nested: number[];
}

/** The same handlers on our Server and on socket.io's. */
function handlers(io: any): BinarySeen[] {
  const seen: BinarySeen[] = [];
  io.on('connection', (s: any) => {
    s.on('echo', (...args: any[]) => args.pop()(...args));
    s.on('poke', (who: string) => s.emit('news', 'hello', who));
    s.on('shout', (msg: string) => io.emit('all', msg));
    s.on('binary', (buf: Buffer, obj: { nested: Buffer }, ack: (...r: unknown[]) => void) => {
      seen.push({ isBuffer: Buffer.isBuffer(buf), bytes: [...buf], nestedIsBuffer: Buffer.isBuffer(obj.nested), nested: [...obj.nested] });
      ack(Buffer.from(buf).reverse(), { inner: new Uint8Array([7, 8]) });
    });
  });
  return seen;
}

const EXPECTED = {
  ack: ['hi', { n: [1, 2] }],
  news: ['hello', 'me'],
  heard: [['everyone'], ['everyone']],
  reply: [{ ArrayBuffer: [255, 254, 2, 1, 0] }, { inner: { ArrayBuffer: [7, 8] } }],
};

let browser: Browser | undefined;

interface Opened {
  page: Page;
  /** URLs of the page's requests and WebSockets, and its errors. */
  requests: string[];
  websockets: string[];
  errors: string[];
}

async function open(url: string): Promise<Opened> {
  const page = await within(browser!.newPage(), 'a new page', PAGE_WAIT_MS);
  const opened: Opened = { page, requests: [], websockets: [], errors: [] };
  page.on('request', (r) => opened.requests.push(r.url()));
  page.on('websocket', (ws) => opened.websockets.push(ws.url()));
  page.on('pageerror', (err) => opened.errors.push(String(err)));
  page.on('response', (r) => {
    if (r.status() >= 400) opened.errors.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') opened.errors.push(m.text());
  });
  const res = await within(page.goto(url), `loading ${url}`, PAGE_WAIT_MS);
  assert.equal(res?.status(), 200);
  return opened;
}

type Transports = 'websocket' | 'polling' | 'default';

/** Runs the page scenario; checks what both sides saw and which transport carried it. */
async function scenario(o: Opened, seen: BinarySeen[], lookup: 'classic' | 'esm', transports: Transports): Promise<void> {
  const before = { requests: o.requests.length, websockets: o.websockets.length };
  const arg = transports === 'default' ? 'undefined' : JSON.stringify([transports]);
  const result = (await within(o.page.evaluate(`fd.run(${JSON.stringify(lookup)}, ${arg})`), `the ${transports} scenario`, PAGE_WAIT_MS)) as any;
  assert.equal(result.transport, transports === 'polling' ? 'polling' : 'websocket');
  assert.deepEqual({ ack: result.ack, news: result.news, heard: result.heard, reply: result.reply }, EXPECTED);
  assert.deepEqual(seen.splice(0), [{ isBuffer: true, bytes: [0, 1, 2, 254, 255], nestedIsBuffer: true, nested: [1, 2] }]);
  const polls = o.requests.slice(before.requests).filter((u) => u.includes('transport=polling'));
  const sockets = o.websockets.slice(before.websockets);
  if (transports === 'polling') {
    assert.equal(sockets.length, 0, 'no WebSocket with polling only');
    assert.ok(polls.length >= 2, 'requests of the polling transport');
  } else {
    assert.equal(sockets.length, 2, 'one WebSocket per client');
    assert.ok(sockets.every((u) => u.includes('transport=websocket')));
    if (transports === 'websocket') assert.equal(polls.length, 0, 'no polling with websocket only');
  }
  assert.deepEqual(o.errors, [], transports);
}

describe('the bundle in headless Chromium', () => {
  before(async () => {
    if (chromiumProblem() === null) browser = await within(launchChromium(), 'Chromium launch', 30_000);
  });
  after(async () => {
    await browser?.close();
  });

  test('classic script from our Server: io(), acks, events, broadcast, binary, over each transport', { timeout: 90_000 }, async (t) => {
    if (chromiumMissing(t)) return;
    const s = await startOurs();
    const seen = handlers(s.io);
    const o = await open(`${s.origin}/page/classic`);
    try {
      assert.deepEqual(await o.page.evaluate('fd.shape()'), { io: 'function', self: true, connect: true, Manager: 'function', Socket: 'function' });
      for (const transports of ['websocket', 'polling', 'default'] as const) await scenario(o, seen, 'classic', transports);
    } finally {
      await o.page.close();
      await s.close();
    }
  });

  test('ES module from our Server, over websocket and polling', { timeout: 60_000 }, async (t) => {
    if (chromiumMissing(t)) return;
    const s = await startOurs();
    const seen = handlers(s.io);
    const o = await open(`${s.origin}/page/esm`);
    try {
      const esm = await o.page.evaluate('({ same: esm.same, Manager: esm.Manager, Socket: esm.Socket, io: typeof esm.io })');
      assert.deepEqual(esm, { same: true, Manager: 'function', Socket: 'function', io: 'function' });
      assert.ok(o.requests.some((u) => u.endsWith('/socket.io/socket.io.esm.min.js')));
      await scenario(o, seen, 'esm', 'websocket');
      await scenario(o, seen, 'esm', 'polling');
    } finally {
      await o.page.close();
      await s.close();
    }
  });

  test('our bundle against the real socket.io server', { timeout: 60_000 }, async (t) => {
    if (chromiumMissing(t)) return;
    const s = await start((http) => new SioServer(http));
    const seen = handlers(s.io);
    const o = await open(`${s.origin}/page/sio`);
    try {
      await scenario(o, seen, 'classic', 'websocket');
      await scenario(o, seen, 'classic', 'polling');
      const scripts = o.requests.filter((u) => u.endsWith('.js'));
      assert.deepEqual(scripts, [`${s.origin}/fd/socket.io.js`], 'only our bundle was loaded');
    } finally {
      await o.page.close();
      await s.close();
    }
  });
});
