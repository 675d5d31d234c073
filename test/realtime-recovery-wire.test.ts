/**
 * Connection state recovery and the lossless extension on the wire, over a fake Engine.IO server
 * (no network): the CONNECT payloads, offsets appended to recorded packets, sequence numbers,
 * confirmations, duplicates, the failure reasons, an async adapter; and the SessionStore's bounds
 * with an explicit clock.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { Adapter, Server, type Socket } from '../src/realtime/index.js';
import { SessionStore, resolveRecoveryOptions, type PersistedSession } from '../src/realtime/session-store.js';
import { PacketType } from '../src/realtime/parser.js';
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
