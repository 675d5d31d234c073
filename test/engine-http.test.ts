/**
 * The Engine.IO v4 server against bad and hand-written input over raw HTTP and raw
 * WebSocket: each refused request gets engine.io's error (HTTP 400, 403 or 413 with
 * `{"code":N,"message":"..."}`), a bad packet ends only its own session, and the server keeps
 * serving the others. Also CORS, allowRequest, and sharing the http server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from '../src/index.ts';
import type { EngineSocket } from '../src/realtime/engine/index.ts';
import {
  collect,
  errorOf,
  handshake,
  next,
  pollUrl,
  request,
  WAIT_MS,
  within,
  withEngine,
  type EngineTestServer,
} from './helpers/engine-peer.ts';

/** A session opened by hand that still works: a message each way over polling. */
async function assertServes(s: EngineTestServer): Promise<void> {
  const session = s.nextSession();
  const { sid } = await handshake(s.base);
  const server = await session;
  const got = next<[string]>(server, 'message');
  const post = await request(pollUrl(s.base, sid), { method: 'POST', body: '4still here' });
  assert.equal(post.status, 200);
  assert.equal((await got)[0], 'still here');
  server.send('and back');
  const poll = await request(pollUrl(s.base, sid));
  assert.equal(poll.body, '4and back');
  server.close();
}

/** Opens a session by hand and returns its sid with the server side of it. */
async function openSession(s: EngineTestServer): Promise<{ sid: string; server: EngineSocket }> {
  const session = s.nextSession();
  const { sid } = await handshake(s.base);
  return { sid, server: await session };
}

test('the handshake packet ("Protocol" > "Handshake")', async () => {
  await withEngine({ pingInterval: 300, pingTimeout: 200 }, async (s) => {
    const res = await request(`${s.base}?EIO=4&transport=polling`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.ok(res.body.startsWith('0'));
    const open = JSON.parse(res.body.slice(1));
    assert.deepEqual(Object.keys(open).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
    assert.deepEqual(open.upgrades, ['websocket']);
    assert.equal(open.pingInterval, 300);
    assert.equal(open.pingTimeout, 200);
    assert.equal(open.maxPayload, 1_000_000);
    // The path also answers without its trailing slash.
    const bare = await request(`${s.origin}/socket.io?EIO=4&transport=polling`);
    assert.equal(bare.status, 200);
    for (const socket of s.engine.clients.values()) socket.close();
  });
});

test('refused requests get their engine.io error code', async () => {
  await withEngine({}, async (s) => {
    const cases: Array<[string, { method?: string; body?: string }, number, number, string]> = [
      [`${s.base}?EIO=4&transport=polling&sid=nope`, {}, 400, 1, 'Session ID unknown'],
      [`${s.base}?EIO=4&transport=polling&sid=nope`, { method: 'POST', body: '4x' }, 400, 1, 'Session ID unknown'],
      [`${s.base}?EIO=3&transport=polling`, {}, 400, 5, 'Unsupported protocol version'],
      [`${s.base}?transport=polling`, {}, 400, 5, 'Unsupported protocol version'],
      [`${s.base}?EIO=abc&transport=polling`, {}, 400, 5, 'Unsupported protocol version'],
      [`${s.base}?EIO=4&transport=carrier-pigeon`, {}, 400, 0, 'Transport unknown'],
      [`${s.base}?EIO=4`, {}, 400, 0, 'Transport unknown'],
      [`${s.base}?EIO=4&transport=polling`, { method: 'POST', body: '4x' }, 400, 2, 'Bad handshake method'],
      [`${s.base}?EIO=4&transport=polling`, { method: 'PUT' }, 400, 2, 'Bad handshake method'],
      [`${s.base}?EIO=4&transport=websocket`, {}, 400, 3, 'Bad request'],
    ];
    const errors: number[] = [];
    s.engine.on('connection_error', (e: { code: number }) => errors.push(e.code));
    for (const [url, options, status, code, message] of cases) {
      const res = await request(url, options);
      assert.equal(res.status, status, url);
      assert.match(String(res.headers['content-type']), /application\/json/);
      assert.deepEqual(errorOf(res), { code, message }, url);
    }
    assert.deepEqual(errors, cases.map((c) => c[3]));
    await assertServes(s);
  });
});

test('a message each way over polling, text and binary ("Packet encoding" > "HTTP long-polling")', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    const got = collect<string | Buffer>(server, 'message', 3);
    const post = await request(pollUrl(s.base, sid), { method: 'POST', body: '4hello\x1ebAQIDBA==\x1e4' });
    assert.equal(post.status, 200);
    assert.equal(post.body, 'ok');
    assert.match(String(post.headers['content-type']), /^text\/html/);
    assert.deepEqual(await got, ['hello', Buffer.from([1, 2, 3, 4]), '']);
    server.send('hello');
    server.send(Buffer.from([1, 2, 3, 4]));
    const poll = await request(pollUrl(s.base, sid));
    assert.equal(poll.body, '4hello\x1ebAQIDBA==');
    // A GET waits until something is queued.
    const waiting = request(pollUrl(s.base, sid));
    await new Promise((resolve) => setImmediate(resolve));
    server.send('later');
    assert.equal((await waiting).body, '4later');
    server.close();
  });
});

