/**
 * Hardening of the flow of a connection (issue 3, "Hardening"): slow consumers (the send
 * buffer cap and its two policies), ping floods, the heartbeat, and the graceful close of the
 * server, over real loopback sockets. Where a peer could push on memory, the server runs in a
 * child process of its own and its RSS is measured there.
 *
 * RFC 6455 section 7.4.1: 1008 "policy violation" is what the server sends when it gives up on
 * a peer that does not read; 1001 "going away" is what every client gets when the server shuts
 * down; 1006 is the code reported locally when a connection ends without a Close frame (a peer
 * that missed its heartbeat, or never answered the Close).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { WebSocket } from '../src/index.ts';
import { OP, RawConnection, RawServer, type Frame } from './helpers/raw-peer.ts';
import { ChildServer, MiB, mib } from './helpers/hardening-child.ts';
import {
  closed,
  echo,
  openClient,
  rawClient,
  rawUpgrade,
  startServer,
  waitFor,
  within,
  WAIT_MS,
  withServer,
  type TestServer,
} from './helpers/hardening-net.ts';

/** RSS growth allowed during a flood; the unbounded versions grow by 200-300 MiB. */
const MEMORY_BOUND = 64 * MiB;

/** Resolves with the first connection the server accepts. */
function nextConnection(s: TestServer): Promise<WebSocket> {
  return within(new Promise((resolve) => s.wss.once('connection', resolve)), WAIT_MS, 'a server-side connection');
}

type ErrorWithCode = Error & { code?: string };

// ---------------------------------------------------------------------------------------------
// Slow consumers: maxBufferedAmount with onBufferFull 'close' (the default)
// ---------------------------------------------------------------------------------------------

test("a client that never reads while the server tries to send 200 MiB: closed after closeTimeout, server memory bounded", async (t) => {
  const child = await ChildServer.start({
    mode: 'flood',
    options: { maxBufferedAmount: MiB, closeTimeout: 1000 },
    floodBytes: 200 * MiB,
    messageBytes: 256 * 1024,
  });
  let socket: net.Socket | undefined;
  try {
    await child.mark();
    ({ socket } = await rawUpgrade(child.port)); // paused: never reads a byte
    const close = await child.waitEvent((e) => e.event === 'close', 20_000, "the server's close event");
    const flood = await child.waitEvent((e) => e.event === 'flood', 20_000, 'the end of the flood');
    const mem = await child.memory();
    t.diagnostic(
      `attempted ${mib(flood.attempted as number)}, written ${flood.ok} messages, buffer-full ${flood.bufferFull}, ` +
        `after close ${flood.otherErrors}; max bufferedAmount ${mib(flood.maxBuffered as number)}; ` +
        `peak RSS growth ${mib(mem.peakGrowth)}; cpu ${mem.cpuMs} ms`,
    );
    assert.equal(close.code, 1006, 'the peer never answered the Close, so the connection ends without one');
    assert.equal(flood.attempted, 200 * MiB);
    assert.ok((flood.bufferFull as number) >= 1, 'the send that crossed the limit reports WS_ERR_BUFFER_FULL');
    assert.equal((flood.ok as number) + (flood.bufferFull as number) + (flood.otherErrors as number), 800, 'every send callback ran once');
    assert.equal(flood.openAtEnd, false);
    assert.ok((flood.maxBuffered as number) <= MiB + 256 * 1024 + 14, `bufferedAmount reached ${mib(flood.maxBuffered as number)}`);
    assert.ok(mem.peakGrowth < MEMORY_BOUND, `server RSS grew by ${mib(mem.peakGrowth)}`);
  } finally {
    socket?.destroy();
    await child.stop();
  }
});

