/**
 * fullduplex/simple in process: nodejs-websocket's Server and Connection over our WebSocket,
 * checked with our ws-compatible client.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { afterEach, test } from 'node:test';
import ws from '../src/simple/index.js';
import { Connection, createServer, setBinaryFragmentation, type Server } from '../src/simple/index.js';
import { WebSocket } from '../src/index.js';
import { closed, Inbox, nextEvent, within } from './fixtures/harness.js';

let server: Server | undefined;
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  if (server) {
    for (const conn of server.connections) conn.socket?.destroy();
    const s = server;
    server = undefined;
    if (s.socket.listening) await within(new Promise<void>((resolve) => s.close(resolve)), 'the server to close');
  }
  setBinaryFragmentation(512 * 1024);
});

/** Starts `server` on 127.0.0.1 and returns its ws:// URL. */
async function start(s: Server): Promise<string> {
  server = s;
  await within(new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve)), 'listening');
  return `ws://127.0.0.1:${(s.socket.address() as AddressInfo).port}`;
}

async function client(url: string, protocols?: string[], origin?: string): Promise<WebSocket> {
  const c = new WebSocket(url, protocols ?? [], origin === undefined ? {} : { origin });
  clients.push(c);
  await within(once(c, 'open'), `a connection to ${url}`);
  return c;
}

/** The next server-side Connection. */
function nextConnection(s: Server): Promise<Connection> {
  return within(once(s, 'connection').then(([conn]) => conn as Connection), 'a connection');
}

/** Reads a 'binary' stream the way nodejs-websocket's README does. */
function readAll(inStream: Readable): Promise<Buffer> {
  return within(new Promise<Buffer>((resolve) => {
    let data = Buffer.alloc(0);
    inStream.on('readable', () => {
      const newData = inStream.read() as Buffer | null;
      if (newData) data = Buffer.concat([data, newData], data.length + newData.length);
    });
    inStream.on('end', () => resolve(data));
  }), 'a binary stream to end');
}

test('default export and named exports carry the nodejs-websocket API', () => {
  assert.equal(ws.createServer, createServer);
  for (const name of ['createServer', 'connect', 'setBinaryFragmentation', 'setMaxBufferLength'] as const) {
    assert.equal(typeof ws[name], 'function', name);
  }
  assert.deepEqual([Connection.CONNECTING, Connection.OPEN, Connection.CLOSING, Connection.CLOSED], [0, 1, 2, 3]);
  assert.throws(() => ws.setBinaryFragmentation(0), RangeError);
});

test('connection properties: path, headers, protocols, protocol, readyState, server, socket', async () => {
  const url = await start(createServer({ validProtocols: ['chat', 'superchat'] }));
  const accepted = nextConnection(server!);
  const c = await client(`${url}/chat?room=1`, ['v2.chat', 'superchat', 'chat']);
  const conn = await accepted;
  assert.equal(conn.server, server);
  assert.equal(conn.path, '/chat?room=1');
  assert.equal(conn.headers.upgrade, 'websocket');
  assert.deepEqual(conn.protocols, ['v2.chat', 'superchat', 'chat']);
  assert.equal(conn.protocol, 'superchat', 'the first protocol in the client list that the server accepts');
  assert.equal(c.protocol, 'superchat');
  assert.equal(conn.readyState, conn.OPEN);
  assert.ok(conn.socket);
  assert.deepEqual(server!.connections, [conn]);
});

test('selectProtocol chooses the subprotocol', async () => {
  const seen: Array<[string | null, string[]]> = [];
  const url = await start(createServer({
    selectProtocol: (conn, protocols) => {
      seen.push([conn.path, protocols]);
      return protocols.includes('b') ? 'b' : false;
    },
  }));
  const accepted = nextConnection(server!);
  const c = await client(`${url}/x`, ['a', 'b']);
  assert.equal(c.protocol, 'b');
  assert.deepEqual(seen, [['/x', ['a', 'b']]]);
  assert.equal((await accepted).protocol, 'b');
});

test('without validProtocols or selectProtocol the connection has no subprotocol', async () => {
  const url = await start(createServer());
  const accepted = nextConnection(server!);
  const c = await client(url);
  assert.equal(c.protocol, '');
  const conn = await accepted;
  assert.equal(conn.protocol, undefined);
  assert.deepEqual(conn.protocols, []);
});

