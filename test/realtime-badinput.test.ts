/**
 * Bad input for the realtime layer, the gaps test/engine-http.test.ts and
 * test/realtime-server.test.ts leave: Engine.IO requests spoken by hand over HTTP (overlapping
 * POSTs, unknown and prototype-named sids, other methods, payloads of which one packet is bad,
 * a second upgrade, `maxSessions`), and Socket.IO packets sent raw over an Engine.IO WebSocket.
 * Each gets the protocol's answer or closes only its own connection with the right reason, and
 * a well-behaved socket.io-client on the same server keeps exchanging events.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { afterEach, test } from 'node:test';
import { WebSocket } from '../src/index.ts';
import { errorOf, handshake, next, pollUrl, request, withEngine, type EngineTestServer } from './helpers/engine-peer.ts';
import { stopAll, within } from './helpers/realtime-harness.js';
import { echoServer, RawSocketIo } from './helpers/realtime-raw.ts';

afterEach(stopAll);

/** A polling session opened by hand: its sid and the server side of it. */
async function openSession(s: EngineTestServer) {
  const session = s.nextSession();
  const { sid } = await handshake(s.base);
  return { sid, server: await session };
}

/** The HTTP answer to a WebSocket upgrade the server refuses. */
function refusedUpgrade(url: string): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  return within(
    new Promise((resolve, reject) => {
      ws.once('open', () => reject(new Error(`the upgrade to ${url} was accepted`)));
      ws.once('unexpected-response', (_req: unknown, res: http.IncomingMessage) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
      });
    }),
    `a refused upgrade to ${url}`,
  );
}

const wsUrl = (s: EngineTestServer, query: string) => `${s.base.replace('http', 'ws')}?EIO=4&transport=websocket${query}`;

test('a POST while another POST of the session is in flight: 400 code 3, the session ends', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    const closed = next<[string, Error]>(server, 'close');
    // The first POST sends half its body and waits; the server holds it once its head arrived.
    const arrived = next(s.http, 'request');
    const first = http.request(pollUrl(s.base, sid), { method: 'POST', agent: false, headers: { 'Content-Length': 10 } });
    first.on('error', () => {});
    first.write('4hello');
    await arrived;
    const second = await request(pollUrl(s.base, sid), { method: 'POST', body: '4other' });
    assert.equal(second.status, 400);
    assert.deepEqual(errorOf(second), { code: 3, message: 'Overlapping data request' });
    const [reason, description] = await closed;
    assert.equal(reason, 'transport error');
    assert.match(description.message, /overlap/);
    first.destroy();
    assert.equal(errorOf(await request(pollUrl(s.base, sid))).code, 1);
  });
});

test('unknown sids (a closed session, prototype property names): code 1 over polling and upgrade', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    server.close();
    await request(pollUrl(s.base, sid)); // takes the CLOSE packet
    for (const bad of [sid, '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'x'.repeat(2000)]) {
      for (const method of ['GET', 'POST']) {
        const res = await request(pollUrl(s.base, bad), { method, body: method === 'POST' ? '4x' : undefined });
        assert.equal(res.status, 400, `${method} ${bad}`);
        assert.deepEqual(errorOf(res), { code: 1, message: 'Session ID unknown' });
      }
      const upgrade = await refusedUpgrade(wsUrl(s, `&sid=${encodeURIComponent(bad)}`));
      assert.equal(upgrade.status, 400);
      assert.equal(JSON.parse(upgrade.body).code, 1);
    }
    assert.equal(s.engine.clientsCount, 0);
  });
});

test('a method other than GET or POST on a session: 400 code 3, the session keeps going', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const res = await request(pollUrl(s.base, sid), { method, body: '4x' });
      assert.equal(res.status, 400, method);
      assert.equal(errorOf(res).code, 3);
    }
    const got = next<[string]>(server, 'message');
    await request(pollUrl(s.base, sid), { method: 'POST', body: '4still here' });
    assert.equal((await got)[0], 'still here');
    assert.equal(server.readyState, 'open');
    server.close();
  });
});

