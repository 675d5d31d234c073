/**
 * fullduplex/realtime/client (our Socket.IO client) end to end over loopback, against our own
 * Server and against the real `socket.io` 4.8 server: the same tests run on both.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { Backoff, io as ioClient, type Socket } from '../src/realtime/client/index.js';
import { EngineClient } from '../src/realtime/client/engine.js';
import { next, within } from './helpers/realtime-harness.js';
import { SERVER_KINDS, startServer, stopAll } from './helpers/realtime-client-servers.js';

afterEach(stopAll);

/** Calls the ack (the last argument) with the other arguments. */
const echo = (...a: unknown[]): void => (a.pop() as (...r: unknown[]) => void)(...a);

for (const kind of SERVER_KINDS) {
  describe(`our client <-> ${kind} server`, () => {
    test('websocket only: connect with an id, events and acks both ways', async () => {
      const { io, client } = await startServer(kind);
      const server = new Promise<any>((resolve) => io.on('connection', resolve));
      const c = await client('/', { transports: ['websocket'] });
      const s = await within(server, 'the server socket');
      assert.equal(c.connected, true);
      assert.equal(typeof c.id, 'string');
      assert.equal(c.id, s.id);
      assert.equal(c.io.engine!.transport, 'websocket');

      s.on('echo', echo);
      assert.deepEqual(await within(c.emitWithAck('echo', 'a', { b: [1, 2] }), 'the echo'), 'a');
      const both = await within(
        new Promise<unknown[]>((resolve) => c.emit('echo', 1, null, 'x', (...r: unknown[]) => resolve(r))),
        'the ack',
      );
      assert.deepEqual(both, [1, null, 'x']);

      c.on('ask', (q: string, cb: (a: string) => void) => cb(`answer to ${q}`));
      const answer = await within(new Promise((resolve) => s.emit('ask', 'q1', resolve)), 'the client ack');
      assert.equal(answer, 'answer to q1');

      const got = next(c, 'news');
      s.emit('news', 'hello', 42);
      assert.deepEqual(await got, ['hello', 42]);

      const heard = next(s, 'plain');
      c.emit('plain', { deep: { x: true } });
      assert.deepEqual(await heard, [{ deep: { x: true } }]);
    });

    test('binary arguments both ways, nested, with acks', async () => {
      const { io, client } = await startServer(kind);
      io.on('connection', (s: any) => {
        s.on('echo', echo);
        s.emit('bin', Buffer.from([9, 8]), { inner: new Uint8Array([1, 2, 3]) });
      });
      const c = await client('/', { transports: ['websocket'], autoConnect: true }, false);
      const bin = next(c, 'bin');
      await next(c, 'connect');
      const [b1, b2] = await bin;
      assert.deepEqual([...(b1 as Uint8Array)], [9, 8]);
      assert.deepEqual([...((b2 as { inner: Uint8Array }).inner)], [1, 2, 3]);
      const reply = await within(
        new Promise<unknown[]>((resolve) => c.emit('echo', Buffer.from([0, 255]), [new Uint8Array([7])], (...r: unknown[]) => resolve(r))),
        'the binary echo',
      );
      assert.deepEqual([...new Uint8Array(reply[0] as ArrayBuffer)], [0, 255]);
      assert.deepEqual([...new Uint8Array((reply[1] as ArrayBuffer[])[0]!)], [7]);
    });

    test('polling: a backlog over maxHttpBufferSize goes in several POSTs, every event arrives in order', async () => {
      // The handshake's maxPayload is 1000 bytes: 20 events of ~220 bytes need several POST bodies.
      const { io, client } = await startServer(kind, { maxHttpBufferSize: 1000 });
      const got: number[] = [];
      const all = new Promise<void>((resolve) =>
        io.on('connection', (s: any) =>
          s.on('n', (i: number) => {
            got.push(i);
            if (got.length === 20) resolve();
          }),
        ),
      );
      const c = await client('/', { transports: ['polling'] });
      // A POST over maxPayload gets 413 and ends the session.
      const dropped = new Promise<never>((_, reject) => c.once('disconnect', (reason: string) => reject(new Error(`disconnected: ${reason}`))));
      for (let i = 0; i < 20; i++) c.emit('n', i, 'x'.repeat(200));
      await within(Promise.race([all, dropped]), 'the 20 events');
      assert.deepEqual(got, [...Array(20).keys()]);
      assert.equal(c.connected, true);
    });

    test('polling then upgrade to websocket, binary (base64 while polling) and acks', async () => {
      const { io, client } = await startServer(kind);
      io.on('connection', (s: any) => s.on('echo', echo));
      const c = await client('/', {}, false);
      const upgraded = new Promise<string>((resolve) => {
        const watch = (): void => void c.io.engine!.once('upgrade', resolve);
        if (c.io.engine) watch();
        else c.io.once('open', watch);
      });
      await next(c, 'connect');
      const early = await within(c.emitWithAck('echo', 'early', Buffer.from([1])), 'an echo around the upgrade');
      assert.equal(early, 'early');
      assert.equal(await within(upgraded, 'the upgrade'), 'websocket');
      assert.equal(c.io.engine!.transport, 'websocket');
      const reply = await within(
        new Promise<unknown[]>((resolve) => c.emit('echo', 'late', Buffer.from([2, 3]), (...r: unknown[]) => resolve(r))),
        'an echo after the upgrade',
      );
      assert.equal(reply[0], 'late');
      assert.deepEqual([...new Uint8Array(reply[1] as ArrayBuffer)], [2, 3]);
    });

    test('polling only (upgrade off)', async () => {
      const { io, client } = await startServer(kind);
      io.on('connection', (s: any) => s.on('echo', echo));
      const c = await client('/', { transports: ['polling'] });
      assert.equal(c.io.engine!.transport, 'polling');
      const reply = await within(
        new Promise<unknown[]>((resolve) => c.emit('echo', 'p', Buffer.from([4, 5]), (...r: unknown[]) => resolve(r))),
        'the polling echo',
      );
      assert.equal(reply[0], 'p');
      assert.deepEqual([...new Uint8Array(reply[1] as ArrayBuffer)], [4, 5]);
      assert.equal(c.io.engine!.transport, 'polling');
    });

    test('namespaces multiplexed over one Manager', async () => {
      const { io, url } = await startServer(kind);
      const admins: any[] = [];
      io.of('/admin').on('connection', (s: any) => {
        admins.push(s);
        s.on('echo', echo);
      });
      io.on('connection', (s: any) => s.on('echo', (...a: unknown[]) => echo('root', ...a.slice(1))));
      const root = ioClient(url, { transports: ['websocket'], reconnection: false, forceNew: true });
      const admin = root.io.socket('/admin');
      try {
        await Promise.all([next(root, 'connect'), next(admin, 'connect')]);
        assert.equal(root.io, admin.io);
        assert.equal(admins.length, 1);
        assert.equal(admins[0].id, admin.id);
        assert.notEqual(root.id, admin.id);
        assert.equal(await within(admin.emitWithAck('echo', 'adm'), 'admin echo'), 'adm');
        assert.equal(await within(root.emitWithAck('echo', 'x'), 'root echo'), 'root');
        // leaving one namespace keeps the connection for the other
        admin.disconnect();
        assert.equal(root.connected, true);
        assert.equal(await within(root.emitWithAck('echo', 'y'), 'root echo after'), 'root');
      } finally {
        root.disconnect();
        admin.disconnect();
      }
      assert.equal(root.io.engine, null);

      // io(url + nsp) shares the Manager of the same server
      const a = ioClient(url + '/', { transports: ['websocket'], reconnection: false });
      const b = ioClient(url + '/admin', { transports: ['websocket'], reconnection: false });
      try {
        assert.equal(a.io, b.io);
        await Promise.all([next(a, 'connect'), next(b, 'connect')]);
      } finally {
        a.disconnect();
        b.disconnect();
      }
    });

    test('rooms and broadcast: io.to(room), socket.to(room) (not the sender), except, io.emit', async () => {
      const { io, client } = await startServer(kind);
      io.on('connection', (s: any) => {
        s.join(s.handshake.auth.room);
        s.on('shout', (text: string) => s.to('red').emit('heard', text));
        s.on('sync', (ack: () => void) => ack());
      });
      const [r1, r2, b1] = [
        await client('/', { transports: ['websocket'], auth: { room: 'red' } }),
        await client('/', { transports: ['polling'], auth: { room: 'red' } }),
        await client('/', { transports: ['websocket'], auth: { room: 'blue' } }),
      ];
      const log: string[] = [];
      for (const [name, c] of [['r1', r1], ['r2', r2], ['b1', b1]] as const) {
        c.onAny((event: string, text: string) => log.push(`${name}:${event}:${text}`));
      }
      const sent: unknown[][] = [];
      r1.onAnyOutgoing((...args: unknown[]) => sent.push(args));
      const ping = (c: Socket) => within(c.emitWithAck('sync'), 'sync');

      io.to('red').emit('news', 'to red');
      io.except('red').emit('news', 'not red');
      io.emit('news', 'everyone');
      r1.emit('shout', 'from r1');
      // r2 takes the shout; when every client has answered a later ack, all earlier packets are in
      await within(new Promise<void>((resolve) => r2.once('heard', () => resolve())), 'the shout at r2');
      await Promise.all([ping(r1), ping(r2), ping(b1)]);
      assert.deepEqual(log.filter((l) => l.startsWith('r1:')), ['r1:news:to red', 'r1:news:everyone']);
      assert.deepEqual(log.filter((l) => l.startsWith('r2:')), ['r2:news:to red', 'r2:news:everyone', 'r2:heard:from r1']);
      assert.deepEqual(log.filter((l) => l.startsWith('b1:')), ['b1:news:not red', 'b1:news:everyone']);
      assert.deepEqual(sent, [['shout', 'from r1'], ['sync']]);
    });

    test('auth (object and function) and middleware rejection -> connect_error', async () => {
      const { io, client } = await startServer(kind);
      io.use((s: any, nextFn: (err?: Error) => void) => {
        if (s.handshake.auth.token === 'ok') return nextFn();
        const err = new Error('not authorized') as Error & { data?: unknown };
        err.data = { code: 401 };
        nextFn(err);
      });
      const tokens: unknown[] = [];
      io.on('connection', (s: any) => tokens.push(s.handshake.auth.token));
      await client('/', { transports: ['websocket'], auth: { token: 'ok' } });
      await client('/', { transports: ['websocket'], auth: (cb) => cb({ token: 'ok' }) });
      assert.deepEqual(tokens, ['ok', 'ok']);

      const bad = await client('/', { transports: ['websocket'], auth: { token: 'nope' } }, false);
      const [err] = await next(bad, 'connect_error');
      assert.equal(err.message, 'not authorized');
      assert.deepEqual(err.data, { code: 401 });
      assert.equal(bad.connected, false);
      assert.equal(bad.active, false);
    });

    test('timeout(): an ack that never comes gets an error; one that comes gets null first', async () => {
      const { io, client } = await startServer(kind);
      io.on('connection', (s: any) => {
        s.on('echo', echo);
        s.on('silent', () => {});
      });
      const c = await client('/', { transports: ['websocket'] });
      const [err] = await within(new Promise<unknown[]>((resolve) => c.timeout(20).emit('silent', (...r: unknown[]) => resolve(r))), 'the timeout');
      assert.ok(err instanceof Error);
      await assert.rejects(c.timeout(20).emitWithAck('silent'), /timed out/);
      assert.equal(await within(c.timeout(5000).emitWithAck('echo', 'in time'), 'the echo'), 'in time');
      const r = await within(new Promise<unknown[]>((resolve) => c.timeout(5000).emit('echo', 'v', (...a: unknown[]) => resolve(a))), 'the echo');
      assert.deepEqual(r, [null, 'v']);
      assert.throws(() => c.emit('connect'), /reserved/);
    });

    test('server-side socket.disconnect() -> "io server disconnect", no reconnection', async () => {
      const { io, client } = await startServer(kind);
      io.on('connection', (s: any) => s.on('leave', () => s.disconnect()));
      const c = await client('/', { transports: ['websocket'], reconnection: true, reconnectionDelay: 1, reconnectionDelayMax: 1 });
      let attempts = 0;
      c.io.on('reconnect_attempt', () => attempts++);
      const gone = next(c, 'disconnect');
      c.emit('leave');
      assert.deepEqual(await gone, ['io server disconnect', undefined]);
      assert.equal(c.connected, false);
      assert.equal(c.active, false);
      assert.equal(c.id, undefined);
      // the only namespace left, so the Manager closed its connection without reconnecting
      assert.equal(c.io.engine, null);
      assert.equal(c.io._reconnecting, false);
      assert.equal(attempts, 0);
    });

    test('client-side disconnect() -> "io client disconnect" on both ends', async () => {
      const { io, client } = await startServer(kind);
      const server = new Promise<any>((resolve) => io.on('connection', resolve));
      const c = await client('/', { transports: ['websocket'] });
      const s = await within(server, 'the server socket');
      const serverGone = next(s, 'disconnect');
      const gone = next(c, 'disconnect');
      c.disconnect();
      assert.equal((await gone)[0], 'io client disconnect');
      assert.equal((await serverGone)[0], 'client namespace disconnect');
    });

    for (const transports of [['websocket'], ['polling']] as const) {
      test(`dropped transport (${transports[0]}) -> reconnection; emits made meanwhile are delivered`, async () => {
        const { io, client, dropAll } = await startServer(kind);
        const received: unknown[] = [];
        const servers: any[] = [];
        io.on('connection', (s: any) => {
          servers.push(s);
          s.on('msg', (m: unknown, ack?: (r: unknown) => void) => {
            received.push(m);
            ack?.(`got ${m}`);
          });
        });
        const c = await client('/', {
          transports: [...transports],
          reconnection: true,
          reconnectionDelay: 5,
          reconnectionDelayMax: 20,
          randomizationFactor: 0.5,
        });
        const firstId = c.id;
        c.emit('msg', 0);
        await within(
          new Promise<void>((resolve) => c.emit('msg', 'sync', () => resolve())),
          'the first messages',
        );
        const events: string[] = [];
        c.io.on('reconnect_attempt', (n: number) => events.push(`attempt ${n}`));
        const reconnected = next(c.io, 'reconnect');
        const connectedAgain = next(c, 'connect');
        const disconnected = next(c, 'disconnect');
        dropAll();
        const [reason] = await disconnected;
        assert.ok(reason === 'transport close' || reason === 'transport error', reason);
        assert.equal(c.connected, false);
        c.emit('msg', 1);
        c.emit('msg', 2);
        const acked = c.emitWithAck('msg', 3);
        assert.equal(c.sendBuffer.length, 3);
        await reconnected;
        await connectedAgain;
        assert.equal(await within(acked, 'the ack of a buffered emit'), 'got 3');
        assert.deepEqual(received, [0, 'sync', 1, 2, 3]);
        assert.equal(c.connected, true);
        assert.notEqual(c.id, firstId);
        assert.equal(servers.length, 2);
        assert.ok(events.length >= 1 && events[0] === 'attempt 1', events.join());
      });
    }
  });
}

