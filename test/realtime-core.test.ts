/**
 * The Socket.IO server core over a fake Engine.IO server (no network): what goes on the wire
 * for each operation, encode-once broadcast, volatile, timeouts, engine close reasons, the rate
 * limiter's windows, option checks.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { Adapter, Server, type Socket } from '../src/realtime/index.js';
import { RateLimiter } from '../src/realtime/rate-limit.js';
import { FakeEngine, type FakeEngineSocket } from './helpers/realtime-fake-engine.js';
import { next } from './helpers/realtime-harness.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const io of servers.splice(0)) await io.close();
});

function make(options: Record<string, unknown> = {}) {
  const engine = new FakeEngine();
  const io = new Server({ ...options, engine });
  servers.push(io);
  return { io, engine };
}

/** Opens a session and joins `nsp`; returns the fake engine socket and the server socket. */
function join(io: Server, engine: FakeEngine, nsp = '/', auth?: object): { e: FakeEngineSocket; s: Socket } {
  let s: Socket | undefined;
  const grab = (socket: Socket) => (s = socket);
  io.of(nsp).once('connection', grab);
  const e = engine.connect();
  e.receive(`0${nsp === '/' ? '' : nsp + ','}${auth ? JSON.stringify(auth) : ''}`);
  assert.ok(s, 'connected synchronously (no middleware)');
  e.take();
  return { e, s: s! };
}

test('CONNECT is answered with the socket id; auth is kept; an unknown namespace gets CONNECT_ERROR', () => {
  const { io, engine } = make();
  io.of('/chat');
  const e = engine.connect({ origin: 'http://elsewhere' }, '/socket.io/?EIO=4&transport=websocket&x=1');
  let s: Socket | undefined;
  io.of('/chat').on('connection', (socket: Socket) => (s = socket));
  e.receive('0/chat,{"token":"t"}');
  assert.deepEqual(e.take(), [`0/chat,{"sid":"${s!.id}"}`]);
  assert.equal(s!.id.length, 20);
  assert.deepEqual(s!.handshake.auth, { token: 't' });
  assert.equal(s!.handshake.xdomain, true);
  assert.equal(s!.handshake.address, '10.0.0.1');
  assert.deepEqual(s!.handshake.query, { EIO: '4', transport: 'websocket', x: '1' });
  e.receive('0/nope,');
  assert.deepEqual(e.take(), ['4/nope,{"message":"Invalid namespace"}']);
  // packets for a namespace the client has not joined are ignored; a second CONNECT too
  e.receive('2/other,["x"]');
  e.receive('0/chat,');
  assert.deepEqual(e.take(), []);
  assert.equal(e.readyState, 'open');
});

test('emit, acks and binary on the wire', () => {
  const { io, engine } = make();
  const { e, s } = join(io, engine);
  s.emit('hello', 'world', 1);
  assert.deepEqual(e.take(), ['2["hello","world",1]']);
  let reply: unknown[] | undefined;
  s.emit('q', (...a: unknown[]) => (reply = a));
  const [q] = e.take();
  const id = /^2(\d+)\["q"\]$/.exec(q as string)![1];
  e.receive(`3${id}["r",2]`);
  assert.deepEqual(reply, ['r', 2]);
  // a second ACK with the same id does nothing
  e.receive(`3${id}["again"]`);
  assert.deepEqual(reply, ['r', 2]);
  // client -> server with ack, binary reply
  s.on('get', (name: string, ack: (...a: unknown[]) => void) => ack(name, Buffer.from([1, 2])));
  e.receive('27["get","f"]');
  const out = e.take();
  assert.equal(out[0], '61-7["f",{"_placeholder":true,"num":0}]');
  assert.deepEqual(out[1], Buffer.from([1, 2]));
  // binary event from the client
  let got: unknown;
  s.on('up', (b: Buffer) => (got = b));
  e.receive('51-["up",{"_placeholder":true,"num":0}]');
  assert.equal(got, undefined);
  e.receive(Buffer.from([3]));
  assert.deepEqual(got, Buffer.from([3]));
});

