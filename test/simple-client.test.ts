/**
 * fullduplex/simple's connect(): the nodejs-websocket client, against its own Server (ws://
 * and wss://) and against a refused port.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { afterEach, test } from 'node:test';
import { connect, Connection, createServer, type Server } from '../src/simple/index.js';
import { freePort, nextEvent, TLS_CERT, TLS_KEY, within } from './fixtures/harness.js';

const servers: Server[] = [];
const conns: Connection[] = [];

afterEach(async () => {
  for (const c of conns.splice(0)) c.socket?.destroy();
  for (const s of servers.splice(0)) {
    for (const c of s.connections) c.socket?.destroy();
    await within(new Promise<void>((resolve) => s.close(resolve)), 'the server to close');
  }
});

async function listen(s: Server): Promise<number> {
  servers.push(s);
  await within(new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve)), 'listening');
  return (s.socket.address() as AddressInfo).port;
}

function streamText(inStream: Readable): Promise<string> {
  return within(new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    inStream.on('data', (c: Buffer) => chunks.push(c));
    inStream.on('end', () => resolve(Buffer.concat(chunks).toString()));
  }), 'a binary stream');
}

test('connect(): handshake, text and binary both ways, close', async () => {
  const port = await listen(createServer({ validProtocols: ['echo'] }, (conn) => {
    conn.on('text', (str) => conn.sendText(`${str} (path ${conn.path}, token ${String(conn.headers['x-token'])})`));
    conn.on('binary', async (inStream) => conn.sendBinary(Buffer.from((await streamText(inStream)).toUpperCase())));
  }));
  let connected = false;
  const conn = connect(`ws://127.0.0.1:${port}/room/7?x=1`, { extraHeaders: { 'X-Token': 'abc' }, protocols: ['echo'] }, () => {
    connected = true;
  });
  conns.push(conn);
  assert.equal(conn.readyState, Connection.CONNECTING);
  assert.equal(conn.server, null);
  await nextEvent(conn, 'connect');
  assert.equal(connected, true);
  assert.equal(conn.readyState, Connection.OPEN);
  assert.equal(conn.path, '/room/7?x=1');
  assert.equal(conn.protocol, 'echo');
  assert.deepEqual(conn.protocols, ['echo']);
  assert.equal(conn.headers['sec-websocket-protocol'], 'echo', 'headers of the handshake response');
  assert.ok(conn.socket);

  const text = nextEvent(conn, 'text');
  conn.sendText('hi');
  assert.deepEqual(await text, ['hi (path /room/7?x=1, token abc)']);

  const binary = nextEvent(conn, 'binary');
  conn.sendBinary(Buffer.from('bytes'));
  const [inStream] = await binary;
  assert.equal(await streamText(inStream as Readable), 'BYTES');

  const closing = nextEvent(conn, 'close');
  conn.close(1000, 'done');
  assert.deepEqual(await closing, [1000, 'done']);
  assert.equal(conn.readyState, Connection.CLOSED);
});

test('connect() to a port nobody listens on: error, then close 1006', async () => {
  const port = await freePort();
  const conn = connect(`ws://127.0.0.1:${port}`);
  const errors: Error[] = [];
  conn.on('error', (err) => errors.push(err));
  const [code] = await nextEvent(conn, 'close');
  assert.equal(code, 1006);
  assert.equal((errors[0] as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');
});

test('connect() rejects a malformed URL or a scheme WebSocket cannot use', () => {
  assert.throws(() => connect('ftp://127.0.0.1:1/'), SyntaxError);
  assert.throws(() => connect('not a url'), SyntaxError);
});

test('secure server (wss://) with a TLS key and certificate', async () => {
  const cert = readFileSync(TLS_CERT);
  const port = await listen(createServer({ secure: true, key: readFileSync(TLS_KEY), cert }, (conn) => {
    conn.on('text', (str) => conn.sendText(str.toUpperCase() + '!!!'));
  }));
  const conn = connect(`wss://localhost:${port}`, { ca: cert });
  conns.push(conn);
  await nextEvent(conn, 'connect');
  const reply = nextEvent(conn, 'text');
  conn.sendText('hello');
  assert.deepEqual(await reply, ['HELLO!!!']);
  const closing = nextEvent(conn, 'close');
  conn.close();
  await closing;
});
