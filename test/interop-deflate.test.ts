// permessage-deflate (RFC 7692) against real peers, compression on, in both roles where the
// peer has both:
//   Chromium's WebSocket (it offers "permessage-deflate; client_max_window_bits") -> our server
//   Python websockets 10.4 client (compression on by default) -> our server
//   our client -> Python websockets server (its default answer limits both windows to 12 bits)
// `ws` both ways is in test/conformance-deflate.test.ts (groups A3 and B2).
//
// Every echo is compared byte for byte, and the TCP byte counts on our side show that both
// directions really were compressed (a 1 MiB compressible text crosses in well under half its size).
// A missing peer skips locally with how to install it; under CI=true it fails.

import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Browser, Page } from 'playwright-core';
import { WebSocket, WebSocketServer } from '../src/index.ts';
import { chromiumProblem, launchChromium } from './helpers/chromium.ts';
import { withTimeout } from './helpers/raw-peer.ts';
import { Collector, startServer, WAIT_MS } from './helpers/deflate-peers.ts';
import { compressibleBinary, compressibleText, randomBinary } from './helpers/deflate-wire.ts';
import { type PythonDeflateConfig, pythonProblem, runPythonClient, startPythonServer } from './helpers/deflate-python.ts';

const PD = 'permessage-deflate';
const KiB = 1024;
const MiB = 1024 * 1024;
const TEST_OPTS = { timeout: 60_000 };

/** Skips locally when a peer is missing; under CI=true a missing peer fails the test. */
function peerMissing(t: TestContext, problem: string | null, peer: string): boolean {
  if (problem === null) return false;
  if (process.env.CI === 'true') throw new Error(`${peer} missing under CI: ${problem}`);
  t.skip(problem);
  return true;
}

/** Parameters of a permessage-deflate element, order-free. */
function paramSet(element: string | null | undefined): string[] {
  assert.ok(element, 'a permessage-deflate element');
  const [name, ...rest] = element.split(';').map((s) => s.replace(/\s+/g, ''));
  assert.equal(name, PD);
  return rest.sort();
}

/**
 * Records, on the server side, the TCP byte counts at each message's arrival (before its echo
 * is sent): the reads between arrivals are what the peer sent; the writes between arrival k and
 * k+1 are our echo of message k (the peers below wait for each echo before sending on).
 */
function countBytesPerMessage(ws: { on(e: string, l: (...a: any[]) => void): unknown }, socket: NetSocket) {
  const arrivals: Array<{ read: number; written: number }> = [{ read: socket.bytesRead, written: socket.bytesWritten }];
  ws.on('message', () => arrivals.push({ read: socket.bytesRead, written: socket.bytesWritten }));
  return {
    /** Bytes the peer put on the wire up to and including message k (1-based). */
    readUpTo: (k: number) => arrivals[k]!.read - arrivals[0]!.read,
    /** Bytes of our echo of message k, on the wire. */
    echoBytes: (k: number) => arrivals[k + 1]!.written - arrivals[k]!.written,
  };
}

// ---------------------------------------------------------------------------------------------
// Chromium -> our server

const browserProblem = chromiumProblem();

