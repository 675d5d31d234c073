/**
 * fullduplex/realtime Server end to end with the real socket.io-client 4.8 over loopback.
 * (See test/helpers/realtime-harness.ts for the Engine.IO server underneath.)
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { io as ioc } from 'socket.io-client';
import { Server, type Socket } from '../src/realtime/index.js';
import { next, start, stopAll, within } from './helpers/realtime-harness.js';

afterEach(stopAll);

test('connects to the main namespace and a custom one, with its own socket id and a handshake', async () => {
  const { io, client, url } = await start();
  const seen: Socket[] = [];
  io.on('connection', (s: Socket) => seen.push(s));
  const admins: Socket[] = [];
  io.of('/admin').on('connection', (s: Socket) => admins.push(s));
  const c = await client('/', { query: { room: 'lobby' } });
  assert.equal(seen.length, 1);
  const s = seen[0]!;
  assert.equal(s.id, c.id);
  assert.notEqual(s.id, s.conn.id);
  assert.equal(s.connected, true);
  assert.equal(s.disconnected, false);
  assert.equal(s.handshake.query.room, 'lobby');
  assert.equal(s.handshake.query.EIO, '4');
  assert.equal(s.handshake.address, '127.0.0.1');
  assert.equal(s.handshake.secure, false);
  assert.equal(s.handshake.xdomain, false);
  assert.equal(typeof s.handshake.time, 'string');
  assert.equal(typeof s.handshake.issued, 'number');
  assert.ok(s.handshake.url.startsWith('/socket.io/'));
  assert.equal(s.handshake.headers.host, new URL(url).host);
  assert.deepEqual([...s.rooms], [s.id]);
  const a = await client('/admin');
  assert.equal(admins.length, 1);
  assert.equal(admins[0]!.id, a.id);
  assert.equal(admins[0]!.nsp.name, '/admin');
});

test('polling only: events, acks and binary (base64 on the wire)', async () => {
  const { io, client } = await start();
  io.on('connection', (s: Socket) => s.on('echo', (...a: unknown[]) => (a.pop() as (...r: unknown[]) => void)(...a)));
  const c = await client('/', { transports: ['polling'] });
  assert.equal(c.io.engine.transport.name, 'polling');
  assert.equal(await within(c.emitWithAck('echo', 'x', new Uint8Array([1, 2, 255])), 'the echo'), 'x');
  const reply = await within(
    new Promise<unknown[]>((resolve) => c.emit('echo', 'y', Buffer.from([7]), (...r: unknown[]) => resolve(r))),
    'the binary echo',
  );
  assert.equal(reply[0], 'y');
  assert.deepEqual([...new Uint8Array(reply[1] as ArrayBuffer)], [7]);
});

test('new Server().listen(port) makes its own HTTP server', async () => {
  const io = new Server();
  io.listen(0, '127.0.0.1');
  try {
    await next(io.httpServer!, 'listening');
    const port = (io.httpServer!.address() as AddressInfo).port;
    const c = ioc(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
    try {
      const [s] = (await Promise.all([next(io, 'connection'), next(c, 'connect')]))[0] as [Socket];
      assert.equal(s.id, c.id);
    } finally {
      c.disconnect();
    }
  } finally {
    await within(io.close(), 'close');
  }
});

test('polling first, then the upgrade: events flow both ways', async () => {
  const { io, client } = await start();
  io.on('connection', (s: Socket) => s.on('ping', (n: number, ack: (v: number) => void) => ack(n + 1)));
  const c = await client('/', { transports: ['polling', 'websocket'] });
  assert.equal(await within(c.emitWithAck('ping', 1), 'ack over polling'), 2);
  if (c.io.engine.transport.name !== 'websocket') await next(c.io.engine, 'upgrade');
  assert.equal(await within(c.emitWithAck('ping', 41), 'ack over websocket'), 42);
});

test('auth payload reaches handshake.auth; middleware errors become connect_error with message and data', async () => {
  const { io, client } = await start();
  io.use((socket, nextFn) => {
    if (socket.handshake.auth.token === 'good') return nextFn();
    const err = new Error('not authorized') as Error & { data?: unknown };
    err.data = { hint: 'send a token' };
    nextFn(err);
  });
  const connected: Socket[] = [];
  io.on('connection', (s: Socket) => connected.push(s));
  const ok = await client('/', { auth: { token: 'good' } });
  assert.equal(connected[0]!.handshake.auth.token, 'good');
  assert.ok(ok.connected);
  const bad = await client('/', { auth: { token: 'bad' } }, false);
  const [err] = await next(bad, 'connect_error');
  assert.equal(err.message, 'not authorized');
  assert.deepEqual(err.data, { hint: 'send a token' });
  assert.equal(connected.length, 1);
});

test('namespace middlewares run in order and may be async; an unknown namespace is refused', async () => {
  const { io, client } = await start();
  const order: string[] = [];
  const nsp = io.of('/orders');
  nsp.use((_s, n) => {
    order.push('a');
    setImmediate(n);
  });
  nsp.use((s, n) => {
    order.push('b');
    s.data.user = 'alice';
    n();
  });
  const sockets: Socket[] = [];
  nsp.on('connection', (s: Socket) => sockets.push(s));
  await client('/orders');
  assert.deepEqual(order, ['a', 'b']);
  assert.equal(sockets[0]!.data.user, 'alice');
  const nowhere = await client('/nowhere', {}, false);
  const [err] = await next(nowhere, 'connect_error');
  assert.equal(err.message, 'Invalid namespace');
});

test('acks both ways: client to server, server to client, with timeout and emitWithAck', async () => {
  const { io, client } = await start();
  const serverSide = next(io, 'connection');
  const c = await client();
  const [s] = (await serverSide) as [Socket];
  s.on('sum', (a: number, b: number, ack: (r: number) => void) => ack(a + b));
  assert.equal(await within(c.emitWithAck('sum', 2, 3), 'client->server ack'), 5);

  c.on('double', (n: number, ack: (r: number) => void) => ack(n * 2));
  const reply = await within(
    new Promise((resolve) => s.emit('double', 21, (r: number) => resolve(r))),
    'server->client ack',
  );
  assert.equal(reply, 42);
  assert.equal(await within(s.timeout(2000).emitWithAck('double', 5), 'emitWithAck'), 10);
  assert.equal(await within(s.emitWithAck('double', 6), 'emitWithAck without timeout'), 12);

  c.on('silent', () => {});
  await within(
    assert.rejects(s.timeout(50).emitWithAck('silent'), /operation has timed out/),
    'the timeout',
  );
  const [err, ...rest] = await within(
    new Promise<unknown[]>((resolve) => s.timeout(3000).emit('double', 7, (...a: unknown[]) => resolve(a))),
    'timeout callback with a reply',
  );
  assert.equal(err, null);
  assert.deepEqual(rest, [14]);
});

test('a pending ack with a timeout fails at once when the socket disconnects', async () => {
  const { io, client } = await start();
  const serverSide = next(io, 'connection');
  const c = await client();
  const [s] = (await serverSide) as [Socket];
  c.on('never', () => {});
  const pending = s.timeout(60000).emitWithAck('never');
  s.disconnect();
  await within(assert.rejects(pending, /socket has been disconnected/), 'the rejection');
});

test('binary arguments both ways, nested, in events and acks', async () => {
  const { io, client } = await start();
  const serverSide = next(io, 'connection');
  const c = await client();
  const [s] = (await serverSide) as [Socket];
  s.on('upload', (meta: any, file: Buffer, ack: (...a: unknown[]) => void) => {
    assert.equal(meta.name, 'a.bin');
    assert.ok(Buffer.isBuffer(meta.thumb));
    assert.deepEqual([...meta.thumb], [9, 9]);
    assert.ok(Buffer.isBuffer(file));
    ack({ size: file.length, echo: file, tail: new Uint8Array([7, 8]) });
  });
  const res: any = await within(
    c.emitWithAck('upload', { name: 'a.bin', thumb: new Uint8Array([9, 9]) }, new Uint8Array([1, 2, 3, 4]).buffer),
    'binary ack',
  );
  assert.equal(res.size, 4);
  assert.deepEqual([...new Uint8Array(res.echo)], [1, 2, 3, 4]);
  assert.deepEqual([...new Uint8Array(res.tail)], [7, 8]);

  const got = next(c, 'download');
  s.emit('download', Buffer.from('hello'), { list: [new Float32Array([1.5]), 'x'] }, new ArrayBuffer(3));
  const [buf, obj, ab] = await got;
  assert.equal(Buffer.from(buf).toString(), 'hello');
  assert.equal(new Float32Array(new Uint8Array(obj.list[0]).buffer)[0], 1.5);
  assert.equal(obj.list[1], 'x');
  assert.equal(new Uint8Array(ab).length, 3);
});

/** Connects n clients to `nsp` and returns [client, server socket] pairs. */
async function pairs(started: Awaited<ReturnType<typeof start>>, n: number, nsp = '/') {
  const out: { c: Awaited<ReturnType<typeof started.client>>; s: Socket }[] = [];
  for (let i = 0; i < n; i++) {
    const serverSide = next(started.io.of(nsp), 'connection');
    const c = await started.client(nsp);
    const [s] = (await serverSide) as [Socket];
    out.push({ c, s });
  }
  return out;
}

