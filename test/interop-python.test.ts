// Interoperability with Python `websockets` (Debian python3-websockets, in /usr/bin/python3)
// over real loopback sockets, in both roles:
//   Python websockets client <-> our WebSocketServer
//   our WebSocket client     <-> Python websockets server
// The Python side is test/helpers/python_peer.py, run as a child process.

import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from '../src/index.ts';
import { Endpoint as SharedEndpoint, Queue, sha256, toBuffer, withTimeout } from './helpers/interop.ts';

const PYTHON = '/usr/bin/python3';
const PEER = fileURLToPath(new URL('./helpers/python_peer.py', import.meta.url));
const HOST = '127.0.0.1';
const MAX_PAYLOAD = 64 * 1024 * 1024;
const BIG = 10 * 1024 * 1024;
const WAIT_MS = 10_000;
const PYTHON_MS = 25_000;
const TEST_OPTS = { timeout: 40_000 };
const INSTALL_HINT = 'install Debian python3-websockets: apt-get install -y python3-websockets';

/** Why the Python peer cannot run here, or null when it can. */
function pythonPeerProblem(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], {
    encoding: 'utf8',
    timeout: WAIT_MS,
  });
  if (r.error) return `${PYTHON} not runnable (${r.error.message}); ${INSTALL_HINT}`;
  if (r.status !== 0) return `python websockets not importable from ${PYTHON}; ${INSTALL_HINT}`;
  return null;
}

const peerProblem = pythonPeerProblem();

/** Skips locally when the peer is missing; under CI=true a missing peer fails the test. */
function peerMissing(t: TestContext): boolean {
  if (peerProblem === null) return false;
  if (process.env.CI === 'true') throw new Error(`Python websockets peer missing under CI: ${peerProblem}`);
  t.skip(peerProblem);
  return true;
}

// ---------------------------------------------------------------------------------------------
// shared helpers

interface Described {
  type: 'text' | 'binary';
  length: number;
  sha256: string;
  text?: string;
}

type Socket = InstanceType<typeof WebSocket>;
/** Records one socket's messages and close (shared helper, typed for this file's sockets). */
class Endpoint extends SharedEndpoint<Socket> {}


