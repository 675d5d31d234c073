// Interoperability with the `ws` package over real loopback sockets, in both roles:
//   our WebSocket client  <-> ws WebSocketServer
//   ws WebSocket client   <-> our WebSocketServer
// Each pairing runs the same checks: text, binary, subprotocol selection, close code and reason
// initiated by either side, a 10 MiB message each way, plus fragmentation and ping/pong.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsWebSocket, WebSocketServer as WsWebSocketServer } from 'ws';
import { WebSocket as OurWebSocket, WebSocketServer as OurWebSocketServer } from '../src/index.ts';
import { Endpoint as SharedEndpoint, Queue, sha256, toBuffer, withTimeout } from './helpers/interop.ts';

// Our classes are a drop-in for ws's public API; the suite is written once against that API.
type ClientCtor = typeof WsWebSocket;
type ServerCtor = typeof WsWebSocketServer;
type Socket = InstanceType<ClientCtor>;
/** Records one socket's messages and close (shared helper, typed for this file's sockets). */
class Endpoint extends SharedEndpoint<Socket> {}

const HOST = '127.0.0.1';
const MAX_PAYLOAD = 64 * 1024 * 1024;
const BIG = 10 * 1024 * 1024;
const TEST_OPTS = { timeout: 30_000 };

interface ServerSide extends Endpoint {
  req: IncomingMessage;
  offered: string[];
}

/** A server of the given implementation that echoes every message with its type preserved. */
class EchoServer {
  readonly wss: InstanceType<ServerCtor>;
  port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly connections = new Queue<ServerSide>();

  constructor(Server: ServerCtor) {
    const offered = new WeakMap<IncomingMessage, string[]>();
    this.wss = new Server({
      host: HOST,
      port: 0,
      maxPayload: MAX_PAYLOAD,
      handleProtocols: (protocols: Set<string>, req: IncomingMessage) => {
        offered.set(req, [...protocols]);
        return protocols.has('superchat') ? 'superchat' : false;
      },
    });
    this.wss.on('connection', (ws: Socket, req: IncomingMessage) => {
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      const side = Object.assign(new Endpoint(ws), { req, offered: offered.get(req) ?? [] }) as ServerSide;
      ws.on('message', (data: unknown, isBinary: boolean) => {
        if (ws.readyState === ws.OPEN) ws.send(toBuffer(data), { binary: isBinary });
      });
      this.connections.push(side);
    });
  }

  async listen(): Promise<void> {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        this.wss.once('listening', resolve);
        this.wss.once('error', reject);
      }),
      'server listening',
    );
    this.port = (this.wss.address() as AddressInfo).port;
  }

  url(path = '/'): string {
    return `ws://${HOST}:${this.port}${path}`;
  }

  /** The server side of the connection whose request URL is `path`. */
  connection(path: string): Promise<ServerSide> {
    return this.connections.take(`server connection for ${path}`, (c) => c.req.url === path);
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    await withTimeout(new Promise<void>((resolve) => this.wss.close(() => resolve())), 'server close');
  }
}

