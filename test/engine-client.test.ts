/**
 * Our Engine.IO v4 server against the real client, engine.io-client 6.6: polling only,
 * websocket only, polling then upgrade ("Protocol" > "Upgrade"), text and binary messages
 * both ways, the heartbeat ("Protocol" > "Heartbeat") and its timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket as ClientSocket, type SocketOptions } from 'engine.io-client';
import type { EngineSocket } from '../src/realtime/engine/index.ts';
import { collect, next, WAIT_MS, within, withEngine, type EngineTestServer } from './helpers/engine-peer.ts';

function connect(s: EngineTestServer, options: Partial<SocketOptions>): ClientSocket {
  return new ClientSocket(s.origin, { path: s.engine.path, ...options });
}

/** Opens a client and waits for both ends of the session. */
async function open(s: EngineTestServer, options: Partial<SocketOptions>): Promise<{ client: ClientSocket; server: EngineSocket }> {
  const session = s.nextSession();
  const client = connect(s, options);
  const [server] = await Promise.all([session, next(client, 'open', 'the client to open')]);
  return { client, server };
}

function bytes(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new Error(`not binary: ${typeof data}`);
}

/** Text and binary, both ways, checked in order. */
async function exchange(client: ClientSocket, server: EngineSocket): Promise<void> {
  const atServer = collect<string | Buffer>(server, 'message', 3);
  client.send('hello from the client');
  client.send(Buffer.from([0, 1, 2, 255]));
  client.send('€ ünïcödé 😀');
  const got = await atServer;
  assert.equal(got[0], 'hello from the client');
  assert.deepEqual(bytes(got[1]), Buffer.from([0, 1, 2, 255]));
  assert.equal(got[2], '€ ünïcödé 😀');

  const atClient = collect<unknown>(client, 'message', 5);
  server.send('hello from the server');
  server.send(Buffer.from([9, 8, 7]));
  server.send('');
  server.send(new Uint8Array([5, 6]).buffer);
  server.send(new Uint16Array([0x0102]));
  const back = await atClient;
  assert.deepEqual(bytes(back[3]), Buffer.from([5, 6]));
  assert.deepEqual(bytes(back[4]), Buffer.from(new Uint16Array([0x0102]).buffer));
  assert.equal(back[0], 'hello from the server');
  assert.deepEqual(bytes(back[1]), Buffer.from([9, 8, 7]));
  // '4' on the wire: engine.io-parser gives an empty MESSAGE to its listener as undefined.
  assert.equal(back[2] ?? '', '');
}

test('polling only: handshake, text and binary both ways, client close', async () => {
  await withEngine({}, async (s) => {
    const { client, server } = await open(s, { transports: ['polling'] });
    assert.equal(server.transportName, 'polling');
    assert.equal(server.protocol, 4);
    assert.equal(server.readyState, 'open');
    assert.match(server.id, /^[A-Za-z0-9_-]{20,}$/);
    assert.equal(client.id, server.id);
    assert.equal(s.engine.clients.get(server.id), server);
    await exchange(client, server);
    const closed = next<[string]>(server, 'close');
    client.close();
    assert.equal((await closed)[0], 'transport close');
    assert.equal(s.engine.clients.size, 0);
  });
});

test('websocket only: handshake, text and binary both ways, client close', async () => {
  await withEngine({}, async (s) => {
    const { client, server } = await open(s, { transports: ['websocket'] });
    assert.equal(server.transportName, 'websocket');
    assert.equal(client.transport.name, 'websocket');
    await exchange(client, server);
    const closed = next<[string]>(server, 'close');
    client.close();
    assert.equal((await closed)[0], 'transport close');
  });
});

test('polling then upgrade to websocket, no message lost or reordered across it', async () => {
  await withEngine({}, async (s) => {
    const session = s.nextSession();
    const client = connect(s, {});
    const clientUpgraded = next(client, 'upgrade', 'the client upgrade');
    const server = await session;
    const serverUpgraded = next(server, 'upgrade', 'the server upgrade');
    // Sent while the upgrade is under way, in both directions.
    const atServer = collect<string>(server, 'message', 20);
    const atClient = collect<string>(client, 'message', 20);
    for (let i = 0; i < 10; i++) server.send(`s${i}`);
    client.on('open', () => {
      for (let i = 0; i < 10; i++) client.send(`c${i}`);
    });
    await Promise.all([clientUpgraded, serverUpgraded]);
    assert.equal(server.transportName, 'websocket');
    assert.equal(client.transport.name, 'websocket');
    for (let i = 10; i < 20; i++) {
      server.send(`s${i}`);
      client.send(`c${i}`);
    }
    assert.deepEqual(await atServer, Array.from({ length: 20 }, (_, i) => `c${i}`));
    assert.deepEqual(await atClient, Array.from({ length: 20 }, (_, i) => `s${i}`));
    await exchange(client, server);
    const closed = next<[string]>(server, 'close');
    client.close();
    assert.equal((await closed)[0], 'transport close');
  });
});