/** Records 'msg' events per client; `settle` sends a marker through `io.emit` and waits for it everywhere. */
function recorder(list: { c: any }[]) {
  const got = list.map(() => [] as unknown[]);
  list.forEach(({ c }, i) => c.on('msg', (m: unknown) => got[i]!.push(m)));
  return got;
}

async function settle(io: { emit(ev: string, ...a: unknown[]): boolean }, list: { c: any }[]) {
  const waits = list.map(({ c }) => next(c, 'marker'));
  io.emit('marker');
  await Promise.all(waits);
}

test('rooms: io.to, io.in, socket.to (not the sender), broadcast, except, io.emit', async () => {
  const started = await start();
  const { io } = started;
  const [a, b, c, d] = await pairs(started, 4);
  await a!.s.join('red');
  await b!.s.join(['red', 'blue']);
  await c!.s.join('blue');
  assert.deepEqual([...b!.s.rooms].sort(), [b!.s.id, 'blue', 'red'].sort());
  const list = [a!, b!, c!, d!];
  const got = recorder(list);

  io.to('red').emit('msg', 'to red');
  io.in('blue').emit('msg', 'in blue');
  io.to('red').to('blue').emit('msg', 'red or blue');
  a!.s.to('red').emit('msg', 'a to red');
  a!.s.broadcast.emit('msg', 'a broadcast');
  io.except('red').emit('msg', 'not red');
  io.to('blue').except('red').emit('msg', 'blue not red');
  b!.s.except('blue').emit('msg', 'b except blue');
  io.emit('msg', 'all');
  io.of('/').to(d!.s.id).emit('msg', 'to d by id');
  await settle(io, list);
  assert.deepEqual(got[0], ['to red', 'red or blue', 'b except blue', 'all']);
  assert.deepEqual(got[1], ['to red', 'in blue', 'red or blue', 'a to red', 'a broadcast', 'all']);
  assert.deepEqual(got[2], ['in blue', 'red or blue', 'a broadcast', 'not red', 'blue not red', 'all']);
  assert.deepEqual(got[3], ['a broadcast', 'not red', 'b except blue', 'all', 'to d by id']);

  await b!.s.leave('red');
  assert.deepEqual([...b!.s.rooms].sort(), [b!.s.id, 'blue'].sort());
  got.forEach((g) => (g.length = 0));
  io.to('red').emit('msg', 'red again');
  await settle(io, list);
  assert.deepEqual(got.map((g) => g.length), [1, 0, 0, 0]);
});

