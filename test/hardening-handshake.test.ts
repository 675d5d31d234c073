/**
 * Hardening of the opening handshake (issue 3, "Hardening"), over real loopback sockets.
 *
 * RFC 6455 section 4.2.1 lists what a server reads from the client's request; section 4.2.2
 * lets it refuse with any HTTP error status ("If the server does not wish to accept this
 * connection, it MUST return an appropriate HTTP error code ... and close the connection");
 * section 10.2 asks servers that are not meant for every web page to check Origin. The limits
 * on what a client may push (header bytes and lines, time, connections) are ours: each has an
 * option and a default, and each refusal is checked here by its status AND by the server
 * closing the socket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import fc from 'fast-check';
import type http from 'node:http';
import { WebSocket } from '../src/index.ts';
import { acceptFor } from './helpers/raw-peer.ts';
import { ChildServer, MiB, mib } from './helpers/hardening-child.ts';
import {
  closed,
  echo,
  httpExchange,
  newKey,
  openClient,
  sleep,
  startServer,
  upgradeHead,
  waitFor,
  within,
  WAIT_MS,
  withServer,
  type TestServer,
} from './helpers/hardening-net.ts';

/** Counts 'connection' events and echoes every message (no 'error' listener on purpose). */
function echoServer(s: TestServer): { connections: number } {
  const state = { connections: 0 };
  s.wss.on('connection', (ws) => {
    state.connections++;
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
  return state;
}

function padLines(count: number, prefix = 'X-Pad'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}: v${i}`);
}

// ---------------------------------------------------------------------------------------------
// Header count and size
// ---------------------------------------------------------------------------------------------

test('200 header lines (default maxHeaderCount 128) get 431 and the socket is closed', async () => {
  await withServer({}, async (s) => {
    const state = echoServer(s);
    const answer = await httpExchange(s.port, upgradeHead(s.port, { extra: padLines(195) })); // 5 required + 195 = 200
    assert.equal(answer.status, 431, `status line: ${answer.statusLine}`);
    assert.equal(answer.closed, true, 'the server must close the connection after the 431');
    assert.equal(state.connections, 0);

    // The limit counts lines: 128 lines in all pass, 129 do not.
    const at = await httpExchange(s.port, upgradeHead(s.port, { extra: padLines(123) }));
    assert.equal(at.status, 101, `128 lines: ${at.statusLine}`);
    const over = await httpExchange(s.port, upgradeHead(s.port, { extra: padLines(124) }));
    assert.equal(over.status, 431, `129 lines: ${over.statusLine}`);
    assert.equal(over.closed, true);
  });
});

test('maxHeaderCount is an option: 11 lines with maxHeaderCount 10 get 431', async () => {
  await withServer({ maxHeaderCount: 10 }, async (s) => {
    echoServer(s);
    assert.equal((await httpExchange(s.port, upgradeHead(s.port, { extra: padLines(5) }))).status, 101);
    const answer = await httpExchange(s.port, upgradeHead(s.port, { extra: padLines(6) }));
    assert.equal(answer.status, 431);
    assert.equal(answer.closed, true);
  });
});

test('a request head larger than maxHeaderSize (1024) gets 431 and the socket is closed', async () => {
  await withServer({ maxHeaderSize: 1024 }, async (s) => {
    const state = echoServer(s);
    const small = await httpExchange(s.port, upgradeHead(s.port, { extra: ['X-Fill: ' + 'a'.repeat(600)] }));
    assert.equal(small.status, 101, `a head under the limit: ${small.statusLine}`);
    const big = await httpExchange(s.port, upgradeHead(s.port, { extra: ['X-Fill: ' + 'a'.repeat(2000)] }));
    assert.equal(big.status, 431, `status line: ${big.statusLine}`);
    assert.equal(big.closed, true);
    // Many small lines that add up past the limit count too.
    const many = await httpExchange(s.port, upgradeHead(s.port, { extra: padLines(60, 'X-Many-Small-Lines') }));
    assert.equal(many.status, 431, `status line: ${many.statusLine}`);
    assert.equal(many.closed, true);
    assert.equal(state.connections, 1);
  });
});

// ---------------------------------------------------------------------------------------------
// Handshake timeout
// ---------------------------------------------------------------------------------------------

test('half a request, then a stall: dropped after handshakeTimeout (500 ms), with 408', async () => {
  await withServer({ handshakeTimeout: 500 }, async (s) => {
    const state = echoServer(s);
    const half = upgradeHead(s.port).slice(0, 60); // the request line and part of Host
    const answer = await httpExchange(s.port, half, { timeoutMs: 8000 });
    assert.equal(answer.closed, true, 'a stalled handshake must be dropped');
    // Node's HTTP server answers 408 Request Timeout before it drops the connection.
    if (answer.raw.length > 0) assert.equal(answer.status, 408, `status line: ${answer.statusLine}`);
    assert.equal(state.connections, 0);
  });
});

test('slowloris: header lines that keep coming, one every 100 ms, are dropped after handshakeTimeout', async () => {
  await withServer({ handshakeTimeout: 500 }, async (s) => {
    echoServer(s);
    const socket = net.connect({ host: '127.0.0.1', port: s.port });
    socket.on('error', () => {});
    await within(once(socket, 'connect'), WAIT_MS, 'connect');
    socket.write(upgradeHead(s.port).replace(/\r\n\r\n$/, '\r\n'));
    let lines = 0;
    const dripping = setInterval(() => {
      if (!socket.destroyed) socket.write(`X-Drip-${lines++}: x\r\n`);
    }, 100);
    try {
      await within(new Promise((resolve) => socket.once('close', resolve)), 8000, 'the server to drop the slowloris client');
    } finally {
      clearInterval(dripping);
      socket.destroy();
    }
    assert.ok(lines < 80, `the client dripped ${lines} lines before it was dropped`);
  });
});

test('an established connection is not cut by handshakeTimeout', async () => {
  await withServer({ handshakeTimeout: 300 }, async (s) => {
    echoServer(s);
    const ws = await openClient(s.url);
    try {
      await sleep(1200); // four times the handshake timeout
      assert.equal(ws.readyState, WebSocket.OPEN);
      assert.equal((await echo(ws, 'still here')).toString(), 'still here');
    } finally {
      ws.terminate();
    }
  });
});

/** Connects, writes `data` (part of a request head), and goes away once it is sent. */
function sendAndLeave(port: number, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.on('connect', () => socket.write(data, () => socket.destroy()));
  });
}

test('clients that send part of a head and go away leave no timer behind: the process can exit after close()', async () => {
  // Timeout handles are what keeps a process alive; the handshake timer of a connection that is
  // gone must go with it, not wait out handshakeTimeout.
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  // A short timeout, so that a leftover timer cannot keep this test file alive for long.
  const s = await startServer({ handshakeTimeout: 3000 });
  try {
    await Promise.all(Array.from({ length: 20 }, () => sendAndLeave(s.port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n'))));
  } finally {
    await s.close(); // resolves once every server-side socket has closed
  }
  await waitFor(() => timers() <= before, 1500, `the handshake timers to be cleared (${timers() - before} left)`).catch((e: Error) => {
    throw new Error(`${e.message}: a connection that is gone still holds its handshake timer`);
  });
});

test('memory: 2,000 clients that send 16 KB of a head and go away: the server keeps none of it', async (t) => {
  // Each partial head is buffered (up to maxHeaderSize, 16 KiB by default); a server that holds
  // those buffers until handshakeTimeout (10 s) instead of dropping them with the socket keeps
  // ~60 MiB here, and far more at a higher connection rate.
  const child = await ChildServer.start({ mode: 'echo', options: {} });
  try {
    await child.mark();
    const partial = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ' + 'a'.repeat(16_000));
    for (let i = 0; i < 2000; i += 100) {
      await within(Promise.all(Array.from({ length: 100 }, () => sendAndLeave(child.port, partial))), 10_000, 'a batch of clients');
    }
    await sleep(200); // let the server see the last ones go
    const mem = await child.memory({ gc: true });
    const held = mem.arrayBuffers;
    t.diagnostic(`after 2,000 aborted handshakes and a GC: ArrayBuffers ${mib(held)}, RSS ${mib(mem.rss - mem.baselineRss)} over baseline`);
    assert.ok(held < 16 * MiB, `the server still holds ${mib(held)} of ArrayBuffers for clients that are gone`);
  } finally {
    await child.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// Linear-time parsing of Sec-WebSocket-Protocol and Sec-WebSocket-Extensions
// ---------------------------------------------------------------------------------------------

/**
 * Values built to hurt parsers that backtrack or rescan (ws CVE-2021-32640 was a regular
 * expression on Sec-WebSocket-Protocol; websocket-extensions CVE-2020-7662 one on
 * Sec-WebSocket-Extensions). `n` is about the length in characters.
 */
function adversarialValues(n: number): Array<{ name: string; header: string; value: string; allowed: number[] }> {
  const distinct: string[] = [];
  for (let i = 0, len = 0; len < n; i++) {
    distinct.push(`p${i}`);
    len += `p${i}`.length + 1;
  }
  const times = (s: string, total: number) => s.repeat(Math.max(1, Math.floor(total / s.length)));
  return [
    // RFC 6455 section 4.3: Sec-WebSocket-Protocol = 1#token, unique.
    { name: 'one repeated protocol', header: 'Sec-WebSocket-Protocol', value: times('a,', n), allowed: [400] },
    { name: 'only commas', header: 'Sec-WebSocket-Protocol', value: times(',', n), allowed: [400] },
    { name: 'commas and spaces', header: 'Sec-WebSocket-Protocol', value: times(' ,\t', n), allowed: [400] },
    { name: 'spaces then one token', header: 'Sec-WebSocket-Protocol', value: ' '.repeat(n) + 'chat', allowed: [101] },
    { name: 'one very long token', header: 'Sec-WebSocket-Protocol', value: 'a'.repeat(n), allowed: [101] },
    { name: 'distinct tokens', header: 'Sec-WebSocket-Protocol', value: distinct.join(','), allowed: [101] },
    { name: 'a token then a bad character', header: 'Sec-WebSocket-Protocol', value: 'a'.repeat(n) + '@', allowed: [400] },
    // RFC 6455 section 9.1: extension = token *( ";" token [ "=" (token | quoted-string) ] ).
    { name: 'only commas (extensions)', header: 'Sec-WebSocket-Extensions', value: times(',', n), allowed: [400] },
    { name: 'unterminated quoted string of escapes', header: 'Sec-WebSocket-Extensions', value: 'x; a="' + times('\\a', n), allowed: [400] },
    { name: 'long quoted token', header: 'Sec-WebSocket-Extensions', value: 'x; a="' + 'b'.repeat(n) + '"', allowed: [101] },
    { name: 'many parameters', header: 'Sec-WebSocket-Extensions', value: 'x' + times('; b', n), allowed: [101] },
    { name: 'many parameters, trailing ;', header: 'Sec-WebSocket-Extensions', value: 'x' + times('; b', n) + ';', allowed: [400] },
    { name: 'many offers of permessage-deflate', header: 'Sec-WebSocket-Extensions', value: times('permessage-deflate, ', n), allowed: [101] },
    {
      name: 'permessage-deflate with a repeated parameter',
      header: 'Sec-WebSocket-Extensions',
      value: 'permessage-deflate' + times('; server_no_context_takeover', n),
      allowed: [101],
    },
    { name: 'semicolons', header: 'Sec-WebSocket-Extensions', value: 'x' + times(';', n), allowed: [400] },
    { name: 'equals signs', header: 'Sec-WebSocket-Extensions', value: 'x; a' + times('=', n), allowed: [400] },
    { name: 'quotes', header: 'Sec-WebSocket-Extensions', value: 'x; a=' + times('"', n), allowed: [400] },
  ];
}

test('10,000-character adversarial Sec-WebSocket-Protocol / Extensions values are answered promptly (400 or 101)', async (t) => {
  await withServer({ perMessageDeflate: true }, async (s) => {
    echoServer(s);
    const times: string[] = [];
    for (const c of adversarialValues(10_000)) {
      const answer = await httpExchange(s.port, upgradeHead(s.port, { extra: [`${c.header}: ${c.value}`] }), { timeoutMs: 5000 });
      assert.ok(answer.status !== undefined, `${c.name}: no answer within 5 s (${answer.statusLine})`);
      assert.ok(c.allowed.includes(answer.status), `${c.name}: got ${answer.status}, expected one of ${c.allowed}`);
      if (answer.status !== 101) assert.equal(answer.closed, true, `${c.name}: a refusal must close the socket`);
      times.push(`${c.name}: ${answer.status} in ${answer.elapsedMs} ms`);
    }
    t.diagnostic(times.join('; '));
  });
});

test('half-megabyte adversarial values (maxHeaderSize raised) are still answered, so parsing is not quadratic', async (t) => {
  // At 500,000 characters a quadratic parser does ~10^11 steps (minutes); a linear one a few
  // milliseconds. The 10 s bound is a hang guard, not a speed requirement.
  await withServer({ perMessageDeflate: true, maxHeaderSize: 2 * 1024 * 1024 }, async (s) => {
    echoServer(s);
    const times: string[] = [];
    for (const c of adversarialValues(500_000)) {
      const answer = await httpExchange(s.port, upgradeHead(s.port, { extra: [`${c.header}: ${c.value}`] }), { timeoutMs: 10_000 });
      assert.ok(answer.status !== undefined, `${c.name}: no answer within 10 s`);
      assert.ok(c.allowed.includes(answer.status), `${c.name}: got ${answer.status}, expected one of ${c.allowed}`);
      times.push(`${c.name}: ${answer.elapsedMs} ms`);
    }
    t.diagnostic(times.join('; '));
  });
});

test('extension offers named __proto__ / constructor, and window bits outside 8..15, are just bad offers', async () => {
  await withServer({ perMessageDeflate: true }, async (s) => {
    echoServer(s);
    const cases: Array<[string, boolean]> = [
      ['__proto__, constructor; toString=1, permessage-deflate', true], // unknown extensions are ignored
      ['permessage-deflate; __proto__=1', false], // an unknown parameter declines the offer (RFC 7692 section 5)
      ['permessage-deflate; constructor', false],
      ['permessage-deflate; client_max_window_bits=7', false], // RFC 7692 section 7.1.2: 8..15 only
      ['permessage-deflate; client_max_window_bits=16', false],
      ['permessage-deflate; server_max_window_bits=0', false],
      ['permessage-deflate; server_max_window_bits=015', false],
      ['permessage-deflate; client_max_window_bits="1e1"', false],
      ['permessage-deflate; client_max_window_bits=-1', false],
    ];
    for (const [offer, accepted] of cases) {
      const answer = await httpExchange(s.port, upgradeHead(s.port, { extra: [`Sec-WebSocket-Extensions: ${offer}`] }));
      assert.equal(answer.status, 101, `${offer}: ${answer.statusLine}`);
      const ext = answer.headers.get('sec-websocket-extensions');
      if (accepted) assert.match(ext ?? '', /^permessage-deflate/, `${offer}: expected permessage-deflate to be accepted`);
      else assert.equal(ext, undefined, `${offer}: the offer must be declined, got "${ext}"`);
    }
    // And a real compressed exchange still works afterwards.
    const ws = await openClient(s.url, { perMessageDeflate: true });
    assert.equal(ws.extensions, 'permessage-deflate');
    const big = 'compress me '.repeat(500);
    assert.equal((await echo(ws, big)).toString(), big);
    ws.terminate();
  });
});

// ---------------------------------------------------------------------------------------------
// Origin (RFC 6455 section 10.2)
// ---------------------------------------------------------------------------------------------

async function statusWithOrigin(s: TestServer, origin: string | undefined, host?: string): Promise<number | undefined> {
  const extra = origin === undefined ? [] : [`Origin: ${origin}`];
  const answer = await httpExchange(s.port, upgradeHead(s.port, { extra, host }));
  if (answer.status !== 101) assert.equal(answer.closed, true, `a refusal (${answer.statusLine}) must close the socket`);
  return answer.status;
}

test('Origin, default: cross-site gets 403, the same host gets 101, no Origin gets 101', async () => {
  await withServer({}, async (s) => {
    const state = echoServer(s);
    const self = `http://127.0.0.1:${s.port}`;
    assert.equal(await statusWithOrigin(s, 'http://evil.example'), 403);
    assert.equal(await statusWithOrigin(s, 'https://evil.example'), 403);
    assert.equal(await statusWithOrigin(s, `http://127.0.0.1:${s.port + 1}`), 403, 'another port is another origin');
    assert.equal(await statusWithOrigin(s, 'null'), 403, 'an opaque origin is never the same host');
    assert.equal(await statusWithOrigin(s, 'not a url'), 403);
    assert.equal(state.connections, 0, 'no refused request may reach "connection"');
    assert.equal(await statusWithOrigin(s, self), 101);
    assert.equal(await statusWithOrigin(s, `HTTP://127.0.0.1:${s.port}`), 101, 'scheme and host compare case-insensitively');
    assert.equal(await statusWithOrigin(s, `https://127.0.0.1:${s.port}`), 101, 'same host over https');
    assert.equal(await statusWithOrigin(s, 'http://app.example:8080', 'APP.example:8080'), 101, 'Host compares case-insensitively');
    assert.equal(await statusWithOrigin(s, undefined), 101, 'non-browser clients send no Origin');

    // Our own client with a cross-site origin sees the refusal as a failed handshake.
    const ws = new WebSocket(s.url, { origin: 'http://evil.example' });
    const failure = new Promise<string>((resolve) => {
      ws.on('unexpected-response', (_req: http.ClientRequest, res: http.IncomingMessage) => {
        resolve(String(res.statusCode));
        ws.terminate();
      });
      ws.on('error', (e: Error) => resolve(e.message));
    });
    assert.match(await within(failure, WAIT_MS, 'the refused client'), /403/);
  });
});

