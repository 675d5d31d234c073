/**
 * `fullduplex connect` as a child process with piped stdin (node dist/cli/main.js; run
 * `npm run build` first), against `fullduplex serve --echo` and against in-process servers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { WebSocketServer, type WebSocket } from '../src/index.js';
import { Child, freePort, nextEvent, within } from './fixtures/harness.js';

const CLI = 'dist/cli/main.js';
const children: Child[] = [];
const servers: WebSocketServer[] = [];

after(async () => {
  await Promise.all(children.map((c) => c.kill()));
  for (const s of servers) {
    for (const c of s.clients ?? []) c.terminate();
    s.close();
  }
});

function start(...args: string[]): Child {
  const child = new Child([CLI, ...args]);
  children.push(child);
  return child;
}

/** An in-process server on 127.0.0.1 (our WebSocketServer), with its ws:// URL. */
async function localServer(options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ ...options, host: '127.0.0.1', port: 0 });
  servers.push(wss);
  await within(once(wss, 'listening'), 'the server to listen');
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

function nextClient(wss: WebSocketServer): Promise<[WebSocket, http.IncomingMessage]> {
  return nextEvent(wss, 'connection') as Promise<[WebSocket, http.IncomingMessage]>;
}

test('connect pipes stdin lines to a serve --echo child and prints the echoes; stdin EOF closes with 1000', async () => {
  const server = start('serve', '--host', '127.0.0.1', '--port', '0', '--echo');
  const [, url] = await server.line(/^Listening on (ws:\/\/\S+)$/);
  const client = start('connect', url!);
  await client.line(/^Connected \(press CTRL\+C to quit\)$/);
  client.proc.stdin!.write('hello\n');
  await client.line(/^< hello$/);
  client.proc.stdin!.write('你好 world\nthird line\n');
  await client.line(/^< third line$/);
  client.proc.stdin!.end();
  await client.line(/^Disconnected \(code: 1000, reason: ""\)$/);
  assert.deepEqual(await client.exit(), { code: 0, signal: null });
  assert.deepEqual(client.stdoutLines, [
    'Connected (press CTRL+C to quit)',
    '< hello',
    '< 你好 world',
    '< third line',
    'Disconnected (code: 1000, reason: "")',
  ]);
  assert.equal(client.stderr, '');
});

test('lines piped before the connection opens are sent once it does', async () => {
  const { wss, url } = await localServer();
  const received: string[] = [];
  wss.on('connection', (ws: WebSocket) => ws.on('message', (d: Buffer) => received.push(d.toString())));
  const closedOnServer = nextClient(wss).then(([ws]) => nextEvent(ws, 'close'));
  const client = new Child([CLI, 'connect', url], {});
  children.push(client);
  client.proc.stdin!.end('one\ntwo\n');
  const [code] = await closedOnServer;
  assert.equal(code, 1000);
  assert.deepEqual(received, ['one', 'two']);
  assert.deepEqual(await client.exit(), { code: 0, signal: null });
});

test('SIGINT closes the connection with 1000 and exits 0', async () => {
  const { wss, url } = await localServer();
  const accepted = nextClient(wss);
  const client = start('connect', url);
  await client.line(/^Connected/);
  const [ws] = await accepted;
  const serverSide = nextEvent(ws, 'close');
  process.kill(client.proc.pid!, 'SIGINT');
  const [code] = await serverSide;
  assert.equal(code, 1000, 'the server sees a clean close');
  await client.line(/^Disconnected \(code: 1000, reason: ""\)$/);
  assert.deepEqual(await client.exit(), { code: 0, signal: null });
});

test('headers (-H), subprotocols (-s) and binary messages', async () => {
  const { wss, url } = await localServer({ handleProtocols: (protocols: Set<string>) => (protocols.has('chat') ? 'chat' : false) });
  const accepted = nextClient(wss);
  const client = start('connect', `${url}/room?x=1`, '-H', 'X-Token: abc 123', '--header', 'X-Other:two', '-s', 'v2.chat', '-s', 'chat');
  const [ws, req] = await accepted;
  assert.equal(req.url, '/room?x=1');
  assert.equal(req.headers['x-token'], 'abc 123');
  assert.equal(req.headers['x-other'], 'two');
  assert.deepEqual(String(req.headers['sec-websocket-protocol']).split(/\s*,\s*/), ['v2.chat', 'chat']);
  assert.equal(ws.protocol, 'chat');
  await client.line(/^Connected/);
  ws.send(Buffer.from([1, 2, 255]));
  await client.line(/^< <binary 3 bytes> 01 02 ff$/);
  ws.send('text after binary');
  await client.line(/^< text after binary$/);
  client.proc.stdin!.end();
  assert.deepEqual(await client.exit(), { code: 0, signal: null });
});

test('the server closing first: Disconnected with its code and reason, exit 0', async () => {
  const { wss, url } = await localServer();
  const accepted = nextClient(wss);
  const client = start('connect', url);
  const [ws] = await accepted;
  await client.line(/^Connected/);
  ws.close(4001, 'bye "now"');
  await client.line(/^Disconnected \(code: 4001, reason: "bye \\"now\\""\)$/);
  assert.deepEqual(await client.exit(), { code: 0, signal: null });
});

test('a refused connection prints one line and exits 1', async () => {
  const port = await freePort();
  const client = start('connect', `ws://127.0.0.1:${port}`);
  assert.deepEqual(await client.exit(), { code: 1, signal: null });
  assert.match(client.stderr, /^fullduplex connect: cannot connect to ws:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED.*\n$/);
  assert.deepEqual(client.stdoutLines, []);
});

test('a handshake the server refuses prints one line and exits 1', async () => {
  const { url } = await localServer({ verifyClient: () => false });
  const client = start('connect', url);
  assert.deepEqual(await client.exit(), { code: 1, signal: null });
  assert.match(client.stderr, /^fullduplex connect: cannot connect to .*401.*\n$/);
});