test('broadcast encodes once and writes the same data to every target', () => {
  const { io, engine } = make();
  const members = [join(io, engine), join(io, engine), join(io, engine), join(io, engine)];
  let calls = 0;
  const counted = { toJSON: () => (calls++, 'v') };
  io.emit('x', counted);
  const perSocket = calls;
  assert.ok(perSocket <= 2, `toJSON ran ${perSocket} times for 4 targets`);
  const first = members[0]!.e.take();
  assert.deepEqual(first, ['2["x","v"]']);
  for (const m of members.slice(1)) assert.deepEqual(m.e.take(), first);
  const buf = Buffer.from([1, 2, 3]);
  io.emit('b', buf);
  const parts = members.map((m) => m.e.take());
  for (const p of parts) {
    assert.equal(p[0], '51-["b",{"_placeholder":true,"num":0}]');
    assert.equal(p[1], buf, 'the very same Buffer, not a copy');
  }
});

test('volatile packets are dropped for a connection that cannot write now', () => {
  const { io, engine } = make();
  const a = join(io, engine);
  const b = join(io, engine);
  b.e.writable = false;
  io.volatile.emit('v', 1);
  b.s.volatile.emit('v', 2);
  a.s.volatile.emit('v', 3);
  b.s.emit('v', 4);
  assert.deepEqual(a.e.take(), ['2["v",1]', '2["v",3]']);
  assert.deepEqual(b.e.take(), ['2["v",4]']);
});

test('engine close reasons reach disconnecting and disconnect, with the description', () => {
  const { io, engine } = make();
  for (const reason of ['ping timeout', 'transport close', 'transport error']) {
    const { e, s } = join(io, engine);
    const seen: unknown[][] = [];
    s.on('disconnecting', (...a: unknown[]) => seen.push(['disconnecting', ...a]));
    s.on('disconnect', (...a: unknown[]) => seen.push(['disconnect', ...a]));
    e.drop(reason, { detail: 1 });
    assert.deepEqual(seen, [
      ['disconnecting', reason, { detail: 1 }],
      ['disconnect', reason, { detail: 1 }],
    ]);
    assert.equal(io.sockets.sockets.has(s.id), false);
  }
});

test('a parse error closes the connection and disconnects every namespace with "parse error"', () => {
  const { io, engine } = make();
  io.of('/b');
  const { e, s } = join(io, engine);
  let s2: Socket | undefined;
  io.of('/b').once('connection', (x: Socket) => (s2 = x));
  e.receive('0/b,');
  const reasons: string[] = [];
  s.on('disconnect', (r: string) => reasons.push(r));
  s2!.on('disconnect', (r: string) => reasons.push(r));
  const errors: Error[] = [];
  s.on('error', (err: Error) => errors.push(err));
  e.receive('2{"__proto__":1}');
  assert.deepEqual(reasons, ['parse error', 'parse error']);
  assert.equal(errors[0]!.name, 'ParseError');
  assert.equal(e.readyState, 'closed');
});

test('a connection that joins no namespace within connectTimeout is closed', async () => {
  const { engine } = make({ connectTimeout: 1 });
  const e = engine.connect();
  await next(e, 'close');
  assert.equal(e.closeCalls, 1);
});

test('socket.disconnect(true) sends DISCONNECT for every namespace and closes the connection', () => {
  const { io, engine } = make();
  io.of('/b');
  const { e, s } = join(io, engine);
  e.receive('0/b,');
  e.take();
  s.disconnect(true);
  assert.deepEqual(e.take(), ['1', '1/b,']);
  assert.equal(e.readyState, 'closed');
  assert.equal(io.of('/b').sockets.size, 0);
});