test('allowOrigins: a list admits exactly its origins (and the same host stays allowed)', async () => {
  await withServer({ allowOrigins: ['https://app.example', 'http://localhost:3000'] }, async (s) => {
    echoServer(s);
    assert.equal(await statusWithOrigin(s, 'https://app.example'), 101);
    assert.equal(await statusWithOrigin(s, 'HTTPS://APP.EXAMPLE'), 101);
    assert.equal(await statusWithOrigin(s, 'http://localhost:3000'), 101);
    assert.equal(await statusWithOrigin(s, 'http://app.example'), 403, 'the scheme is part of the origin');
    assert.equal(await statusWithOrigin(s, 'https://app.example.evil.example'), 403);
    assert.equal(await statusWithOrigin(s, 'https://evil.example'), 403);
    assert.equal(await statusWithOrigin(s, `http://127.0.0.1:${s.port}`), 101);
  });
});

test('allowOrigins: a function decides, and gets the origin and the request', async () => {
  const seen: Array<[string, string | undefined]> = [];
  const allow = (origin: string, req: http.IncomingMessage): boolean => {
    seen.push([origin, req.url]);
    return origin.endsWith('.trusted.example');
  };
  await withServer({ allowOrigins: allow }, async (s) => {
    echoServer(s);
    assert.equal(await statusWithOrigin(s, 'https://a.trusted.example'), 101);
    assert.equal(await statusWithOrigin(s, 'https://trusted.example.evil'), 403);
    assert.deepEqual(seen, [
      ['https://a.trusted.example', '/'],
      ['https://trusted.example.evil', '/'],
    ]);
  });
});

