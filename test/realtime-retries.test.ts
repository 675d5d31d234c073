/**
 * `retries` / `ackTimeout` (socket.io-client 4.6+ semantics): our client against our server and
 * the real socket.io 4.8 server (each emit queued, one at a time in order, tried again after
 * `ackTimeout`, the callback gets an Error after the last try), the duplicates of a retry handled
 * once by our server (lossless extension), and socket.io-client's retries against our server.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { next, start, stopAll as stopHarness, within } from './helpers/realtime-harness.js';
import { SERVER_KINDS, startServer, stopAll as stopClientServers } from './helpers/realtime-client-servers.js';

afterEach(async () => {
  await stopHarness();
  await stopClientServers();
});

/** Counts the raw Engine.IO messages of a server socket's connection that contain `text`. */
function countRaw(s: any, text: string): { n: number; reached(n: number): Promise<void> } {
  const counter = {
    n: 0,
    waiters: [] as { n: number; resolve: () => void }[],
    reached(n: number): Promise<void> {
      if (counter.n >= n) return Promise.resolve();
      return within(new Promise<void>((resolve) => counter.waiters.push({ n, resolve })), `${n} messages with ${text}`);
    },
  };
  s.conn.on('message', (data: unknown) => {
    if (typeof data !== 'string' || !data.includes(text)) return;
    counter.n++;
    for (const w of counter.waiters) if (counter.n >= w.n) w.resolve();
  });
  return counter;
}

for (const kind of SERVER_KINDS) {
  describe(`our client with retries <-> ${kind} server`, () => {
    const options = kind === 'fullduplex' ? { connectionStateRecovery: {} } : {};

    test('after the last try the callback gets an Error; the server handled it once (ours) or every time (socket.io)', async () => {
      const { io, client } = await startServer(kind, options);
      const connected = next(io, 'connection');
      const c = await client('/', { transports: ['websocket'], retries: 2, ackTimeout: 50 });
      const [s] = await connected;
      let handled = 0;
      s.on('silent', () => handled++);
      const raw = countRaw(s, '"silent"');
      const [err] = await within(new Promise<unknown[]>((resolve) => c.emit('silent', 1, (...a: unknown[]) => resolve(a))), 'the final error');
      assert.match(String((err as Error).message), /operation has timed out/);
      await raw.reached(3);
      assert.equal(raw.n, 3, 'the first try and 2 retries');
      assert.equal(handled, kind === 'fullduplex' ? 1 : 3);
    });

    test('one emit at a time, in order: the next waits for the ack of the previous', async () => {
      const { io, client } = await startServer(kind, options);
      const connected = next(io, 'connection');
      const c = await client('/', { transports: ['websocket'], retries: 1, ackTimeout: 10_000 });
      const [s] = await connected;
      const order: string[] = [];
      let releaseA: (() => void) | undefined;
      s.on('q', (name: string, cb: (r: string) => void) => {
        order.push(name);
        if (name === 'a') releaseA = () => cb('A');
        else cb(name.toUpperCase());
      });
      const probe = next(s, 'probe');
      const replies: unknown[][] = [];
      const all = Promise.all(
        ['a', 'b', 'c'].map((name) => new Promise<void>((resolve) => c.emit('q', name, (...r: unknown[]) => (replies.push(r), resolve())))),
      );
      c.volatile.emit('probe'); // volatile bypasses the queue: it overtakes b and c
      await probe;
      assert.deepEqual(order, ['a'], 'b is not sent before a is acknowledged');
      releaseA!();
      await within(all, 'every ack');
      assert.deepEqual(order, ['a', 'b', 'c']);
      assert.deepEqual(replies, [
        [null, 'A'],
        [null, 'B'],
        [null, 'C'],
      ]);
    });
  });
}

test('our server handles a retried emit once, and its reply still reaches the callback', async () => {
  const { io, client } = await startServer('fullduplex', { connectionStateRecovery: {} });
  const connected = next(io, 'connection');
  const c = await client('/', { transports: ['websocket'], retries: 3, ackTimeout: 50 });
  const [s] = await connected;
  assert.equal(c.isLossless, true);
  let handled = 0;
  let reply: ((r: string) => void) | undefined;
  s.on('slow', (_x: number, cb: (r: string) => void) => {
    handled++;
    reply = cb;
  });
  const raw = countRaw(s, '"slow"');
  const result = new Promise<unknown[]>((resolve) => c.emit('slow', 1, (...a: unknown[]) => resolve(a)));
  await raw.reached(2); // the retry arrived: a duplicate of the same sequence number
  assert.equal(handled, 1);
  reply!('done');
  assert.deepEqual(await within(result, 'the reply'), [null, 'done']);
  assert.equal(handled, 1);
});

describe('socket.io-client 4.8 with retries <-> our server', () => {
  test('a retry after the ack timeout is answered (at-least-once, as with socket.io)', async () => {
    const { io, client } = await start();
    const connected = next(io, 'connection');
    const c = await client('/', { retries: 2, ackTimeout: 50 });
    const [s] = await connected;
    let tries = 0;
    s.on('flaky', (cb: (r: string) => void) => {
      tries++;
      if (tries === 2) cb('second');
    });
    const got = await within(new Promise<unknown[]>((resolve) => c.emit('flaky', (...a: unknown[]) => resolve(a))), 'the reply');
    assert.deepEqual(got, [null, 'second']);
    assert.equal(tries, 2);
  });
});