test('a slow consumer that reads late sees every message that was accepted, then Close 1008', async () => {
  await withServer({ maxBufferedAmount: MiB, closeTimeout: 10_000 }, async (s) => {
    const connected = nextConnection(s);
    const { socket, rest } = await rawUpgrade(s.port); // paused
    const ws = await connected;
    let accepted = 0;
    let refused = 0;
    let afterClose = 0;
    let sends = 0;
    const serverClose = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    // Send 256 KiB messages, one per turn of the event loop, until the server gives up (section 7.4.1, 1008).
    await within(
      new Promise<void>((resolve) => {
        const step = (): void => {
          if (ws.readyState !== WebSocket.OPEN || sends >= 400) return resolve();
          const data = Buffer.alloc(256 * 1024, sends & 0xff);
          data.writeUInt32BE(sends++, 0);
          ws.send(data, (error?: Error | null) => {
            if (!error) accepted++;
            else if ((error as ErrorWithCode).code === 'WS_ERR_BUFFER_FULL') refused++;
            else afterClose++;
          });
          setImmediate(step);
        };
        step();
      }),
      10_000,
      'the server to apply onBufferFull',
    );
    assert.equal(ws.readyState, WebSocket.CLOSING, 'the server must have started the closing handshake');
    assert.equal(refused, 1, 'exactly the send that crossed the limit is refused');
    // Now the client reads: every frame the server accepted, in order, then the Close.
    const conn = new RawConnection(socket, 'client', rest);
    const messages: number[] = [];
    for (;;) {
      const ev = await conn.nextEvent(WAIT_MS, 'the queued messages and the Close');
      if (ev.type === 'close') {
        assert.equal(ev.code, 1008);
        break;
      }
      assert.equal(ev.type, 'message');
      if (ev.type === 'message') {
        assert.equal(ev.data.length, 256 * 1024);
        messages.push(ev.data.readUInt32BE(0));
      }
    }
    assert.deepEqual(messages, Array.from({ length: messages.length }, (_, i) => i), 'no gap, no reordering');
    await conn.sendClose(1008);
    assert.equal(await within(serverClose, WAIT_MS, 'the server-side close'), 1008);
    await waitFor(() => accepted + refused + afterClose === sends, WAIT_MS, 'every send callback');
    assert.equal(messages.length, accepted, 'the callbacks without error are exactly the messages delivered');
    conn.destroy();
  });
});

// ---------------------------------------------------------------------------------------------
// Slow consumers: onBufferFull 'drop'
// ---------------------------------------------------------------------------------------------

test("onBufferFull 'drop': sends past the limit fail with WS_ERR_BUFFER_FULL, the rest arrive intact, the connection stays open", async () => {
  const limit = MiB;
  const size = 64 * 1024;
  await withServer({ maxBufferedAmount: limit, onBufferFull: 'drop' }, async (s) => {
    const connected = nextConnection(s);
    const { socket, rest } = await rawUpgrade(s.port); // paused
    const ws = await connected;
    const dropped = new Set<number>();
    const delivered = new Set<number>();
    let maxBuffered = 0;
    let seq = 0;
    await within(
      new Promise<void>((resolve) => {
        const step = (): void => {
          if (dropped.size >= 40 || seq >= 3000) return resolve();
          const n = seq++;
          const data = Buffer.alloc(size, n & 0xff);
          data.writeUInt32BE(n, 0);
          ws.send(data, (error?: Error | null) => {
            if (!error) delivered.add(n);
            else if ((error as ErrorWithCode).code === 'WS_ERR_BUFFER_FULL') dropped.add(n);
            else assert.fail(`unexpected send error: ${error.message}`);
          });
          maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
          setImmediate(step);
        };
        step();
      }),
      15_000,
      '40 dropped sends',
    );
    assert.equal(dropped.size, 40);
    assert.equal(ws.readyState, WebSocket.OPEN, "'drop' never closes the connection");
    assert.ok(maxBuffered <= limit + size + 14, `bufferedAmount reached ${maxBuffered}, limit ${limit} + one message`);

    // The client reads now: the messages not dropped, in order, each intact; then one more.
    const conn = new RawConnection(socket, 'client', rest);
    ws.send('END');
    const received: number[] = [];
    for (;;) {
      const ev = await conn.nextEvent(WAIT_MS, 'the messages that were not dropped');
      assert.equal(ev.type, 'message');
      if (ev.type !== 'message') break;
      if (ev.opcode === OP.TEXT) {
        assert.equal(ev.data.toString(), 'END');
        break;
      }
      const n = ev.data.readUInt32BE(0);
      assert.ok(ev.data.subarray(4).every((b) => b === (n & 0xff)), `message ${n} is intact`);
      received.push(n);
    }
    const kept = Array.from({ length: seq }, (_, i) => i).filter((i) => !dropped.has(i));
    assert.deepEqual(received, kept, 'exactly the messages whose callback reported no error, in order');
    await waitFor(() => delivered.size === kept.length, WAIT_MS, 'every send callback');
    assert.equal(ws.bufferedAmount, 0);
    assert.equal(ws.readyState, WebSocket.OPEN);
    conn.destroy();
  });
});