test('a payload with one bad packet is refused whole: nothing of it is delivered, "parse error"', async () => {
  const bodies = ['4ok\x1e9', '4a\x1e\x1e4b', 'bAQI', 'bA===', 'b====', '\x1e', '\x1e4a', '\u0664x', '4ok\x1eb!', '4ok\x1e0{}'];
  await withEngine({}, async (s) => {
    for (const body of bodies) {
      const { sid, server } = await openSession(s);
      const delivered: unknown[] = [];
      server.on('message', (m: unknown) => delivered.push(m));
      const closed = next<[string]>(server, 'close', `the close after ${JSON.stringify(body)}`);
      const res = await request(pollUrl(s.base, sid), { method: 'POST', body });
      const [reason] = await closed;
      assert.equal(reason, 'parse error', JSON.stringify(body));
      if (body.endsWith('0{}')) {
        // Well-formed, so accepted; the OPEN packet from the client is what ends the session.
        assert.deepEqual(delivered, ['ok']);
      } else {
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.deepEqual(errorOf(res), { code: 3, message: 'Malformed payload' });
        assert.deepEqual(delivered, [], JSON.stringify(body));
      }
    }
  });
});

test('a second upgrade while one is under way gets 400 code 3; the first still completes', async () => {
  await withEngine({}, async (s) => {
    const { sid, server } = await openSession(s);
    const probe = new WebSocket(wsUrl(s, `&sid=${sid}`));
    probe.on('error', () => {});
    await next(probe, 'open', 'the first upgrade');
    // The server took the probe before it answered 101, so the session is upgrading now.
    assert.equal(server.upgrading, true);
    const second = await refusedUpgrade(wsUrl(s, `&sid=${sid}`));
    assert.equal(second.status, 400);
    assert.deepEqual(JSON.parse(second.body), { code: 3, message: 'Upgrade not possible' });
    const upgraded = next(server, 'upgrade');
    probe.send('2probe');
    await next(probe, 'message', 'the probe answer');
    probe.send('5');
    await upgraded;
    assert.equal(server.transportName, 'websocket');
    server.close();
  });
});

test('maxSessions: a handshake beyond it gets 503 code 4 "Too many sessions" (both transports); a freed slot is reusable', async () => {
  const { EngineServer } = await import('../src/realtime/engine/index.ts');
  assert.throws(() => new EngineServer({ maxSessions: 0 }), /"maxSessions" option must be a positive number of sessions/);
  await withEngine({ maxSessions: 2 }, async (s) => {
    const errors: Array<{ code: number; message: string }> = [];
    s.engine.on('connection_error', (e: { code: number; message: string }) => errors.push(e));
    const a = await openSession(s);
    const b = await openSession(s);
    const refused = await request(`${s.base}?EIO=4&transport=polling`);
    assert.equal(refused.status, 503);
    assert.deepEqual(errorOf(refused), { code: 4, message: 'Too many sessions' });
    const ws = await refusedUpgrade(wsUrl(s, ''));
    assert.equal(ws.status, 503);
    assert.deepEqual(JSON.parse(ws.body), { code: 4, message: 'Too many sessions' });
    assert.deepEqual(errors, [
      { req: errors[0]!.req, code: 4, message: 'Too many sessions' },
      { req: errors[1]!.req, code: 4, message: 'Too many sessions' },
    ] as unknown[]);
    // The sessions already open are served as before.
    const got = next<[string]>(a.server, 'message');
    await request(pollUrl(s.base, a.sid), { method: 'POST', body: '4open ones work' });
    assert.equal((await got)[0], 'open ones work');
    const closed = next(b.server, 'close');
    b.server.closeNow();
    await closed;
    const again = await openSession(s);
    assert.equal(s.engine.clientsCount, 2);
    a.server.close();
    again.server.close();
  });
});