test('connect_error and reconnect_failed when nothing listens (bounded attempts)', async () => {
  const { url, http } = await startServer('fullduplex');
  await within(new Promise<void>((resolve) => http.close(() => resolve())), 'closing the listener');
  const c = ioClient(url, { transports: ['websocket'], forceNew: true, reconnectionAttempts: 2, reconnectionDelay: 1, reconnectionDelayMax: 2 });
  const errors: Error[] = [];
  const reconnectErrors: Error[] = [];
  c.on('connect_error', (e: Error) => errors.push(e));
  c.io.on('reconnect_error', (e: Error) => reconnectErrors.push(e));
  try {
    await next(c.io, 'reconnect_failed');
    assert.equal(errors.length, 3); // the first try and 2 reconnection attempts
    assert.equal(reconnectErrors.length, 2);
    assert.equal(c.connected, false);
  } finally {
    c.disconnect();
  }
});

test('Backoff: doubles from the minimum, capped, with jitter within the factor', () => {
  const plain = new Backoff(100, 1000, 0);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => plain.duration()), [100, 200, 400, 800, 1000]);
  plain.reset();
  assert.equal(plain.duration(), 100);
  const jittered = new Backoff(100, 10000, 0.5);
  for (let i = 0; i < 6; i++) {
    const base = 100 * 2 ** i;
    const d = jittered.duration();
    assert.ok(d >= base * 0.5 - 1 && d <= base * 1.5, `${d} for ${base}`);
  }
});