test('a POST over maxHttpBufferSize gets 413 and ends that session only', async () => {
  await withEngine({ maxHttpBufferSize: 1000 }, async (s) => {
    const { sid, server } = await openSession(s);
    const closed = next<[string]>(server, 'close');
    const res = await request(pollUrl(s.base, sid), { method: 'POST', body: '4' + 'x'.repeat(1000) });
    assert.equal(res.status, 413);
    assert.equal((await closed)[0], 'transport error');
    assert.equal(errorOf(await request(pollUrl(s.base, sid))).code, 1);

    // Without a Content-Length (chunked), the body is cut off once it passes the limit.
    const second = await openSession(s);
    const closed2 = next<[string]>(second.server, 'close');
    const chunked = await request(pollUrl(s.base, second.sid), {
      method: 'POST',
      chunks: [Buffer.from('4' + 'y'.repeat(600)), Buffer.from('z'.repeat(600))],
    }).catch((error: Error) => error);
    if (!(chunked instanceof Error)) assert.equal(chunked.status, 413);
    assert.equal((await closed2)[0], 'transport error');

    // Exactly at the limit is fine.
    const third = await openSession(s);
    const got = next<[string]>(third.server, 'message');
    const ok = await request(pollUrl(s.base, third.sid), { method: 'POST', body: '4' + 'w'.repeat(999) });
    assert.equal(ok.status, 200);
    assert.equal((await got)[0].length, 999);
    third.server.close();
    await assertServes(s);
  });
});

test('malformed payloads end the session with "parse error"; others keep working', async () => {
  await withEngine({}, async (s) => {
    const other = await openSession(s);
    for (const body of ['abc', '', '9', '4ok\x1e', 'b!!!!', '4ok\x1ex', '\x1e\x1e', '0{}']) {
      const { sid, server } = await openSession(s);
      const closed = next<[string]>(server, 'close', `the close after ${JSON.stringify(body)}`);
      const res = await request(pollUrl(s.base, sid), { method: 'POST', body });
      if (body === '0{}') {
        assert.equal(res.status, 200); // well-formed, but an OPEN packet from a client is not allowed
      } else {
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(errorOf(res).code, 3);
      }
      assert.equal((await closed)[0], 'parse error');
      assert.equal(errorOf(await request(pollUrl(s.base, sid))).code, 1);
    }
    // Invalid UTF-8 decodes with replacement characters: a message, not a crash.
    const { sid, server } = await openSession(s);
    const got = next<[string]>(server, 'message');
    await request(pollUrl(s.base, sid), { method: 'POST', body: Buffer.from([0x34, 0xff, 0xfe]) });
    assert.equal((await got)[0], '4\ufffd\ufffd'.slice(1));
    server.close();
    assert.equal(other.server.readyState, 'open');
    other.server.close();
    await assertServes(s);
  });
});

test('a second concurrent GET gets 400 and ends the session; the first gets a CLOSE packet', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    const closed = next<[string]>(server, 'close');
    const first = request(pollUrl(s.base, sid));
    // The first GET is waiting once the server holds it (nothing queued to answer it with).
    await within(
      (async () => {
        while (!server.writable) await new Promise((resolve) => setImmediate(resolve));
      })(),
      WAIT_MS,
      'the first GET to be held',
    );
    const second = await request(pollUrl(s.base, sid));
    assert.equal(second.status, 400);
    assert.equal(errorOf(second).code, 3);
    assert.equal((await first).body, '1');
    assert.equal((await closed)[0], 'transport error');
    assert.equal(errorOf(await request(pollUrl(s.base, sid))).code, 1);
    await assertServes(s);
  });
});