test('a room is left on disconnect; namespaces have their own rooms', async () => {
  const started = await start();
  const { io } = started;
  const [a] = await pairs(started, 1);
  const [x] = await pairs(started, 1, '/other');
  await a!.s.join('r');
  await x!.s.join('r');
  assert.deepEqual([...(await io.in('r').allSockets())], [a!.s.id]);
  assert.deepEqual([...(await io.of('/other').in('r').allSockets())], [x!.s.id]);
  const gone = next(a!.s, 'disconnect');
  a!.c.disconnect();
  await gone;
  assert.equal(io.sockets.adapter.rooms.has('r'), false);
  assert.equal(io.sockets.adapter.rooms.has(a!.s.id), false);
});

test('broadcast with acks collects one reply per client, and times out when one is missing', async () => {
  const started = await start();
  const { io } = started;
  const list = await pairs(started, 3);
  list.forEach(({ c }, i) => c.on('q', (ack: (v: number) => void) => ack(i * 10)));
  const replies = (await within(io.timeout(3000).emitWithAck('q'), 'all replies')) as number[];
  assert.deepEqual(replies.sort((x, y) => x - y), [0, 10, 20]);
  list[2]!.c.off('q');
  list[2]!.c.on('q', () => {});
  const [err, partial] = await within(
    // the two replies come over loopback in about a millisecond; the third never comes
    new Promise<any[]>((resolve) => io.timeout(1000).emit('q', (...a: unknown[]) => resolve(a))),
    'the broadcast timeout',
  );
  assert.match((err as Error).message, /timed out/);
  assert.deepEqual((partial as number[]).sort((x, y) => x - y), [0, 10]);
  assert.deepEqual(await within(io.to('empty-room').timeout(1000).emitWithAck('q'), 'no targets'), []);
});