test('engine close() over polling finishes when the server never answers the CLOSE POST', async () => {
  let polled!: () => void;
  const polling = new Promise<void>((resolve) => (polled = resolve));
  let cut!: () => void;
  const pollCut = new Promise<void>((resolve) => (cut = resolve));
  // A hand-made Engine.IO server: the handshake, then a long poll held open; POSTs never answered.
  const http = createServer((req, res) => {
    if (req.method === 'POST') return;
    if (!req.url!.includes('sid=')) {
      res.end('0' + JSON.stringify({ sid: 'stuck', upgrades: [], pingInterval: 10_000, pingTimeout: 100, maxPayload: 1_000_000 }));
      return;
    }
    res.on('close', cut);
    polled();
  });
  await within(new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve)), 'listening');
  try {
    const engine = new EngineClient(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['polling'] });
    await next(engine, 'open');
    await within(polling, 'the long poll');
    engine.close();
    await within(pollCut, 'the long poll to be cut after the unanswered CLOSE');
  } finally {
    http.closeAllConnections();
    await within(new Promise<void>((resolve) => http.close(() => resolve())), 'http close');
  }
});

export type { Socket };

test("a server event named 'recovery_failed' is not taken for our local event; a Blob throws in emit()", async () => {
  const { io, client } = await startServer('socket.io');
  io.on('connection', (s: any) => {
    s.emit('recovery_failed', 'forged');
    s.emit('after');
  });
  const c = await client('/', { transports: ['websocket'] }, false);
  const forged: unknown[] = [];
  c.on('recovery_failed', (...args: unknown[]) => forged.push(args));
  await next(c, 'after');
  assert.deepEqual(forged, []);
  c.disconnect();
  // buffered while disconnected: the TypeError comes from emit(), not from a later flush
  assert.throws(() => c.emit('upload', new Blob(['x'])), /await blob\.arrayBuffer\(\)/);
  assert.throws(() => ioClient('http://127.0.0.1:1', { autoConnect: false, retries: 2 }).emit('upload', { f: new Blob(['x']) }), /Blob/);
});