test('a CLOSE packet from a polling client ends the session with "transport close"', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    const closed = next<[string]>(server, 'close');
    const res = await request(pollUrl(s.base, sid), { method: 'POST', body: '1' });
    assert.equal(res.status, 200);
    assert.equal((await closed)[0], 'transport close');
  });
});

test('a PING from the client ends its session ("invalid heartbeat direction", as engine.io 6)', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    const closed = next<[string, Error]>(server, 'close');
    await request(pollUrl(s.base, sid), { method: 'POST', body: '2\x1e2\x1e2' });
    const [reason, description] = await closed;
    assert.equal(reason, 'transport error');
    assert.equal(description.message, 'invalid heartbeat direction');
    assert.equal(errorOf(await request(pollUrl(s.base, sid))).code, 1);
  });
});

test('a polling session that never answers PING is closed with "ping timeout"', async () => {
  await withEngine({ pingInterval: 20, pingTimeout: 20 }, async (s) => {
    const { sid, server } = await openSession(s);
    const [reason] = await next<[string]>(server, 'close');
    assert.equal(reason, 'ping timeout');
    assert.equal(errorOf(await request(pollUrl(s.base, sid))).code, 1);
  });
});

function wsUrl(s: EngineTestServer, query: string): string {
  return `${s.base.replace('http', 'ws')}?${query}`;
}

function openWs(url: string): Promise<{ ws: WebSocket; messages: Array<string | Buffer> }> {
  const ws = new WebSocket(url);
  const messages: Array<string | Buffer> = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => messages.push(isBinary ? data : data.toString()));
  return within(
    new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ ws, messages }));
      ws.once('error', reject);
    }),
    WAIT_MS,
    `a WebSocket to ${url}`,
  );
}

function wsClosed(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(0);
  return within(new Promise((resolve) => ws.once('close', (code: number) => resolve(code))), WAIT_MS, 'the WebSocket to close');
}

/** A refused upgrade: the HTTP answer the client saw. */
function refusedUpgrade(url: string): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url);
  return within(
    new Promise((resolve, reject) => {
      ws.once('open', () => reject(new Error('the upgrade was accepted')));
      ws.once('unexpected-response', (_req: unknown, res: import('node:http').IncomingMessage) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
      });
      ws.once('error', () => {});
    }),
    WAIT_MS,
    `a refused upgrade to ${url}`,
  );
}

test('a direct WebSocket session: handshake over the socket, messages, bad packet closes it', async () => {
  await withEngine({}, async (s) => {
    const session = s.nextSession();
    const { ws, messages } = await openWs(wsUrl(s, 'EIO=4&transport=websocket'));
    const server = await session;
    const got = collect<string | Buffer>(server, 'message', 2);
    ws.send('4hi');
    ws.send(Buffer.from([7, 7]));
    assert.deepEqual(await got, ['hi', Buffer.from([7, 7])]);
    const open = JSON.parse(String(messages[0]).slice(1));
    assert.equal(String(messages[0])[0], '0');
    assert.deepEqual(open.upgrades, []);
    assert.equal(open.sid, server.id);

    const closed = next<[string]>(server, 'close');
    ws.send('not a packet');
    assert.equal((await closed)[0], 'parse error');
    await wsClosed(ws);
    await assertServes(s);
  });
});

test('a WebSocket message over maxHttpBufferSize ends that session only', async () => {
  await withEngine({ maxHttpBufferSize: 100 }, async (s) => {
    const session = s.nextSession();
    const { ws } = await openWs(wsUrl(s, 'EIO=4&transport=websocket'));
    const server = await session;
    const closed = next<[string]>(server, 'close');
    ws.send('4' + 'x'.repeat(200));
    assert.equal(await wsClosed(ws), 1009);
    assert.equal((await closed)[0], 'transport close');
    await assertServes(s);
  });
});