test('broadcast over server.connections reaches every client (seed 002)', async () => {
  function broadcast(srv: Server, msg: string): void {
    srv.connections.forEach(function (conn) {
      conn.sendText(msg);
    });
  }
  const url = await start(createServer((conn) => {
    conn.on('text', (str) => broadcast(server!, str));
  }));
  const cs = [await client(url), await client(url), await client(url)];
  const inboxes = cs.map((c) => new Inbox(c));
  assert.equal(server!.connections.length, 3);
  cs[1]!.send('to everyone');
  for (const inbox of inboxes) {
    const [m] = await inbox.take(1);
    assert.equal(m!.data.toString(), 'to everyone');
    assert.equal(m!.isBinary, false);
  }

  // server.broadcast keeps the type: binary stays binary.
  server!.broadcast(Buffer.from([1, 2, 3]));
  for (const inbox of inboxes) {
    const [, m] = await inbox.take(2);
    assert.equal(m!.isBinary, true);
    assert.deepEqual([...m!.data], [1, 2, 3]);
  }

  // A closed client leaves server.connections.
  const gone = nextEvent(server!.connections[0]!, 'close');
  cs[0]!.close();
  await gone;
  assert.equal(server!.connections.length, 2);
});

test('sendBinary and the binary event carry bytes both ways', async () => {
  const bytes = Buffer.from(Array.from({ length: 70000 }, (_, i) => i % 251));
  const url = await start(createServer((conn) => {
    conn.on('binary', async (inStream) => {
      const data = await readAll(inStream);
      conn.sendText(`got ${data.length} bytes`);
      conn.sendBinary(Buffer.from(data).reverse());
    });
  }));
  const c = await client(url);
  const inbox = new Inbox(c);
  c.send(bytes);
  const [text, bin] = await inbox.take(2);
  assert.equal(text!.data.toString(), 'got 70000 bytes');
  assert.equal(text!.isBinary, false);
  assert.equal(bin!.isBinary, true);
  assert.deepEqual(bin!.data, Buffer.from(bytes).reverse());

  // An empty binary message is an empty stream.
  c.send(Buffer.alloc(0));
  const [, , empty] = await inbox.take(3);
  assert.equal(empty!.data.toString(), 'got 0 bytes');
});

test('send() picks text for strings and binary for buffers; callbacks run once written', async () => {
  const url = await start(createServer());
  const accepted = nextConnection(server!);
  const c = await client(url);
  const inbox = new Inbox(c);
  const conn = await accepted;
  const written = await within(new Promise<Array<Error | null | undefined>>((resolve) => {
    const results: Array<Error | null | undefined> = [];
    conn.send('text', (err) => results.push(err));
    conn.send(new Uint8Array([9, 8]), (err) => {
      results.push(err);
      resolve(results);
    });
  }), 'send callbacks');
  assert.deepEqual(written.map((e) => e ?? null), [null, null]);
  const [a, b] = await inbox.take(2);
  assert.deepEqual([a!.isBinary, a!.data.toString()], [false, 'text']);
  assert.deepEqual([b!.isBinary, [...b!.data]], [true, [9, 8]]);
});

test('beginBinary streams one message in fragments; text sent after end() follows it', async () => {
  setBinaryFragmentation(1000);
  const url = await start(createServer());
  const accepted = nextConnection(server!);
  const c = await client(url);
  const inbox = new Inbox(c);
  const conn = await accepted;
  const out = conn.beginBinary();
  assert.equal(conn.outStream, out);
  const errors: Error[] = [];
  conn.on('error', (err) => errors.push(err));
  conn.sendText('too early', (err) => errors.push(err!));
  const parts = [Buffer.alloc(600, 1), Buffer.alloc(600, 2), Buffer.alloc(1500, 3), Buffer.alloc(10, 4)];
  for (const p of parts) out.write(p);
  out.end();
  conn.sendText('after');
  const [bin, text] = await inbox.take(2);
  assert.equal(bin!.isBinary, true);
  assert.deepEqual(bin!.data, Buffer.concat(parts));
  assert.equal(text!.data.toString(), 'after');
  assert.equal(conn.outStream, null);
  assert.equal(inbox.messages.length, 2, 'the refused text was never sent');
  assert.equal(errors.length, 2, 'error event and callback');
  assert.match(errors[0]!.message, /binary transmission/);
});

test('close codes and reasons in both directions', async () => {
  const url = await start(createServer());

  // Server closes with a code and reason.
  let accepted = nextConnection(server!);
  let c = await client(url);
  let conn = await accepted;
  let serverSide = nextEvent(conn, 'close');
  let clientSide = closed(c);
  conn.close(4000, 'bye now');
  assert.equal(conn.readyState, conn.CLOSING);
  assert.deepEqual(await clientSide, { code: 4000, reason: 'bye now' });
  assert.deepEqual(await serverSide, [4000, 'bye now']);
  assert.equal(conn.readyState, conn.CLOSED);

  // Client closes with 1001.
  accepted = nextConnection(server!);
  c = await client(url);
  conn = await accepted;
  serverSide = nextEvent(conn, 'close');
  c.close(1001, 'going away');
  assert.deepEqual(await serverSide, [1001, 'going away']);

  // No code at all: 1005 on the receiving side.
  accepted = nextConnection(server!);
  c = await client(url);
  conn = await accepted;
  serverSide = nextEvent(conn, 'close');
  clientSide = closed(c);
  conn.close();
  assert.deepEqual(await clientSide, { code: 1005, reason: '' });
  assert.deepEqual(await serverSide, [1005, '']);

  // The peer vanishes without a closing handshake: 1006.
  accepted = nextConnection(server!);
  c = await client(url);
  conn = await accepted;
  serverSide = nextEvent(conn, 'close');
  c.terminate();
  assert.deepEqual(await serverSide, [1006, '']);
  assert.equal(server!.connections.length, 0);

  // A code RFC 6455 forbids is a clear TypeError.
  accepted = nextConnection(server!);
  c = await client(url);
  conn = await accepted;
  assert.throws(() => conn.close(1005), TypeError);
});