test('fetchSockets, socketsJoin, socketsLeave, disconnectSockets with in/to/except chains', async () => {
  const started = await start();
  const { io } = started;
  const [a, b, c] = await pairs(started, 3);
  a!.s.data.name = 'a';
  await a!.s.join('x');
  await b!.s.join('x');
  const inX = await io.in('x').fetchSockets();
  assert.deepEqual(inX.map((s) => s.id).sort(), [a!.s.id, b!.s.id].sort());
  assert.equal(inX.find((s) => s.id === a!.s.id)!.data.name, 'a');
  assert.equal((await io.fetchSockets()).length, 3);
  assert.deepEqual((await io.except('x').fetchSockets()).map((s) => s.id), [c!.s.id]);

  io.in('x').socketsJoin('y');
  assert.ok(a!.s.rooms.has('y') && b!.s.rooms.has('y') && !c!.s.rooms.has('y'));
  io.except(a!.s.id).socketsJoin(['z1', 'z2']);
  assert.ok(!a!.s.rooms.has('z1') && b!.s.rooms.has('z2') && c!.s.rooms.has('z1'));
  io.socketsLeave('z1');
  assert.ok(!b!.s.rooms.has('z1') && !c!.s.rooms.has('z1') && c!.s.rooms.has('z2'));

  const reasons = [next(a!.c, 'disconnect'), next(b!.c, 'disconnect'), next(a!.s, 'disconnect')];
  io.in('y').disconnectSockets();
  const [[ra], [rb], [rs]] = await Promise.all(reasons);
  assert.equal(ra, 'io server disconnect');
  assert.equal(rb, 'io server disconnect');
  assert.equal(rs, 'server namespace disconnect');
  assert.equal(c!.c.connected, true);
  assert.deepEqual((await io.fetchSockets()).map((s) => s.id), [c!.s.id]);

  const closing = next(c!.c, 'disconnect');
  io.disconnectSockets(true);
  assert.equal((await closing)[0], 'io server disconnect');
});