test('refused WebSocket upgrades get their error code', async () => {
  await withEngine({ transports: ['polling', 'websocket'] }, async (s) => {
    const unknownSid = await refusedUpgrade(wsUrl(s, 'EIO=4&transport=websocket&sid=nope'));
    assert.equal(unknownSid.status, 400);
    assert.equal(JSON.parse(unknownSid.body).code, 1);
    const eio3 = await refusedUpgrade(wsUrl(s, 'EIO=3&transport=websocket'));
    assert.equal(JSON.parse(eio3.body).code, 5);
    const polling = await refusedUpgrade(wsUrl(s, 'EIO=4&transport=polling'));
    assert.equal(JSON.parse(polling.body).code, 3);
    // A second upgrade of a session already on WebSocket.
    const session = s.nextSession();
    const { ws } = await openWs(wsUrl(s, 'EIO=4&transport=websocket'));
    const server = await session;
    const again = await refusedUpgrade(wsUrl(s, `EIO=4&transport=websocket&sid=${server.id}`));
    assert.equal(JSON.parse(again.body).code, 3);
    ws.close();
    await wsClosed(ws);
  });
  await withEngine({ transports: ['polling'] }, async (s) => {
    const off = await refusedUpgrade(wsUrl(s, 'EIO=4&transport=websocket'));
    assert.equal(JSON.parse(off.body).code, 0);
    const { open } = await handshake(s.base);
    assert.deepEqual(open.upgrades, []);
    for (const socket of s.engine.clients.values()) socket.close();
  });
});

test('the upgrade by hand: probe, NOOP on the waiting poll, UPGRADE, then the WebSocket carries everything', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    const poll = request(pollUrl(s.base, sid));
    const { ws, messages } = await openWs(wsUrl(s, `EIO=4&transport=websocket&sid=${sid}`));
    ws.send('2probe');
    await within(
      (async () => {
        while (messages.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      })(),
      WAIT_MS,
      'the probe answer',
    );
    assert.equal(messages[0], '3probe');
    assert.equal((await poll).body, '6');
    const upgraded = next(server, 'upgrade');
    ws.send('5');
    await upgraded;
    assert.equal(server.transportName, 'websocket');
    // Polling requests for the sid are refused from now on.
    assert.equal(errorOf(await request(pollUrl(s.base, sid))).code, 3);
    const got = next<[string]>(server, 'message');
    ws.send('4over ws');
    assert.equal((await got)[0], 'over ws');
    const closed = next<[string]>(server, 'close');
    ws.close();
    assert.equal((await closed)[0], 'transport close');
  });
});

test('a failed probe (a non-probe packet) leaves the polling session as it was', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    const { ws } = await openWs(wsUrl(s, `EIO=4&transport=websocket&sid=${sid}`));
    ws.send('4nonsense');
    await wsClosed(ws);
    assert.equal(server.transportName, 'polling');
    assert.equal(server.readyState, 'open');
    const got = next<[string]>(server, 'message');
    await request(pollUrl(s.base, sid), { method: 'POST', body: '4still polling' });
    assert.equal((await got)[0], 'still polling');
    server.close();
  });
});

test('CORS: `cors: true` reflects the Origin with credentials; preflight gets 204', async () => {
  await withEngine({ cors: true }, async (s) => {
    const headers = { Origin: 'https://example.com' };
    const res = await request(`${s.base}?EIO=4&transport=polling`, { headers });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], 'https://example.com');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    const pre = await request(`${s.base}?EIO=4&transport=polling`, {
      method: 'OPTIONS',
      headers: { ...headers, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://example.com');
    assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
    assert.equal(pre.headers['access-control-allow-headers'], 'content-type');
    // Errors carry the CORS headers too, so a browser can read them.
    const bad = await request(`${s.base}?EIO=4&transport=polling&sid=nope`, { headers });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers['access-control-allow-origin'], 'https://example.com');
    for (const socket of s.engine.clients.values()) socket.close();
  });
});