test("allowOrigins: '*' admits every origin, opaque ones too", async () => {
  await withServer({ allowOrigins: '*' }, async (s) => {
    echoServer(s);
    for (const origin of ['http://evil.example', 'null', 'chrome-extension://abc', `http://127.0.0.1:${s.port}`]) {
      assert.equal(await statusWithOrigin(s, origin), 101, origin);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// verifyClient
// ---------------------------------------------------------------------------------------------

test('verifyClient, sync: false gets 401 before the upgrade, true gets 101', async () => {
  const infos: Array<{ origin: string | undefined; secure: boolean; url: string | undefined }> = [];
  await withServer(
    {
      allowOrigins: '*',
      verifyClient: (info: { origin: string | undefined; secure: boolean; req: http.IncomingMessage }) => {
        infos.push({ origin: info.origin, secure: info.secure, url: info.req.url });
        return info.req.url === '/ok';
      },
    },
    async (s) => {
      const state = echoServer(s);
      const refused = await httpExchange(s.port, upgradeHead(s.port, { path: '/no', extra: ['Origin: http://o.example'] }));
      assert.equal(refused.status, 401);
      assert.equal(refused.closed, true);
      assert.equal(state.connections, 0);
      const ok = await httpExchange(s.port, upgradeHead(s.port, { path: '/ok' }));
      assert.equal(ok.status, 101);
      assert.deepEqual(infos, [
        { origin: 'http://o.example', secure: false, url: '/no' },
        { origin: undefined, secure: false, url: '/ok' },
      ]);
    },
  );
});

test('verifyClient, async: a custom 4xx status, body and header; and acceptance after a delay', async () => {
  const verifyClient = (info: { req: http.IncomingMessage }, cb: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => {
    setTimeout(() => {
      if (info.req.headers['authorization'] === 'Bearer good') cb(true);
      else cb(false, 418, 'no tea for you', { 'X-Reason': 'bad-token', 'Retry-After': '120' });
    }, 20);
  };
  await withServer({ verifyClient }, async (s) => {
    const state = echoServer(s);
    const refused = await httpExchange(s.port, upgradeHead(s.port, { extra: ['Authorization: Bearer bad'] }));
    assert.match(refused.statusLine, /^HTTP\/1\.1 418 /);
    assert.equal(refused.headers.get('x-reason'), 'bad-token');
    assert.equal(refused.headers.get('retry-after'), '120');
    assert.equal(refused.body, 'no tea for you');
    assert.equal(refused.headers.get('content-length'), String(Buffer.byteLength('no tea for you')));
    assert.equal(refused.closed, true);
    assert.equal(state.connections, 0);

    const ws = await openClient(s.url, { headers: { Authorization: 'Bearer good' } });
    assert.equal((await echo(ws, 'verified')).toString(), 'verified');
    ws.terminate();
  });
});

// ---------------------------------------------------------------------------------------------
// maxConnections
// ---------------------------------------------------------------------------------------------

test('maxConnections 2: the third client gets 503 while the first two keep working; a freed slot is reusable', async () => {
  await withServer({ maxConnections: 2 }, async (s) => {
    echoServer(s);
    const a = await openClient(s.url);
    const b = await openClient(s.url);
    const third = await httpExchange(s.port, upgradeHead(s.port));
    assert.equal(third.status, 503, third.statusLine);
    assert.equal(third.closed, true);
    assert.equal((await echo(a, 'a')).toString(), 'a');
    assert.equal((await echo(b, 'b')).toString(), 'b');
    assert.equal(s.wss.clients!.size, 2);

    a.close(1000);
    await closed(a);
    await waitFor(() => s.wss.clients!.size === 1, WAIT_MS, 'the server to forget the closed connection');
    const c = await openClient(s.url);
    assert.equal((await echo(c, 'c')).toString(), 'c');
    assert.equal((await echo(b, 'b2')).toString(), 'b2');
    b.terminate();
    c.terminate();
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzz: random upgrade requests
// ---------------------------------------------------------------------------------------------

const TCHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";
const token = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 10 });
const nasty = fc.constantFrom(' ', '\t', ',', ';', '=', '"', '\\', ':', '/', '\x00', '\x01', '\x7f', '\xe9', '\xff', '(', '@', '\r', '\n');
const keyword = fc.constantFrom(
  'permessage-deflate',
  'client_max_window_bits',
  'server_max_window_bits',
  'client_no_context_takeover',
  'server_no_context_takeover',
  '__proto__',
  'constructor',
  'toString',
  '8',
  '15',
  '16',
  '=',
  '; ',
  ', ',
  '"15"',
  'websocket',
  'Upgrade',
  'keep-alive',
  '13',
);
const headerValue = fc.array(fc.oneof({ weight: 3, arbitrary: token }, { weight: 3, arbitrary: keyword }, { weight: 1, arbitrary: nasty }), { maxLength: 16 }).map((a) => a.join(''));
const headerName = fc.oneof(
  token,
  fc.constantFrom(
    'Host',
    'Upgrade',
    'Connection',
    'Sec-WebSocket-Key',
    'Sec-WebSocket-Version',
    'Sec-WebSocket-Protocol',
    'Sec-WebSocket-Extensions',
    'Origin',
    'Content-Length',
    'Transfer-Encoding',
    'Expect',
    '__proto__',
    'constructor',
    'hasOwnProperty',
  ),
  fc.array(fc.oneof(token, nasty), { minLength: 1, maxLength: 4 }).map((a) => a.join('')),
);

interface FuzzRequest {
  method: string;
  path: string;
  version: string;
  required: Array<string | null>; // the six required lines, each kept, dropped (null) or mutated
  extra: Array<[string, string]>;
  garbage: string[];
  eol: string;
  trailing: number[];
}

/** Anything at all: request line, required headers, line endings, garbage lines. */
const wildRequest: fc.Arbitrary<FuzzRequest> = fc.record({
  method: fc.oneof({ weight: 6, arbitrary: fc.constant('GET') }, { weight: 1, arbitrary: fc.constantFrom('POST', 'HEAD', 'PUT', 'OPTIONS', 'get', 'G ET') }, { weight: 1, arbitrary: token }),
  path: fc.oneof({ weight: 6, arbitrary: fc.constant('/') }, { weight: 1, arbitrary: fc.constantFrom('/a?b=c', '*', 'http://h/x', '//', '/%00', '/\xe9') }),
  version: fc.oneof({ weight: 6, arbitrary: fc.constant('HTTP/1.1') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'HTTPS/1.1', '', 'HTTP/1.1 x') }),
  required: fc.array(fc.oneof({ weight: 8, arbitrary: fc.constant('keep') }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: headerValue }), {
    minLength: 6,
    maxLength: 6,
  }),
  extra: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
  garbage: fc.array(fc.array(fc.oneof(token, nasty), { maxLength: 6 }).map((a) => a.join('')), { maxLength: 2 }),
  eol: fc.oneof({ weight: 9, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constant('\n') }),
  trailing: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 24 }),
});

/** A well-formed upgrade whose negotiated parts (subprotocols, extensions, Origin) are random. */
const negotiationRequest: fc.Arbitrary<FuzzRequest> = fc.record({
  method: fc.constant('GET'),
  path: fc.constant('/'),
  version: fc.constant('HTTP/1.1'),
  required: fc.tuple(fc.constant('keep'), fc.constant('keep'), fc.constant('keep'), fc.constant('keep'), fc.constant('keep'), fc.oneof(fc.constant('keep'), fc.constant(null), headerValue)),
  extra: fc.array(
    fc.tuple(fc.constantFrom('Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions', 'Origin', 'X-Other', '__proto__'), fc.oneof(headerValue, fc.constant('PORT-SELF'))),
    { maxLength: 4 },
  ),
  garbage: fc.constant([]),
  eol: fc.constant('\r\n'),
  trailing: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 24 }),
});

const requestArb = fc.oneof(wildRequest, negotiationRequest);

function buildRequest(r: FuzzRequest, port: number, key: string): Buffer {
  const defaults: Array<[string, string]> = [
    ['Host', `127.0.0.1:${port}`],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', key],
    ['Sec-WebSocket-Version', '13'],
    ['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits'],
  ];
  const lines = [`${r.method} ${r.path} ${r.version}`.trimEnd()];
  r.required.forEach((choice, i) => {
    const [name, value] = defaults[i]!;
    if (choice === 'keep') lines.push(`${name}: ${value}`);
    else if (choice !== null) lines.push(`${name}: ${choice}`);
  });
  for (const [name, value] of r.extra) lines.push(`${name}: ${value === 'PORT-SELF' ? `http://127.0.0.1:${port}` : value}`);
  lines.push(...r.garbage);
  return Buffer.concat([Buffer.from(lines.join(r.eol) + r.eol + r.eol, 'latin1'), Buffer.from(r.trailing)]);
}

test('fuzz: random upgrade requests get a 4xx or 101 or are closed; the server never crashes and still serves', async (t) => {
  await withServer({ perMessageDeflate: true, handshakeTimeout: 2000 }, async (s) => {
    echoServer(s);
    const serverErrors: Error[] = [];
    s.wss.on('error', (e: Error) => serverErrors.push(e));
    const statuses = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const key = newKey();
        const answer = await httpExchange(s.port, buildRequest(r, s.port, key), { end: true, timeoutMs: 5000 });
        const label = answer.status === undefined ? (answer.closed ? 'closed' : 'open') : String(answer.status);
        statuses.set(label, (statuses.get(label) ?? 0) + 1);
        if (answer.status === undefined) {
          // No (complete) response: the server must at least have closed the connection.
          assert.equal(answer.closed, true, `neither an answer nor a close: ${JSON.stringify(answer.raw.toString('latin1'))}`);
          return;
        }
        assert.ok(answer.status === 101 || (answer.status >= 400 && answer.status < 500), `unexpected status: ${answer.statusLine}`);
        if (answer.status === 101) {
          assert.equal(answer.headers.get('sec-websocket-accept'), acceptFor(key), 'a 101 must carry the right accept value');
        } else {
          assert.equal(answer.closed, true, `a ${answer.status} refusal must close the connection`);
        }
      }),
      { numRuns: 200, interruptAfterTimeLimit: 25_000, markInterruptAsFailure: false },
    );
    t.diagnostic(`answers: ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.deepEqual(serverErrors, []);
    await waitFor(() => s.wss.clients!.size === 0, WAIT_MS, 'every fuzzed connection to be gone');
    const ws = await openClient(s.url, { perMessageDeflate: true });
    assert.equal((await echo(ws, 'after the fuzz')).toString(), 'after the fuzz');
    ws.terminate();
  });
});