test('middleware refusal sends CONNECT_ERROR with message and data; the connection stays open', () => {
  const { io, engine } = make();
  io.use((socket, n) => {
    socket.join('never-kept');
    const err = Object.assign(new Error('denied'), { data: { code: 7 } });
    n(err);
  });
  const e = engine.connect();
  e.receive('0');
  assert.deepEqual(e.take(), ['4{"message":"denied","data":{"code":7}}']);
  assert.equal(e.readyState, 'open');
  assert.equal(io.sockets.adapter.rooms.has('never-kept'), false);
  // a middleware that throws is a refusal too
  io.of('/t').use(() => {
    throw new Error('boom');
  });
  e.receive('0/t,');
  assert.deepEqual(e.take(), ['4/t,{"message":"boom"}']);
});

test('a client gone while middlewares run is never connected', async () => {
  const { io, engine } = make();
  let release!: () => void;
  io.use((_s, n) => (release = n));
  let connected = 0;
  io.on('connection', () => connected++);
  const e = engine.connect();
  e.receive('0');
  e.drop('transport close');
  release();
  assert.equal(connected, 0);
  assert.equal(io.sockets.sockets.size, 0);
});

test('server close: every socket gets "server shutting down", the engine is closed', async () => {
  const { io, engine } = make();
  const { s } = join(io, engine);
  const reasons: string[] = [];
  s.on('disconnect', (r: string) => reasons.push(r));
  await io.close();
  servers.length = 0;
  assert.deepEqual(reasons, ['server shutting down']);
  assert.equal(engine.closed, true);
});

test('rate limiter windows: budget, first drop, excess; a new window starts over', () => {
  let now = 1000;
  const rl = new RateLimiter({ events: 2, interval: 100 }, () => now);
  assert.deepEqual([rl.take(), rl.take(), rl.take(), rl.take()], ['ok', 'ok', 'drop-first', 'exceeded']);
  now += 100;
  assert.deepEqual([rl.take(), rl.take(), rl.take()], ['ok', 'ok', 'drop-first']);
  const big = new RateLimiter({ events: 3, interval: 100 }, () => now);
  assert.deepEqual(
    Array.from({ length: 6 }, () => big.take()),
    ['ok', 'ok', 'ok', 'drop-first', 'drop', 'exceeded'],
  );
});

test('ACKs do not count against the rate limit; rateLimit: false turns it off', () => {
  const { io, engine } = make({ rateLimit: { events: 2, interval: 600000 } });
  const { e, s } = join(io, engine); // CONNECT counted: 1
  const answers: unknown[] = [];
  for (let i = 0; i < 5; i++) s.emit('q', (a: unknown) => answers.push(a));
  const ids = e.take().map((m) => /^2(\d+)/.exec(m as string)![1]);
  for (const id of ids) e.receive(`3${id}["ok"]`);
  assert.equal(answers.length, 5);
  const off = make({ rateLimit: false });
  const o = join(off.io, off.engine);
  let n = 0;
  o.s.on('e', () => n++);
  for (let i = 0; i < 500; i++) o.e.receive('2["e"]');
  assert.equal(n, 500);
});

test('option and argument checks name what was wrong', () => {
  assert.throws(() => new Server({ engine: new FakeEngine(), maxAttachments: -1 }), /maxAttachments must be a non-negative integer/);
  assert.throws(() => new Server({ engine: new FakeEngine(), rateLimit: { events: 0, interval: 1000 } }), /rateLimit.events/);
  assert.throws(() => new Server({ engine: new FakeEngine(), rateLimit: { events: 1, interval: -1 } }), /rateLimit.interval/);
  assert.throws(() => new Server({ engine: new FakeEngine(), connectTimeout: Number.NaN }), /connectTimeout/);
  const { io, engine } = make();
  assert.throws(() => io.of('/a,b'), /must not contain ","/);
  assert.equal(io.of('x').name, '/x');
  const { s } = join(io, engine);
  assert.throws(() => s.timeout(-1), /timeout/);
  assert.throws(() => s.emit(42 as unknown as string), /event name must be a string/);
});

