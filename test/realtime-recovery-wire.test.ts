/**
 * Connection state recovery and the lossless extension on the wire, over a fake Engine.IO server
 * (no network): the CONNECT payloads, offsets appended to recorded packets, sequence numbers,
 * confirmations, duplicates, the failure reasons, an async adapter, the middlewares of a recovery;
 * the SessionStore's bounds with an explicit clock; quiet clients recovering in a busy namespace
 * (only the packets sent to them after the drop must be kept); an empty child namespace kept for its
 * sessions; reserved names and unshared single-target writes.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { Adapter, Server, type ParentNamespace, type Socket } from '../src/realtime/index.js';
import { SessionStore, resolveRecoveryOptions, type PersistedSession } from '../src/realtime/session-store.js';
import { Decoder, PacketType } from '../src/realtime/parser.js';
import { io as ioClient } from '../src/realtime/client/index.js';
import { FakeEngine, type FakeEngineSocket } from './helpers/realtime-fake-engine.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const io of servers.splice(0)) await io.close();
});

function make(options: Record<string, unknown> = { connectionStateRecovery: {} }) {
  const engine = new FakeEngine();
  const io = new Server({ ...options, engine });
  servers.push(io);
  return { io, engine };
}

/** Opens a session with the CONNECT payload `auth`; returns the engine socket, the server socket and the CONNECT reply (taken off `e.sent`). */
function join(io: Server, engine: FakeEngine, auth: object = {}): { e: FakeEngineSocket; s: Socket; reply: Record<string, unknown> } {
  let s: Socket | undefined;
  io.once('connection', (socket: Socket) => (s = socket));
  const e = engine.connect();
  e.receive(`0${JSON.stringify(auth)}`);
  assert.ok(s, 'connected synchronously');
  const [first, ...after] = e.take();
  e.sent.push(...after); // the packets after the reply stay for the test
  assert.ok(typeof first === 'string' && first.startsWith('0{'), String(first));
  return { e, s: s!, reply: JSON.parse(first.slice(1)) };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('CONNECT reply: pid with recovery on, the lossless confirmation only to a client that offers it', () => {
  const { io, engine } = make();
  const plain = join(io, engine);
  assert.deepEqual(Object.keys(plain.reply), ['sid', 'pid']);
  assert.equal(plain.reply.pid, plain.s.pid);
  assert.equal((plain.reply.pid as string).length, 20);
  const ours = join(io, engine, { _fdx: 1, token: 't' });
  assert.deepEqual(ours.reply._fdx, { seq: 0 });
  assert.deepEqual(ours.s.handshake.auth, { token: 't' });
  const future = join(io, engine, { _fdx: 99 });
  assert.equal(future.reply._fdx, undefined, 'an unknown version is not confirmed');

  const { io: off, engine: offEngine } = make({});
  const none = join(off, offEngine, { _fdx: 1 });
  assert.deepEqual(Object.keys(none.reply), ['sid'], 'recovery off: no pid, no extension');
});

test('recorded packets end with their offset: emits without ack that are not volatile, and lossless replies', async () => {
  const { io, engine } = make();
  const { e, s } = join(io, engine, { _fdx: 1 });
  s.emit('a', 1);
  io.emit('b', 2);
  s.volatile.emit('c', 3);
  s.emit('d', 4, () => {});
  const [a, b, c, d] = e.take().map((m) => m.toString());
  const offsetA = JSON.parse(a!.slice(1))[2] as string;
  const offsetB = JSON.parse(b!.slice(1))[2] as string;
  assert.match(offsetA, /^[\w-]{8}\.[0-9a-z]+$/);
  assert.notEqual(offsetA, offsetB);
  assert.equal(c, '2["c",3]');
  assert.match(d!, /^2\d+\["d",4\]$/);
  // a client EVENT with an ack: the reply is recorded too (lossless)
  s.on('ask', (x: number, cb: (y: number) => void) => cb(x + 1));
  e.receive('27["ask",1,1]');
  const [ack] = e.take().map((m) => m.toString());
  const [value, offset] = JSON.parse(ack!.slice(2));
  assert.equal(ack!.slice(0, 2), '37');
  assert.equal(value, 2);
  assert.match(offset, /\./);
  await turn();
  assert.deepEqual(e.take(), ['2["_fdx",1]']);
});

test('lossless: sequence numbers are taken off, duplicates dropped, processing confirmed once per turn', async () => {
  const { io, engine } = make();
  const { e, s } = join(io, engine, { _fdx: 1 });
  const got: unknown[][] = [];
  s.on('m', (...a: unknown[]) => got.push(a));
  const errors: Error[] = [];
  s.on('error', (err: Error) => errors.push(err));
  e.receive('2["m","x",1]');
  e.receive('2["m","y",{"z":1},2]');
  e.receive('2["m","x",1]'); // a resend of 1
  e.receive('2["m","no seq"]');
  assert.deepEqual(got, [['x'], ['y', { z: 1 }]]);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /sequence number/);
  await turn();
  assert.deepEqual(e.take(), ['2["_fdx",2]']);
  assert.throws(() => s.emit('_fdx', 1), /reserved for the lossless extension/);
});