test("onBufferFull 'drop' never delivers a message with a fragment missing", async () => {
  // RFC 6455 section 5.4: a fragmented message is the concatenation of its fragments. Dropping
  // one fragment and sending the others would deliver a different message than the one sent.
  await withServer({ maxBufferedAmount: 1000, onBufferFull: 'drop' }, async (s) => {
    const connected = nextConnection(s);
    const { conn } = await rawClient(s.port); // reads everything
    const ws = await connected;
    const x = Buffer.alloc(2000, 0x58);
    const y = Buffer.alloc(2000, 0x59);
    const z = Buffer.alloc(10, 0x5a);
    const results: string[] = [];
    const note = (name: string) => (error?: Error | null) => results.push(`${name}: ${(error as ErrorWithCode)?.code ?? 'ok'}`);
    // Case 1: a middle fragment crosses the limit. Case 2: the first fragment does.
    ws.send(x, { fin: false }, note('x'));
    ws.send(y, { fin: false }, note('y'));
    await waitFor(() => ws.bufferedAmount === 0 && results.length === 2, WAIT_MS, 'the queue to drain');
    ws.send(z, { fin: true }, note('z'));
    ws.send(x, { fin: true }, note('x2'));
    ws.send(y, { fin: false }, note('y2'));
    await waitFor(() => ws.bufferedAmount === 0 && results.length === 5, WAIT_MS, 'the queue to drain');
    ws.send(z, { fin: true }, note('z2'));
    ws.send('END');
    const messages: Buffer[] = [];
    for (;;) {
      const ev = await conn.nextEvent(WAIT_MS, 'the messages');
      if (ev.type !== 'message') continue;
      if (ev.opcode === OP.TEXT && ev.data.toString() === 'END') break;
      messages.push(ev.data);
    }
    const allowed = [Buffer.concat([x, y, z]), x, Buffer.concat([y, z])];
    for (const m of messages) {
      assert.ok(
        allowed.some((a) => a.equals(m)),
        `a message of ${m.length} bytes was delivered that was never sent (send results: ${results.join(', ')})`,
      );
    }
    conn.destroy();
  });
});

test("onBufferFull 'drop': a client that never reads while the server tries to send 200 MiB: memory bounded, connection kept", async (t) => {
  const child = await ChildServer.start({
    mode: 'flood',
    options: { maxBufferedAmount: MiB, onBufferFull: 'drop' },
    floodBytes: 200 * MiB,
    messageBytes: 256 * 1024,
  });
  let socket: net.Socket | undefined;
  try {
    await child.mark();
    ({ socket } = await rawUpgrade(child.port)); // paused
    // Callbacks of sends still queued for the client that does not read stay pending.
    const flood = await child.waitEvent((e) => e.event === 'flood-attempted', 30_000, 'the end of the flood');
    const mem = await child.memory();
    t.diagnostic(
      `written ${flood.ok}, dropped ${flood.bufferFull}, queued ${flood.pending} of 800; max bufferedAmount ` +
        `${mib(flood.maxBuffered as number)}; peak RSS growth ${mib(mem.peakGrowth)}; cpu ${mem.cpuMs} ms`,
    );
    assert.ok((flood.maxBuffered as number) <= MiB + 256 * 1024 + 14, `bufferedAmount reached ${mib(flood.maxBuffered as number)}`);
    assert.equal(flood.openAtEnd, true);
    assert.ok((flood.bufferFull as number) > 700, 'most sends are dropped while the client does not read');
    assert.ok(mem.peakGrowth < MEMORY_BOUND, `server RSS grew by ${mib(mem.peakGrowth)}`);
  } finally {
    socket?.destroy();
    await child.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// Ping floods
// ---------------------------------------------------------------------------------------------

/**
 * Floods the server with 125-byte pings (RFC 6455 section 5.5.2: each calls for a Pong) from a
 * socket that never reads, until the server closes it or `maxBytes` are sent.
 */
async function pingFlood(port: number, maxBytes: number): Promise<{ sent: number; closedByServer: boolean }> {
  const { socket } = await rawUpgrade(port); // paused: the pongs are never read
  const ping = Buffer.alloc(2 + 4 + 125);
  ping[0] = 0x80 | OP.PING;
  ping[1] = 0x80 | 125;
  const block = Buffer.concat(Array<Buffer>(500).fill(ping)); // 65,500 bytes
  let closedByServer = false;
  socket.on('close', () => {
    closedByServer = true;
  });
  let sent = 0;
  try {
    while (!closedByServer && sent < maxBytes) {
      if (!socket.write(block)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            socket.off('drain', done);
            socket.off('close', done);
            resolve();
          };
          socket.on('drain', done);
          socket.on('close', done);
        });
      }
      sent += block.length;
    }
  } finally {
    socket.destroy();
  }
  return { sent, closedByServer };
}

