import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { describe, test } from 'node:test';
import WebSocketDefault, { createWebSocketStream, PreparedMessage, WebSocket, WebSocketServer } from '../src/index.ts';

const TLS = {
  cert: readFileSync(new URL('./fixtures/tls/cert.pem', import.meta.url)),
  key: readFileSync(new URL('./fixtures/tls/key.pem', import.meta.url)),
};

/** Rejects if `promise` has not settled within `ms` (so a broken case fails instead of hanging). */
function within<T>(promise: Promise<T>, ms = 5000, what = 'event'): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

/** Resolves with the 'close' arguments; unlike events.once it does not reject on 'error'. */
function closeEvent(ws: WebSocket): Promise<[number, Buffer]> {
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve([code, reason])));
}

async function listen(options: ConstructorParameters<typeof WebSocketServer>[0] = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  await within(once(wss, 'listening'));
  const { port } = wss.address() as net.AddressInfo;
  return { wss, port, url: `ws://127.0.0.1:${port}` };
}

async function closeServer(wss: WebSocketServer) {
  for (const ws of wss.clients ?? []) ws.terminate();
  await within(new Promise<void>((resolve) => wss.close(() => resolve())));
}

/** Sends a raw HTTP request and returns the whole response text (until the server closes). */
async function rawRequest(port: number, request: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.write(request);
  const chunks: Buffer[] = [];
  socket.on('data', (c) => chunks.push(c));
  await within(once(socket, 'close'));
  return Buffer.concat(chunks).toString();
}

const UPGRADE = (extra = '', version = '13') =>
  'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${version}\r\n${extra}\r\n`;