// -- Socket.IO packets over a raw Engine.IO WebSocket ------------------------------------------

type Expect = { reason: string } | { reply?: string };

/** Bad Socket.IO (and Engine.IO) input, frame by frame, and what the server must do with it. */
const CASES: Array<[string, Array<string | Buffer>, Expect]> = [
  ['empty Socket.IO packet', ['4'], { reason: 'parse error' }],
  ['unknown packet type', ['47'], { reason: 'parse error' }],
  ['non-digit packet type', ['4x["a"]'], { reason: 'parse error' }],
  ['bad JSON', ['42["a"'], { reason: 'parse error' }],
  ['EVENT data an object', ['42{"a":1}'], { reason: 'parse error' }],
  ['EVENT data a string', ['42"a"'], { reason: 'parse error' }],
  ['EVENT data empty', ['42[]'], { reason: 'parse error' }],
  ['event name a number', ['42[1,2]'], { reason: 'parse error' }],
  ['event name null', ['42[null]'], { reason: 'parse error' }],
  ['reserved event name', ['42["disconnect"]'], { reason: 'parse error' }],
  ['namespace without "/"', ['42abc,["a"]'], { reason: 'parse error' }],
  ['negative ack id', ['42-1["a"]'], { reason: 'parse error' }],
  ['ack id of 19 digits', ['429999999999999999999["a"]'], { reason: 'parse error' }],
  ['ack id over 2^53', ['429007199254740993["a"]'], { reason: 'parse error' }],
  ['CONNECT data a string', ['40"x"'], { reason: 'parse error' }],
  ['CONNECT data an array', ['40/x,[1]'], { reason: 'parse error' }],
  ['CONNECT with an ack id', ['40/x,1{}'], { reason: 'parse error' }],
  ['DISCONNECT with data', ['41"x"'], { reason: 'parse error' }],
  ['ACK without an id', ['43["a"]'], { reason: 'parse error' }],
  ['ACK data an object', ['431{"a":1}'], { reason: 'parse error' }],
  ['11 attachments (cap 10)', ['4511-["a",{"_placeholder":true,"num":0}]'], { reason: 'parse error' }],
  ['an absurd attachment count', ['459999999-["a"]'], { reason: 'parse error' }],
  ['placeholder index out of range', ['451-["a",{"_placeholder":true,"num":1}]', Buffer.from([1])], { reason: 'parse error' }],
  ['placeholder index a string', ['451-["a",{"_placeholder":true,"num":"0"}]', Buffer.from([1])], { reason: 'parse error' }],
  ['attachment missing (text instead)', ['452-["a",{"_placeholder":true,"num":0}]', Buffer.from([1]), '42["a"]'], { reason: 'parse error' }],
  ['attachment extra', ['451-["a",{"_placeholder":true,"num":0}]', Buffer.from([1]), Buffer.from([2])], { reason: 'parse error' }],
  ['binary frame where text was expected', [Buffer.from('42["a"]')], { reason: 'parse error' }],
  ['not an Engine.IO packet', ['hello'], { reason: 'parse error' }],
  ['empty Engine.IO frame', [''], { reason: 'parse error' }],
  ['OPEN from the client', ['0{}'], { reason: 'parse error' }],
  ['PING from the client', ['2'], { reason: 'transport error' }],
  ['CONNECT to an unknown namespace', ['40/nowhere,'], { reply: '44/nowhere,{"message":"Invalid namespace"}' }],
  ['EVENT for a namespace not joined', ['42/nowhere,["a"]'], {}],
  ['ACK of an unknown id', ['431234[]'], {}],
  ['CONNECT_ERROR from the client', ['44{"message":"x"}'], {}],
  ['CONNECT to "/" again', ['40'], {}],
  ['Engine.IO NOOP and UPGRADE outside an upgrade', ['6', '5'], {}],
  ['the largest ack id', ['429007199254740991["echo",1]'], { reply: '439007199254740991[1]' }],
  ['"__proto__" as event name', ['42["__proto__",{"polluted":true}]'], {}],
  ['"__proto__" keys in data', ['42["x",{"__proto__":{"polluted":true}}]'], {}],
];