test('sending on a closed connection reports an error without throwing', async () => {
  const url = await start(createServer());
  const accepted = nextConnection(server!);
  const c = await client(url);
  const conn = await accepted;
  const serverSide = nextEvent(conn, 'close');
  c.close();
  await serverSide;
  // No 'error' listener: nothing is thrown.
  conn.sendText('lost');
  const err = await within(new Promise<Error | null | undefined>((resolve) => conn.sendText('lost', resolve)), 'send callback');
  assert.match(String(err?.message), /not open/);
  const seen: Error[] = [];
  conn.on('error', (e) => seen.push(e));
  conn.sendBinary(Buffer.from('x'));
  assert.equal(seen.length, 1);
});

test('sendPing gets a pong event with the payload', async () => {
  const url = await start(createServer());
  const accepted = nextConnection(server!);
  await client(url);
  const conn = await accepted;
  const pong = nextEvent(conn, 'pong');
  conn.sendPing('are you there');
  assert.deepEqual(await pong, ['are you there']);
});

test('server events: listening, error (port in use), close after connections end', async () => {
  const url = await start(createServer());
  const port = (server!.socket.address() as AddressInfo).port;

  const other = createServer();
  const failed = within(once(other, 'error'), 'error event');
  other.listen(port, '127.0.0.1');
  const [err] = await failed;
  assert.equal((err as NodeJS.ErrnoException).code, 'EADDRINUSE');

  const accepted = nextConnection(server!);
  const c = await client(url);
  const conn = await accepted;
  let serverClosed = false;
  const s = server!;
  const closing = within(new Promise<void>((resolve) => s.close(() => {
    serverClosed = true;
    resolve();
  })), 'server close');
  // The existing connection still works.
  const inbox = new Inbox(c);
  conn.sendText('still here');
  await inbox.take(1);
  assert.equal(serverClosed, false, 'close waits for open connections');
  c.close();
  await closing;
  server = undefined;
});

test('pages from any origin may connect by default, as with nodejs-websocket; allowOrigins restricts', async () => {
  const url = await start(createServer());
  const c = await client(url, undefined, 'http://localhost:3000');
  assert.equal(c.readyState, WebSocket.OPEN);

  const strict = createServer({ allowOrigins: ['https://app.example'] });
  await within(new Promise<void>((resolve) => strict.listen(0, '127.0.0.1', resolve)), 'listening');
  try {
    const strictUrl = `ws://127.0.0.1:${(strict.socket.address() as AddressInfo).port}`;
    const refused = new WebSocket(strictUrl, { origin: 'http://localhost:3000' });
    const err = await within(new Promise<Error>((resolve) => refused.once('error', resolve)), 'a refusal');
    assert.match(err.message, /403/);
    const allowed = new WebSocket(strictUrl, { origin: 'https://app.example' });
    clients.push(allowed);
    await within(once(allowed, 'open'), 'an allowed origin to connect');
    allowed.terminate();
  } finally {
    await within(new Promise<void>((resolve) => strict.close(resolve)), 'the strict server to close');
  }
});

test('plain HTTP requests get 426 Upgrade Required', async () => {
  const url = await start(createServer());
  const res = await within(fetch(url.replace('ws:', 'http:')), 'HTTP response');
  assert.equal(res.status, 426);
  await res.text();
});

test('messages over setMaxBufferLength are refused with 1009', async () => {
  const { setMaxBufferLength } = ws;
  setMaxBufferLength(1024);
  try {
    const url = await start(createServer());
    const accepted = nextConnection(server!);
    const c = await client(url);
    const conn = await accepted;
    const errors: Error[] = [];
    conn.on('error', (err) => errors.push(err));
    const serverSide = nextEvent(conn, 'close');
    const clientSide = closed(c);
    c.send(Buffer.alloc(2048));
    assert.equal((await clientSide).code, 1009, 'the sender is told: message too big');
    await serverSide;
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /payload/i);
    assert.equal(server!.connections.length, 0);
  } finally {
    setMaxBufferLength(2 * 1024 * 1024);
  }
});