describe('ws-compatible API', () => {
  test('exports match ws: default export, WebSocket.Server, constants', () => {
    assert.equal(WebSocketDefault, WebSocket);
    assert.equal((WebSocket as unknown as { Server: unknown }).Server, WebSocketServer);
    assert.equal(WebSocket.OPEN, 1);
    assert.equal(new WebSocket(null).CLOSED, 3);
  });

  test('echo of text and binary, send callback, message isBinary flag', async () => {
    const { wss, url } = await listen();
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    const ws = new WebSocket(url);
    await within(once(ws, 'open'));
    const written = new Promise<unknown>((resolve) => ws.send('héllo', resolve));
    assert.equal(await within(written), null);
    const [text, textIsBinary] = await within(once(ws, 'message'));
    assert.equal(text.toString(), 'héllo');
    assert.equal(textIsBinary, false);
    ws.binaryType = 'arraybuffer';
    ws.send(new Uint16Array([1, 2, 3]).subarray(1));
    const [bin, isBinary] = await within(once(ws, 'message'));
    assert.equal(isBinary, true);
    assert.ok(bin instanceof ArrayBuffer);
    assert.deepEqual([...new Uint16Array(bin)], [2, 3]);
    ws.close();
    await within(once(ws, 'close'));
    await closeServer(wss);
  });

  test('close code and reason in both directions; readyState and wasClean', async () => {
    const { wss, url } = await listen();
    const serverSide = new Promise<[number, string]>((resolve) =>
      wss.on('connection', (ws) => ws.on('close', (code, reason) => resolve([code, reason.toString()]))),
    );
    const ws = new WebSocket(url);
    await within(once(ws, 'open'));
    assert.equal(ws.readyState, WebSocket.OPEN);
    const events: Array<{ code: number; reason: string; wasClean: boolean }> = [];
    ws.addEventListener('close', (e: { code: number; reason: string; wasClean: boolean }) => events.push(e));
    ws.close(4001, 'client bye');
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const [code, reason] = await within(once(ws, 'close'));
    assert.equal(code, 4001);
    assert.equal(reason.toString(), 'client bye');
    assert.deepEqual(await within(serverSide), [4001, 'client bye']);
    assert.equal(events[0]!.wasClean, true);
    assert.equal(ws.readyState, WebSocket.CLOSED);

    const ws2 = new WebSocket(url);
    await within(once(ws2, 'open'));
    for (const client of wss.clients!) if (client.readyState === WebSocket.OPEN) client.close(1001, 'server going');
    const [code2, reason2] = await within(once(ws2, 'close'));
    assert.equal(code2, 1001);
    assert.equal(reason2.toString(), 'server going');
    await closeServer(wss);
  });

  test('close() argument checks, send before open throws, send after close calls back with an error', async () => {
    const { wss, url } = await listen();
    const ws = new WebSocket(url);
    assert.throws(() => ws.send('x'), /WebSocket is not open: readyState 0 \(CONNECTING\)/);
    await within(once(ws, 'open'));
    assert.throws(() => ws.close(1005), TypeError);
    assert.throws(() => ws.close(2999), TypeError);
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), RangeError);
    assert.throws(() => ws.ping(Buffer.alloc(126)), RangeError);
    assert.throws(() => ws.send({} as never), TypeError);
    ws.close(1000);
    const err = await within(new Promise<Error | null | undefined>((resolve) => ws.send('late', resolve)));
    assert.match(String(err), /not open/);
    assert.equal(ws.bufferedAmount, 4);
    await within(once(ws, 'close'));
    await closeServer(wss);
  });

  test('ping and pong with payload; autoPong; ping/pong events', async () => {
    const { wss, url } = await listen();
    const pings = new Promise<Buffer>((resolve) => wss.on('connection', (ws) => ws.on('ping', resolve)));
    const ws = new WebSocket(url);
    await within(once(ws, 'open'));
    ws.ping('abc');
    const [pong] = await within(once(ws, 'pong'));
    assert.equal(pong.toString(), 'abc');
    assert.equal((await within(pings)).toString(), 'abc');
    ws.terminate();
    await within(once(ws, 'close'));
    await closeServer(wss);
  });

  test('subprotocols: handleProtocols picks one; the client sees it', async () => {
    const { wss, url } = await listen({ handleProtocols: (protocols) => (protocols.has('b') ? 'b' : false) });
    const ws = new WebSocket(url, ['a', 'b']);
    await within(once(ws, 'open'));
    assert.equal(ws.protocol, 'b');
    ws.terminate();
    assert.throws(() => new WebSocket(url, ['a', 'a']), SyntaxError);
    assert.throws(() => new WebSocket(url, 'a b'), SyntaxError);
    await closeServer(wss);
  });

  test('a client that offered protocols fails when the server picks none', async () => {
    const { wss, url } = await listen({ handleProtocols: () => false });
    const ws = new WebSocket(url, 'chat');
    const closed = within(closeEvent(ws));
    const [error] = await within(once(ws, 'error'));
    assert.match(error.message, /no subprotocol/);
    assert.equal((await closed)[0], 1006);
    await closeServer(wss);
  });

  test('path, verifyClient (sync and async) and handshake refusals with HTTP status', async () => {
    const { wss, url, port } = await listen({
      path: '/ws',
      verifyClient: (info: { req: http.IncomingMessage }, cb: (ok: boolean, code?: number, msg?: string) => void) => {
        setImmediate(() => (info.req.headers['x-token'] === 'yes' ? cb(true) : cb(false, 403, 'Forbidden here')));
      },
    });
    const ok = new WebSocket(`${url}/ws`, { headers: { 'x-token': 'yes' } });
    await within(once(ok, 'open'));
    ok.terminate();
    const denied = new WebSocket(`${url}/ws`);
    const statuses: number[] = [];
    denied.on('unexpected-response', (_req, res) => {
      statuses.push(res.statusCode!);
      res.resume();
      denied.terminate();
    });
    denied.on('error', () => {}); // terminate() during CONNECTING reports an error, as in ws
    await within(closeEvent(denied));
    assert.deepEqual(statuses, [403]);
    const wrongPath = new WebSocket(`${url}/other`);
    const [err] = await within(once(wrongPath, 'error'));
    assert.match(err.message, /Unexpected server response: 400/);

    const badVersion = await rawRequest(port, UPGRADE('', '8').replace('GET / ', 'GET /ws '));
    assert.match(badVersion, /^HTTP\/1\.1 426 /);
    assert.match(badVersion, /Sec-WebSocket-Version: 13/i);
    const badKey = await rawRequest(port, UPGRADE().replace('GET / ', 'GET /ws ').replace('dGhlIHNhbXBsZSBub25jZQ==', 'short'));
    assert.match(badKey, /^HTTP\/1\.1 400 /);
    const plain = await within(fetch(`http://127.0.0.1:${port}/`));
    assert.equal(plain.status, 426);
    await closeServer(wss);
  });

  test('noServer + handleUpgrade routes by path on a shared http server; headers event', async () => {
    const server = http.createServer();
    const a = new WebSocketServer({ noServer: true });
    const b = new WebSocketServer({ noServer: true });
    a.on('headers', (headers: string[]) => headers.push('X-Server: a'));
    server.on('upgrade', (req, socket, head) => {
      const target = req.url === '/a' ? a : req.url === '/b' ? b : null;
      if (!target) return socket.destroy();
      target.handleUpgrade(req, socket, head, (ws) => target.emit('connection', ws, req));
    });
    a.on('connection', (ws) => ws.send('from a'));
    b.on('connection', (ws) => ws.send('from b'));
    server.listen(0, '127.0.0.1');
    await within(once(server, 'listening'));
    const { port } = server.address() as net.AddressInfo;
    const wa = new WebSocket(`ws://127.0.0.1:${port}/a`);
    const upgrade = within(once(wa, 'upgrade'));
    const [msgA] = await within(once(wa, 'message'));
    const [res] = await upgrade;
    assert.equal(res.headers['x-server'], 'a');
    const wb = new WebSocket(`ws://127.0.0.1:${port}/b`);
    const [msgB] = await within(once(wb, 'message'));
    assert.equal(msgA.toString(), 'from a');
    assert.equal(msgB.toString(), 'from b');
    assert.equal(a.clients!.size, 1);
    assert.throws(() => a.address(), /noServer/);
    wa.terminate();
    wb.terminate();
    await within(once(wb, 'close'));
    server.close();
  });

  test('maxPayload: a too-big message closes with 1009 on both sides', async () => {
    const { wss, url } = await listen({ maxPayload: 1000 });
    const serverError = new Promise<Error>((resolve) => wss.on('connection', (ws) => ws.on('error', resolve)));
    const ws = new WebSocket(url);
    await within(once(ws, 'open'));
    ws.send(Buffer.alloc(1001));
    const [code] = await within(once(ws, 'close'));
    assert.equal(code, 1009);
    const err = (await within(serverError)) as Error & { code: string };
    assert.equal(err.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    await closeServer(wss);
  });

  test('a protocol error with no error listener does not crash the process', async () => {
    const { wss, port } = await listen();
    const closed = new Promise<number>((resolve) => wss.on('connection', (ws) => ws.on('close', resolve)));
    const socket = net.connect(port, '127.0.0.1');
    socket.write(UPGRADE());
    await within(once(socket, 'data'));
    socket.write(Buffer.from([0x81, 0x01, 0x41])); // unmasked client frame
    const frames: Buffer[] = [];
    socket.on('data', (d) => frames.push(d));
    await within(once(socket, 'close'));
    assert.deepEqual([...Buffer.concat(frames).subarray(0, 4)], [0x88, 0x02, 0x03, 0xea]); // Close 1002
    assert.equal(await within(closed), 1006);
    await closeServer(wss);
  });

  test('pause() holds messages until resume(); isPaused', async () => {
    const { wss, url } = await listen();
    wss.on('connection', (ws) => {
      for (let i = 0; i < 5; i++) ws.send(`m${i}`);
    });
    const ws = new WebSocket(url);
    const got: string[] = [];
    ws.on('message', (d) => {
      got.push(d.toString());
      if (got.length === 2) ws.pause();
    });
    await within(once(ws, 'open'));
    await within(new Promise<void>((resolve) => setTimeout(resolve, 100)));
    assert.deepEqual(got, ['m0', 'm1']);
    assert.equal(ws.isPaused, true);
    ws.resume();
    await within(new Promise<void>((resolve) => (got.length === 5 ? resolve() : ws.on('message', () => got.length === 5 && resolve()))));
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
    ws.terminate();
    await closeServer(wss);
  });

  test('on* handlers and addEventListener deliver event objects', async () => {
    const { wss, url } = await listen();
    wss.on('connection', (ws) => ws.send('hi'));
    const ws = new WebSocket(url);
    const seen: string[] = [];
    ws.onopen = () => seen.push('open');
    ws.onmessage = (e: { data: string }) => {
      seen.push(`message ${e.data}`);
      ws.close();
    };
    const handler = () => seen.push('listener');
    ws.addEventListener('message', handler);
    ws.addEventListener('message', handler); // the same listener is added once
    await within(new Promise<void>((resolve) => (ws.onclose = () => resolve())));
    assert.deepEqual(seen, ['open', 'message hi', 'listener']);
    assert.equal(typeof ws.onmessage, 'function');
    await closeServer(wss);
  });

  test('unexpected-response and connection refused end with close 1006', async () => {
    const server = http.createServer((_req, res) => res.writeHead(200).end('plain'));
    server.listen(0, '127.0.0.1');
    await within(once(server, 'listening'));
    const { port } = server.address() as net.AddressInfo;
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    const [err] = await within(once(ws, 'error'));
    assert.match(err.message, /Unexpected server response: 200/);
    server.close();
    await within(once(server, 'close'));
    const refused = new WebSocket(`ws://127.0.0.1:${port}`);
    const errors: Error[] = [];
    refused.on('error', (e) => errors.push(e));
    const [code] = await within(closeEvent(refused));
    assert.equal(code, 1006);
    assert.match(String(errors[0]), /ECONNREFUSED/);
  });

  test('invalid URLs throw SyntaxError', () => {
    assert.throws(() => new WebSocket('not a url'), SyntaxError);
    assert.throws(() => new WebSocket('ftp://x'), SyntaxError);
    assert.throws(() => new WebSocket('ws://x/#frag'), SyntaxError);
  });

  test('follows redirects when asked, and only then', async () => {
    const { wss, port } = await listen();
    const redirector = http.createServer((_req, res) => res.writeHead(302, { Location: `ws://127.0.0.1:${port}/` }).end());
    redirector.on('upgrade', (_req, socket) => {
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:${port}/\r\nContent-Length: 0\r\n\r\n`);
    });
    redirector.listen(0, '127.0.0.1');
    await within(once(redirector, 'listening'));
    const from = `ws://127.0.0.1:${(redirector.address() as net.AddressInfo).port}/`;
    const ws = new WebSocket(from, { followRedirects: true });
    await within(once(ws, 'open'));
    assert.equal(ws.url, `ws://127.0.0.1:${port}/`);
    ws.terminate();
    const noFollow = new WebSocket(from);
    const [err] = await within(once(noFollow, 'error'));
    assert.match(err.message, /302/);
    redirector.close();
    await closeServer(wss);
  });

  test('wss:// with an https server and client TLS options', async () => {
    const server = https.createServer(TLS);
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws, req) => ws.send(`secure ${Boolean((req.socket as { encrypted?: boolean }).encrypted)}`));
    server.listen(0, '127.0.0.1');
    await within(once(server, 'listening'));
    const { port } = server.address() as net.AddressInfo;
    const ws = new WebSocket(`wss://localhost:${port}`, { ca: TLS.cert });
    const [msg] = await within(once(ws, 'message'));
    assert.equal(msg.toString(), 'secure true');
    ws.close();
    await within(once(ws, 'close'));
    const untrusted = new WebSocket(`wss://localhost:${port}`);
    const [err] = await within(once(untrusted, 'error'));
    assert.match(err.message, /self-signed|certificate/i);
    await within(new Promise<void>((resolve) => wss.close(() => resolve())));
    server.close();
  });

  test('createWebSocketStream: a Duplex with backpressure', async () => {
    const { wss, url } = await listen();
    wss.on('connection', (ws) => {
      const duplex = createWebSocketStream(ws);
      duplex.pipe(duplex); // echo through the stream
    });
    const ws = new WebSocket(url);
    const closed = within(closeEvent(ws));
    const duplex = createWebSocketStream(ws);
    duplex.write('stream ');
    duplex.write('data');
    const chunks: Buffer[] = [];
    duplex.on('data', (c: Buffer) => {
      chunks.push(c);
      if (Buffer.concat(chunks).length === 11) duplex.end();
    });
    await within(once(duplex, 'end'));
    assert.equal(Buffer.concat(chunks).toString(), 'stream data');
    await closed;
    await closeServer(wss);
  });

  test('server close() is graceful: 1001 to every client, then close once they are gone', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    server.listen(0, '127.0.0.1');
    await within(once(server, 'listening'));
    const { port } = server.address() as net.AddressInfo;
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    await within(once(ws, 'open'));
    const clientClosed = within(closeEvent(ws));
    const serverClosed = within(once(wss, 'close'));
    wss.close();
    const [code, reason] = await clientClosed;
    assert.equal(code, 1001);
    assert.equal(reason.toString(), 'Server shutting down');
    await serverClosed;
    assert.equal(wss.clients!.size, 0);
    // Node's http server leaves an upgrade request nobody handles hanging: the client times out.
    const late = new WebSocket(`ws://127.0.0.1:${port}`, { handshakeTimeout: 500 });
    late.on('error', () => {});
    assert.equal((await within(closeEvent(late)))[0], 1006, 'no longer accepted');
    server.close();
  });


  test('broadcast and PreparedMessage: framed once, sent to every client (compressed where negotiated)', async () => {
    const { wss, url } = await listen({ perMessageDeflate: { threshold: 0 } });
    const plain = [new WebSocket(url, { perMessageDeflate: false }), new WebSocket(url, { perMessageDeflate: false })];
    const deflated = new WebSocket(url);
    const all = [...plain, deflated];
    await within(Promise.all(all.map((ws) => once(ws, 'open'))));
    assert.equal(deflated.extensions, 'permessage-deflate');
    const received = all.map(() => [] as string[]);
    all.forEach((ws, i) => ws.on('message', (d: Buffer, isBinary: boolean) => received[i]!.push(`${isBinary ? 'b' : 't'}:${d.toString()}`)));
    const except = [...wss.clients!].find(() => true)!;
    wss.broadcast('hello all');
    wss.broadcast(Buffer.from('bytes'), { except });
    const prepared = new PreparedMessage('prepared');
    for (const ws of wss.clients!) ws.send(prepared);
    await within(new Promise<void>((resolve) => {
      const check = () => (received.reduce((n, r) => n + r.length, 0) === 8 ? resolve() : setTimeout(check, 10));
      check();
    }));
    for (const r of received) {
      assert.equal(r[0], 't:hello all');
      assert.equal(r.at(-1), 't:prepared');
    }
    assert.equal(received.filter((r) => r.includes('b:bytes')).length, 2, 'all but the excepted one');
    // A client cannot reuse server frames (it must mask): it sends the payload instead.
    plain[0]!.send(new PreparedMessage(Buffer.from([1, 2]), { binary: true }));
    for (const ws of all) ws.terminate();
    await closeServer(wss);
  });
});