test('bad Socket.IO packets close only the offending connection, with the right reason, or get the protocol answer', async () => {
  const { io, url, client, events } = await echoServer();
  const good = await client();
  for (const [i, [name, frames, expect]] of CASES.entries()) {
    const raw = await RawSocketIo.open(url);
    const socket = io.of('/').sockets.get(await raw.connect())!;
    const gone = next<[string]>(socket, 'disconnect', `the disconnect after ${name}`);
    raw.send(...frames);
    if ('reason' in expect) {
      assert.equal((await gone)[0], expect.reason, name);
      await within(raw.closed, `the connection to close after ${name}`);
    } else {
      if (expect.reply !== undefined) await raw.next((m) => m === expect.reply, `the answer to ${name}`);
      await raw.roundTrip(i); // every packet before it was handled, and the connection kept
      assert.equal(socket.connected, true, name);
      await raw.close();
    }
    assert.equal(await within(good.emitWithAck('echo', i), `the good client's echo after ${name}`), i);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(events.includes('__proto__'));
  assert.equal(io.of('/').sockets.size, 1);
});

test('"__proto__" in the CONNECT auth stays a plain own key: no prototype is changed', async () => {
  const { io, url } = await echoServer();
  const raw = await RawSocketIo.open(url);
  raw.send('40{"__proto__":{"polluted":true},"token":"t"}');
  const answer = (await raw.next((m) => typeof m === 'string' && m.startsWith('40{'), 'the CONNECT answer')) as string;
  const socket = io.of('/').sockets.get(JSON.parse(answer.slice(2)).sid)!;
  const auth = socket.handshake.auth as Record<string, unknown>;
  assert.equal(auth.token, 't');
  assert.equal(Object.getPrototypeOf(auth), Object.prototype);
  assert.equal(auth.polluted, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  await raw.roundTrip(1);
  await raw.close();
});

test('maxBufferedAmount: a polling client that stops polling cannot make the server queue without end', async () => {
  await withEngine({ maxBufferedAmount: 10_000 }, async (s) => {
    const { sid, server } = await openSession(s);
    const closed = next<[string, Error]>(server, 'close');
    // Under the cap and taken by a poll: the count starts again from zero.
    for (let i = 0; i < 60; i++) server.send('x'.repeat(100));
    const polled = await request(pollUrl(s.base, sid));
    assert.equal(polled.status, 200);
    assert.equal(polled.body.split('\x1e').length, 60);
    for (let i = 0; i < 60; i++) server.send('y'.repeat(100));
    assert.equal(server.readyState, 'open');
    // Tiny packets count 64 bytes each: 200 of them are over 10,000 bytes.
    for (let i = 0; i < 200; i++) server.send('z');
    assert.equal(server.readyState, 'closing', 'the session stops taking packets at once');
    const [reason, description] = await closed;
    assert.equal(reason, 'transport error');
    assert.match(description.message, /more than 10000 bytes queued/);
    assert.equal(errorOf(await request(pollUrl(s.base, sid))).code, 1);
  });
});

/** Whether a WebSocket handshake with this Origin header (and these headers) opens (false: refused with 403, code 4). */
async function originOpens(s: EngineTestServer, origin: string | undefined, headers: Record<string, string> = {}): Promise<boolean> {
  const ws = new WebSocket(wsUrl(s, ''), origin === undefined ? { headers } : { origin, headers });
  ws.on('error', () => {});
  return within(
    new Promise<boolean>((resolve, reject) => {
      ws.once('open', () => {
        ws.terminate();
        resolve(true);
      });
      ws.once('unexpected-response', (_req: unknown, res: http.IncomingMessage) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const body = Buffer.concat(parts).toString();
          if (res.statusCode === 403 && body === JSON.stringify({ code: 4, message: 'Origin not allowed' })) resolve(false);
          else reject(new Error(`refused with ${res.statusCode} ${body}`));
        });
      });
    }),
    `a WebSocket handshake from ${origin}`,
  );
}