test('a custom adapter class is used per namespace and sees joins and leaves', () => {
  const events: string[] = [];
  class Recording extends Adapter {
    override addAll(id: string, rooms: Set<string>) {
      events.push(`add ${[...rooms].join(',')}`);
      return super.addAll(id, rooms);
    }
  }
  const { io, engine } = make({ adapter: Recording });
  const { s } = join(io, engine);
  s.join(['a', 'b']);
  assert.deepEqual(events, [`add ${s.id}`, 'add a,b']);
  assert.ok(io.sockets.adapter instanceof Recording);
  const created: string[] = [];
  io.sockets.adapter.on('create-room', (r: string) => created.push(r));
  io.sockets.adapter.on('delete-room', (r: string) => created.push(`-${r}`));
  s.join('c');
  s.leave('c');
  assert.deepEqual(created, ['c', '-c']);
});

test('cleanupEmptyChildNamespaces removes a dynamic child once its last socket leaves', () => {
  const { io, engine } = make({ cleanupEmptyChildNamespaces: true });
  const parent = io.of(/^\/d-/) as import('../src/realtime/index.js').ParentNamespace;
  const e = engine.connect();
  e.receive('0/d-1,');
  assert.equal(e.take()[0]!.toString().startsWith('0/d-1,{"sid"'), true);
  assert.equal(parent.children.size, 1);
  e.receive('1/d-1,');
  assert.equal(parent.children.size, 0);
  assert.equal(io._nsps.has('/d-1'), false);
});