/** Runs python_peer.py to completion; resolves with its stdout parsed as JSON. */
async function runPythonClient(url: string, scenario: string): Promise<Record<string, any>> {
  const child = spawn(PYTHON, [PEER, 'client', url, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  let status: number | null;
  try {
    status = await withTimeout(exited, `python client scenario ${scenario}`, PYTHON_MS);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\nstderr:\n${stderr}`);
  }
  assert.equal(status, 0, `python client ${scenario} exited with ${status}\nstderr:\n${stderr}\nstdout:\n${stdout}`);
  const result = JSON.parse(stdout.trim()) as Record<string, any>;
  assert.equal(result.error, undefined, `python client ${scenario}: ${JSON.stringify(result)}`);
  return result;
}

const TEXTS = ['hello', '', 'ünïcödé — 你好 — 🚀', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65_536)];

// ---------------------------------------------------------------------------------------------
// Python client <-> our server

interface ServerSide extends Endpoint {
  req: IncomingMessage;
  offered: string[];
}

describe('python websockets client <-> our server', () => {
  let wss: InstanceType<typeof WebSocketServer> | undefined;
  let port = 0;
  const connections = new Queue<ServerSide>();
  const sockets = new Set<Socket>();

  before(async () => {
    if (peerProblem !== null) return;
    const offered = new WeakMap<IncomingMessage, string[]>();
    const server = new WebSocketServer({
      host: HOST,
      port: 0,
      maxPayload: MAX_PAYLOAD,
      handleProtocols: (protocols: Set<string>, req: IncomingMessage) => {
        offered.set(req, [...protocols]);
        return protocols.has('superchat') ? 'superchat' : false;
      },
    });
    wss = server;
    server.on('connection', (ws: Socket, req: IncomingMessage) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      const side = Object.assign(new Endpoint(ws), { req, offered: offered.get(req) ?? [] }) as ServerSide;
      const path = new URL(req.url ?? '/', `http://${HOST}`).pathname;
      if (path === '/server-close') {
        ws.close(4002, 'server bye — ✓');
      } else {
        ws.on('message', (data: unknown, isBinary: boolean) => {
          if (ws.readyState === ws.OPEN) ws.send(toBuffer(data), { binary: isBinary });
        });
      }
      connections.push(side);
    });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        server.once('listening', resolve);
        server.once('error', reject);
      }),
      'our server listening',
    );
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    for (const ws of sockets) ws.terminate();
    const server = wss;
    if (server) await withTimeout(new Promise<void>((resolve) => server.close(() => resolve())), 'our server close');
  });

  let nextId = 0;

  /** A fresh URL for `path`, and a way to get the server side of the connection made to it. */
  function endpoint(path: string): { url: string; serverSide: () => Promise<ServerSide> } {
    const full = `${path}?id=${nextId++}`;
    return {
      url: `ws://${HOST}:${port}${full}`,
      serverSide: () => connections.take(`server connection for ${full}`, (c) => c.req.url === full),
    };
  }

  test('text messages round-trip as text', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const e = endpoint('/echo');
    const result = await runPythonClient(e.url, 'text');
    const side = await e.serverSide();
    assert.equal(result.echoes.length, TEXTS.length);
    result.echoes.forEach((echo: Described, i: number) => {
      assert.equal(echo.type, 'text');
      assert.equal(echo.text, TEXTS[i]);
    });
    assert.deepEqual(await side.waitClosed(), { code: 1000, reason: '' });
  });

  test('binary messages round-trip as binary', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const e = endpoint('/echo');
    const result = await runPythonClient(e.url, 'binary');
    const side = await e.serverSide();
    assert.equal(result.echoes.length, 6);
    result.echoes.forEach((echo: Described, i: number) => {
      assert.equal(echo.type, 'binary');
      assert.equal(echo.length, result.sent[i].length);
      assert.equal(echo.sha256, result.sent[i].sha256);
    });
    assert.deepEqual(await side.waitClosed(), { code: 1000, reason: '' });
  });

  test('subprotocol: server selects one of the offered protocols', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const e = endpoint('/echo');
    const result = await runPythonClient(e.url, 'subprotocol');
    const side = await e.serverSide();
    assert.deepEqual(side.offered, ['chat', 'superchat']);
    assert.equal(side.ws.protocol, 'superchat');
    assert.equal(result.subprotocol, 'superchat');
    assert.equal(result.echo.text, 'with protocol');
  });

  test('close initiated by the client carries code and reason', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const e = endpoint('/echo');
    const result = await runPythonClient(e.url, 'client-close');
    const side = await e.serverSide();
    assert.deepEqual(await side.waitClosed(), { code: 4001, reason: 'client bye — ✓' });
    assert.equal(result.code, 4001, 'our server echoes the close code');
    assert.equal(result.reason, 'client bye — ✓', 'our server echoes the close reason');
  });

  test('close initiated by the server carries code and reason', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const e = endpoint('/server-close');
    const result = await runPythonClient(e.url, 'server-close');
    const side = await e.serverSide();
    assert.equal(result.code, 4002);
    assert.equal(result.reason, 'server bye — ✓');
    assert.deepEqual(await side.waitClosed(), { code: 4002, reason: 'server bye — ✓' });
  });

  test('10 MiB binary and text messages round-trip intact', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const e = endpoint('/echo');
    const result = await runPythonClient(e.url, 'big');
    await e.serverSide();
    for (const kind of ['binary', 'text'] as const) {
      const { sent, echo } = result[kind];
      assert.equal(sent.length, BIG);
      assert.equal(echo.type, kind);
      assert.equal(echo.length, BIG);
      assert.equal(echo.sha256, sent.sha256);
    }
  });

  test('fragmented messages from python are reassembled', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const e = endpoint('/echo');
    const result = await runPythonClient(e.url, 'fragments');
    await e.serverSide();
    assert.equal(result.text.type, 'text');
    assert.equal(result.text.text, 'frag-1 frag-2 🚀 frag-3');
    assert.equal(result.binary.type, 'binary');
    assert.equal(result.binary.length, 4);
    assert.equal(result.binary.sha256, result.binary_expected);
  });

  test('ping from python is answered with a pong', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const e = endpoint('/echo');
    const result = await runPythonClient(e.url, 'ping');
    await e.serverSide();
    assert.equal(result.pong, true);
    assert.equal(result.echo.text, 'after ping');
  });
});

// ---------------------------------------------------------------------------------------------
// our client <-> Python server

interface PeerEvent {
  event: 'listening' | 'open' | 'closed';
  port?: number;
  path?: string;
  subprotocol?: string | null;
  offered?: string | null;
  code?: number;
  reason?: string;
}