test('a recoverable drop keeps the session; a new connection takes it back with the missed packets and the last seq', () => {
  const { io, engine } = make();
  const { e, s } = join(io, engine, { _fdx: 1 });
  void s.join('r');
  s.data = { n: 1 };
  e.receive('2["m",1]');
  s.emit('seen', 0);
  const offset = JSON.parse(e.take().at(-1)!.toString().slice(1))[2] as string;
  e.drop('transport close');
  assert.equal(io.sockets.adapter.sessions!.size, 1);
  io.to('r').emit('missed', 1);
  io.except('r').emit('not for it', 2);
  const back = join(io, engine, { pid: s.pid, offset, _fdx: 1 });
  assert.equal(back.s.recovered, true);
  assert.equal(back.s.id, s.id);
  assert.deepEqual(back.s.data, { n: 1 });
  assert.ok(back.s.rooms.has('r'));
  assert.deepEqual(back.reply, { sid: s.id, pid: s.pid, _fdx: { seq: 1 } });
  const replay = back.e.take().map((m) => JSON.parse(m.toString().slice(1)));
  assert.deepEqual(
    replay.map((d) => d.slice(0, 2)),
    [['missed', 1]],
  );
  assert.equal(io.sockets.adapter.sessions!.size, 0, 'a session is restored once');
});

test("the failure reasons reach our client in the CONNECT reply; a namespace disconnect is not kept", () => {
  const { io, engine } = make();
  const unknown = join(io, engine, { pid: 'nope', offset: 'x', _fdx: 1 });
  assert.deepEqual(unknown.reply._fdx, { seq: 0, fail: 'unknown session' });
  assert.equal(unknown.s.recoveryFailure, 'unknown session');

  const { e, s } = join(io, engine, { _fdx: 1 });
  e.drop('transport close');
  const wrongOffset = join(io, engine, { pid: s.pid, offset: 'elsewhere.1', _fdx: 1 });
  assert.deepEqual(wrongOffset.reply._fdx, { seq: 0, fail: 'packets lost' });

  const left = join(io, engine);
  left.e.receive('1');
  assert.equal(io.sockets.adapter.sessions!.size, 0);
  const retry = join(io, engine, { pid: left.s.pid, offset: io.sockets.adapter.currentOffset() });
  assert.equal(retry.s.recovered, false);
});