test('allowUpgrades: false keeps the session on polling', async () => {
  await withEngine({ allowUpgrades: false }, async (s) => {
    const { client, server } = await open(s, {});
    await exchange(client, server);
    assert.equal(server.transportName, 'polling');
    client.close();
  });
});

for (const transport of ['polling', 'websocket'] as const) {
  test(`heartbeat keeps a ${transport} session alive across several ping intervals`, async () => {
    await withEngine({ pingInterval: 30, pingTimeout: 2000 }, async (s) => {
      const { client, server } = await open(s, { transports: [transport] });
      let closed = false;
      server.on('close', () => (closed = true));
      // Five full PING / PONG rounds, seen from both ends.
      await Promise.all([collect(server, 'heartbeat', 5), collect(client, 'ping', 5)]);
      assert.equal(closed, false);
      assert.equal(server.readyState, 'open');
      await exchange(client, server);
      client.close();
    });
  });

  test(`a ${transport} client that stops answering pings is closed with "ping timeout"`, async () => {
    await withEngine({ pingInterval: 30, pingTimeout: 60 }, async (s) => {
      const { client, server } = await open(s, { transports: [transport] });
      // The client keeps its session but no longer sends PONG.
      const internal = client as unknown as { _sendPacket(type: string, ...rest: unknown[]): void };
      const original = internal._sendPacket.bind(client);
      internal._sendPacket = (type, ...rest) => {
        if (type !== 'pong') original(type, ...rest);
      };
      const [reason] = await next<[string]>(server, 'close', 'the ping timeout');
      assert.equal(reason, 'ping timeout');
      assert.equal(s.engine.clients.has(server.id), false);
      client.close();
    });
  });
}

test('server-side close() ends the session for the client (polling and websocket)', async () => {
  await withEngine({}, async (s) => {
    for (const transport of ['polling', 'websocket'] as const) {
      const { client, server } = await open(s, { transports: [transport] });
      const clientClosed = next<[string]>(client, 'close', `the ${transport} client close`);
      const serverClosed = next<[string]>(server, 'close');
      server.send('last words');
      const last = next<[string]>(client, 'message');
      server.close();
      assert.equal((await last)[0], 'last words');
      assert.equal((await serverClosed)[0], 'forced close');
      assert.equal((await clientClosed)[0], 'transport close');
      server.send('dropped after close'); // no throw
    }
  });
});

test('EngineServer.close() closes every session', async () => {
  await withEngine({}, async (s) => {
    const a = await open(s, { transports: ['polling'] });
    const b = await open(s, { transports: ['websocket'] });
    const closes = Promise.all([next(a.client, 'close'), next(b.client, 'close'), next(a.server, 'close'), next(b.server, 'close')]);
    s.engine.close();
    await closes;
    assert.equal(s.engine.clients.size, 0);
  });
});

test('send callbacks run once the packet is written', async () => {
  await withEngine({}, async (s) => {
    for (const transport of ['polling', 'websocket'] as const) {
      const { client, server } = await open(s, { transports: [transport] });
      await within(new Promise<void>((resolve) => server.send('with callback', {}, resolve)), WAIT_MS, 'the send callback');
      client.close();
    }
  });
});

test('perMessageDeflate: large messages both ways over a compressed websocket', async () => {
  await withEngine({ perMessageDeflate: true }, async (s) => {
    const { client, server } = await open(s, { transports: ['websocket'] });
    const big = 'compress me '.repeat(5000);
    const atServer = next<[string]>(server, 'message');
    client.send(big);
    assert.equal((await atServer)[0], big);
    const atClient = next<[string]>(client, 'message');
    server.send(big);
    assert.equal((await atClient)[0], big);
    client.close();
  });
});
