/**
 * Floods against the realtime layer, with the server in a child process so that its memory is
 * measured alone (test/fixtures/realtime-flood-server.ts): handshakes that never come back,
 * polling requests piled on one session and on many. Each attack gets the protocol's errors,
 * the server's memory stays bounded, and a socket.io-client on the same server keeps exchanging
 * events during and after it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { io as ioc, type Socket as ClientSocket } from 'socket.io-client';
import { ChildServer, MiB, mib } from './helpers/hardening-child.ts';
import { handshake, next, request, pollUrl, startEngine, within } from './helpers/engine-peer.ts';

const SCRIPT = fileURLToPath(new URL('./fixtures/realtime-flood-server.ts', import.meta.url));

interface Stats {
  sessions: number;
  maxSessionsSeen: number;
  sockets: number;
  disconnects: Record<string, number>;
}

async function stats(child: ChildServer): Promise<Stats> {
  return (await child.request('stats')) as unknown as Stats;
}

/** One request on a keep-alive agent; resolves with status and body, bounded. */
function send(agent: http.Agent, url: string, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      const req = http.request(url, { method, agent }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    }),
    10_000,
    `${method} ${url}`,
  );
}

/** Runs `count` jobs, `concurrency` at a time; returns their results in order. */
async function pool<T>(count: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let nextIndex = 0;
  const worker = async (): Promise<void> => {
    while (nextIndex < count) {
      const i = nextIndex++;
      results[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** A socket.io-client that echoes during an attack: `during(attack)` emits until it is over. */
async function goodClient(port: number): Promise<{ c: ClientSocket; during<T>(attack: Promise<T>): Promise<T> }> {
  const c = ioc(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
  await within(new Promise((resolve) => c.once('connect', resolve)), 5000, 'the good client to connect');
  return {
    c,
    async during<T>(attack: Promise<T>): Promise<T> {
      let over = false;
      const result = attack.finally(() => (over = true));
      let echoes = 0;
      // Bounded by the attack's own bounds, and by a count; paced under the default rate limit.
      while (!over && echoes < 10_000) {
        assert.equal(await within(c.emitWithAck('echo', echoes), 5000, 'an echo during the attack'), echoes);
        echoes++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(echoes > 0);
      return result;
    },
  };
}

async function withChild(options: Record<string, unknown>, fn: (child: ChildServer, base: string) => Promise<void>): Promise<void> {
  const child = await ChildServer.start({ options }, SCRIPT);
  try {
    await fn(child, `http://127.0.0.1:${child.port}/socket.io/?EIO=4`);
    assert.ok(child.alive, `the server process died: ${child.stderr.slice(-2000)}`);
  } finally {
    await child.stop();
  }
}

/** Takes the memory baseline (after a full GC); returns it. */
async function mark(child: ChildServer): Promise<{ heapUsed: number }> {
  return (await child.request('mark')) as unknown as { heapUsed: number };
}

/** Waits (bounded) until the child's stats satisfy `ok`. */
async function until(child: ChildServer, ok: (s: Stats) => boolean, what: string): Promise<Stats> {
  const deadline = Date.now() + 15_000;
  for (let i = 0; i < 1500; i++) {
    const s = await stats(child);
    if (ok(s)) return s;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}; last stats ${JSON.stringify(await stats(child))}`);
}

test('20,000 handshakes that never poll: 503 past maxSessions (1,000), memory bounded, a connected client unaffected', async (t) => {
  // Long enough a heartbeat that no session expires during the attack (the next test covers that).
  const options = { maxSessions: 1000, pingInterval: 60_000, pingTimeout: 60_000 };
  await withChild(options, async (child, base) => {
    const good = await goodClient(child.port);
    const baseline = await mark(child);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const answers = await good.during(pool(20_000, 32, () => send(agent, `${base}&transport=polling`)));
    agent.destroy();
    const after = await child.memory({ gc: true });
    const s = await stats(child);
    const heldHeap = after.heapUsed - baseline.heapUsed;
    t.diagnostic(`heap held +${mib(heldHeap)}, peak RSS +${mib(after.peakGrowth)}, ${JSON.stringify(s)}`);
    const opened = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 503);
    assert.equal(opened.length + refused.length, answers.length);
    assert.ok(opened.every((a) => a.body.startsWith('0{"sid":')));
    assert.ok(refused.every((a) => a.body === '{"code":4,"message":"Too many sessions"}'));
    // One session is the good client's.
    assert.equal(opened.length, 999);
    assert.equal(refused.length, 20_000 - 999);
    assert.equal(s.maxSessionsSeen, 1000);
    // ~3.5 KiB per idle session: 1,000 held is ~3.5 MiB; 20,000 would be ~70 MiB.
    assert.ok(heldHeap < 16 * MiB, `heap held ${mib(heldHeap)}`);
    assert.ok(after.peakGrowth < 128 * MiB, `peak RSS growth ${mib(after.peakGrowth)}`);
    // A new client is refused while the server is full (socket.io-client would retry later)...
    const late = ioc(`http://127.0.0.1:${child.port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
    await within(new Promise((resolve) => late.once('connect_error', resolve)), 5000, 'the late client to be refused');
    late.close();
    // ...and the one already connected goes on.
    assert.equal(await within(good.c.emitWithAck('echo', 'still'), 5000, 'the first client after the attack'), 'still');
    good.c.close();
  });
});

/** A polling handshake plus the Socket.IO CONNECT, on `agent`; returns the sid. */
async function openPolling(agent: http.Agent, base: string): Promise<string> {
  const open = await send(agent, `${base}&transport=polling`);
  assert.equal(open.status, 200, open.body);
  const sid = (JSON.parse(open.body.slice(1)) as { sid: string }).sid;
  assert.equal((await send(agent, `${base}&transport=polling&sid=${sid}`, 'POST', '40')).body, 'ok');
  return sid;
}

test('5,000 polling requests piled on one session: engine.io answers, the session ends, memory bounded, others unaffected', async (t) => {
  await withChild({}, async (child, base) => {
    const good = await goodClient(child.port);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const sid = await openPolling(agent, base);
    await mark(child);
    const url = `${base}&transport=polling&sid=${sid}`;
    const answers = await good.during(pool(5000, 64, (i) => (i % 2 === 0 ? send(agent, url) : send(agent, url, 'POST', '6'))));
    agent.destroy();
    const after = await child.memory({ gc: true });
    t.diagnostic(`peak RSS +${mib(after.peakGrowth)}`);
    const codes = new Set<number>();
    for (const a of answers) {
      if (a.status === 200) continue;
      assert.equal(a.status, 400, a.body);
      codes.add((JSON.parse(a.body) as { code: number }).code);
    }
    // Overlapping requests (code 3) end the session; what comes after finds no session (code 1).
    assert.deepEqual([...codes].sort(), [1, 3]);
    const s = await until(child, (x) => x.sessions === 1, 'the flooded session to end');
    assert.equal(s.disconnects['transport error'], 1);
    assert.ok(after.peakGrowth < 64 * MiB, `peak RSS growth ${mib(after.peakGrowth)}`);
    assert.equal(await within(good.c.emitWithAck('echo', 'after'), 5000, 'an echo after the attack'), 'after');
    good.c.close();
  });
});

test('one POST packed with 1,000 events: the rate limit ends that connection, others unaffected', async () => {
  await withChild({}, async (child, base) => {
    const good = await goodClient(child.port);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const sid = await openPolling(agent, base);
    const body = Array.from({ length: 1000 }, (_, i) => `42["echo",${i}]`).join('\x1e');
    const url = `${base}&transport=polling&sid=${sid}`;
    assert.equal((await send(agent, url, 'POST', body)).body, 'ok');
    await until(child, (x) => x.disconnects['rate limit exceeded'] === 1, 'the rate limit to disconnect the flooder');
    // The queued packets go out on the next GET, then the CLOSE packet on the one after, as engine.io does.
    assert.match((await send(agent, url)).body, /^40\{"sid":/);
    assert.equal((await send(agent, url)).body, '1');
    assert.equal((await stats(child)).sessions, 1);
    agent.destroy();
    assert.equal(await within(good.c.emitWithAck('echo', 'after'), 5000, 'an echo after the attack'), 'after');
    good.c.close();
  });
});

test('5,000 sessions each sent a malformed payload: each refused and ended, nothing kept afterwards', async (t) => {
  await withChild({}, async (child, base) => {
    const good = await goodClient(child.port);
    const baseline = await mark(child);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const attack = pool(5000, 32, async () => {
      const open = await send(agent, `${base}&transport=polling`);
      const url = `${base}&transport=polling&sid=${(JSON.parse(open.body.slice(1)) as { sid: string }).sid}`;
      return [await send(agent, url, 'POST', '4ok\x1e\x1e'), await send(agent, url)];
    });
    const answers = await good.during(attack);
    agent.destroy();
    for (const [post, poll] of answers) {
      assert.deepEqual([post!.status, JSON.parse(post!.body)], [400, { code: 3, message: 'Malformed payload' }]);
      assert.deepEqual([poll!.status, JSON.parse(poll!.body)], [400, { code: 1, message: 'Session ID unknown' }]);
    }
    assert.equal((await stats(child)).sessions, 1);
    const after = await child.memory({ gc: true });
    const heldHeap = after.heapUsed - baseline.heapUsed;
    t.diagnostic(`heap held +${mib(heldHeap)}, peak RSS +${mib(after.peakGrowth)}`);
    // 5,000 sessions kept by mistake would hold ~17 MiB.
    assert.ok(heldHeap < 6 * MiB, `heap held ${mib(heldHeap)}`);
    assert.equal(await within(good.c.emitWithAck('echo', 'after'), 5000, 'an echo after the attack'), 'after');
    good.c.close();
  });
});

test('500 sessions that never poll or upgrade end with "ping timeout" after pingInterval + pingTimeout; the server then takes new ones', async () => {
  const s = await startEngine({ pingInterval: 50, pingTimeout: 50, maxSessions: 500 });
  try {
    const reasons: string[] = [];
    const allClosed = within(
      new Promise<void>((resolve) => {
        s.engine.on('connection', (socket: import('../src/realtime/engine/index.ts').EngineSocket) =>
          socket.once('close', (reason: string) => {
            reasons.push(reason);
            if (reasons.length === 500) resolve();
          }),
        );
      }),
      10_000,
      'every idle session to end',
    );
    await pool(500, 16, () => handshake(s.base));
    await allClosed;
    assert.deepEqual(new Set(reasons), new Set(['ping timeout']));
    assert.equal(s.engine.clientsCount, 0);
    const session = s.nextSession();
    const { sid } = await handshake(s.base);
    const got = next<[string]>(await session, 'message');
    assert.equal((await request(pollUrl(s.base, sid), { method: 'POST', body: '4back' })).status, 200);
    assert.equal((await got)[0], 'back');
  } finally {
    await s.close();
  }
});