test('a ping flood from a peer that never reads the pongs: closed, server memory bounded', async (t) => {
  const child = await ChildServer.start({ mode: 'echo', options: { maxBufferedAmount: MiB, closeTimeout: 1000 } });
  try {
    await child.mark();
    const { sent, closedByServer } = await within(pingFlood(child.port, 1024 * MiB), 30_000, 'the ping flood');
    const close = await child.waitEvent((e) => e.event === 'close', WAIT_MS, "the server's close event");
    const mem = await child.memory();
    t.diagnostic(`pings sent: ${mib(sent)}; peak RSS growth ${mib(mem.peakGrowth)}; cpu ${mem.cpuMs} ms`);
    assert.equal(closedByServer, true, 'the server must drop the flooding peer');
    assert.equal(close.code, 1006);
    assert.ok(mem.peakGrowth < MEMORY_BOUND, `server RSS grew by ${mib(mem.peakGrowth)}`);
  } finally {
    await child.stop();
  }
});

test("a ping flood from a peer that never reads the pongs, with onBufferFull 'drop': server memory bounded", async (t) => {
  // The pongs are the server's own output: with 'drop' they must not pile up either. RFC 6455
  // section 5.5.3 allows answering only the most recent of several pending pings.
  const child = await ChildServer.start({ mode: 'echo', options: { maxBufferedAmount: MiB, onBufferFull: 'drop', closeTimeout: 1000 } });
  try {
    await child.mark();
    const { sent } = await within(pingFlood(child.port, 300 * MiB), 30_000, 'the ping flood');
    const mem = await child.memory();
    t.diagnostic(`pings sent: ${mib(sent)}; peak RSS growth ${mib(mem.peakGrowth)}; cpu ${mem.cpuMs} ms`);
    assert.ok(mem.peakGrowth < MEMORY_BOUND, `server RSS grew by ${mib(mem.peakGrowth)} while the peer sent ${mib(sent)} of pings`);
  } finally {
    await child.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// Heartbeat
// ---------------------------------------------------------------------------------------------

// RFC 6455 section 5.5.2: a Ping is answered with a Pong; the heartbeat counts anything that
// arrives from the peer as a sign of life, and drops a peer silent for a whole interval.
const pings = (frames: readonly Frame[]) => frames.filter((f) => f.opcode === OP.PING).length;

test('heartbeat (200 ms): a raw peer that never answers is terminated after one unanswered ping (1006)', async () => {
  await withServer({ heartbeatInterval: 200 }, async (s) => {
    // Connection 1 listens for 'error', connection 2 does not (an unheard 'error' must not be emitted).
    const outcomes: Array<{ code: number; error?: string }> = [];
    let n = 0;
    s.wss.on('connection', (ws) => {
      const outcome: { code: number; error?: string } = { code: 0 };
      if (n++ === 0) ws.on('error', (e: ErrorWithCode) => (outcome.error = e.code));
      ws.on('close', (code: number) => {
        outcome.code = code;
        outcomes.push(outcome);
      });
    });
    for (let i = 0; i < 2; i++) {
      const { conn } = await rawClient(s.port); // reads, never answers, never sends
      await conn.waitClosed(3000, 'the server to terminate the silent peer');
      // Ping, then at the next tick nothing came back: terminate (no second ping, no Close).
      assert.equal(pings(conn.received), 1, 'exactly one ping went unanswered');
      assert.equal(conn.received.filter((f) => f.opcode === OP.CLOSE).length, 0);
    }
    await waitFor(() => outcomes.length === 2, WAIT_MS, 'both server-side close events');
    assert.deepEqual(outcomes, [{ code: 1006, error: 'WS_ERR_HEARTBEAT_TIMEOUT' }, { code: 1006 }]);
  });
});

test('heartbeat: a client that answers pings stays connected over many intervals', async () => {
  await withServer({ heartbeatInterval: 250 }, async (s) => {
    s.wss.on('connection', (ws) => ws.on('message', (d: Buffer) => ws.send(d)));
    const ws = await openClient(s.url);
    let received = 0;
    ws.on('ping', () => received++);
    await waitFor(() => received >= 5, 5000, 'five heartbeat pings');
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.equal((await echo(ws, 'alive')).toString(), 'alive');
    ws.close(1000);
    await closed(ws);
  });
});

test('heartbeat: a peer that answers every ping with data instead of a pong counts as alive', async () => {
  await withServer({ heartbeatInterval: 250 }, async (s) => {
    const { conn } = await rawClient(s.port);
    let seen = 0;
    for (; seen < 6; seen++) {
      const ev = await conn.nextEvent(3000, 'a heartbeat ping');
      assert.equal(ev.type, 'ping');
      await conn.sendText(`tick ${seen}`); // anything from the peer counts, not only a pong
    }
    assert.equal(conn.closed, false);
    assert.equal(s.wss.clients!.size, 1);
    conn.destroy();
  });
});

test('heartbeat on the client: a server that never answers is terminated (1006, WS_ERR_HEARTBEAT_TIMEOUT)', async () => {
  const raw = await RawServer.listen();
  try {
    const ws = new WebSocket(raw.url(), { heartbeatInterval: 200, perMessageDeflate: false });
    const errors: string[] = [];
    ws.on('error', (e: ErrorWithCode) => errors.push(e.code ?? e.message));
    const { conn } = await raw.accept();
    const { code } = await closed(ws, 5000);
    assert.equal(code, 1006);
    assert.deepEqual(errors, ['WS_ERR_HEARTBEAT_TIMEOUT']);
    await conn.waitClosed(WAIT_MS);
    assert.equal(pings(conn.received), 1);
  } finally {
    await raw.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Graceful close of the server
// ---------------------------------------------------------------------------------------------

test('server close(): 1001 to every client; a client that never answers is terminated after closeTimeout', async () => {
  const s = await startServer({ closeTimeout: 1000 });
  try {
    s.wss.on('connection', (ws) => ws.on('message', (d: Buffer) => ws.send(d)));
    const a = await openClient(s.url);
    const b = await openClient(s.url);
    const silent = await rawClient(s.port); // reads, never answers the Close
    const stalled = await rawUpgrade(s.port); // never reads at all
    await waitFor(() => s.wss.clients!.size === 4, WAIT_MS, 'four connections');
    const aClosed = closed(a, 5000);
    const bClosed = closed(b, 5000);
    let serverCloseEvents = 0;
    s.wss.on('close', () => serverCloseEvents++);
    const done = within(new Promise<void>((resolve) => s.wss.close(() => resolve())), 8000, 'the server close callback');

    assert.equal((await aClosed).code, 1001);
    assert.equal((await bClosed).code, 1001);
    const ev = await silent.conn.nextEvent(WAIT_MS, 'the Close frame');
    assert.equal(ev.type === 'close' && ev.code, 1001);
    await silent.conn.waitClosed(5000, 'the server to drop the client that never answered');
    await done;
    await waitFor(() => s.wss.clients!.size === 0, WAIT_MS, 'every connection to be gone');
    assert.equal(serverCloseEvents, 1);
    // Nothing listens any more.
    const refused = await new Promise<string>((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port: s.port });
      sock.on('connect', () => {
        sock.destroy();
        resolve('connected');
      });
      sock.on('error', (e: ErrorWithCode) => resolve(e.code ?? e.message));
    });
    assert.equal(refused, 'ECONNREFUSED');
    stalled.socket.destroy();
  } finally {
    await s.close();
  }
});

test("server close(): every connection's 'close' event comes before the server's 'close'", async () => {
  // The server says "'close' is emitted once they are all gone": a handler that persists state
  // on each connection's 'close' must have run when the server's close callback runs.
  const s = await startServer({ closeTimeout: 500 });
  try {
    const order: string[] = [];
    s.wss.on('connection', (ws) => ws.on('close', () => order.push('connection close')));
    const silent = await rawClient(s.port); // never answers the Close: terminated after closeTimeout
    const polite = await openClient(s.url);
    await waitFor(() => s.wss.clients!.size === 2, WAIT_MS, 'two connections');
    await within(
      new Promise<void>((resolve) =>
        s.wss.close(() => {
          order.push('server close');
          resolve();
        }),
      ),
      5000,
      'the close callback',
    );
    await waitFor(() => order.length === 3, WAIT_MS, 'all close events');
    assert.deepEqual(order, ['connection close', 'connection close', 'server close']);
    silent.conn.destroy();
    polite.terminate();
  } finally {
    await s.close();
  }
});