test('disconnect reasons on both sides', async () => {
  const started = await start();
  const { io } = started;
  // server namespace disconnect
  let [p] = await pairs(started, 1);
  let cr = next(p!.c, 'disconnect');
  let sr = next(p!.s, 'disconnect');
  const disconnecting = next(p!.s, 'disconnecting');
  let roomsDuringDisconnecting: string[] = [];
  p!.s.on('disconnecting', () => (roomsDuringDisconnecting = [...p!.s.rooms]));
  p!.s.disconnect();
  assert.equal((await cr)[0], 'io server disconnect');
  assert.equal((await sr)[0], 'server namespace disconnect');
  assert.equal((await disconnecting)[0], 'server namespace disconnect');
  assert.deepEqual(roomsDuringDisconnecting, [p!.s.id]);
  assert.equal(p!.s.connected, false);
  assert.deepEqual([...p!.s.rooms], []);

  // client namespace disconnect
  [p] = await pairs(started, 1);
  cr = next(p!.c, 'disconnect');
  sr = next(p!.s, 'disconnect');
  p!.c.disconnect();
  assert.equal((await cr)[0], 'io client disconnect');
  assert.equal((await sr)[0], 'client namespace disconnect');

  // transport close (the client's connection goes away)
  [p] = await pairs(started, 1);
  sr = next(p!.s, 'disconnect');
  p!.c.io.engine.close();
  assert.equal((await sr)[0], 'transport close');

  // parse error: a packet that breaks the schema closes the connection
  [p] = await pairs(started, 1);
  sr = next(p!.s, 'disconnect');
  cr = next(p!.c, 'disconnect');
  (p!.c.io.engine as any).send('2[42]');
  assert.equal((await sr)[0], 'parse error');
  assert.equal((await cr)[0], 'transport close');

  // disconnect(true) closes the whole connection, all namespaces
  const [q] = await pairs(started, 1);
  const q2s = next(io.of('/two'), 'connection');
  const q2 = await started.client('/two', {}, false);
  // share the connection: socket.io-client multiplexes only with the same Manager
  q2.disconnect();
  void q2s.catch(() => {});
  const viaManager = q!.c.io.socket('/two');
  const [s2] = (await within(
    new Promise<any[]>((resolve) => {
      io.of('/two').once('connection', (s: Socket) => resolve([s]));
      viaManager.connect();
    }),
    'the second namespace on the same connection',
  )) as [Socket];
  assert.equal(s2.conn, q!.s.conn);
  const r1 = next(q!.s, 'disconnect');
  const r2 = next(s2, 'disconnect');
  const c1 = next(q!.c, 'disconnect');
  q!.s.disconnect(true);
  assert.equal((await r1)[0], 'server namespace disconnect');
  assert.equal((await r2)[0], 'server namespace disconnect');
  assert.equal((await c1)[0], 'io server disconnect');
  viaManager.disconnect();

  // server shutting down
  [p] = await pairs(started, 1);
  sr = next(p!.s, 'disconnect');
  cr = next(p!.c, 'disconnect');
  await io.close();
  assert.equal((await sr)[0], 'server shutting down');
  assert.equal((await cr)[0], 'transport close');
});

test('socket.use packet middlewares can change, pass or refuse a packet (refusal -> error event)', async () => {
  const { io, client } = await start();
  const serverSide = next(io, 'connection');
  const c = await client();
  const [s] = (await serverSide) as [Socket];
  s.use((packet, n) => {
    if (packet[0] === 'forbidden') return n(new Error('nope'));
    if (packet[0] === 'shout') packet[1] = String(packet[1]).toUpperCase();
    n();
  });
  const errors: Error[] = [];
  s.on('error', (e: Error) => errors.push(e));
  const forbidden: unknown[] = [];
  s.on('forbidden', () => forbidden.push(1));
  s.on('shout', (m: string, ack: (v: string) => void) => ack(m));
  c.emit('forbidden');
  assert.equal(await within(c.emitWithAck('shout', 'hi'), 'the ack'), 'HI');
  assert.equal(forbidden.length, 0);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.message, 'nope');
});

test('onAny sees every incoming event; volatile emits still reach a writable client', async () => {
  const { io, client } = await start();
  const serverSide = next(io, 'connection');
  const c = await client();
  const [s] = (await serverSide) as [Socket];
  const any: unknown[][] = [];
  s.onAny((...a: unknown[]) => any.push(a));
  s.on('x', (v: number, ack: () => void) => ack());
  await within(c.emitWithAck('x', 1), 'ack');
  assert.equal(any.length, 1);
  assert.equal(any[0]![0], 'x');
  const got = next(c, 'v');
  s.volatile.emit('v', 1);
  assert.deepEqual(await got, [1]);
  const all = next(c, 'vb');
  io.volatile.emit('vb', 2);
  assert.deepEqual(await all, [2]);
});

