/**
 * Connection state recovery end to end over loopback, with real dropped connections (the
 * server-side TCP socket destroyed): the real socket.io-client 4.8 against our server, our client
 * against the real socket.io 4.8 server, and our client against our server with the lossless
 * extension (both directions, in order, none twice), the 'recovery_failed' event after the window,
 * the middlewares on recovery when `skipMiddlewares` is false, and the session store emptied by its
 * sweep.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import type { Socket as IoClientSocket } from 'socket.io-client';
import type { Socket as ServerSocket } from '../src/realtime/index.js';
import type { Socket as ClientSocket } from '../src/realtime/client/index.js';
import { next, start, stopAll as stopHarness, within } from './helpers/realtime-harness.js';
import { startServer, stopAll as stopClientServers } from './helpers/realtime-client-servers.js';

afterEach(async () => {
  await stopHarness();
  await stopClientServers();
});

/** Reconnects at once (no jitter) after a drop. */
const RECONNECT = { reconnection: true, reconnectionDelay: 10, reconnectionDelayMax: 10, randomizationFactor: 0 } as const;

/** Resolves once `pred()` holds, checking every 20 ms, at most `ms` long. */
async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  for (let waited = 0; !pred(); waited += 20) {
    if (waited >= ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The next server-side 'connection' on `io` (a namespace or the server). */
function nextConnection(io: { once(e: string, fn: (s: ServerSocket) => void): unknown }): Promise<ServerSocket> {
  return next(io, 'connection').then(([s]) => s as ServerSocket);
}

/** Makes the server read nothing more from this socket's connection: packets the client writes are lost. */
function deafen(s: ServerSocket): void {
  (s.client as unknown as { ondata: () => void }).ondata = () => {};
}

describe('socket.io-client 4.8 <-> our server', () => {
  test('recovers id, rooms, data and every missed packet after a dropped connection', async () => {
    const { io, client } = await start({ connectionStateRecovery: { maxDisconnectionDuration: 60_000 } });
    let middlewareRuns = 0;
    io.use((_s, nextFn) => {
      middlewareRuns++;
      nextFn();
    });
    const first = nextConnection(io);
    const c: IoClientSocket = await client('/', RECONNECT);
    const s = await within(first, 'the first server socket');
    assert.equal(s.recovered, false);
    assert.equal(c.recovered, false);
    await s.join('room1');
    s.data = { user: 'ann' };
    const got: unknown[][] = [];
    for (const ev of ['hello', 'news', 'direct', 'all']) c.on(ev, (...a: unknown[]) => got.push([ev, ...a]));
    const hello = next(c, 'hello');
    s.emit('hello', 0);
    await hello;

    // the server learns of the drop first and sends while the client is away
    s.on('disconnect', () => {
      io.to('room1').emit('news', 1);
      s.emit('direct', 2); // the old Socket object still reaches its client
      io.emit('all', 3);
      io.to('elsewhere').emit('news', 'not for us');
    });
    const disconnected = next(s, 'disconnect');
    const again = nextConnection(io);
    const reconnected = next(c, 'connect');
    s.request.socket.destroy();
    assert.equal((await disconnected)[0], 'transport close');
    const s2 = await within(again, 'the recovered server socket');
    await reconnected;

    assert.equal(s2.recovered, true);
    assert.equal(c.recovered, true);
    assert.equal(s2.id, s.id);
    assert.equal(c.id, s.id);
    assert.ok(s2.rooms.has('room1'));
    assert.deepEqual(s2.data, { user: 'ann' });
    assert.equal(middlewareRuns, 1, 'skipMiddlewares (default true) skips them on recovery');
    await until(() => got.length === 4, 'the missed packets');
    // socket.io 4.6+ wire: each recorded packet ends with its offset (a string)
    assert.deepEqual(
      got.map((a) => a.slice(0, 2)),
      [
        ['hello', 0],
        ['news', 1],
        ['direct', 2],
        ['all', 3],
      ],
    );
    for (const a of got) assert.equal(typeof a[2], 'string');

    // the recovered session works as before, and drops again fine
    const heard = next(s2, 'ping');
    c.emit('ping', 'x');
    assert.deepEqual(await heard, ['x']);
  });

  test('recovers even before any recorded packet reached the client (its session start is kept)', async () => {
    const { io, client } = await start({ connectionStateRecovery: {} });
    const first = nextConnection(io);
    const c = await client('/', RECONNECT);
    const s = await within(first, 'the server socket');
    s.on('disconnect', () => s.emit('missed', 'm'));
    const again = nextConnection(io);
    const missed = next(c, 'missed');
    s.request.socket.destroy();
    const s2 = await within(again, 'the recovered socket');
    assert.equal(s2.recovered, true);
    assert.equal((await missed)[0], 'm');
    assert.equal(c.recovered, true);
  });

  test('a client that left on purpose is not recovered; a socket.io-client never sees the lossless extension', async () => {
    const { io, client } = await start({ connectionStateRecovery: {} });
    const first = nextConnection(io);
    const c = await client('/', RECONNECT);
    const s = await within(first, 'the server socket');
    assert.equal(s.lossless, false);
    assert.deepEqual(s.handshake.auth, {});
    const seen: string[] = [];
    c.onAny((ev: string) => seen.push(ev));
    const heard = next(s, 'plain');
    c.emit('plain', 1, 'two');
    assert.deepEqual(await heard, [1, 'two'], 'no sequence number is added');
    await new Promise<void>((resolve) => setImmediate(resolve));
    c.disconnect();
    await until(() => io.sockets.adapter.sessions!.size === 0 && s.disconnected, 'the disconnection');
    const again = nextConnection(io);
    c.connect();
    const s2 = await within(again, 'a new socket');
    assert.equal(s2.recovered, false);
    assert.notEqual(s2.id, s.id);
    assert.deepEqual(seen, []);
  });
});

describe('our client <-> socket.io 4.8 server', () => {
  test('recovers id and missed packets after a dropped connection; no extension on the wire', async () => {
    const { io, client, dropAll } = await startServer('socket.io', { connectionStateRecovery: { maxDisconnectionDuration: 60_000 } });
    const first = nextConnection(io);
    const c: ClientSocket = await client('/', { transports: ['websocket'], ...RECONNECT });
    const s = await within(first, 'the server socket');
    s.join('room1');
    const got: unknown[][] = [];
    c.on('news', (...a: unknown[]) => got.push(a));
    const warm = next(c, 'news');
    io.to('room1').emit('news', 0);
    await warm;
    assert.equal(c.isLossless, false);
    s.on('disconnect', () => {
      io.to('room1').emit('news', 1);
      io.to('room1').emit('news', 2);
    });
    const again = nextConnection(io);
    const reconnected = next(c, 'connect');
    dropAll();
    const s2 = await within(again, 'the recovered server socket');
    await reconnected;
    assert.equal(s2.recovered, true);
    assert.equal(c.recovered, true);
    assert.equal(c.id, s.id);
    await until(() => got.length === 3, 'the missed packets');
    assert.deepEqual(
      got.map((a) => a[0]),
      [0, 1, 2],
    );
    const heard = next(s2, 'plain');
    c.emit('plain', 'a', 2);
    assert.deepEqual(await heard, ['a', 2], 'no sequence number against socket.io');
  });
});

describe('our client <-> our server: the lossless extension', () => {
  test('both directions lossless across a drop: emits during the outage on both sides, in order, none twice', async () => {
    const { io, client, dropAll } = await startServer('fullduplex', { connectionStateRecovery: {} });
    const first = nextConnection(io);
    const c = await client('/', { transports: ['websocket'], ...RECONNECT });
    const s = await within(first, 'the server socket');
    assert.equal(c.isLossless, true);
    assert.equal(s.lossless, true);
    assert.deepEqual(s.handshake.auth, {}, 'the offer is not part of the auth the app sees');

    const serverGot: number[] = [];
    const clientGot: number[] = [];
    const handler = (n: number) => serverGot.push(n);
    s.on('up', handler);
    io.on('connection', (sock: ServerSocket) => sock.on('up', handler));
    c.on('down', (n: number) => clientGot.push(n));

    // 0..4 reach the server; the one handling 4 loses the connection before confirming anything
    s.on('up', (n: number) => {
      if (n === 4) dropAll();
    });
    const disconnected = next(s, 'disconnect');
    let unconfirmedAtDrop = -1;
    c.once('disconnect', () => {
      unconfirmedAtDrop = c.unconfirmedCount;
      for (let i = 5; i < 8; i++) c.emit('up', i); // while disconnected: buffered
    });
    for (let i = 0; i < 5; i++) c.emit('up', i);
    await disconnected;
    // server side of the outage: the old Socket object and a broadcast
    s.emit('down', 0);
    io.emit('down', 1);
    const again = nextConnection(io);
    const reconnected = next(c, 'connect');
    await within(reconnected, 'the reconnection');
    const s2 = await within(again, 'the recovered socket');
    assert.equal(s2.recovered, true);
    assert.equal(c.recovered, true);
    assert.ok(unconfirmedAtDrop >= 1, `the client held unconfirmed emits at the drop (${unconfirmedAtDrop})`);

    // 8 and 9 are written to a connection whose packets are lost on the way
    deafen(s2);
    c.emit('up', 8);
    c.emit('up', 9);
    s2.emit('down', 2);
    await until(() => clientGot.length === 3, 'the server emits');
    const again2 = nextConnection(io);
    const reconnected2 = next(c, 'connect');
    dropAll();
    await within(reconnected2, 'the second reconnection');
    const s3 = await within(again2, 'the second recovered socket');
    assert.equal(s3.recovered, true);
    s3.emit('down', 3);
    await until(() => serverGot.length >= 10 && clientGot.length >= 4, 'every emit');
    assert.deepEqual(serverGot, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(clientGot, [0, 1, 2, 3]);
    await until(() => c.unconfirmedCount === 0, 'the confirmations');
  });

  test('a reply lost with the connection reaches the client after recovery, the request handled once', async () => {
    const { io, client, dropAll } = await startServer('fullduplex', { connectionStateRecovery: {} });
    let handled = 0;
    io.on('connection', (sock: ServerSocket) =>
      sock.on('double', (x: number, cb: (y: number) => void) => {
        handled++;
        dropAll(); // the reply below goes to a dead connection
        cb(x * 2);
      }),
    );
    const c = await client('/', { transports: ['websocket'], ...RECONNECT });
    const reply = c.emitWithAck('double', 21);
    const recovered = next(c, 'connect');
    await within(recovered, 'the reconnection');
    assert.equal(c.recovered, true);
    assert.equal(await within(reply, 'the replayed reply'), 42);
    assert.equal(handled, 1);
  });

  test('acks kept for a recovery fail when no reconnection will come: reconnection off, the Manager closed, before or after the drop', async () => {
    const { io, client, dropAll } = await startServer('fullduplex', { connectionStateRecovery: {} });
    io.on('connection', (sock: ServerSocket) => sock.on('never', () => {})); // never replies
    const lost = /socket has been disconnected/;

    const off = await client('/', { transports: ['websocket'] }); // reconnection: false
    assert.equal(off.isLossless, true);
    const first = off.emitWithAck('never');
    dropAll();
    await assert.rejects(within(first, 'the error of the ack (reconnection off)'), lost);

    const closed = await client('/', { transports: ['websocket'], ...RECONNECT });
    const second = closed.emitWithAck('never');
    closed.io.disconnect();
    await assert.rejects(within(second, 'the error of the ack (Manager closed)'), lost);

    const waiting = await client('/', { transports: ['websocket'], ...RECONNECT, reconnectionDelay: 60_000, reconnectionDelayMax: 60_000 });
    const third = waiting.emitWithAck('never');
    const down = next(waiting, 'disconnect');
    dropAll();
    await down;
    waiting.io.disconnect(); // during the backoff: no 'close' comes any more
    await assert.rejects(within(third, 'the error of the ack (Manager closed while waiting)'), lost);
  });

  test("after the window, the client hears 'recovery_failed' with the reason and the unconfirmed emits", async () => {
    const window = 100;
    const { io, client, dropAll } = await startServer('fullduplex', { connectionStateRecovery: { maxDisconnectionDuration: window } });
    const first = nextConnection(io);
    const c = await client('/', { transports: ['websocket'] });
    const s = await within(first, 'the server socket');
    deafen(s);
    c.emit('lost', 1);
    const disconnected = next(s, 'disconnect');
    const clientDown = next(c, 'disconnect');
    dropAll();
    await disconnected;
    await clientDown;
    await new Promise((r) => setTimeout(r, window * 3)); // let the window pass
    const failed = next(c, 'recovery_failed');
    const again = nextConnection(io);
    c.connect();
    const [reason, unconfirmed] = await failed;
    const s2 = await within(again, 'the new socket');
    assert.equal(reason, 'expired');
    assert.deepEqual(unconfirmed, [['lost', 1]]);
    assert.equal(s2.recovered, false);
    assert.equal(s2.recoveryFailure, 'expired');
    assert.equal(c.recovered, false);
    assert.notEqual(c.id, s.id);
    assert.equal(c.unconfirmedCount, 0);
  });

  test('against a server without recovery, no extension and no recovery_failed', async () => {
    const { io, client } = await startServer('fullduplex');
    const first = nextConnection(io);
    const c = await client('/', { transports: ['websocket'], auth: { token: 't' } });
    const s = await within(first, 'the server socket');
    assert.equal(c.isLossless, false);
    assert.equal(s.pid, undefined);
    assert.deepEqual(s.handshake.auth, { token: 't' });
  });
});

describe('recovery and the middlewares', () => {
  test('skipMiddlewares false runs them on recovery; a broadcast meanwhile still arrives', async () => {
    const { io, client, dropAll } = await startServer('fullduplex', { connectionStateRecovery: { skipMiddlewares: false } });
    const seen: { recovered: boolean; id: string }[] = [];
    let release: (() => void) | undefined;
    io.use((sock: ServerSocket, nextFn: (err?: Error) => void) => {
      seen.push({ recovered: sock.recovered, id: sock.id });
      if (!sock.recovered) return nextFn();
      release = () => nextFn();
    });
    const first = nextConnection(io);
    const c = await client('/', { transports: ['websocket'], ...RECONNECT });
    const s = await within(first, 'the server socket');
    await s.join('room');
    const got: unknown[] = [];
    c.on('news', (n: unknown) => got.push(n));
    const again = nextConnection(io);
    dropAll();
    await until(() => release !== undefined, 'the middleware of the recovery');
    io.to('room').emit('news', 'during the middleware');
    release!();
    const s2 = await within(again, 'the recovered socket');
    assert.equal(s2.recovered, true);
    assert.deepEqual(seen, [
      { recovered: false, id: s.id },
      { recovered: true, id: s.id },
    ]);
    await until(() => got.length === 1, 'the broadcast sent while the middleware ran');
    assert.deepEqual(got, ['during the middleware']);
  });
});

test('the session store forgets expired sessions by itself (bounded)', async () => {
  const { io, client } = await start({ connectionStateRecovery: { maxDisconnectionDuration: 50 } });
  const first = nextConnection(io);
  await client('/');
  const s = await within(first, 'the server socket');
  const disconnected = next(s, 'disconnect');
  s.request.socket.destroy();
  await disconnected;
  const store = io.sockets.adapter.sessions!;
  assert.equal(store.size, 1);
  await until(() => store.size === 0 && store.bufferedPackets === 0, 'the sweep', 5000);
});