test('maxChildNamespaces: a CONNECT that would create one child too many gets "Invalid namespace"', () => {
  const { io, engine } = make({ cleanupEmptyChildNamespaces: true, maxChildNamespaces: 2 });
  const parent = io.of(/^\/d-/) as import('../src/realtime/index.js').ParentNamespace;
  const e = engine.connect();
  e.receive('0/d-1,');
  e.receive('0/d-2,');
  e.take();
  e.receive('0/d-3,');
  assert.deepEqual(e.take().map(String), ['4/d-3,{"message":"Invalid namespace"}']);
  assert.equal(parent.children.size, 2);
  const e2 = engine.connect(); // an existing child still takes more sockets
  e2.receive('0/d-2,');
  assert.match(String(e2.take()[0]), /^0\/d-2,\{"sid"/);
  e.receive('1/d-1,'); // d-1 empties and is cleaned up: room for another
  e.receive('0/d-3,');
  assert.match(String(e.take()[0]), /^0\/d-3,\{"sid"/);
  assert.deepEqual([...parent.children].map((c) => c.name).sort(), ['/d-2', '/d-3']);
  assert.throws(() => new Server({ engine: new FakeEngine(), maxChildNamespaces: -1 }), /maxChildNamespaces must be a non-negative integer/);
});

test('maxChildNamespaces: children created for refused or abandoned CONNECTs are deleted again, so bad-auth clients cannot use up the cap', () => {
  const { io, engine } = make({ maxChildNamespaces: 2 }); // cleanupEmptyChildNamespaces off (the default)
  const parent = io.of(/^\/room-\d+$/) as import('../src/realtime/index.js').ParentNamespace;
  const held: ((err?: Error) => void)[] = [];
  parent.use((socket: Socket, nextFn: (err?: Error) => void) => {
    const token = socket.handshake.auth.token;
    if (token === 'ok') nextFn();
    else if (token === 'slow') held.push(nextFn);
    else nextFn(new Error('unauthorized'));
  });
  const errors: { req: unknown; nsp: string; message: string }[] = [];
  parent.on('connection_error', (err: { req: unknown; nsp: string; message: string }) => errors.push(err));

  const bad = engine.connect();
  for (let i = 1; i <= 5; i++) bad.receive(`0/room-${i},{"token":"bad"}`);
  assert.deepEqual(
    bad.take().map(String),
    [1, 2, 3, 4, 5].map((i) => `4/room-${i},{"message":"unauthorized"}`),
  );
  assert.equal(parent.children.size, 0);
  assert.equal(io._nsps.has('/room-1'), false);
  // abandoned: the connection closes while a middleware runs (this one never calls next)
  const gone = engine.connect();
  gone.receive('0/room-6,{"token":"slow"}');
  assert.equal(parent.children.size, 1, 'counted while its CONNECT is admitted');
  gone.drop('transport close');
  assert.equal(parent.children.size, 0);

  const good = engine.connect();
  good.receive('0/room-7,{"token":"ok"}');
  const waiting = engine.connect();
  waiting.receive('0/room-8,{"token":"slow"}');
  // refused while another CONNECT to the same child is admitted: the child stays for that one
  bad.receive('0/room-8,{"token":"bad"}');
  assert.equal(io._nsps.has('/room-8'), true);
  held.pop()!();
  assert.match(String(waiting.take()[0]), /^0\/room-8,\{"sid"/);
  assert.match(String(good.take()[0]), /^0\/room-7,\{"sid"/);

  // the cap is reached by children that had sockets: refused, and the parent says so
  good.receive('0/room-9,{"token":"ok"}');
  assert.deepEqual(good.take().map(String), ['4/room-9,{"message":"Invalid namespace"}']);
  assert.deepEqual(errors, [{ req: good.request, nsp: '/room-9', message: 'maxChildNamespaces reached' }]);
  // with cleanup off, a child that had a socket is kept when it empties, or when a CONNECT to it is refused
  good.receive('1/room-7,');
  bad.receive('0/room-7,{"token":"bad"}');
  good.receive('0/room-9,{"token":"ok"}');
  assert.deepEqual(good.take().map(String), ['4/room-9,{"message":"Invalid namespace"}']);
  assert.deepEqual([...parent.children].map((c) => c.name).sort(), ['/room-7', '/room-8']);
});

test('dynamic namespaces: a child created after its connection closed (asynchronous matcher) is deleted again', () => {
  const { io, engine } = make();
  let answer: (() => void) | undefined;
  const parent = io.of((_name: string, _auth: object, nextFn: (err: Error | null, ok: boolean) => void) => {
    answer = () => nextFn(null, true);
  }) as import('../src/realtime/index.js').ParentNamespace;
  const e = engine.connect();
  e.receive('0/late,');
  e.drop('transport close');
  answer!();
  assert.equal(parent.children.size, 0);
  assert.equal(io._nsps.has('/late'), false);
});

test("socket.io's type parameters are accepted (SocketData types socket.data)", () => {
  interface ClientToServer {
    hello: (n: number) => void;
  }
  interface ServerToClient {
    welcome: (who: string) => void;
  }
  interface Data {
    user: string;
  }
  const engine = new FakeEngine();
  const io = new Server<ClientToServer, ServerToClient, Record<string, never>, Data>({ engine });
  servers.push(io as unknown as Server);
  let name = '';
  io.on('connection', (s: Socket<ClientToServer, ServerToClient, Record<string, never>, Data>) => {
    s.data.user = 'ada';
    name = s.data.user;
  });
  const e = engine.connect();
  e.receive('0');
  assert.equal(name, 'ada');
  assert.equal(io.sockets.sockets.size, 1);
});

test('emitWithAck without a timeout is rejected when the socket goes away, or is already gone', async () => {
  const { io, engine } = make();
  const { e, s } = join(io, engine);
  const pending = s.emitWithAck('q');
  let plainCalled = false;
  s.emit('q2', () => (plainCalled = true));
  e.drop('transport close');
  await assert.rejects(pending, /socket has been disconnected/);
  await assert.rejects(s.emitWithAck('later'), /socket has been disconnected/);
  await assert.rejects(s.timeout(1000).emitWithAck('later'), /socket has been disconnected/);
  assert.equal(plainCalled, false);
  assert.deepEqual(e.take().length, 2);
});
