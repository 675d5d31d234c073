// Interoperability with a real browser: headless Debian Chromium's own `WebSocket` (driven by
// playwright-core) against our WebSocketServer, over loopback. A node:http server on 127.0.0.1
// serves a tiny page and hosts the WebSocketServer on the same port; the page script defines
// `globalThis.fd.*` scenario functions that the tests call through page.evaluate.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { WebSocket, WebSocketServer } from '../src/index.ts';
import { chromiumMissing, chromiumProblem, launchChromium } from './helpers/chromium.ts';
import { type CloseInfo, Queue, type Received, sha256, toBuffer, withTimeout as waitFor } from './helpers/interop.ts';

/** Browser round trips get the longer WAIT_MS of this file. */
function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  return waitFor(promise, what, WAIT_MS);
}

const HOST = '127.0.0.1';
const MAX_PAYLOAD = 64 * 1024 * 1024;
const BIG = 10 * 1024 * 1024;
const WAIT_MS = 20_000;
const TEST_OPTS = { timeout: 40_000 };
const SERVER_CLOSE_REASON = 'server bye — ✓';


// ---------------------------------------------------------------------------------------------
// the page

/** Runs in the browser. Every wait has its own timeout; results are plain JSON. */
const PAGE_SCRIPT = String.raw`
'use strict';
const WAIT_MS = 15000;

function timeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('page timed out waiting for ' + what)), WAIT_MS); }),
  ]).finally(() => clearTimeout(timer));
}

function connect(path, protocols, binaryType) {
  const url = 'ws://' + location.host + path;
  const ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols);
  if (binaryType) ws.binaryType = binaryType;
  const queue = [];
  const waiters = [];
  ws.onmessage = (e) => { const w = waiters.shift(); if (w) w(e.data); else queue.push(e.data); };
  const closed = new Promise((resolve) => {
    ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }));
  });
  const conn = {
    ws,
    closed: () => timeout(closed, 'close'),
    next: () => queue.length ? Promise.resolve(queue.shift()) : timeout(new Promise((r) => waiters.push(r)), 'message'),
  };
  return timeout(new Promise((resolve, reject) => {
    ws.onopen = () => resolve(conn);
    ws.onerror = () => reject(new Error('WebSocket error before open: ' + url));
  }), 'open');
}

async function describeData(data) {
  if (typeof data === 'string') return { kind: 'text', text: data };
  if (data instanceof ArrayBuffer) return { kind: 'arraybuffer', bytes: Array.from(new Uint8Array(data)) };
  if (data instanceof Blob) return { kind: 'blob', size: data.size, bytes: Array.from(new Uint8Array(await data.arrayBuffer())) };
  return { kind: 'unknown:' + Object.prototype.toString.call(data) };
}

async function hex(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function randomBytes(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

function asSendable(bytes, sendAs) {
  if (sendAs === 'arraybuffer') return bytes.slice().buffer;
  if (sendAs === 'view') { const padded = new Uint8Array(bytes.length + 8); padded.set(bytes, 4); return padded.subarray(4, 4 + bytes.length); }
  if (sendAs === 'blob') return new Blob([bytes]);
  throw new Error('unknown sendAs ' + sendAs);
}

async function finish(conn) {
  conn.ws.close(1000, 'done');
  return conn.closed();
}

globalThis.fd = {
  async text(path, texts) {
    const conn = await connect(path);
    const echoes = [];
    for (const t of texts) { conn.ws.send(t); echoes.push(await describeData(await conn.next())); }
    return { echoes, close: await finish(conn) };
  },

  async binary(path, binaryType, sendAs, payloads) {
    const conn = await connect(path, undefined, binaryType);
    const echoes = [];
    for (const p of payloads) {
      conn.ws.send(asSendable(new Uint8Array(p), sendAs));
      echoes.push(await describeData(await conn.next()));
    }
    return { binaryType: conn.ws.binaryType, echoes, close: await finish(conn) };
  },

  async subprotocol(path, protocols) {
    const conn = await connect(path, protocols);
    const protocol = conn.ws.protocol;
    conn.ws.send('with protocol');
    const echo = await describeData(await conn.next());
    return { protocol, echo, close: await finish(conn) };
  },

  async clientClose(path, code, reason) {
    const conn = await connect(path);
    conn.ws.close(code, reason);
    return conn.closed();
  },

  async serverClose(path) {
    const conn = await connect(path);
    return conn.closed();
  },

  async big(path, size, binaryType, sendAs) {
    const conn = await connect(path, undefined, binaryType);
    const bytes = randomBytes(size);
    const sentHash = await hex(bytes);
    conn.ws.send(asSendable(bytes, sendAs));
    const data = await conn.next();
    const kind = data instanceof Blob ? 'blob' : data instanceof ArrayBuffer ? 'arraybuffer' : typeof data;
    const buffer = data instanceof Blob ? await data.arrayBuffer() : data;
    return { sentHash, kind, echoSize: buffer.byteLength, echoHash: await hex(buffer), close: await finish(conn) };
  },

  async bigText(path, repeat) {
    const conn = await connect(path);
    const text = 'aé你🚀'.repeat(repeat);
    const sentHash = await hex(new TextEncoder().encode(text));
    conn.ws.send(text);
    const data = await conn.next();
    const bytes = new TextEncoder().encode(data);
    return { sentHash, kind: typeof data, echoBytes: bytes.length, echoHash: await hex(bytes), close: await finish(conn) };
  },
};
`;