/** Runs in the page: one connection, a 1 MiB compressible text, binary messages, small ones; results as JSON. */
const PAGE_SCRIPT = String.raw`
'use strict';
const WAIT_MS = 20000;
function timeout(p, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error('page timed out waiting for ' + what)), WAIT_MS); })]).finally(() => clearTimeout(t));
}
function text(size, seed) {
  const words = ['alpha', 'beta', 'gamma', 'δέλτα', '你好', 'zeta', 'ünïcödé', '🚀'];
  let s = '', i = seed;
  while (s.length < size) { i = (i * 1103515245 + 12345) & 0x7fffffff; s += '{"id":' + (i % 100000) + ',"w":"' + words[i % words.length] + '"},\n'; }
  // Cut to exactly 'size' UTF-8 bytes, then pad with ASCII.
  let bytes = new TextEncoder().encode(s).subarray(0, size);
  let cut = bytes.length;
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--;
  const out = new TextDecoder().decode(bytes.subarray(0, cut));
  return out + ' '.repeat(size - new TextEncoder().encode(out).length);
}
function randomBytes(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}
function gradient(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = ((i & 0xff) + ((i >> 8) & 0x0f)) & 0xff;
  return out;
}
function same(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
globalThis.deflateRun = async (path) => {
  const ws = new WebSocket('ws://' + location.host + path);
  ws.binaryType = 'arraybuffer';
  const queue = [], waiters = [];
  ws.onmessage = (e) => { const w = waiters.shift(); if (w) w(e.data); else queue.push(e.data); };
  const next = (what) => queue.length ? Promise.resolve(queue.shift()) : timeout(new Promise((r) => waiters.push(r)), what);
  const closed = new Promise((r) => ws.addEventListener('close', (e) => r({ code: e.code, reason: e.reason, wasClean: e.wasClean })));
  await timeout(new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('error before open')); }), 'open');
  const result = { extensions: ws.extensions, checks: [] };
  const check = (name, ok) => result.checks.push({ name, ok });
  const big = text(1 << 20, 1);
  ws.send(big);
  const bigEcho = await next('the 1 MiB text echo');
  check('1 MiB compressible text', bigEcho === big);
  const rnd = randomBytes(256 * 1024);
  ws.send(rnd);
  check('256 KiB random binary', same(new Uint8Array(await next('random binary echo')), rnd));
  const grad = gradient(1 << 20);
  ws.send(grad);
  check('1 MiB compressible binary', same(new Uint8Array(await next('gradient echo')), grad));
  // Small and large, below and above the threshold, text and binary, sent back to back: order kept.
  const mixed = [];
  for (let k = 0; k < 40; k++) mixed.push(k % 3 === 0 ? gradient(16 + k * 700) : text(1 + k * 97, k));
  for (const m of mixed) ws.send(m);
  let inOrder = true;
  for (const m of mixed) {
    const got = await next('mixed echo');
    if (typeof m === 'string' ? got !== m : !same(new Uint8Array(got), m)) inOrder = false;
  }
  check('40 mixed messages in order', inOrder);
  ws.close(1000, 'done');
  result.close = await timeout(closed, 'close');
  return result;
};
`;