function runPairing(label: string, Server: ServerCtor, Client: ClientCtor): void {
  describe(label, () => {
    let server: EchoServer;
    const clients = new Set<Socket>();
    let nextId = 0;

    before(async () => {
      server = new EchoServer(Server);
      await server.listen();
    });

    after(async () => {
      for (const ws of clients) ws.terminate();
      await server.close();
    });

    /** Opens a client and the matching server side; both buffer from the start. */
    async function connect(protocols?: string[]): Promise<{ client: Endpoint; serverSide: ServerSide }> {
      const path = `/?id=${nextId++}`; // pairs this client with its server side
      const ws = protocols
        ? new Client(server.url(path), protocols, { maxPayload: MAX_PAYLOAD })
        : new Client(server.url(path), { maxPayload: MAX_PAYLOAD });
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      const client = new Endpoint(ws);
      const serverSide = server.connection(path);
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        }),
        'client open',
      );
      return { client, serverSide: await serverSide };
    }

    async function closeBoth(client: Endpoint, serverSide: Endpoint): Promise<void> {
      client.ws.close(1000, 'done');
      const [c, s] = await Promise.all([client.waitClosed('client close'), serverSide.waitClosed('server close')]);
      assert.equal(c.code, 1000);
      assert.equal(s.code, 1000);
    }

    test('text messages round-trip as text', TEST_OPTS, async () => {
      const { client, serverSide } = await connect();
      const texts = ['hello', '', 'ünïcödé — 你好 — 🚀', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65_536)];
      for (const text of texts) {
        await client.send(text);
        const echoed = await client.next(`echo of a ${text.length}-char text`);
        assert.equal(echoed.isBinary, false, 'echo must be a text message');
        assert.equal(echoed.data.toString('utf8'), text);
      }
      await closeBoth(client, serverSide);
    });

    test('binary messages round-trip as binary', TEST_OPTS, async () => {
      const { client, serverSide } = await connect();
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const payloads = [all, Buffer.alloc(0), randomBytes(125), randomBytes(126), randomBytes(65_535), randomBytes(65_536)];
      for (const payload of payloads) {
        await client.send(payload);
        const echoed = await client.next(`echo of ${payload.length} bytes`);
        assert.equal(echoed.isBinary, true, 'echo must be a binary message');
        assert.equal(echoed.data.length, payload.length);
        assert.ok(echoed.data.equals(payload), `binary payload of ${payload.length} bytes differs`);
      }
      await closeBoth(client, serverSide);
    });

    test('subprotocol: server selects one of the offered protocols', TEST_OPTS, async () => {
      const { client, serverSide } = await connect(['chat', 'superchat']);
      assert.deepEqual(serverSide.offered, ['chat', 'superchat'], 'server sees the offer in order');
      assert.equal(client.ws.protocol, 'superchat');
      assert.equal(serverSide.ws.protocol, 'superchat');
      await client.send('with protocol');
      assert.equal((await client.next()).data.toString(), 'with protocol');
      await closeBoth(client, serverSide);
    });

    test('subprotocol: none offered gives an empty protocol', TEST_OPTS, async () => {
      const { client, serverSide } = await connect();
      assert.equal(client.ws.protocol, '');
      assert.equal(serverSide.ws.protocol, '');
      assert.equal(serverSide.req.headers['sec-websocket-protocol'], undefined);
      await closeBoth(client, serverSide);
    });

    test('close initiated by the client carries code and reason', TEST_OPTS, async () => {
      const { client, serverSide } = await connect();
      const reason = 'client bye — ✓';
      client.ws.close(4001, reason);
      const s = await serverSide.waitClosed('server sees close');
      assert.deepEqual(s, { code: 4001, reason });
      const c = await client.waitClosed('client close');
      assert.deepEqual(c, { code: 4001, reason }, 'the server echoes the close code and reason');
      assert.equal(client.ws.readyState, client.ws.CLOSED);
    });

    test('close initiated by the server carries code and reason', TEST_OPTS, async () => {
      const { client, serverSide } = await connect();
      const reason = 'server bye — ✓';
      serverSide.ws.close(4002, reason);
      const c = await client.waitClosed('client sees close');
      assert.deepEqual(c, { code: 4002, reason });
      const s = await serverSide.waitClosed('server close');
      assert.deepEqual(s, { code: 4002, reason }, 'the client echoes the close code and reason');
    });

    test('close without a code is reported as 1005 with an empty reason', TEST_OPTS, async () => {
      const { client, serverSide } = await connect();
      client.ws.close();
      const s = await serverSide.waitClosed('server sees close');
      assert.deepEqual(s, { code: 1005, reason: '' });
      const c = await client.waitClosed('client close');
      assert.equal(c.code, 1005);
    });

    test('a 10 MiB binary message round-trips intact', TEST_OPTS, async () => {
      const { client, serverSide } = await connect();
      const payload = randomBytes(BIG);
      await client.send(payload);
      const echoed = await client.next('10 MiB binary echo');
      assert.equal(echoed.isBinary, true);
      assert.equal(echoed.data.length, BIG);
      assert.equal(sha256(echoed.data), sha256(payload));
      await closeBoth(client, serverSide);
    });

    test('a 10 MiB text message round-trips intact', TEST_OPTS, async () => {
      const { client, serverSide } = await connect();
      const unit = 'aé你🚀'; // 1 + 2 + 3 + 4 bytes of UTF-8
      const text = unit.repeat(BIG / 10);
      await client.send(text);
      const echoed = await client.next('10 MiB text echo');
      assert.equal(echoed.isBinary, false);
      assert.equal(echoed.data.length, BIG);
      assert.equal(sha256(echoed.data), sha256(text));
      await closeBoth(client, serverSide);
    });

    test('a message sent in fragments is reassembled', TEST_OPTS, async () => {
      const { client, serverSide } = await connect();
      await client.send('frag-1 ', { binary: false, fin: false });
      await client.send('frag-2 🚀 ', { binary: false, fin: false });
      await client.send('frag-3', { binary: false, fin: true });
      const echoed = await client.next('reassembled fragments');
      assert.equal(echoed.isBinary, false);
      assert.equal(echoed.data.toString('utf8'), 'frag-1 frag-2 🚀 frag-3');
      await closeBoth(client, serverSide);
    });

    test('ping from either side is answered with a pong carrying the payload', TEST_OPTS, async () => {
      const { client, serverSide } = await connect();
      const clientPong = withTimeout(
        new Promise<Buffer>((resolve) => client.ws.once('pong', (d: unknown) => resolve(toBuffer(d)))),
        'pong at the client',
      );
      client.ws.ping(Buffer.from('from client'));
      assert.equal((await clientPong).toString(), 'from client');
      const serverPong = withTimeout(
        new Promise<Buffer>((resolve) => serverSide.ws.once('pong', (d: unknown) => resolve(toBuffer(d)))),
        'pong at the server',
      );
      serverSide.ws.ping(Buffer.from('from server'));
      assert.equal((await serverPong).toString(), 'from server');
      await closeBoth(client, serverSide);
    });
  });
}

runPairing('our client <-> ws server', WsWebSocketServer, OurWebSocket as unknown as ClientCtor);
runPairing('ws client <-> our server', OurWebSocketServer as unknown as ServerCtor, WsWebSocket);