test('reserved event names are refused on emit with a clear error', async () => {
  const { io, client } = await start();
  const serverSide = next(io, 'connection');
  await client();
  const [s] = (await serverSide) as [Socket];
  for (const name of ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']) {
    assert.throws(() => s.emit(name), new RegExp(`"${name}" is a reserved event name`));
    assert.throws(() => io.emit(name), /reserved event name/);
    assert.throws(() => io.to('r').emit(name), /reserved event name/);
  }
});

test('rate limit: events over the budget are dropped and reported; twice the budget disconnects', async () => {
  const { io, client } = await start({ rateLimit: { events: 3, interval: 600000 } });
  const serverSide = next(io, 'connection');
  const c = await client();
  const [s] = (await serverSide) as [Socket];
  const handled: number[] = [];
  s.on('e', (n: number) => handled.push(n));
  const errors: Error[] = [];
  s.on('error', (e: Error) => errors.push(e));
  const gone = next(s, 'disconnect');
  // 1 CONNECT already counted: 2 more events pass, then drops, then the 6th packet disconnects
  for (let i = 1; i <= 5; i++) c.emit('e', i);
  const [reason] = await gone;
  assert.equal(reason, 'rate limit exceeded');
  assert.deepEqual(handled, [1, 2]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.name, 'RateLimitError');
});

test('maxAttachments: a packet announcing more attachments than allowed closes the connection', async () => {
  const { io, client } = await start({ maxAttachments: 2 });
  const serverSide = next(io, 'connection');
  const c = await client();
  const [s] = (await serverSide) as [Socket];
  const ok = new Promise((resolve) => s.on('two', (x: Buffer, y: Buffer, ack: () => void) => (ack(), resolve([x, y]))));
  await within(c.emitWithAck('two', new Uint8Array([1]), new Uint8Array([2])), 'two attachments');
  await ok;
  const gone = next(s, 'disconnect');
  c.emit('three', new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3]));
  assert.equal((await gone)[0], 'parse error');
});

test('dynamic namespaces: a RegExp or function parent creates children, runs its middlewares, broadcasts to all', async () => {
  const started = await start();
  const { io } = started;
  const parent = io.of(/^\/dyn-\d+$/);
  const used: string[] = [];
  parent.use((s, n) => {
    used.push(s.nsp.name);
    n();
  });
  const conns: Socket[] = [];
  parent.on('connection', (s: Socket) => conns.push(s));
  const d1 = await started.client('/dyn-1');
  const d2 = await started.client('/dyn-2');
  assert.deepEqual(used, ['/dyn-1', '/dyn-2']);
  assert.deepEqual(conns.map((s) => s.nsp.name), ['/dyn-1', '/dyn-2']);
  assert.equal(io.of('/dyn-1').sockets.size, 1);
  const both = [next(d1, 'hi'), next(d2, 'hi')];
  parent.emit('hi', 1);
  assert.deepEqual(await Promise.all(both), [[1], [1]]);
  assert.equal((await parent.fetchSockets()).length, 2);
  const refused = await started.client('/dyn-x', {}, false);
  assert.equal((await next(refused, 'connect_error'))[0].message, 'Invalid namespace');

  io.of((name, auth, cb) => setImmediate(() => cb(null, name.startsWith('/team-') && auth.key === 'k')));
  const team = await started.client('/team-a', { auth: { key: 'k' } });
  assert.ok(team.connected);
  const noKey = await started.client('/team-b', {}, false);
  assert.equal((await next(noKey, 'connect_error'))[0].message, 'Invalid namespace');
});

test('ping timeout: a client that stops answering is disconnected with "ping timeout"', async () => {
  const started = await start({ pingInterval: 50, pingTimeout: 50 });
  const [p] = await pairs(started, 1);
  const reason = next(p!.s, 'disconnect');
  // the client stops reading: it never sees the PING, so never answers with a PONG
  const ws = (p!.c.io.engine.transport as unknown as { ws: { _socket: { pause(): void; destroy(): void } } }).ws;
  ws._socket.pause();
  try {
    assert.equal((await reason)[0], 'ping timeout');
  } finally {
    ws._socket.destroy(); // a paused client would hold the HTTP server's close open
  }
});