test('CORS: the object form', async () => {
  const cors = { origin: ['https://a.example'], methods: ['GET', 'POST'], allowedHeaders: 'x-token', credentials: false };
  await withEngine({ cors }, async (s) => {
    const allowed = await request(`${s.base}?EIO=4&transport=polling`, { headers: { Origin: 'https://a.example' } });
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://a.example');
    assert.equal(allowed.headers['access-control-allow-credentials'], undefined);
    const other = await request(`${s.base}?EIO=4&transport=polling`, { headers: { Origin: 'https://evil.example' } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const pre = await request(s.base, { method: 'OPTIONS', headers: { Origin: 'https://a.example' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-methods'], 'GET,POST');
    assert.equal(pre.headers['access-control-allow-headers'], 'x-token');
    for (const socket of s.engine.clients.values()) socket.close();
  });
  const byFunction = {
    origin: (origin: string | undefined, cb: (err: Error | null, allow?: boolean) => void) =>
      cb(null, origin === 'https://b.example'),
  };
  await withEngine({ cors: byFunction }, async (s) => {
    const res = await request(`${s.base}?EIO=4&transport=polling`, { headers: { Origin: 'https://b.example' } });
    assert.equal(res.headers['access-control-allow-origin'], 'https://b.example');
    for (const socket of s.engine.clients.values()) socket.close();
  });
});

test('CORS: origin as a RegExp, or an array mixing strings and RegExps (as the `cors` package)', async () => {
  for (const origin of [/^https:\/\/[a-z]+\.app\.example$/, ['https://other.example', /\.app\.example$/]]) {
    await withEngine({ cors: { origin } }, async (s) => {
      const allowed = await request(`${s.base}?EIO=4&transport=polling`, { headers: { Origin: 'https://eu.app.example' } });
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers['access-control-allow-origin'], 'https://eu.app.example');
      assert.match(String(allowed.headers.vary), /Origin/);
      const other = await request(`${s.base}?EIO=4&transport=polling`, { headers: { Origin: 'https://evil.example' } });
      assert.equal(other.status, 200);
      assert.equal(other.headers['access-control-allow-origin'], undefined);
      const pre = await request(s.base, { method: 'OPTIONS', headers: { Origin: 'https://eu.app.example' } });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers['access-control-allow-origin'], 'https://eu.app.example');
      for (const socket of s.engine.clients.values()) socket.close();
    });
  }
});

test('allowRequest refuses a handshake with 403 and code 4 (polling and websocket)', async () => {
  const allowRequest = (req: import('node:http').IncomingMessage, cb: (err: string | null, ok: boolean) => void) =>
    cb(req.headers['x-token'] === 'yes' ? null : 'no token', req.headers['x-token'] === 'yes');
  await withEngine({ allowRequest }, async (s) => {
    const res = await request(`${s.base}?EIO=4&transport=polling`);
    assert.equal(res.status, 403);
    assert.deepEqual(errorOf(res), { code: 4, message: 'no token' });
    const ok = await request(`${s.base}?EIO=4&transport=polling`, { headers: { 'x-token': 'yes' } });
    assert.equal(ok.status, 200);
    const ws = await refusedUpgrade(wsUrl(s, 'EIO=4&transport=websocket'));
    assert.equal(ws.status, 403);
    for (const socket of s.engine.clients.values()) socket.close();
  });
});

test('requests for other paths reach the http server\'s own listeners', async () => {
  await withEngine({}, async (s) => {
    const res = await request(`${s.origin}/other`);
    assert.equal(res.status, 404);
    assert.equal(res.body, 'not engine');
    const js = await request(`${s.origin}/socket.io/socket.io.js`);
    assert.equal(js.body, 'not engine');
  });
});

test('options are checked', async () => {
  const { EngineServer } = await import('../src/realtime/engine/index.ts');
  assert.throws(() => new EngineServer({ pingInterval: -1 }), /pingInterval/);
  assert.throws(() => new EngineServer({ transports: [] }), /transports/);
  assert.throws(() => new EngineServer({ transports: ['flash' as 'polling'] }), /transports/);
});

test('an upgrade that never completes is dropped after upgradeTimeout; the session stays on polling', async () => {
  await withEngine({ upgradeTimeout: 20 }, async (s) => {
    const { sid, server } = await openSession(s);
    const { ws } = await openWs(wsUrl(s, `EIO=4&transport=websocket&sid=${sid}`));
    await wsClosed(ws);
    assert.equal(server.upgrading, false);
    assert.equal(server.transportName, 'polling');
    assert.equal(server.readyState, 'open');
    server.close();
  });
});

test('a GET the client abandons ends the session with "transport error"', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    const closed = next<[string, unknown]>(server, 'close');
    const http = await import('node:http');
    const req = http.request(pollUrl(s.base, sid), { agent: false });
    req.on('error', () => {});
    req.end();
    await within(
      (async () => {
        while (!server.writable) await new Promise((resolve) => setImmediate(resolve));
      })(),
      WAIT_MS,
      'the GET to be held',
    );
    req.destroy();
    const [reason, description] = await closed;
    assert.equal(reason, 'transport error');
    assert.match(String(description), /prematurely/);
    await assertServes(s);
  });
});
