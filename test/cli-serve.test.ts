/**
 * `fullduplex serve` as a child process (node dist/cli/main.js; run `npm run build` first),
 * driven by our WebSocket client over 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import type { WebSocket } from '../src/index.js';
import { Child, closed, Inbox, openClient, TLS_CERT, TLS_KEY } from './fixtures/harness.js';

const CLI = 'dist/cli/main.js';
const children: Child[] = [];
const clients: WebSocket[] = [];

after(async () => {
  for (const c of clients) c.terminate();
  await Promise.all(children.map((c) => c.kill()));
});

/** Starts `fullduplex serve ...args` and returns the child and the URL it prints. */
async function serve(...args: string[]): Promise<{ child: Child; url: string }> {
  const child = new Child([CLI, 'serve', '--host', '127.0.0.1', '--port', '0', ...args]);
  children.push(child);
  const [line, url] = await child.line(/^Listening on (wss?:\/\/127\.0\.0\.1:\d+)$/);
  assert.equal(child.stdoutLines[0], line, 'the URL is the first line printed');
  return { child, url: url! };
}

async function client(url: string, options?: Parameters<typeof openClient>[1]): Promise<{ ws: WebSocket; inbox: Inbox }> {
  const ws = await openClient(url, options);
  clients.push(ws);
  return { ws, inbox: new Inbox(ws) };
}

test('serve --echo returns text as text and binary as binary; SIGINT closes clients with 1001', async () => {
  const { child, url } = await serve('--echo');
  assert.notEqual(url, 'ws://127.0.0.1:0', 'port 0 is replaced by the real port');
  const { ws, inbox } = await client(url, { origin: 'http://some-other-page.example' });
  const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
  ws.send('hello');
  ws.send(bytes);
  ws.send('');
  const [text, binary, empty] = await inbox.take(3);
  assert.deepEqual([text!.isBinary, text!.data.toString()], [false, 'hello']);
  assert.deepEqual([binary!.isBinary, binary!.data], [true, bytes]);
  assert.deepEqual([empty!.isBinary, empty!.data.length], [false, 0]);

  // A second client gets only its own echoes.
  const other = await client(url);
  other.ws.send('mine');
  const [mine] = await other.inbox.take(1);
  assert.equal(mine!.data.toString(), 'mine');
  assert.equal(inbox.messages.length, 3);

  const closing = closed(ws);
  process.kill(child.proc.pid!, 'SIGINT');
  assert.deepEqual(await closing, { code: 1001, reason: 'server shutting down' });
  assert.deepEqual(await child.exit(), { code: 0, signal: null });
});

test('serve --broadcast sends every message to every client, sender included, keeping its type', async () => {
  const { url } = await serve('--broadcast');
  const peers = [await client(url), await client(url), await client(url)];
  peers[1]!.ws.send('from the middle');
  for (const { inbox } of peers) {
    const [m] = await inbox.take(1);
    assert.deepEqual([m!.isBinary, m!.data.toString()], [false, 'from the middle']);
  }
  peers[2]!.ws.send(Buffer.from('binary stays binary'));
  for (const { inbox } of peers) {
    const [, m] = await inbox.take(2);
    assert.deepEqual([m!.isBinary, m!.data.toString()], [true, 'binary stays binary']);
  }
  // A client that left is simply no longer served.
  const gone = closed(peers[0]!.ws);
  peers[0]!.ws.close();
  await gone;
  peers[1]!.ws.send('two left');
  for (const { inbox } of peers.slice(1)) {
    const [, , m] = await inbox.take(3);
    assert.equal(m!.data.toString(), 'two left');
  }
  assert.equal(peers[0]!.inbox.messages.length, 2);
});

test('serve --deflate negotiates permessage-deflate', async () => {
  const { url } = await serve('--echo', '--deflate');
  const { ws, inbox } = await client(url, { perMessageDeflate: true });
  assert.match(ws.extensions, /permessage-deflate/);
  const big = 'compress me '.repeat(1000);
  ws.send(big);
  const [m] = await inbox.take(1);
  assert.equal(m!.data.toString(), big);
});

test('serve without --deflate declines compression', async () => {
  const { url } = await serve('--echo');
  const { ws } = await client(url, { perMessageDeflate: true });
  assert.equal(ws.extensions, '');
});

test('serve --tls-cert/--tls-key serves wss://', async () => {
  const { url } = await serve('--echo', '--tls-cert', TLS_CERT, '--tls-key', TLS_KEY);
  assert.match(url, /^wss:\/\//);
  const { ws, inbox } = await client(url, { ca: readFileSync(TLS_CERT) });
  ws.send('secure');
  const [m] = await inbox.take(1);
  assert.equal(m!.data.toString(), 'secure');
});

test('serve answers plain HTTP with 426 Upgrade Required', async () => {
  const { url } = await serve('--echo');
  const res = await fetch(url.replace(/^ws/, 'http'));
  assert.equal(res.status, 426);
  assert.equal(res.headers.get('upgrade'), 'websocket');
  await res.text();
});

test('serve on a port in use fails with one line and exit code 1', async () => {
  const { url } = await serve('--echo');
  const port = new URL(url).port;
  const second = new Child([CLI, 'serve', '--host', '127.0.0.1', '--port', port, '--echo']);
  children.push(second);
  assert.deepEqual(await second.exit(), { code: 1, signal: null });
  assert.match(second.stderr, /^fullduplex serve: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE.*\n$/);
  assert.deepEqual(second.stdoutLines, []);
});