const PAGE_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>fullduplex deflate interop</title></head><body><script>${PAGE_SCRIPT}</script></body></html>`;

describe('Chromium WebSocket -> our server, permessage-deflate on', () => {
  let http: Server | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const servers = new Map<string, InstanceType<typeof WebSocketServer>>();
  const seen: Array<{ path: string; ws: any; req: IncomingMessage; bytes: ReturnType<typeof countBytesPerMessage> }> = [];

  before(async () => {
    if (browserProblem !== null) return;
    const server = createServer((req, res) => {
      res.writeHead(req.url === '/' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(req.url === '/' ? PAGE_HTML : 'not found');
    });
    http = server;
    servers.set('/default', new WebSocketServer({ noServer: true, perMessageDeflate: true, maxPayload: 8 * MiB }));
    servers.set(
      '/params',
      new WebSocketServer({
        noServer: true,
        maxPayload: 8 * MiB,
        perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9, threshold: 0 },
      }),
    );
    for (const [path, wss] of servers) {
      wss.on('connection', (ws: any, req: IncomingMessage) => {
        seen.push({ path, ws, req, bytes: countBytesPerMessage(ws, req.socket as NetSocket) });
        ws.on('error', () => {});
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          if (ws.readyState === 1) ws.send(data, { binary: isBinary });
        });
      });
    }
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const wss = servers.get(req.url ?? '');
      if (!wss) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      }),
      WAIT_MS,
      'the http server to listen',
    );
    browser = await launchChromium();
    page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => typeof (globalThis as { deflateRun?: unknown }).deflateRun === 'function');
  });

  after(async () => {
    if (browser) await withTimeout(browser.close(), WAIT_MS, 'the browser to close').catch(() => {});
    for (const s of seen) s.ws.terminate();
    for (const wss of servers.values()) await withTimeout(new Promise<void>((r) => wss.close(() => r())), WAIT_MS, 'wss close').catch(() => {});
    if (http) {
      http.closeAllConnections();
      await withTimeout(new Promise<void>((r) => http!.close(() => r())), WAIT_MS, 'http close').catch(() => {});
    }
  });

  async function run(path: string) {
    const result = await withTimeout(
      page!.evaluate((p) => (globalThis as any).deflateRun(p), path) as Promise<{
        extensions: string;
        checks: Array<{ name: string; ok: boolean }>;
        close: { code: number; wasClean: boolean };
      }>,
      40_000,
      `the page run on ${path}`,
    );
    const side = seen.find((s) => s.path === path);
    assert.ok(side, 'the server saw the connection');
    return { result, side };
  }

  test('defaults: Chromium\'s offer is accepted; 1 MiB text and binary round-trip exactly, compressed both ways', TEST_OPTS, async (t) => {
    if (peerMissing(t, browserProblem, 'Chromium')) return;
    const { result, side } = await run('/default');
    assert.ok(side.req.headers['sec-websocket-extensions']?.includes(PD), 'Chromium offers permessage-deflate');
    assert.match(result.extensions, /^permessage-deflate/, "the page's ws.extensions");
    assert.equal(side.ws.extensions, PD);
    for (const c of result.checks) assert.ok(c.ok, c.name);
    assert.equal(result.checks.length, 4);
    assert.equal(result.close.code, 1000);
    assert.equal(result.close.wasClean, true);
    // Chromium compressed the 1 MiB text, and so did we for its echo.
    const inBytes = side.bytes.readUpTo(1);
    const outBytes = side.bytes.echoBytes(1);
    t.diagnostic(`1 MiB compressible text: ${inBytes} bytes from Chromium, ${outBytes} bytes back`);
    assert.ok(inBytes < 256 * KiB, `Chromium sent ${inBytes} bytes for 1 MiB of text`);
    assert.ok(outBytes < 256 * KiB, `we sent ${outBytes} bytes for 1 MiB of text`);
  });

  test('server parameters: both no_context_takeover, server_max_window_bits=10, client_max_window_bits=9, threshold 0', TEST_OPTS, async (t) => {
    if (peerMissing(t, browserProblem, 'Chromium')) return;
    const { result, side } = await run('/params');
    assert.deepEqual(paramSet(result.extensions), paramSet(`${PD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9`));
    for (const c of result.checks) assert.ok(c.ok, c.name);
    assert.equal(result.close.code, 1000);
    assert.ok(side.bytes.readUpTo(1) < 512 * KiB);
    assert.ok(side.bytes.echoBytes(1) < 512 * KiB);
  });
});

// ---------------------------------------------------------------------------------------------
// Python websockets, both roles

const pyProblem = pythonProblem();

/** Python's parameter names for a set of our options. */
const PARAMS: { ours: Record<string, unknown>; python: PythonDeflateConfig; answer: string } = {
  ours: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 },
  python: { server_no_context_takeover: true, client_no_context_takeover: true, server_max_window_bits: 10, client_max_window_bits: 9 },
  answer: `${PD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9`,
};

describe('Python websockets client -> our server, permessage-deflate on', () => {
  for (const [name, ours, python, answer] of [
    ['websockets defaults (offer: client_max_window_bits without a value)', true, {}, PD],
    ['all four parameters set on both sides', PARAMS.ours, PARAMS.python, PARAMS.answer],
  ] as Array<[string, unknown, PythonDeflateConfig, string]>) {
    test(name, TEST_OPTS, async (t) => {
      if (peerMissing(t, pyProblem, 'Python websockets')) return;
      const server = await startServer('ours', { perMessageDeflate: ours, maxPayload: 16 * MiB }, false);
      try {
        const seen = new Promise<{ ws: any; bytes: ReturnType<typeof countBytesPerMessage> }>((resolve) => {
          void server.nextConnection(40_000).then(({ collector, socket }) => {
            const bytes = countBytesPerMessage(collector.ws, socket);
            collector.ws.on('message', (data: Buffer, isBinary: boolean) => collector.ws.send(data, { binary: isBinary }));
            resolve({ ws: collector.ws, bytes });
          }, () => {}); // a client that never connects fails below, through runPythonClient
        });
        const result = await runPythonClient(server.url, python);
        const side = await withTimeout(seen, WAIT_MS, 'the server side');
        t.diagnostic(`websockets ${result.version}: answer "${result.response}"; ${result.checked} echoes checked`);
        assert.deepEqual(result.mismatches, []);
        assert.equal(result.checked, 1 + 2 * 9 + 1);
        assert.deepEqual(paramSet(result.response), paramSet(answer));
        assert.equal(result.extensions.length, 1, 'python negotiated one extension');
        assert.equal(side.ws.extensions, PD);
        const inBytes = side.bytes.readUpTo(1);
        const outBytes = side.bytes.echoBytes(1);
        t.diagnostic(`1 MiB compressible text: ${inBytes} bytes from python, ${outBytes} bytes back`);
        // Under half: a 9-bit window compresses this text to about a quarter.
        assert.ok(inBytes < 512 * KiB, `python sent ${inBytes} bytes for 1 MiB`);
        assert.ok(outBytes < 512 * KiB, `we sent ${outBytes} bytes for 1 MiB`);
      } finally {
        await server.close();
      }
    });
  }
});

describe('our client -> Python websockets server, permessage-deflate on', () => {
  for (const [name, python, ours, answer] of [
    ["websockets defaults (its answer sets both windows to 12 bits)", {}, true, `${PD}; server_max_window_bits=12; client_max_window_bits=12`],
    ['all four parameters set on both sides', PARAMS.python, PARAMS.ours, PARAMS.answer],
  ] as Array<[string, PythonDeflateConfig, unknown, string]>) {
    test(name, TEST_OPTS, async (t) => {
      if (peerMissing(t, pyProblem, 'Python websockets')) return;
      const py = await startPythonServer(python);
      const ws = new WebSocket(`ws://127.0.0.1:${py.port}/`, { perMessageDeflate: ours, maxPayload: 16 * MiB } as never);
      const c = new Collector(ws as never);
      try {
        const upgrade = withTimeout(
          new Promise<IncomingMessage>((resolve) => ws.once('upgrade', (res: IncomingMessage) => resolve(res))),
          WAIT_MS,
          'the upgrade response',
        );
        await c.waitOpen();
        const res = await upgrade;
        const seen = await py.nextOpen();
        t.diagnostic(`websockets ${py.version}: offer "${seen.request}", answer "${seen.response}"`);
        assert.deepEqual(paramSet(res.headers['sec-websocket-extensions'] as string), paramSet(answer));
        assert.equal(seen.response, res.headers['sec-websocket-extensions']);
        assert.equal(ws.extensions, PD);
        const socket = res.socket as NetSocket;

        // Both directions compressed: a 1 MiB compressible text out and back.
        const big = compressibleText(MiB, 77);
        const r0 = socket.bytesRead;
        const w0 = socket.bytesWritten;
        ws.send(big);
        const echo = await c.next('the 1 MiB echo', 20_000);
        assert.equal(echo.isBinary, false);
        assert.ok(echo.data.equals(Buffer.from(big)), '1 MiB text byte-exact');
        const inBytes = socket.bytesRead - r0;
        const outBytes = socket.bytesWritten - w0;
        t.diagnostic(`1 MiB compressible text: ${outBytes} bytes to python, ${inBytes} bytes back`);
        assert.ok(outBytes < 512 * KiB, `we sent ${outBytes} bytes`);
        assert.ok(inBytes < 512 * KiB, `python sent ${inBytes} bytes`);

        // The ladder, pipelined, then a fragmented compressed message.
        const msgs: Array<string | Buffer> = [];
        for (const [i, size] of [16, 64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB].entries()) {
          msgs.push(compressibleText(size, i + 1), randomBinary(size), compressibleBinary(size));
        }
        for (const m of msgs) ws.send(m);
        for (const [i, m] of msgs.entries()) {
          const r = await c.next(`echo ${i}`, 20_000);
          assert.equal(r.isBinary, typeof m !== 'string');
          assert.ok(r.data.equals(typeof m === 'string' ? Buffer.from(m) : m), `echo ${i} byte-exact`);
        }
        const parts = [compressibleText(3000, 1), ' — ', compressibleText(7000, 2)];
        parts.forEach((p, i) => ws.send(p, { fin: i === parts.length - 1 }));
        assert.equal((await c.next('the fragmented echo')).data.toString(), parts.join(''));
        assert.deepEqual(await c.finish(), { code: 1000, reason: 'done' });
      } finally {
        ws.terminate();
        await py.close();
      }
    });
  }
});