const PAGE_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>fullduplex interop</title></head>
<body><script>${PAGE_SCRIPT}</script></body></html>`;

// ---------------------------------------------------------------------------------------------
// node side

interface PageClose {
  code: number;
  reason: string;
  wasClean: boolean;
}

type Socket = InstanceType<typeof WebSocket>;

/** The server side of one browser connection, recording from the moment it exists. */
class ServerSide {
  readonly messages = new Queue<Received>(WAIT_MS);
  readonly closed: Promise<CloseInfo>;

  constructor(
    readonly ws: Socket,
    readonly req: IncomingMessage,
    readonly offered: string[],
  ) {
    ws.on('message', (data: unknown, isBinary: boolean) => this.messages.push({ data: toBuffer(data), isBinary }));
    ws.on('error', () => {}); // surfaced through 'close' and the assertions
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: toBuffer(reason).toString('utf8') }));
    });
  }

  waitClosed(): Promise<CloseInfo> {
    return withTimeout(this.closed, 'server-side close');
  }
}

const TEXTS = ['hello', '', 'ünïcödé — 你好 — 🚀', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65_536)];

function binaryPayloads(): number[][] {
  const all = Array.from({ length: 256 }, (_, i) => i);
  const pseudo = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 131 + seed * 7 + (i >> 8)) & 0xff);
  return [all, [], pseudo(125, 1), pseudo(126, 2), pseudo(65_536, 3)];
}

describe('chromium WebSocket <-> our server', () => {
  let http: Server | undefined;
  let wss: InstanceType<typeof WebSocketServer> | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const connections = new Queue<ServerSide>(WAIT_MS);
  const sockets = new Set<Socket>();

  before(async () => {
    if (chromiumProblem() !== null) return;
    const server = createServer((req, res) => {
      if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(PAGE_HTML);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
      }
    });
    http = server;
    const offered = new WeakMap<IncomingMessage, string[]>();
    wss = new WebSocketServer({
      server,
      maxPayload: MAX_PAYLOAD,
      handleProtocols: (protocols: Set<string>, req: IncomingMessage) => {
        offered.set(req, [...protocols]);
        return protocols.has('superchat') ? 'superchat' : false;
      },
    });
    wss.on('connection', (ws: Socket, req: IncomingMessage) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      const side = new ServerSide(ws, req, offered.get(req) ?? []);
      if (new URL(req.url ?? '/', `http://${HOST}`).pathname === '/server-close') {
        ws.close(4002, SERVER_CLOSE_REASON);
      } else {
        ws.on('message', (data: unknown, isBinary: boolean) => {
          if (ws.readyState === ws.OPEN) ws.send(toBuffer(data), { binary: isBinary });
        });
      }
      connections.push(side);
    });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, HOST, () => resolve());
      }),
      'http server listening',
    );
    const { port } = server.address() as AddressInfo;
    browser = await launchChromium();
    page = await browser.newPage();
    page.setDefaultTimeout(WAIT_MS);
    await page.goto(`http://${HOST}:${port}/`);
    await page.waitForFunction(() => typeof (globalThis as { fd?: unknown }).fd === 'object');
  });

  after(async () => {
    if (browser) await withTimeout(browser.close(), 'browser close').catch(() => {});
    for (const ws of sockets) ws.terminate();
    const w = wss;
    if (w) await withTimeout(new Promise<void>((resolve) => w.close(() => resolve())), 'websocket server close');
    const h = http;
    if (h) {
      h.closeAllConnections();
      await withTimeout(new Promise<void>((resolve) => h.close(() => resolve())), 'http server close');
    }
  });

  /** Calls globalThis.fd[name](...args) in the page. */
  function inPage<T>(name: string, ...args: unknown[]): Promise<T> {
    const p = page as Page;
    return withTimeout(
      p.evaluate(
        ([fn, fnArgs]) => (globalThis as any).fd[fn as string](...(fnArgs as unknown[])),
        [name, args] as const,
      ) as Promise<T>,
      `page scenario ${name}`,
    );
  }

  let nextId = 0;

  /** A fresh path, and a way to get the server side of the connection the page makes to it. */
  function endpoint(pathname: string): { path: string; serverSide: () => Promise<ServerSide> } {
    const path = `${pathname}?id=${nextId++}`;
    return { path, serverSide: () => connections.take(`server connection for ${path}`, (c) => c.req.url === path) };
  }

  function assertCleanNormalClose(close: PageClose): void {
    assert.deepEqual(close, { code: 1000, reason: 'done', wasClean: true });
  }

  test('text messages round-trip as text', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const e = endpoint('/echo');
    const result = await inPage<{ echoes: Array<{ kind: string; text: string }>; close: PageClose }>('text', e.path, TEXTS);
    const side = await e.serverSide();
    for (const text of TEXTS) {
      const m = await side.messages.take('text at the server');
      assert.equal(m.isBinary, false);
      assert.equal(m.data.toString('utf8'), text);
    }
    assert.deepEqual(
      result.echoes,
      TEXTS.map((text) => ({ kind: 'text', text })),
    );
    assertCleanNormalClose(result.close);
    assert.deepEqual(await side.waitClosed(), { code: 1000, reason: 'done' });
  });

  const binaryCases = [
    { binaryType: 'arraybuffer', sendAs: 'arraybuffer', kind: 'arraybuffer' },
    { binaryType: 'arraybuffer', sendAs: 'view', kind: 'arraybuffer' },
    { binaryType: 'blob', sendAs: 'blob', kind: 'blob' },
    { binaryType: undefined, sendAs: 'arraybuffer', kind: 'blob' }, // the default binaryType is 'blob'
  ] as const;

  for (const c of binaryCases) {
    test(`binary messages round-trip (binaryType ${c.binaryType ?? 'default'}, sent as ${c.sendAs})`, TEST_OPTS, async (t) => {
      if (chromiumMissing(t)) return;
      const payloads = binaryPayloads();
      const e = endpoint('/echo');
      const result = await inPage<{
        binaryType: string;
        echoes: Array<{ kind: string; bytes: number[]; size?: number }>;
        close: PageClose;
      }>('binary', e.path, c.binaryType, c.sendAs, payloads);
      const side = await e.serverSide();
      assert.equal(result.binaryType, c.binaryType ?? 'blob');
      for (const p of payloads) {
        const m = await side.messages.take('binary at the server');
        assert.equal(m.isBinary, true);
        assert.ok(m.data.equals(Buffer.from(p)), `server received ${m.data.length} bytes, expected ${p.length}`);
      }
      assert.equal(result.echoes.length, payloads.length);
      result.echoes.forEach((echo, i) => {
        assert.equal(echo.kind, c.kind);
        if (c.kind === 'blob') assert.equal(echo.size, payloads[i].length);
        assert.deepEqual(echo.bytes, payloads[i]);
      });
      assertCleanNormalClose(result.close);
      assert.deepEqual(await side.waitClosed(), { code: 1000, reason: 'done' });
    });
  }

  test('subprotocol: server selects one of the offered protocols', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const e = endpoint('/echo');
    const result = await inPage<{ protocol: string; echo: { kind: string; text: string }; close: PageClose }>(
      'subprotocol',
      e.path,
      ['chat', 'superchat'],
    );
    const side = await e.serverSide();
    assert.deepEqual(side.offered, ['chat', 'superchat']);
    assert.equal(side.ws.protocol, 'superchat');
    assert.equal(result.protocol, 'superchat');
    assert.deepEqual(result.echo, { kind: 'text', text: 'with protocol' });
    assertCleanNormalClose(result.close);
  });

  test('close initiated by the browser carries code and reason', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const reason = 'browser bye — ✓';
    const e = endpoint('/echo');
    const close = await inPage<PageClose>('clientClose', e.path, 4001, reason);
    const side = await e.serverSide();
    assert.deepEqual(await side.waitClosed(), { code: 4001, reason });
    assert.deepEqual(close, { code: 4001, reason, wasClean: true });
  });

  test('close initiated by the server carries code and reason', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const e = endpoint('/server-close');
    const close = await inPage<PageClose>('serverClose', e.path);
    const side = await e.serverSide();
    assert.deepEqual(close, { code: 4002, reason: SERVER_CLOSE_REASON, wasClean: true });
    assert.deepEqual(await side.waitClosed(), { code: 4002, reason: SERVER_CLOSE_REASON });
  });

  const bigCases = [
    { binaryType: 'arraybuffer', sendAs: 'arraybuffer', kind: 'arraybuffer' },
    { binaryType: 'blob', sendAs: 'blob', kind: 'blob' },
  ] as const;

  for (const c of bigCases) {
    test(`a 10 MiB binary message round-trips intact (binaryType ${c.binaryType})`, TEST_OPTS, async (t) => {
      if (chromiumMissing(t)) return;
      const e = endpoint('/echo');
      const result = await inPage<{ sentHash: string; kind: string; echoSize: number; echoHash: string; close: PageClose }>(
        'big',
        e.path,
        BIG,
        c.binaryType,
        c.sendAs,
      );
      const side = await e.serverSide();
      const m = await side.messages.take('10 MiB at the server');
      assert.equal(m.isBinary, true);
      assert.equal(m.data.length, BIG);
      assert.equal(sha256(m.data), result.sentHash, 'server received what the page sent');
      assert.equal(result.kind, c.kind);
      assert.equal(result.echoSize, BIG);
      assert.equal(result.echoHash, result.sentHash, 'page received what it sent');
      assertCleanNormalClose(result.close);
    });
  }

  test('a 10 MiB text message round-trips intact', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const e = endpoint('/echo');
    const result = await inPage<{ sentHash: string; kind: string; echoBytes: number; echoHash: string; close: PageClose }>(
      'bigText',
      e.path,
      BIG / 10,
    );
    const side = await e.serverSide();
    const m = await side.messages.take('10 MiB text at the server');
    assert.equal(m.isBinary, false);
    assert.equal(m.data.length, BIG);
    assert.equal(sha256(m.data), result.sentHash);
    assert.equal(result.kind, 'string');
    assert.equal(result.echoBytes, BIG);
    assert.equal(result.echoHash, result.sentHash);
    assertCleanNormalClose(result.close);
  });
});