test('cross-site WebSocket hijacking: a cross-origin handshake needs `cors` to allow its origin', async () => {
  await withEngine({}, async (s) => {
    const host = new URL(s.base).host;
    assert.equal(await originOpens(s, undefined), true, 'no Origin: not a browser');
    assert.equal(await originOpens(s, `http://${host}`), true, 'the server\'s own host');
    assert.equal(await originOpens(s, 'http://evil.example'), false);
    assert.equal(await originOpens(s, 'null'), false);
  });
  await withEngine({ cors: { origin: ['http://app.example'] } }, async (s) => {
    assert.equal(await originOpens(s, 'http://app.example'), true);
    assert.equal(await originOpens(s, 'http://evil.example'), false);
  });
  await withEngine({ cors: { origin: (o, cb) => cb(null, o === 'http://fn.example') } }, async (s) => {
    assert.equal(await originOpens(s, 'http://fn.example'), true);
    assert.equal(await originOpens(s, 'http://evil.example'), false);
  });
  await withEngine({ cors: true }, async (s) => {
    assert.equal(await originOpens(s, 'http://anywhere.example'), true);
  });
});

test('cross-site WebSocket hijacking behind a proxy that rewrites Host: X-Forwarded-Host and Forwarded host= name the server', async () => {
  await withEngine({}, async (s) => {
    // nginx's default `proxy_set_header Host $proxy_host`: Host is the upstream's address.
    const upstream = { Host: 'backend:3000' };
    const app = 'https://app.example';
    assert.equal(await originOpens(s, app, upstream), false, 'the upstream Host alone');
    assert.equal(await originOpens(s, app, { ...upstream, 'X-Forwarded-Host': 'app.example' }), true);
    assert.equal(await originOpens(s, app, { ...upstream, 'X-Forwarded-Host': 'edge.example, app.example' }), true, 'any value of a list');
    assert.equal(await originOpens(s, app, { ...upstream, 'X-Forwarded-Host': 'app.example:443' }), true, 'the default port named');
    assert.equal(await originOpens(s, 'https://app.example:8443', { ...upstream, 'X-Forwarded-Host': 'app.example' }), false, 'another port');
    assert.equal(await originOpens(s, 'https://evil.example', { ...upstream, 'X-Forwarded-Host': 'app.example' }), false);
    assert.equal(await originOpens(s, app, { ...upstream, Forwarded: 'for=192.0.2.60;proto=https;host=app.example' }), true);
    assert.equal(await originOpens(s, app, { ...upstream, Forwarded: 'for=192.0.2.60, for=198.51.100.17;host="app.example"' }), true, 'a quoted value, a second element');
    assert.equal(await originOpens(s, app, { ...upstream, Forwarded: 'for="x;host=app.example";host=edge.example' }), false, 'host= inside a quoted value');
    assert.equal(await originOpens(s, 'https://evil.example', { ...upstream, Forwarded: 'host=app.example' }), false);
  });
});

test('cors.origin as a RegExp, or an array of strings and RegExps, for the WebSocket Origin check', async () => {
  await withEngine({ cors: { origin: /^https:\/\/[a-z]+\.app\.example$/ } }, async (s) => {
    assert.equal(await originOpens(s, 'https://eu.app.example'), true);
    assert.equal(await originOpens(s, 'https://evil.example'), false);
  });
  await withEngine({ cors: { origin: ['https://one.example', /\.two\.example$/] } }, async (s) => {
    assert.equal(await originOpens(s, 'https://one.example'), true);
    assert.equal(await originOpens(s, 'https://a.two.example'), true);
    assert.equal(await originOpens(s, 'https://three.example'), false);
  });
});