describe('our client <-> python websockets server', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  let port = 0;
  let stderr = '';
  const events = new Queue<PeerEvent>();
  const clients = new Set<Socket>();
  let nextId = 0;

  before(async () => {
    if (peerProblem !== null) return;
    const proc = spawn(PYTHON, [PEER, 'server'], { stdio: ['pipe', 'pipe', 'pipe'] });
    child = proc;
    proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    createInterface({ input: proc.stdout }).on('line', (line) => events.push(JSON.parse(line) as PeerEvent));
    const exited = new Promise<never>((_, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code) => reject(new Error(`python server exited with ${code}\n${stderr}`)));
    });
    exited.catch(() => {});
    const listening = await Promise.race([events.take('python server listening', (e) => e.event === 'listening'), exited]);
    assert.equal(listening.event, 'listening');
    port = listening.port as number;
  });

  after(async () => {
    for (const ws of clients) ws.terminate();
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.stdin.end(); // the peer exits at EOF on stdin
    try {
      await withTimeout(gone, 'python server exit', 5_000);
    } catch {
      proc.kill('SIGKILL');
      await withTimeout(gone, 'python server kill', 5_000);
    }
  });

  /** Next open/closed event the Python server prints for `path`. */
  async function peerEvent(kind: 'open' | 'closed', path: string): Promise<PeerEvent> {
    return events.take(`python server "${kind}" event for ${path}`, (e) => e.event === kind && e.path === path);
  }

  async function connect(path: string, protocols?: string[]): Promise<{ client: Endpoint; path: string }> {
    const full = `${path}${path.includes('?') ? '&' : '?'}id=${nextId++}`;
    const u = `ws://${HOST}:${port}${full}`;
    const ws = protocols ? new WebSocket(u, protocols, { maxPayload: MAX_PAYLOAD }) : new WebSocket(u, { maxPayload: MAX_PAYLOAD });
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    const client = new Endpoint(ws);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
      'client open',
    );
    return { client, path: full };
  }

  async function closeNormally(client: Endpoint, path: string): Promise<void> {
    client.ws.close(1000, 'done');
    assert.equal((await client.waitClosed()).code, 1000);
    const closed = await peerEvent('closed', path);
    assert.equal(closed.code, 1000);
    assert.equal(closed.reason, 'done');
  }

  test('text messages round-trip as text', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const { client, path } = await connect('/echo');
    for (const text of TEXTS) {
      await client.send(text);
      const echoed = await client.next(`echo of a ${text.length}-char text`);
      assert.equal(echoed.isBinary, false);
      assert.equal(echoed.data.toString('utf8'), text);
    }
    await closeNormally(client, path);
  });

  test('binary messages round-trip as binary', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const { client, path } = await connect('/echo');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (const payload of [all, Buffer.alloc(0), randomBytes(125), randomBytes(126), randomBytes(65_535), randomBytes(65_536)]) {
      await client.send(payload);
      const echoed = await client.next(`echo of ${payload.length} bytes`);
      assert.equal(echoed.isBinary, true);
      assert.equal(echoed.data.length, payload.length);
      assert.ok(echoed.data.equals(payload), `binary payload of ${payload.length} bytes differs`);
    }
    await closeNormally(client, path);
  });

  test('subprotocol: server selects one of the offered protocols', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const { client, path } = await connect('/echo', ['chat', 'superchat']);
    assert.equal(client.ws.protocol, 'superchat');
    const open = await peerEvent('open', path);
    assert.equal(open.subprotocol, 'superchat');
    assert.deepEqual(
      (open.offered ?? '').split(',').map((p) => p.trim()),
      ['chat', 'superchat'],
      'the client offers both protocols in order',
    );
    await closeNormally(client, path);
  });

  test('subprotocol: none offered gives an empty protocol', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const { client, path } = await connect('/echo');
    assert.equal(client.ws.protocol, '');
    const open = await peerEvent('open', path);
    assert.equal(open.subprotocol, null);
    assert.equal(open.offered, null);
    await closeNormally(client, path);
  });

  test('close initiated by the client carries code and reason', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const { client, path } = await connect('/echo');
    client.ws.close(4001, 'client bye — ✓');
    const closed = await peerEvent('closed', path);
    assert.equal(closed.code, 4001);
    assert.equal(closed.reason, 'client bye — ✓');
    assert.deepEqual(await client.waitClosed(), { code: 4001, reason: 'client bye — ✓' }, 'python echoes code and reason');
  });

  test('close initiated by the server carries code and reason', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const reason = 'server bye — ✓';
    const { client, path } = await connect(`/server-close?code=4002&reason=${encodeURIComponent(reason)}`);
    assert.deepEqual(await client.waitClosed(), { code: 4002, reason });
    const closed = await peerEvent('closed', path);
    assert.equal(closed.code, 4002, 'our client echoes the close code');
    assert.equal(closed.reason, reason, 'our client echoes the close reason');
  });

  test('close without a code is seen as 1005', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const { client, path } = await connect('/echo');
    client.ws.close();
    const closed = await peerEvent('closed', path);
    assert.equal(closed.code, 1005);
    assert.equal(closed.reason, '');
    assert.equal((await client.waitClosed()).code, 1005);
  });

  test('10 MiB binary and text messages round-trip intact', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const { client, path } = await connect('/echo');
    const binary = randomBytes(BIG);
    await client.send(binary);
    const binaryEcho = await client.next('10 MiB binary echo');
    assert.equal(binaryEcho.isBinary, true);
    assert.equal(binaryEcho.data.length, BIG);
    assert.equal(sha256(binaryEcho.data), sha256(binary));
    const text = 'aé你🚀'.repeat(BIG / 10);
    await client.send(text);
    const textEcho = await client.next('10 MiB text echo');
    assert.equal(textEcho.isBinary, false);
    assert.equal(textEcho.data.length, BIG);
    assert.equal(sha256(textEcho.data), sha256(text));
    await closeNormally(client, path);
  });

  test('ping from our client is answered with a pong carrying the payload', TEST_OPTS, async (t) => {
    if (peerMissing(t)) return;
    const { client, path } = await connect('/echo');
    const pong = withTimeout(
      new Promise<Buffer>((resolve) => client.ws.once('pong', (d: unknown) => resolve(toBuffer(d)))),
      'pong',
    );
    client.ws.ping(Buffer.from('from node'));
    assert.equal((await pong).toString(), 'from node');
    await closeNormally(client, path);
  });
});