test('an async adapter (a Redis-style store) recovers the same way', async () => {
  class AsyncAdapter extends Adapter {
    stored: PersistedSession[] = [];
    override async persistSession(session: PersistedSession): Promise<void> {
      this.stored.push(session);
      super.persistSession(session);
    }
    override async restoreSession(pid: string, offset: string | undefined) {
      await turn();
      return super.restoreSession(pid, offset);
    }
  }
  const { io, engine } = make({ connectionStateRecovery: {}, adapter: AsyncAdapter });
  const { e, s } = join(io, engine);
  e.drop('ping timeout');
  assert.equal((io.sockets.adapter as AsyncAdapter).stored.length, 1);
  io.to(s.id).emit('missed');
  const again = engine.connect();
  const connected = new Promise<Socket>((resolve) => io.once('connection', resolve));
  again.receive(`0${JSON.stringify({ pid: s.pid })}`);
  const s2 = await connected;
  assert.equal(s2.recovered, true);
  const sent = again.take().map((m) => m.toString());
  assert.equal(sent[0], `0{"sid":"${s.id}","pid":"${s.pid}"}`);
  assert.match(sent[1]!, /^2\["missed","[^"]+"\]$/);
});

test('SessionStore: sessions expire after the window, expired pids are told apart for a while, then forgotten', () => {
  const store = new SessionStore(resolveRecoveryOptions({ maxDisconnectionDuration: 1000 })!);
  try {
    const session = (pid: string): PersistedSession => ({ sid: `s-${pid}`, pid, rooms: [`s-${pid}`], data: {}, offset: store.currentOffset });
    store.persist(session('a'), 0);
    store.persist(session('b'), 500);
    assert.equal(store.size, 2);
    store.sweep(1000);
    assert.equal(store.size, 1, 'a expired at 1000');
    assert.deepEqual(store.restore('a', undefined, 1000), { ok: false, reason: 'expired' });
    const b = store.restore('b', undefined, 1499);
    assert.equal(b.ok, true);
    assert.equal(store.size, 0);
    assert.deepEqual(store.restore('b', undefined, 1499), { ok: false, reason: 'unknown session' });
    store.sweep(1000 + 10 * 1000);
    assert.deepEqual(store.restore('a', undefined, 11_000), { ok: false, reason: 'unknown session' }, 'forgotten after 10 windows');
  } finally {
    store.close();
  }
});

test('SessionStore: the packet buffer is bounded in count and age; a client behind it hears "packets lost"', () => {
  const store = new SessionStore(resolveRecoveryOptions({ maxDisconnectionDuration: 1000, maxBufferedPackets: 3 })!);
  try {
    const all = { rooms: new Set<string>(), except: new Set<string>() };
    const start = store.currentOffset;
    const event = (n: number) => ({ type: PacketType.EVENT, nsp: '/', data: ['e', n] });
    const offsets: string[] = [];
    for (let n = 0; n < 5; n++) {
      const p = event(n);
      store.record(p, all, 0);
      offsets.push((p.data as unknown[])[2] as string);
    }
    assert.equal(store.bufferedPackets, 3);
    const persist = (pid: string) => store.persist({ sid: pid, pid, rooms: [pid], data: null, offset: start }, 0);
    persist('behind');
    assert.deepEqual(store.restore('behind', offsets[0], 0), { ok: false, reason: 'packets lost' });
    persist('just in');
    const r = store.restore('just in', offsets[1], 0);
    assert.ok(r.ok);
    assert.deepEqual(
      r.session.missedPackets.map((p) => (p.data as unknown[])[1]),
      [2, 3, 4],
    );
    persist('up to date');
    const latest = store.restore('up to date', offsets[4], 0);
    assert.ok(latest.ok);
    assert.deepEqual(latest.session.missedPackets, []);
    store.record(event(5), all, 2000);
    assert.equal(store.bufferedPackets, 1, 'older packets aged out');
    assert.throws(() => resolveRecoveryOptions({ maxDisconnectionDuration: 0 }), /maxDisconnectionDuration/);
    assert.throws(() => resolveRecoveryOptions({ maxBufferedPackets: 0 }), /maxBufferedPackets/);
  } finally {
    store.close();
  }
});

test('lossless: an event still in the socket.use chain when the connection drops is dispatched, its reply reaching the recovered socket', () => {
  const { io, engine } = make();
  const { e, s } = join(io, engine, { _fdx: 1 });
  let release: (() => void) | undefined;
  s.use((_event, nextFn) => {
    release = () => nextFn();
  });
  const got: number[] = [];
  s.on('double', (x: number, cb: (y: number) => void) => {
    got.push(x);
    cb(x * 2);
  });
  e.receive('23["double",21,1]');
  assert.ok(release, 'the middleware holds the event');
  e.drop('transport close');
  const back = join(io, engine, { pid: s.pid, _fdx: 1 });
  assert.deepEqual(back.reply._fdx, { seq: 1 }, 'the client is told seq 1 was processed, so it does not send it again');
  release!();
  assert.deepEqual(got, [21], 'handled once, on the old Socket');
  const [ack] = back.e.take().map(String);
  assert.match(ack!, /^33\[42,"[^"]+"\]$/, 'the reply, recorded, goes to the recovered socket');
});

test('recovery: maxBufferedBytes bounds the replay buffer by encoded size, lossless replies included; a client behind hears "packets lost"', () => {
  const { io, engine } = make({ connectionStateRecovery: { maxBufferedBytes: 1000 } });
  const { e, s } = join(io, engine, { _fdx: 1 });
  s.on('echo', (x: string, cb: (y: string) => void) => cb(x));
  const big = 'x'.repeat(400);
  for (let seq = 1; seq <= 3; seq++) e.receive(`2${seq}["echo","${big}",${seq}]`);
  assert.equal(e.take().length, 3, 'every reply is sent');
  const store = io.sockets.adapter.sessions!;
  assert.equal(store.bufferedPackets, 2, 'the oldest reply is dropped');
  assert.ok(store.bufferedBytes > 800 && store.bufferedBytes <= 1000, `bufferedBytes ${store.bufferedBytes}`);
  e.drop('transport close');
  const back = join(io, engine, { pid: s.pid, _fdx: 1 });
  assert.deepEqual(back.reply._fdx, { seq: 0, fail: 'packets lost' });
});

test('SessionStore: a packet larger than maxBufferedBytes is not kept; the option is checked', () => {
  const store = new SessionStore(resolveRecoveryOptions({ maxBufferedBytes: 100 })!);
  try {
    const all = { rooms: new Set<string>(), except: new Set<string>() };
    const encoded = store.record({ type: PacketType.EVENT, nsp: '/', data: ['small'] }, all, 0);
    assert.match(encoded[0], /^2\["small","[^"]+"\]$/, 'the encoding, offset included, for the adapter to send');
    assert.equal(store.bufferedBytes, Buffer.byteLength(encoded[0]));
    store.record({ type: PacketType.EVENT, nsp: '/', data: ['big', 'é'.repeat(60)] }, all, 0);
    assert.equal(store.bufferedPackets, 0);
    assert.equal(store.bufferedBytes, 0);
    assert.throws(() => resolveRecoveryOptions({ maxBufferedBytes: 0 }), /maxBufferedBytes/);
  } finally {
    store.close();
  }
});

test('SessionStore: at most 10,000 expired pids are remembered, the oldest forgotten first', () => {
  const store = new SessionStore(resolveRecoveryOptions({ maxDisconnectionDuration: 1000 })!);
  try {
    for (let i = 0; i <= 10_000; i++) store.persist({ sid: `s${i}`, pid: `p${i}`, rooms: [], data: null }, 0);
    store.sweep(1000);
    assert.equal(store.size, 0);
    assert.deepEqual(store.restore('p0', undefined, 1000), { ok: false, reason: 'unknown session' });
    assert.deepEqual(store.restore('p1', undefined, 1000), { ok: false, reason: 'expired' });
    assert.deepEqual(store.restore('p10000', undefined, 1000), { ok: false, reason: 'expired' });
  } finally {
    store.close();
  }
});

test('skipMiddlewares false: the connection closing while the middlewares run drops the socket (rooms left), the session kept', () => {
  const { io, engine } = make({ connectionStateRecovery: { skipMiddlewares: false } });
  const { e, s } = join(io, engine, { _fdx: 1 });
  void s.join('r');
  e.drop('transport close');
  let hang = true;
  io.use((socket: Socket, nextFn: (err?: Error) => void) => {
    void socket.join('by the middleware');
    if (!hang) nextFn();
  });
  const stuck = engine.connect();
  stuck.receive(`0${JSON.stringify({ pid: s.pid, _fdx: 1 })}`);
  assert.equal(io.sockets._recovering.size, 1);
  stuck.drop('transport close');
  assert.equal(io.sockets._recovering.size, 0);
  assert.equal(io.sockets.adapter.rooms.has('by the middleware'), false);
  assert.equal(io.sockets.adapter.sessions!.size, 1, 'the session is kept for another try');

  const fresh = engine.connect();
  fresh.receive('0{}');
  fresh.drop('transport close');
  assert.equal(io.sockets.adapter.rooms.has('by the middleware'), false, 'a new socket stuck in the middlewares leaves its rooms too');

  hang = false;
  const back = join(io, engine, { pid: s.pid, _fdx: 1 });
  assert.equal(back.s.recovered, true);
  assert.ok(back.s.rooms.has('r'));
});

test('skipMiddlewares false: a recovering socket holds at most maxBufferedPackets packets; one more closes its connection', () => {
  const { io, engine } = make({ connectionStateRecovery: { skipMiddlewares: false, maxBufferedPackets: 3 } });
  const { e, s } = join(io, engine, { _fdx: 1 });
  e.drop('transport close');
  let hang = true;
  io.use((_socket: Socket, nextFn: (err?: Error) => void) => {
    if (!hang) nextFn();
  });
  const stuck = engine.connect();
  stuck.receive(`0${JSON.stringify({ pid: s.pid, _fdx: 1 })}`);
  for (let n = 0; n < 3; n++) io.emit('news', n);
  assert.equal(stuck.readyState, 'open', 'three packets are held');
  io.emit('news', 3);
  assert.equal(stuck.readyState, 'closed');
  assert.deepEqual(stuck.take(), []);
  assert.equal(io.sockets._recovering.size, 0);
  hang = false;
  // the session is kept, but the store (3 packets too) no longer has the first of the four
  const back = join(io, engine, { pid: s.pid, _fdx: 1 });
  assert.deepEqual(back.reply._fdx, { seq: 0, fail: 'packets lost' });
});

/** The recorded EVENTs written to `e` since the last take, as [event, ...args] (their offset taken off). */
function replayed(e: FakeEngineSocket): unknown[][] {
  return e.take().map((m) => (JSON.parse(m.toString().slice(1)) as unknown[]).slice(0, -1));
}

/** The offset at the end of the last recorded EVENT written to `e` (what a client keeps), clearing the record. */
function lastOffset(e: FakeEngineSocket): string {
  return JSON.parse(e.take().at(-1)!.toString().slice(1)).at(-1) as string;
}

test('recovery: a socket in a quiet room recovers while 20,000 packets go to other rooms; it gets only what was sent to it after the drop, in order, once', () => {
  const { io, engine } = make(); // maxBufferedPackets: 10,000
  const quiet = join(io, engine);
  const busy = join(io, engine);
  void quiet.s.join('quiet');
  void busy.s.join('busy');
  io.to('quiet').emit('q', 0);
  quiet.s.emit('direct', 0);
  const offset = lastOffset(quiet.e);
  for (let n = 0; n < 20_000; n++) io.to('busy').emit('b', n);
  quiet.e.drop('transport close');
  io.to('quiet').emit('q', 1);
  quiet.s.emit('direct', 1); // the old Socket: recorded, written to no one
  for (let n = 0; n < 5_000; n++) io.to('busy').emit('b', n);
  io.emit('all', 2);
  busy.e.take();
  assert.equal(io.sockets.adapter.sessions!.bufferedPackets, 10_000, 'the packets the client saw are long gone');

  const back = join(io, engine, { pid: quiet.s.pid, offset, _fdx: 1 });
  assert.equal(back.s.recovered, true);
  assert.deepEqual(back.reply._fdx, { seq: 0 });
  assert.deepEqual(replayed(back.e), [
    ['q', 1],
    ['direct', 1],
    ['all', 2],
  ]);
});

test('recovery: a client that never received a recorded packet recovers in a busy namespace', () => {
  const { io, engine } = make();
  const idle = join(io, engine, { _fdx: 1 });
  const busy = join(io, engine);
  for (let n = 0; n < 20_000; n++) io.except(idle.s.id).emit('b', n);
  idle.e.drop('ping timeout');
  io.to(idle.s.id).emit('after', 1);
  busy.e.take();
  const back = join(io, engine, { pid: idle.s.pid, _fdx: 1 }); // no offset: the session's start
  assert.equal(back.s.recovered, true);
  assert.deepEqual(back.reply._fdx, { seq: 0 });
  assert.deepEqual(replayed(back.e), [['after', 1]]);
});

test('recovery: a packet for the client that was evicted still makes it fail with "packets lost"', () => {
  const { io, engine } = make();
  // written before the drop, not received (the client names the offset before it), then evicted
  const missed = join(io, engine, { _fdx: 1 });
  missed.s.emit('seen', 0);
  const offset = lastOffset(missed.e);
  missed.s.emit('lost in transit', 1);
  for (let n = 0; n < 10_000; n++) io.to('busy').emit('b', n);
  missed.e.drop('transport close');
  const back = join(io, engine, { pid: missed.s.pid, offset, _fdx: 1 });
  assert.deepEqual(back.reply._fdx, { seq: 0, fail: 'packets lost' });

  // recorded for it after the drop, then evicted
  const away = join(io, engine, { _fdx: 1 });
  away.e.drop('transport close');
  io.to(away.s.id).emit('missed', 1);
  for (let n = 0; n < 10_000; n++) io.to('busy').emit('b', n);
  const late = join(io, engine, { pid: away.s.pid, _fdx: 1 });
  assert.deepEqual(late.reply._fdx, { seq: 0, fail: 'packets lost' });
});

test('SessionStore: packets aged out before the disconnection only fail a client that had not seen one written to it', () => {
  const store = new SessionStore(resolveRecoveryOptions({ maxDisconnectionDuration: 1000 })!);
  try {
    const record = (room: string, n: number, at: number): string => {
      const p = { type: PacketType.EVENT, nsp: '/', data: ['e', n] };
      store.record(p, { rooms: new Set([room]), except: new Set() }, at);
      return (p.data as unknown[])[2] as string;
    };
    const seen = record('a', 0, 0);
    const unseen = record('a', 1, 100);
    record('b', 2, 100);
    const session = (pid: string, lastSent: string): PersistedSession => ({ sid: pid, pid, rooms: ['a'], data: null, lastSent, disconnectOffset: store.currentOffset });
    store.persist(session('up to date', seen), 900);
    store.persist(session('behind', unseen), 900);
    record('a', 3, 950);
    record('b', 4, 1500); // drops the packets recorded before 500
    assert.equal(store.bufferedPackets, 2);
    const ok = store.restore('up to date', seen, 1500);
    assert.ok(ok.ok);
    assert.deepEqual(
      ok.session.missedPackets.map((p) => (p.data as unknown[])[1]),
      [3],
    );
    assert.deepEqual(store.restore('behind', seen, 1500), { ok: false, reason: 'packets lost' });
  } finally {
    store.close();
  }
});

test('skipMiddlewares false: packets held for a recovering socket whose connection closes are replayed on the next try, in a busy namespace', () => {
  const { io, engine } = make({ connectionStateRecovery: { skipMiddlewares: false } });
  const { e, s } = join(io, engine, { _fdx: 1 });
  for (let n = 0; n < 10_001; n++) io.to('busy').emit('b', n); // the session's start is evicted
  e.drop('transport close');
  let hang = true;
  io.use((_socket: Socket, nextFn: (err?: Error) => void) => {
    if (!hang) nextFn();
  });
  const stuck = engine.connect();
  stuck.receive(`0${JSON.stringify({ pid: s.pid, _fdx: 1 })}`);
  io.emit('news', 1); // held, never written
  stuck.drop('transport close');
  hang = false;
  const back = join(io, engine, { pid: s.pid, _fdx: 1 });
  assert.equal(back.s.recovered, true);
  assert.deepEqual(replayed(back.e), [['news', 1]]);
});

test('cleanupEmptyChildNamespaces: a child whose last socket may come back is kept until the sweep expires its session', () => {
  const { io, engine } = make({ connectionStateRecovery: { maxDisconnectionDuration: 1000 }, cleanupEmptyChildNamespaces: true });
  const parent = io.of(/^\/dyn-\d+$/) as ParentNamespace;
  const connect = (auth: object): { e: FakeEngineSocket; s: Socket } => {
    let s: Socket | undefined;
    parent.once('connection', (socket: Socket) => (s = socket));
    const e = engine.connect();
    e.receive(`0/dyn-1,${JSON.stringify(auth)}`);
    assert.ok(s, 'connected synchronously');
    e.sent.shift(); // the CONNECT reply
    return { e, s: s! };
  };
  const first = connect({});
  const child = first.s.nsp;
  void first.s.join('r');
  first.e.drop('transport close');
  assert.equal(io._nsps.get('/dyn-1'), child, 'kept: its store holds the session');
  assert.ok(parent.children.has(child));
  parent.to('r').emit('news', 1);

  const back = connect({ pid: first.s.pid });
  assert.equal(back.s.recovered, true);
  assert.equal(back.s.nsp, child);
  assert.deepEqual(back.e.take().map(String), [`2/dyn-1,["news",1,"${child.adapter.currentOffset()}"]`]);
  back.e.drop('transport close');
  assert.equal(io._nsps.get('/dyn-1'), child);

  child.adapter.sessions!.sweep(Date.now() + 1000);
  assert.equal(io._nsps.has('/dyn-1'), false, 'removed once the session expired');
  assert.equal(parent.children.has(child), false);
});

test('cleanupEmptyChildNamespaces: the sweep does not delete a child while a client is being admitted to it', () => {
  const { io, engine } = make({ connectionStateRecovery: { maxDisconnectionDuration: 1000 }, cleanupEmptyChildNamespaces: true });
  const parent = io.of(/^\/dyn-\d+$/) as ParentNamespace;
  const held: ((err?: Error) => void)[] = [];
  parent.use((socket: Socket, nextFn: (err?: Error) => void) => {
    if (socket.handshake.auth.wait) held.push(nextFn);
    else nextFn();
  });
  /** A child whose only socket dropped (its session is kept), and a CONNECT to it held in the middleware. */
  const childWithAdmission = (name: string) => {
    const first = engine.connect();
    first.receive(`0${name},{}`);
    const child = io._nsps.get(name)!;
    first.drop('transport close');
    const late = engine.connect();
    late.receive(`0${name},{"wait":true}`);
    child.adapter.sessions!.sweep(Date.now() + 1000); // the session expires while it is admitted
    assert.equal(io._nsps.get(name), child, 'kept: a client is being admitted');
    return { child, late };
  };

  const { child, late } = childWithAdmission('/dyn-1');
  held.shift()!();
  assert.match(String(late.take()[0]), /^0\/dyn-1,\{"sid"/);
  parent.emit('news', 1);
  assert.deepEqual(late.take().map(String), [`2/dyn-1,["news",1,"${child.adapter.currentOffset()}"]`]);
  late.receive('1/dyn-1,');
  assert.equal(io._nsps.has('/dyn-1'), false, 'deleted when the admitted socket leaves');
  assert.equal(parent.children.has(child), false);

  // an admission that fails after the sweep deletes the child
  const refused = childWithAdmission('/dyn-2');
  held.shift()!(new Error('no'));
  assert.deepEqual(refused.late.take().map(String), ['4/dyn-2,{"message":"no"}']);
  assert.equal(io._nsps.has('/dyn-2'), false);
  assert.equal(parent.children.has(refused.child), false);
});

test('recovery: a recorded packet whose write ends the connection is replayed (lastSent is set before the write)', () => {
  const { io, engine } = make();
  const { e, s } = join(io, engine);
  e.send = () => e.drop('transport error'); // the engine gives up on this write (ours does past maxBufferedAmount)
  s.emit('last', 1);
  assert.equal(s.connected, false);
  const back = join(io, engine, { pid: s.pid }); // no offset: it received no recorded packet
  assert.equal(back.s.recovered, true);
  assert.deepEqual(replayed(back.e), [['last', 1]]);
});

test("recovery: a recorded packet written without its offset makes the session fall back to socket.io's rule; unrecorded writes do not", () => {
  const { io, engine } = make();
  const { e, s } = join(io, engine);
  const packet = { type: PacketType.EVENT, nsp: '/', data: ['direct', 1] };
  const encoded = io.sockets.adapter.sessions!.record(packet, { rooms: new Set([s.id]), except: new Set() });
  s._sendEncoded(encoded, {}, false); // an adapter path that does not pass the offset
  e.take(); // never reaches the client
  e.drop('transport close');
  const back = join(io, engine, { pid: s.pid });
  assert.equal(back.s.recovered, true);
  assert.deepEqual(replayed(back.e), [['direct', 1]]);

  // volatile and with-ack broadcasts are not recorded: a client that got neither is still up to date
  const quiet = join(io, engine);
  io.volatile.emit('tick');
  io.emit('ask', () => {});
  quiet.e.take();
  for (let n = 0; n < 10_001; n++) io.to('busy').emit('b', n);
  quiet.e.drop('transport close');
  assert.equal(join(io, engine, { pid: quiet.s.pid }).s.recovered, true);
});

test("'recovery_failed' is our client's local event: it cannot emit it; the server may (as in socket.io)", () => {
  const { io, engine } = make();
  const { s } = join(io, engine);
  s.emit('recovery_failed', 'expired', []); // socket.io's reserved names do not include it
  const c = ioClient('http://127.0.0.1:1', { autoConnect: false });
  assert.throws(() => c.emit('recovery_failed'), /reserved event name/);
  assert.equal(new Decoder().add('2["recovery_failed","expired",[]]').kind, 'packet');
});

test('recovery on: a single-target emit is written unshared; a broadcast that can reach several sockets, shared', () => {
  const { io, engine } = make();
  const a = join(io, engine);
  const b = join(io, engine);
  const shared: (boolean | undefined)[] = [];
  const client = a.s.client;
  const write = client.writeEncoded.bind(client);
  client.writeEncoded = (encoded, compress, isShared) => {
    shared.push(isShared);
    write(encoded, compress, isShared);
  };
  a.s.emit('one');
  io.to(a.s.id).emit('one too');
  io.emit('all');
  void a.s.join('r');
  void b.s.join('r');
  io.to('r').emit('room');
  assert.deepEqual(shared, [false, false, true, true]);
});
