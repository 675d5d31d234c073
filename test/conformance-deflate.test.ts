// permessage-deflate conformance over real loopback sockets: the equivalents of Autobahn
// groups 12 ("compression, different payloads") and 13 ("compression, different parameters"),
// plus the protocol failures RFC 7692 and RFC 6455 require, in both roles.
//
//   A. every parameter combination (the set Autobahn 13.x uses, mirrored for the client's side):
//      - against a raw peer that negotiates by hand and inspects the wire: RSV1 on first frames
//        only, the negotiated windows and context takeover honoured (RFC 7692 7.1, 7.2);
//      - against `ws`, both roles, the same options on both sides: echo of text and binary,
//        compressible and incompressible, 16 B to 1 MiB, byte-exact, and the wire smaller.
//   B. RFC 7692 section 7.2.3's example payloads, fragmented compressed messages, compressed
//      messages mixed with small uncompressed ones and control frames, order kept.
//   C. failures: RSV1 where it must not be (1002), bad DEFLATE data or bad UTF-8 after inflating
//      (1007), a message that inflates past maxPayload (1009), and a ~1 GiB DEFLATE bomb against
//      a server in a child process whose time to reject and memory are measured.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Socket as NetSocket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from '../src/index.ts';
import { OP, type RawConnection, withTimeout } from './helpers/raw-peer.ts';
import { DeflateRawServer, expectCloseCode, messageData, rawClientHandshake, readMessage } from './helpers/deflate-raw.ts';
import {
  compressMessage,
  compressibleBinary,
  compressibleText,
  deflateBomb,
  Deflater,
  farRepeats,
  GARBAGE,
  Inflater,
  inflateMessage,
  randomBinary,
} from './helpers/deflate-wire.ts';
import { Collector, type Impl, openClient, startServer, type RunningServer, WAIT_MS } from './helpers/deflate-peers.ts';

const PD = 'permessage-deflate';
const KiB = 1024;
const MiB = 1024 * 1024;
const TEST_OPTS = { timeout: 60_000 };

/** Autobahn 12.x message sizes, 16 bytes to 1 MiB. */
const SIZES = [16, 64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB];

interface Combo {
  name: string;
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number;
  /** A number, or undefined: offered without a value (the default of ws and of our client). */
  clientMaxWindowBits?: number;
}

/**
 * The parameter sets: Autobahn 13.1-13.6 ((no) context takeover x window 0/8/15 for the server),
 * with 9 in place of 8 (zlib deflates with a 9-bit window when asked for 8, and our side declines
 * or refuses 8 rather than rely on that), and the same for the client.
 */
const COMBOS: Combo[] = [
  { name: 'defaults (client_max_window_bits offered without a value)' },
  { name: 'server_no_context_takeover', serverNoContextTakeover: true },
  { name: 'client_no_context_takeover', clientNoContextTakeover: true },
  { name: 'both no_context_takeover', serverNoContextTakeover: true, clientNoContextTakeover: true },
  { name: 'server_max_window_bits=9', serverMaxWindowBits: 9 },
  { name: 'server_max_window_bits=15', serverMaxWindowBits: 15 },
  { name: 'client_max_window_bits=9', clientMaxWindowBits: 9 },
  { name: 'client_max_window_bits=15', clientMaxWindowBits: 15 },
  { name: 'server_no_context_takeover, server_max_window_bits=9', serverNoContextTakeover: true, serverMaxWindowBits: 9 },
  { name: 'server_no_context_takeover, server_max_window_bits=15', serverNoContextTakeover: true, serverMaxWindowBits: 15 },
  { name: 'client_no_context_takeover, client_max_window_bits=9', clientNoContextTakeover: true, clientMaxWindowBits: 9 },
  { name: 'client_no_context_takeover, client_max_window_bits=15', clientNoContextTakeover: true, clientMaxWindowBits: 15 },
  {
    name: 'everything: both no_context_takeover, both windows 9',
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 9,
    clientMaxWindowBits: 9,
  },
];

/** The perMessageDeflate options (ws names) of a combination; threshold 0 compresses even 16 bytes. */
function optionsOf(c: Combo): Record<string, unknown> {
  const o: Record<string, unknown> = { threshold: 0 };
  if (c.serverNoContextTakeover) o.serverNoContextTakeover = true;
  if (c.clientNoContextTakeover) o.clientNoContextTakeover = true;
  if (c.serverMaxWindowBits !== undefined) o.serverMaxWindowBits = c.serverMaxWindowBits;
  if (c.clientMaxWindowBits !== undefined) o.clientMaxWindowBits = c.clientMaxWindowBits;
  return o;
}

/** The offer a client with these settings sends (RFC 7692 section 7.1), written by hand. */
function offerOf(c: Combo): string {
  let s = PD;
  if (c.serverNoContextTakeover) s += '; server_no_context_takeover';
  if (c.clientNoContextTakeover) s += '; client_no_context_takeover';
  if (c.serverMaxWindowBits !== undefined) s += `; server_max_window_bits=${c.serverMaxWindowBits}`;
  s += c.clientMaxWindowBits !== undefined ? `; client_max_window_bits=${c.clientMaxWindowBits}` : '; client_max_window_bits';
  return s;
}

/** A valid answer to `offerOf(c)` granting everything asked (RFC 7692 section 7.1). */
function answerOf(c: Combo): string {
  let s = PD;
  if (c.serverNoContextTakeover) s += '; server_no_context_takeover';
  if (c.clientNoContextTakeover) s += '; client_no_context_takeover';
  if (c.serverMaxWindowBits !== undefined) s += `; server_max_window_bits=${c.serverMaxWindowBits}`;
  if (c.clientMaxWindowBits !== undefined) s += `; client_max_window_bits=${c.clientMaxWindowBits}`;
  return s;
}

interface Agreed {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverBits: number;
  clientBits: number;
}

/** Reads what an answer agreed (section 7.1), checking it against what `c` asked for. */
function agreedFrom(answer: string | undefined, c: Combo): Agreed {
  assert.ok(answer, `${c.name}: permessage-deflate must be accepted`);
  const [name, ...rest] = answer.split(';').map((s) => s.trim());
  assert.equal(name, PD);
  const p = new Map(rest.map((x) => [x.split('=')[0]!.trim(), x.includes('=') ? x.split('=')[1]!.trim() : true] as const));
  const a: Agreed = {
    serverNoContextTakeover: p.has('server_no_context_takeover'),
    // 7.1.1.2: a client that offered client_no_context_takeover does not take over, answered or not.
    clientNoContextTakeover: p.has('client_no_context_takeover') || c.clientNoContextTakeover === true,
    serverBits: p.has('server_max_window_bits') ? Number(p.get('server_max_window_bits')) : 15,
    clientBits: p.has('client_max_window_bits') ? Number(p.get('client_max_window_bits')) : (c.clientMaxWindowBits ?? 15),
  };
  if (c.serverNoContextTakeover) assert.ok(a.serverNoContextTakeover, `${c.name}: 7.1.1.1 MUST include server_no_context_takeover`);
  if (c.serverMaxWindowBits !== undefined) assert.ok(a.serverBits <= c.serverMaxWindowBits, `${c.name}: 7.1.2.1 same or smaller`);
  if (c.clientMaxWindowBits !== undefined) assert.ok(a.clientBits <= c.clientMaxWindowBits, `${c.name}: 7.1.2.2 same or smaller`);
  return a;
}

/** Data and opcode of a test message. */
type Msg = string | Buffer;
const bytesOf = (m: Msg): Buffer => (typeof m === 'string' ? Buffer.from(m) : m);
const opcodeOf = (m: Msg): number => (typeof m === 'string' ? OP.TEXT : OP.BINARY);

/** Messages that exercise context takeover and the window: repeats far apart, and a repeated record. */
function windowMessages(): Msg[] {
  const text = compressibleText(20 * KiB, 3);
  return [farRepeats(2, 8), text, farRepeats(4, 4), text, compressibleBinary(40 * KiB), 'tiny'];
}

// ---------------------------------------------------------------------------------------------
// A. every parameter combination against a raw peer that reads the wire

describe('A1. our server, each parameter combination, wire checked by a raw client (RFC 7692 7.1, 7.2)', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer('ours', { perMessageDeflate: { threshold: 0 } });
  });
  after(async () => {
    await server.close();
  });

  for (const combo of COMBOS) {
    test(combo.name, TEST_OPTS, async () => {
      const hs = await rawClientHandshake(server.port, offerOf(combo));
      assert.equal(hs.status, 101);
      const conn = hs.conn!;
      try {
        const a = agreedFrom(hs.extensions, combo);
        await server.nextConnection();
        // The raw client compresses as agreed: its window, its context (7.1.1.2, 7.1.2.2).
        const deflater = a.clientNoContextTakeover ? null : new Deflater(a.clientBits);
        const msgs = windowMessages();
        for (const m of msgs) {
          const payload = deflater ? await deflater.deflate(bytesOf(m)) : compressMessage(bytesOf(m), a.clientBits);
          await conn.send({ opcode: opcodeOf(m), rsv1: true, payload });
        }
        deflater?.close();
        // The echoes: RSV1 on the first frame only (readMessage), inflatable with the server's
        // agreed window; with server_no_context_takeover each one inflates on its own (7.1.1.1).
        const inflater = a.serverNoContextTakeover ? null : new Inflater(a.serverBits);
        for (const [i, m] of msgs.entries()) {
          const e = await readMessage(conn);
          assert.equal(e.opcode, opcodeOf(m));
          assert.equal(e.compressed, true, `echo ${i} compressed (threshold 0)`);
          const data = inflater ? await inflater.inflate(e.wire) : inflateMessage(e.wire, a.serverBits);
          assert.ok(data.equals(bytesOf(m)), `echo ${i} byte-exact`);
          if (i === 0) {
            // 16 KiB of 2 KiB repeats: a 15-bit window finds them, a 9-bit one cannot (max distance 512).
            if (a.serverBits === 9) assert.ok(e.wire.length > 8 * KiB, `window 9 cannot reach back 2 KiB: ${e.wire.length}`);
            else assert.ok(e.wire.length < 4 * KiB, `window ${a.serverBits} finds the 2 KiB repeats: ${e.wire.length}`);
          }
        }
        inflater?.close();
        await conn.sendClose(1000);
        assert.equal(await expectCloseCode(conn), 1000);
      } finally {
        conn.destroy();
      }
    });
  }

  test('13.7: several offers in one header, the first acceptable one is used', TEST_OPTS, async () => {
    const hs = await rawClientHandshake(
      server.port,
      `${PD}; server_no_context_takeover; server_max_window_bits=16, ${PD}; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits, ${PD}`,
    );
    const conn = hs.conn!;
    try {
      assert.equal(hs.extensions, `${PD}; server_no_context_takeover; server_max_window_bits=9`);
      await server.nextConnection();
      for (let i = 0; i < 3; i++) {
        const m = farRepeats(1, 6);
        await conn.send({ opcode: OP.BINARY, rsv1: true, payload: compressMessage(m) });
        const e = await readMessage(conn);
        assert.ok(inflateMessage(e.wire, 9).equals(m)); // fresh context, 9-bit window
      }
    } finally {
      conn.destroy();
    }
  });

  test('many connections with no_context_takeover at once: no context leaks between them', TEST_OPTS, async () => {
    const offer = `${PD}; server_no_context_takeover; client_no_context_takeover; client_max_window_bits`;
    const conns: RawConnection[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const hs = await rawClientHandshake(server.port, offer);
        conns.push(hs.conn!);
        await server.nextConnection();
      }
      for (let round = 0; round < 3; round++) {
        const sent = conns.map((_, i) => compressibleText(6000 + i * 100, 100 * round + i + 1));
        await Promise.all(conns.map((c, i) => c.send({ opcode: OP.TEXT, rsv1: true, payload: compressMessage(Buffer.from(sent[i]!)) })));
        for (const [i, c] of conns.entries()) {
          const e = await readMessage(c);
          assert.equal(inflateMessage(e.wire).toString(), sent[i], `connection ${i}, round ${round}`);
        }
      }
    } finally {
      for (const c of conns) c.destroy();
    }
  });
});

describe('A2. our client, each parameter combination, wire checked by a raw server (RFC 7692 7.1, 7.2)', () => {
  let raw: DeflateRawServer;
  before(async () => {
    raw = await DeflateRawServer.listen();
  });
  after(async () => {
    await raw.close();
  });

  for (const combo of COMBOS) {
    test(combo.name, TEST_OPTS, async () => {
      const ws = new WebSocket(raw.url, { perMessageDeflate: optionsOf(combo) } as never);
      const c = new Collector(ws as never);
      const { conn, offer } = await raw.accept([answerOf(combo)]);
      try {
        assert.deepEqual(paramSet(offer), paramSet(offerOf(combo)), 'our offer has exactly the parameters asked for');
        await c.waitOpen();
        assert.equal(c.ws.extensions, PD);
        const a = agreedFrom(answerOf(combo), combo);
        // Server -> client: the raw server compresses with its agreed window and context.
        const deflater = a.serverNoContextTakeover ? null : new Deflater(a.serverBits);
        const msgs = windowMessages();
        for (const m of msgs) {
          const payload = deflater ? await deflater.deflate(bytesOf(m)) : compressMessage(bytesOf(m), a.serverBits);
          await conn.send({ opcode: opcodeOf(m), rsv1: true, payload });
        }
        deflater?.close();
        for (const [i, m] of msgs.entries()) {
          const r = await c.next(`message ${i}`);
          assert.equal(r.isBinary, typeof m !== 'string');
          assert.ok(r.data.equals(bytesOf(m)), `message ${i} byte-exact`);
        }
        // Client -> server: our client's frames honour the client window and context (7.1.1.2, 7.1.2.2).
        for (const m of msgs) c.ws.send(m);
        const inflater = a.clientNoContextTakeover ? null : new Inflater(a.clientBits);
        for (const [i, m] of msgs.entries()) {
          const e = await readMessage(conn);
          assert.equal(e.compressed, true, `message ${i} compressed (threshold 0)`);
          assert.ok(e.frames.every((f) => f.masked), 'client frames are masked (RFC 6455 5.3)');
          const data = inflater ? await inflater.inflate(e.wire) : inflateMessage(e.wire, a.clientBits);
          assert.ok(data.equals(bytesOf(m)), `message ${i} byte-exact`);
          if (i === 0) {
            if (a.clientBits === 9) assert.ok(e.wire.length > 8 * KiB, `window 9 cannot reach back 2 KiB: ${e.wire.length}`);
            else assert.ok(e.wire.length < 4 * KiB, `window ${a.clientBits} finds the 2 KiB repeats: ${e.wire.length}`);
          }
        }
        inflater?.close();
        await conn.sendClose(1000);
        assert.equal(await expectCloseCode(conn), 1000);
        assert.equal((await c.waitClosed()).code, 1000);
      } finally {
        conn.destroy();
        await c.waitClosed();
      }
    });
  }
});

/** The elements of one extension offer, order-free (parameter order carries no meaning, section 7.1). */
function paramSet(element: string | undefined): string[] {
  assert.ok(element !== undefined, 'an offer was sent');
  return element.split(';').map((s) => s.replace(/\s+/g, '')).sort();
}

// ---------------------------------------------------------------------------------------------
// A3. every combination against ws, both roles: the Autobahn 12.x/13.x echo runs

/** Autobahn 12.x payload kinds: compressible text (JSON), compressible binary (bitmap), random binary. */
function ladder(): Msg[] {
  const out: Msg[] = [];
  for (const [i, size] of SIZES.entries()) out.push(compressibleText(size, i + 11), compressibleBinary(size), randomBinary(size));
  return out;
}

async function echoRun(client: Collector, ourSocket: NetSocket, label: string): Promise<void> {
  // The wire: a 256 KiB compressible text goes out and comes back compressed both ways; the
  // byte counts of our TCP socket show both peers compressed (our side and ws's side).
  const probe = compressibleText(256 * KiB, 5);
  const read0 = ourSocket.bytesRead;
  const written0 = ourSocket.bytesWritten;
  client.ws.send(probe);
  const echo = await client.next(`${label}: probe echo`);
  assert.equal(echo.isBinary, false);
  assert.ok(echo.data.equals(Buffer.from(probe)), `${label}: probe byte-exact`);
  const read = ourSocket.bytesRead - read0;
  const written = ourSocket.bytesWritten - written0;
  assert.ok(read > 0 && read < probe.length / 4, `${label}: ${read} bytes on the wire in for ${probe.length}`);
  assert.ok(written > 0 && written < probe.length / 4, `${label}: ${written} bytes on the wire out for ${probe.length}`);

  // The ladder, pipelined: every message sent, then every echo read in order.
  const msgs = ladder();
  for (const m of msgs) client.ws.send(m, { binary: typeof m !== 'string' });
  for (const [i, m] of msgs.entries()) {
    const r = await client.next(`${label}: echo ${i}`);
    assert.equal(r.isBinary, typeof m !== 'string', `${label}: echo ${i} type`);
    assert.ok(r.data.equals(bytesOf(m)), `${label}: echo ${i} (${bytesOf(m).length} bytes) byte-exact`);
  }
}

for (const [clientImpl, serverImpl] of [
  ['ws', 'ours'],
  ['ours', 'ws'],
] as Array<[Impl, Impl]>) {
  describe(`A3. ${clientImpl} client -> ${serverImpl} server, echo 16 B..1 MiB per combination (Autobahn 12.x/13.x)`, () => {
    for (const combo of COMBOS) {
      test(combo.name, TEST_OPTS, async () => {
        const options = optionsOf(combo);
        const server = await startServer(serverImpl, { perMessageDeflate: options, maxPayload: 4 * MiB });
        const { collector, upgrade } = openClient(clientImpl, server.url, { perMessageDeflate: options, maxPayload: 4 * MiB });
        try {
          const up = await upgrade;
          await collector.waitOpen();
          const serverSide = await server.nextConnection();
          agreedFrom(up.extensions, combo);
          const ours = serverImpl === 'ours' ? serverSide : { collector, socket: up.socket };
          assert.equal(ours.collector.ws.extensions, PD);
          await echoRun(collector, ours.socket, `${combo.name} (${clientImpl} -> ${serverImpl})`);
          assert.deepEqual(await collector.finish(), { code: 1000, reason: 'done' });
          assert.equal(collector.errors.length, 0);
        } finally {
          collector.ws.terminate();
          await server.close();
        }
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// B. RFC 7692 section 7.2.3's examples, fragmentation, mixing, order

/** RFC 7692 section 7.2.3's payloads, each of which inflates to "Hello". */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const HELLO = {
  /** 7.2.3.1: a message compressed with one DEFLATE block (BFINAL 0, sync flush trailer removed). */
  single: hex('f2 48 cd c9 c9 07 00'),
  /** 7.2.3.2: the same message again, using the LZ77 window of the first (context takeover). */
  shared: hex('f2 00 11 00 00'),
  /** 7.2.3.3: a DEFLATE block with no compression (BTYPE 00). */
  stored: hex('00 05 00 fa ff 48 65 6c 6c 6f 00'),
  /** 7.2.3.4: a block with BFINAL 1, then one octet so that the payload ends like the others. */
  bfinal: hex('f3 48 cd c9 c9 07 00 00'),
  /** 7.2.3.5: two DEFLATE blocks in one message ("He" flushed, then "llo"). */
  twoBlocks: hex('f2 48 05 00 00 00 ff ff ca c9 c9 07 00'),
};

/**
 * Feeds the 7.2.3 payloads to one of our endpoints and checks each is read as "Hello".
 * `send(payload, fin, cont)` writes one data frame from the raw peer; `next()` reads what our
 * endpoint got.
 */
async function rfcExamples(
  send: (frames: Array<{ payload: Buffer; fin?: boolean; cont?: boolean; rsv1?: boolean }>) => Promise<void>,
  next: (what: string) => Promise<string>,
): Promise<void> {
  await send([{ payload: HELLO.single }]);
  assert.equal(await next('7.2.3.1 single block'), 'Hello', '7.2.3.1 single block');
  // 7.2.3.1, fragmented: RSV1 on the first frame only, the compressed bytes split across frames.
  await send([{ payload: HELLO.single.subarray(0, 3), fin: false }, { payload: HELLO.single.subarray(3), cont: true, rsv1: false }]);
  assert.equal(await next('7.2.3.1 fragmented'), 'Hello', '7.2.3.1 fragmented');
  await send([{ payload: HELLO.single }]);
  assert.equal(await next('the next example'), 'Hello', 'the next example');
  await send([{ payload: HELLO.shared }]);
  assert.equal(await next('7.2.3.2 sharing the LZ77 window with the previous message'), 'Hello', '7.2.3.2 sharing the LZ77 window with the previous message');
  await send([{ payload: HELLO.stored }]);
  assert.equal(await next('7.2.3.3 no compression'), 'Hello', '7.2.3.3 no compression');
  await send([{ payload: HELLO.twoBlocks }]);
  assert.equal(await next('7.2.3.5 two DEFLATE blocks'), 'Hello', '7.2.3.5 two DEFLATE blocks');
  // 7.2.3.6: an empty final fragment ("0x00") after a fragment that kept its sync-flush trailer.
  await send([{ payload: Buffer.concat([HELLO.single, hex('00 00 ff ff')]), fin: false }, { payload: hex('00'), cont: true, rsv1: false }]);
  assert.equal(await next('7.2.3.6 empty final fragment'), 'Hello', '7.2.3.6 empty final fragment');
  // An empty message compressed: "00", an empty stored block (7.2.3.6).
  await send([{ payload: hex('00') }]);
  assert.equal(await next('empty message as 0x00'), '', 'empty message as 0x00');
  // 7.2.3.4: BFINAL 1 ends the sender's DEFLATE stream; its next message starts a new one.
  await send([{ payload: HELLO.bfinal }]);
  assert.equal(await next('7.2.3.4 BFINAL set'), 'Hello', '7.2.3.4 BFINAL set');
  await send([{ payload: HELLO.single }]);
  assert.equal(await next('7.2.3.4: the message after a BFINAL block (a new DEFLATE stream)'), 'Hello', '7.2.3.4: the message after a BFINAL block (a new DEFLATE stream)');
  await send([{ payload: HELLO.single }]);
  assert.equal(await next('the next example'), 'Hello', 'the next example');
}

function rawFrames(frames: Array<{ payload: Buffer; fin?: boolean; cont?: boolean; rsv1?: boolean }>) {
  return frames.map((f) => ({ opcode: f.cont ? OP.CONT : OP.TEXT, payload: f.payload, fin: f.fin ?? true, rsv1: f.rsv1 ?? true }));
}

describe('B1. RFC 7692 section 7.2.3 example payloads are read correctly, both roles', () => {
  test('by our server (from a raw client)', TEST_OPTS, async () => {
    const server = await startServer('ours', { perMessageDeflate: true });
    const hs = await rawClientHandshake(server.port, PD);
    try {
      assert.equal(hs.extensions, PD);
      const conn = hs.conn!;
      const sc = await server.nextConnection();
      await rfcExamples(
        (frames) => conn.send(...rawFrames(frames)),
        async (what) => (await sc.collector.next(what)).data.toString(),
      );
    } finally {
      hs.conn?.destroy();
      await server.close();
    }
  });

  test('by our client (from a raw server)', TEST_OPTS, async () => {
    const raw = await DeflateRawServer.listen();
    const ws = new WebSocket(raw.url);
    const c = new Collector(ws as never);
    try {
      const { conn } = await raw.accept([PD]);
      await c.waitOpen();
      await rfcExamples(
        (frames) => conn.send(...rawFrames(frames)),
        async (what) => (await c.next(what)).data.toString(),
      );
    } finally {
      ws.terminate();
      await raw.close();
    }
  });
});

describe('B1b. a BFINAL block (RFC 7692 7.2.3.4) ends one DEFLATE stream, it must not spoil the next message or another connection', () => {
  // With no_context_takeover the receiver's zlib streams are pooled and shared between
  // connections (src/node/permessage-deflate.ts); a stream that reached the end of a DEFLATE
  // stream must be replaced, never reused.
  test('our server, client_no_context_takeover: BFINAL on connection A, then messages on B and on A', TEST_OPTS, async () => {
    const server = await startServer('ours', { perMessageDeflate: true }, false);
    const offer = `${PD}; client_no_context_takeover`;
    const a = await rawClientHandshake(server.port, offer);
    const sa = await server.nextConnection();
    const b = await rawClientHandshake(server.port, offer);
    const sb = await server.nextConnection();
    try {
      assert.equal(a.extensions, offer);
      await a.conn!.send({ opcode: OP.TEXT, rsv1: true, payload: HELLO.bfinal });
      assert.equal((await sa.collector.next('A: the BFINAL message')).data.toString(), 'Hello');
      await b.conn!.send({ opcode: OP.TEXT, rsv1: true, payload: HELLO.single });
      assert.equal((await sb.collector.next('B: a plain message after A sent BFINAL')).data.toString(), 'Hello');
      await a.conn!.send({ opcode: OP.TEXT, rsv1: true, payload: HELLO.single });
      assert.equal((await sa.collector.next('A: its next message')).data.toString(), 'Hello');
      assert.deepEqual([...sa.collector.errors, ...sb.collector.errors], []);
    } finally {
      a.conn?.destroy();
      b.conn?.destroy();
      await server.close();
    }
  });

  test('our clients, server_no_context_takeover: BFINAL to client A, then messages to B and to A', TEST_OPTS, async () => {
    const raw = await DeflateRawServer.listen();
    const answer = [`${PD}; server_no_context_takeover`];
    const wa = new WebSocket(raw.url);
    const ca = new Collector(wa as never);
    const { conn: a } = await raw.accept(answer);
    const wb = new WebSocket(raw.url);
    const cb = new Collector(wb as never);
    const { conn: b } = await raw.accept(answer);
    try {
      await ca.waitOpen();
      await cb.waitOpen();
      await a.send({ opcode: OP.TEXT, rsv1: true, payload: HELLO.bfinal });
      assert.equal((await ca.next('A: the BFINAL message')).data.toString(), 'Hello');
      await b.send({ opcode: OP.TEXT, rsv1: true, payload: HELLO.single });
      assert.equal((await cb.next('B: a plain message after A got BFINAL')).data.toString(), 'Hello');
      await a.send({ opcode: OP.TEXT, rsv1: true, payload: HELLO.single });
      assert.equal((await ca.next('A: its next message')).data.toString(), 'Hello');
      assert.deepEqual([...ca.errors, ...cb.errors], []);
    } finally {
      wa.terminate();
      wb.terminate();
      await raw.close();
    }
  });
});

/**
 * Runs `fn` with one of our endpoints (server or client, with `options`) connected to a raw peer
 * that negotiated plain permessage-deflate; `socket` is our side's TCP socket.
 */
async function withRawPeer(
  role: 'server' | 'client',
  options: Record<string, unknown>,
  fn: (x: { conn: RawConnection; c: Collector; socket: NetSocket }) => Promise<void>,
): Promise<void> {
  const raw = role === 'client' ? await DeflateRawServer.listen() : null;
  const server = role === 'server' ? await startServer('ours', { perMessageDeflate: true, ...options }, false) : null;
  let conn: RawConnection | undefined;
  let client: InstanceType<typeof WebSocket> | undefined;
  try {
    if (server) {
      const hs = await rawClientHandshake(server.port, PD);
      conn = hs.conn!;
      const { collector, socket } = await server.nextConnection();
      await fn({ conn, c: collector, socket });
    } else {
      client = new WebSocket(raw!.url, options);
      const c = new Collector(client as never);
      const up = withTimeout(new Promise<NetSocket>((r) => client!.once('upgrade', (res: { socket: NetSocket }) => r(res.socket))), WAIT_MS, 'the upgrade');
      conn = (await raw!.accept([PD])).conn;
      await c.waitOpen();
      await fn({ conn, c, socket: await up });
    }
  } finally {
    conn?.destroy();
    client?.terminate();
    await server?.close();
    await raw?.close();
  }
}

describe('B2. fragmented compressed messages and mixed traffic', () => {
  test('our server sends a fragmented compressed message: RSV1 on the first frame only (RFC 7692 section 6)', TEST_OPTS, async () => {
    const server = await startServer('ours', { perMessageDeflate: true }, false);
    const hs = await rawClientHandshake(server.port, `${PD}; client_max_window_bits`);
    const conn = hs.conn!;
    try {
      const { collector } = await server.nextConnection();
      const parts = [compressibleText(3000, 1), compressibleText(5000, 2), '', compressibleText(100, 3)];
      const inflater = new Inflater(15);
      // Text in four pieces, a ping between pieces, then binary in two pieces, the second one empty (7.2.3.6).
      collector.ws.send(parts[0], { fin: false });
      collector.ws.send(parts[1], { fin: false });
      collector.ws.ping(Buffer.from('between'));
      collector.ws.send(parts[2], { fin: false });
      collector.ws.send(parts[3], { fin: true });
      const bin = compressibleBinary(70_000);
      collector.ws.send(bin, { binary: true, fin: false });
      collector.ws.send(Buffer.alloc(0), { binary: true, fin: true });
      const m = await readMessage(conn);
      assert.equal(m.frames.length, 4);
      assert.deepEqual(m.frames.map((f) => f.rsv1), [true, false, false, false]);
      assert.deepEqual(m.frames.map((f) => f.opcode), [OP.TEXT, OP.CONT, OP.CONT, OP.CONT]);
      assert.ok(m.controls.length <= 1); // the ping may come between the fragments or after them
      assert.equal((await inflater.inflate(m.wire)).toString(), parts.join(''));
      const b = await readMessage(conn);
      assert.deepEqual(b.frames.map((f) => f.rsv1), [true, false]);
      assert.ok((await inflater.inflate(b.wire)).equals(bin));
      const pings = [...m.controls, ...b.controls];
      if (pings.length === 0) pings.push(await conn.nextFrame());
      assert.equal(pings[0]!.opcode, OP.PING);
      assert.equal(pings[0]!.rsv1, false);
      assert.equal(pings[0]!.payload.toString(), 'between');
      inflater.close();
    } finally {
      conn.destroy();
      await server.close();
    }
  });

  test('our client sends a fragmented compressed message: RSV1 on the first frame only', TEST_OPTS, async () => {
    const raw = await DeflateRawServer.listen();
    const ws = new WebSocket(raw.url, { perMessageDeflate: { clientNoContextTakeover: true } } as never);
    const c = new Collector(ws as never);
    try {
      const { conn } = await raw.accept([`${PD}; client_no_context_takeover`]);
      await c.waitOpen();
      const parts = [randomBinary(2000), compressibleBinary(30_000), randomBinary(10)];
      ws.send(parts[0], { fin: false });
      ws.send(parts[1], { fin: false });
      ws.send(parts[2], { fin: true });
      ws.send('after', { compress: true }); // below the threshold: not compressed
      const m = await readMessage(conn);
      assert.deepEqual(m.frames.map((f) => f.rsv1), [true, false, false]);
      assert.ok(inflateMessage(m.wire).equals(Buffer.concat(parts)));
      const after = await readMessage(conn);
      assert.equal(after.compressed, false);
      assert.equal(after.wire.toString(), 'after');
    } finally {
      ws.terminate();
      await raw.close();
    }
  });

  test('our server reads a compressed message split at odd offsets with a ping between fragments', TEST_OPTS, async () => {
    const server = await startServer('ours', { perMessageDeflate: true });
    const hs = await rawClientHandshake(server.port, PD);
    const conn = hs.conn!;
    try {
      await server.nextConnection();
      const text = compressibleText(50_000, 9);
      const z = compressMessage(Buffer.from(text));
      const cuts = [0, 1, 2, Math.floor(z.length / 3), z.length - 1, z.length];
      const frames = [];
      for (let i = 0; i + 1 < cuts.length; i++) {
        frames.push({ opcode: i === 0 ? OP.TEXT : OP.CONT, rsv1: i === 0, fin: i + 2 === cuts.length, payload: z.subarray(cuts[i], cuts[i + 1]) });
        if (i === 1) frames.push({ opcode: OP.PING, payload: 'mid' });
      }
      await conn.writeChopped(Buffer.concat(frames.map((f) => conn.frame(f))), [7, 1, 13]);
      const pong = await conn.nextFrame();
      assert.equal(pong.opcode, OP.PONG);
      assert.equal(pong.rsv1, false, 'no RSV1 on control frames (RFC 7692 section 6)');
      assert.equal(pong.payload.toString(), 'mid');
      const e = await readMessage(conn);
      assert.equal((await messageData(e)).toString(), text);
    } finally {
      conn.destroy();
      await server.close();
    }
  });

  test('compressed and uncompressed messages in one TCP write are delivered in order', TEST_OPTS, async () => {
    const server = await startServer('ours', { perMessageDeflate: true }, false);
    const hs = await rawClientHandshake(server.port, PD);
    const conn = hs.conn!;
    try {
      const { collector } = await server.nextConnection();
      const deflater = new Deflater();
      const sent: Msg[] = [compressibleText(100_000, 1), 'small 1', farRepeats(8, 4), 'small 2', compressibleText(10, 2), Buffer.from([1, 2, 3])];
      const frames = [];
      for (const [i, m] of sent.entries()) {
        const compress = i % 2 === 0;
        frames.push({ opcode: opcodeOf(m), rsv1: compress, payload: compress ? await deflater.deflate(bytesOf(m)) : bytesOf(m) });
      }
      deflater.close();
      await conn.send(...frames);
      for (const [i, m] of sent.entries()) {
        const r = await collector.next(`message ${i}`);
        assert.ok(r.data.equals(bytesOf(m)), `message ${i} in order`);
        assert.equal(r.isBinary, typeof m !== 'string');
      }
    } finally {
      conn.destroy();
      await server.close();
    }
  });

  for (const role of ['server', 'client'] as const) {
    test(`our ${role} mixes compressed messages with small ones below threshold, pings and compress:false, in order`, TEST_OPTS, async () => {
      const items: Array<Msg | 'ping' | { nocompress: Msg }> = [
        compressibleText(64 * KiB, 1),
        'tiny 1',
        'ping',
        randomBinary(3000),
        Buffer.from('tiny binary'),
        { nocompress: compressibleText(5000, 2) },
        compressibleText(1024, 3), // exactly the threshold: compressed
        compressibleText(1023, 4), // one byte under: not compressed
        'ping',
        compressibleBinary(200 * KiB),
      ];
      const expectCompressed = [true, false, true, false, false, true, false, true];
      const raw = role === 'client' ? await DeflateRawServer.listen() : null;
      const server = role === 'server' ? await startServer('ours', { perMessageDeflate: true }, false) : null;
      let conn: RawConnection | undefined;
      let ws: Collector['ws'];
      try {
        if (server) {
          const hs = await rawClientHandshake(server.port, `${PD}; client_max_window_bits`);
          conn = hs.conn!;
          ws = (await server.nextConnection()).collector.ws;
        } else {
          const client = new WebSocket(raw!.url);
          const c = new Collector(client as never);
          conn = (await raw!.accept([PD])).conn;
          await c.waitOpen();
          ws = c.ws;
        }
        for (const it of items) {
          if (it === 'ping') ws.ping(Buffer.from('p'));
          else if (typeof it === 'object' && 'nocompress' in it) ws.send(it.nocompress, { compress: false });
          else ws.send(it);
        }
        const inflater = new Inflater(15); // context takeover: one context across the compressed ones
        const data = items.filter((x) => x !== 'ping').map((x) => (typeof x === 'object' && 'nocompress' in x ? x.nocompress : x)) as Msg[];
        let pings = 0;
        for (const [i, m] of data.entries()) {
          const e = await readMessage(conn);
          pings += e.controls.filter((f) => f.opcode === OP.PING).length;
          assert.equal(e.compressed, expectCompressed[i], `message ${i}: compressed iff >= threshold (1024) and compress not false`);
          const got = await messageData(e, inflater);
          assert.ok(got.equals(bytesOf(m)), `message ${i} in order, byte-exact`);
          assert.equal(e.opcode, opcodeOf(m));
        }
        while (pings < 2) {
          const f = await conn.nextFrame();
          assert.equal(f.opcode, OP.PING);
          assert.equal(f.rsv1, false);
          pings++;
        }
        inflater.close();
      } finally {
        conn?.destroy();
        await server?.close();
        await raw?.close();
      }
    });
  }

  for (const role of ['server', 'client'] as const) {
    test(`our ${role}: pause() + resume() while a compressed message is being inflated keeps message order`, TEST_OPTS, async () => {
      // createWebSocketStream pauses and resumes the WebSocket for backpressure; a resume() that
      // lands while a compressed message is still in zlib must not let later messages overtake it.
      await withRawPeer(role, {}, async ({ conn, c, socket }) => {
        // Runs after the WebSocket's own 'data' listener, i.e. right after each chunk was parsed.
        const ws = c.ws as unknown as { pause(): void; resume(): void };
        const toggle = (): void => {
          ws.pause();
          ws.resume();
        };
        socket.on('data', toggle);
        const big = compressibleBinary(8 * MiB);
        await conn.send(
          { opcode: OP.BINARY, rsv1: true, payload: compressMessage(big) },
          { opcode: OP.TEXT, payload: 'after the big one' },
          { opcode: OP.TEXT, rsv1: true, payload: compressMessage(Buffer.from('compressed, last')) },
        );
        const first = await c.next('the first message');
        assert.equal(first.data.length, big.length, `the compressed 8 MiB message comes first, got ${JSON.stringify(first.data.subarray(0, 40).toString())}`);
        assert.ok(first.data.equals(big));
        assert.equal((await c.next('the second message')).data.toString(), 'after the big one');
        assert.equal((await c.next('the third message')).data.toString(), 'compressed, last');
        socket.off('data', toggle);
      });
    });

    test(`our ${role} with allowSynchronousEvents: false: compressed and plain messages stay whole and in order`, TEST_OPTS, async () => {
      // One message per event-loop turn (ws's allowSynchronousEvents: false) must not restart the
      // parser while the next compressed message is inflating: two inflates on one zlib stream
      // would mix their output.
      await withRawPeer(role, { allowSynchronousEvents: false }, async ({ conn, c }) => {
        const sent: Msg[] = [];
        for (let i = 0; i < 4; i++) sent.push(compressibleBinary((i + 1) * 2 * MiB), `plain ${i}`);
        await conn.send(...sent.map((m) => (typeof m === 'string' ? { opcode: OP.TEXT, payload: m } : { opcode: OP.BINARY, rsv1: true, payload: compressMessage(m) })));
        for (const [i, m] of sent.entries()) {
          const r = await c.next(`message ${i}`);
          assert.equal(r.data.length, bytesOf(m).length, `message ${i}: ${bytesOf(m).length} bytes expected, got ${r.data.length}`);
          assert.ok(r.data.equals(bytesOf(m)), `message ${i} byte-exact`);
        }
      });
    });
  }

  test('close() right after sending compressed messages: the messages first, then the close frame (RFC 6455 5.5.1)', TEST_OPTS, async () => {
    const server = await startServer('ours', { perMessageDeflate: true }, false);
    const hs = await rawClientHandshake(server.port, PD);
    const conn = hs.conn!;
    try {
      const { collector } = await server.nextConnection();
      const msgs = [compressibleText(500 * KiB, 1), randomBinary(300 * KiB), 'small'];
      for (const m of msgs) collector.ws.send(m);
      collector.ws.close(1000, 'bye');
      const inflater = new Inflater();
      for (const [i, m] of msgs.entries()) {
        const e = await readMessage(conn, WAIT_MS, `message ${i} before the close frame`);
        assert.ok((await messageData(e, inflater)).equals(bytesOf(m)), `message ${i}`);
      }
      inflater.close();
      assert.equal(await expectCloseCode(conn), 1000);
    } finally {
      conn.destroy();
      await server.close();
    }
  });

  for (const [clientImpl, serverImpl] of [
    ['ws', 'ours'],
    ['ours', 'ws'],
  ] as Array<[Impl, Impl]>) {
    test(`${clientImpl} client -> ${serverImpl} server: fragmented compressed messages and mixed sizes round-trip`, TEST_OPTS, async () => {
      const server = await startServer(serverImpl, { perMessageDeflate: true });
      const { collector } = openClient(clientImpl, server.url, { perMessageDeflate: { threshold: 1024 } });
      try {
        await collector.waitOpen();
        const pieces = [compressibleText(4000, 1), compressibleText(10, 2), randomBinary(0).toString(), compressibleText(9000, 3)];
        for (const [i, p] of pieces.entries()) collector.ws.send(p, { fin: i === pieces.length - 1 });
        const sizes = [2000, 10, 5000, 100, 1023, 1024, 1025, 0, 300_000];
        for (const s of sizes) collector.ws.send(compressibleBinary(s), { binary: true });
        const whole = await collector.next('the fragmented message echo');
        assert.equal(whole.data.toString(), pieces.join(''));
        for (const s of sizes) {
          const r = await collector.next(`echo of ${s} bytes`);
          assert.ok(r.data.equals(compressibleBinary(s)), `${s} bytes in order`);
        }
      } finally {
        await collector.finish();
        await server.close();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// C. failures

interface FailureCase {
  name: string;
  /** Frames the raw peer sends (its default masking). */
  frames: () => Array<{ opcode: number; payload?: Buffer | string; fin?: boolean; rsv1?: boolean; rsv2?: boolean }>;
  code: number;
  /** Negotiate permessage-deflate first (default true). */
  negotiate?: boolean;
}

const TEXT_4K = compressibleText(4096, 21);

const FAILURES: FailureCase[] = [
  {
    // RFC 7692 section 6: RSV1 only on the first frame of a message.
    name: 'RSV1 on a continuation frame -> 1002',
    frames: () => {
      const z = compressMessage(Buffer.from(TEXT_4K));
      return [
        { opcode: OP.TEXT, rsv1: true, fin: false, payload: z.subarray(0, 10) },
        { opcode: OP.CONT, rsv1: true, fin: true, payload: z.subarray(10) },
      ];
    },
    code: 1002,
  },
  { name: 'RSV1 on a ping -> 1002', frames: () => [{ opcode: OP.PING, rsv1: true, payload: 'x' }], code: 1002 },
  {
    name: 'RSV1 on a ping between the fragments of a compressed message -> 1002',
    frames: () => {
      const z = compressMessage(Buffer.from(TEXT_4K));
      return [
        { opcode: OP.TEXT, rsv1: true, fin: false, payload: z.subarray(0, 10) },
        { opcode: OP.PING, rsv1: true, payload: 'x' },
        { opcode: OP.CONT, fin: true, payload: z.subarray(10) },
      ];
    },
    code: 1002,
  },
  { name: 'RSV1 on a pong -> 1002', frames: () => [{ opcode: OP.PONG, rsv1: true, payload: '' }], code: 1002 },
  {
    name: 'RSV1 on a close frame -> 1002',
    frames: () => [{ opcode: OP.CLOSE, rsv1: true, payload: Buffer.from([0x03, 0xe8]) }],
    code: 1002,
  },
  {
    // RFC 6455 section 5.2: RSV1 without a negotiated extension that defines it.
    name: 'RSV1 when nothing was negotiated -> 1002',
    frames: () => [{ opcode: OP.TEXT, rsv1: true, payload: compressMessage(Buffer.from('hello hello hello')) }],
    code: 1002,
    negotiate: false,
  },
  {
    name: 'RSV2 with permessage-deflate negotiated -> 1002 (it defines RSV1 only)',
    frames: () => [{ opcode: OP.TEXT, rsv2: true, payload: 'x' }],
    code: 1002,
  },
  {
    // RFC 6455 section 7.4.1 (1007: data not consistent with the type of the message).
    name: 'a compressed message that is not DEFLATE data -> 1007',
    frames: () => [{ opcode: OP.BINARY, rsv1: true, payload: GARBAGE }],
    code: 1007,
  },
  {
    name: 'a compressed message whose DEFLATE data refers back before its start -> 1007',
    frames: () => [{ opcode: OP.BINARY, rsv1: true, payload: compressMessage(Buffer.from('hello hello hello hello')).subarray(3) }],
    code: 1007,
  },
  {
    // RFC 6455 section 8.1: text must be UTF-8 once inflated.
    name: 'a compressed text message that inflates to invalid UTF-8 -> 1007',
    frames: () => [{ opcode: OP.TEXT, rsv1: true, payload: compressMessage(Buffer.concat([Buffer.from(TEXT_4K), Buffer.from([0xc3, 0x28])])) }],
    code: 1007,
  },
  {
    name: 'a fragmented compressed text that inflates to a truncated UTF-8 sequence -> 1007',
    frames: () => {
      const z = compressMessage(Buffer.concat([Buffer.from('héllo '.repeat(500)), Buffer.from([0xe2, 0x82])]));
      return [
        { opcode: OP.TEXT, rsv1: true, fin: false, payload: z.subarray(0, 5) },
        { opcode: OP.CONT, fin: true, payload: z.subarray(5) },
      ];
    },
    code: 1007,
  },
  {
    // RFC 6455 section 10.4 / 7.4.1 (1009); the limit applies to the inflated size (issue 3).
    name: 'a small compressed message that inflates past maxPayload (64 KiB) -> 1009',
    frames: () => [{ opcode: OP.TEXT, rsv1: true, payload: compressMessage(Buffer.alloc(64 * KiB + 1, 'a')) }],
    code: 1009,
  },
  {
    name: 'a fragmented compressed message that inflates past maxPayload -> 1009',
    frames: () => {
      const z = compressMessage(randomBinary(40 * KiB));
      const y = compressMessage(Buffer.alloc(200 * KiB));
      return [
        { opcode: OP.BINARY, rsv1: true, fin: false, payload: Buffer.concat([z, Buffer.from([0, 0, 0xff, 0xff])]) },
        { opcode: OP.CONT, fin: true, payload: y },
      ];
    },
    code: 1009,
  },
];

const FAIL_MAX_PAYLOAD = 64 * KiB;

describe('C1. protocol failures with compression, our server (raw client)', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer('ours', { perMessageDeflate: true, maxPayload: FAIL_MAX_PAYLOAD }, true);
  });
  after(async () => {
    await server.close();
  });

  for (const fc of FAILURES) {
    test(fc.name, TEST_OPTS, async () => {
      const hs = await rawClientHandshake(server.port, fc.negotiate === false ? undefined : PD);
      const conn = hs.conn!;
      try {
        assert.equal(hs.extensions, fc.negotiate === false ? undefined : PD);
        const sc = await server.nextConnection();
        await conn.send(...fc.frames());
        assert.equal(await expectCloseCode(conn), fc.code);
        // Like ws, the failing side stops reading after the error, so its 'close' event may say
        // 1006 rather than the code echoed back; the code on the wire is what was checked above.
        const closed = await sc.collector.waitClosed();
        assert.ok([fc.code, 1006].includes(closed.code), `close event code ${closed.code}`);
        assert.equal(sc.collector.errors.length, 1, 'one error event on the server side');
      } finally {
        conn.destroy();
      }
    });
  }

  test('exactly maxPayload bytes once inflated is accepted; one more is not (boundary)', TEST_OPTS, async () => {
    const hs = await rawClientHandshake(server.port, PD);
    const conn = hs.conn!;
    try {
      await server.nextConnection();
      const exact = compressibleBinary(FAIL_MAX_PAYLOAD);
      const deflater = new Deflater();
      await conn.send({ opcode: OP.BINARY, rsv1: true, payload: await deflater.deflate(exact) });
      const echo = await readMessage(conn);
      assert.ok((await messageData(echo)).equals(exact));
      await conn.send({ opcode: OP.BINARY, rsv1: true, payload: await deflater.deflate(Buffer.concat([exact, Buffer.from([1])])) });
      deflater.close();
      assert.equal(await expectCloseCode(conn), 1009);
    } finally {
      conn.destroy();
    }
  });

  test('the server carries on after all of the above', TEST_OPTS, async () => {
    const hs = await rawClientHandshake(server.port, PD);
    const conn = hs.conn!;
    try {
      await server.nextConnection();
      await conn.send({ opcode: OP.TEXT, rsv1: true, payload: compressMessage(Buffer.from(TEXT_4K)) });
      assert.equal((await messageData(await readMessage(conn))).toString(), TEXT_4K);
    } finally {
      conn.destroy();
    }
  });
});

describe('C2. protocol failures with compression, our client (raw server)', () => {
  let raw: DeflateRawServer;
  before(async () => {
    raw = await DeflateRawServer.listen();
  });
  after(async () => {
    await raw.close();
  });

  for (const fc of FAILURES) {
    test(fc.name, TEST_OPTS, async () => {
      const ws = new WebSocket(raw.url, { maxPayload: FAIL_MAX_PAYLOAD });
      const c = new Collector(ws as never);
      const { conn } = await raw.accept(fc.negotiate === false ? [] : [PD]);
      try {
        await c.waitOpen();
        assert.equal(c.ws.extensions, fc.negotiate === false ? '' : PD);
        await conn.send(...fc.frames());
        assert.equal(await expectCloseCode(conn), fc.code);
        await c.waitClosed();
        assert.equal(c.errors.length, 1, 'one error event on the client');
      } finally {
        conn.destroy();
        ws.terminate();
      }
    });
  }
});

describe('C3. a DEFLATE bomb is stopped while inflating (maxPayload applies to the inflated size)', () => {
  const BOMB_HELPER = fileURLToPath(new URL('./helpers/deflate-bomb-server.ts', import.meta.url));
  /** The limit the issue names: 1 MiB, and at most ~100 MiB of RSS growth for the server. */
  const LIMIT = MiB;
  const MAX_RSS_GROWTH = 100 * MiB;

  test('our server in a child process: ~1 MiB compressed -> 1000 MiB of zeros, maxPayload 1 MiB -> 1009, RSS bounded', { timeout: 60_000 }, async (t) => {
    // 1000 full-flushed segments of 1 MiB of zeros: 1,036,996 bytes on the wire (under maxPayload,
    // so the compressed size passes the frame-length check), 1,048,576,000 bytes once inflated.
    const bomb = deflateBomb(1000);
    assert.ok(bomb.payload.length < LIMIT, `the compressed bomb (${bomb.payload.length} bytes) fits under maxPayload`);
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', BOMB_HELPER, String(LIMIT)], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const events: Array<Record<string, any>> = [];
    const waiters: Array<() => void> = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      events.push(JSON.parse(line));
      for (const w of waiters.splice(0)) w();
    });
    const exited = once(child, 'exit');
    const waitEvent = (match: (e: Record<string, any>) => boolean, what: string): Promise<Record<string, any>> =>
      withTimeout(
        new Promise<Record<string, any>>((resolve) => {
          const check = (): void => {
            const e = events.find(match);
            if (e) resolve(e);
            else waiters.push(check);
          };
          check();
        }),
        20_000,
        `${what} (child stderr: ${stderr})`,
      );
    try {
      const { port } = await waitEvent((e) => e.event === 'listening', 'the child server to listen');
      const hs = await rawClientHandshake(port, PD);
      const conn = hs.conn!;
      try {
        assert.equal(hs.extensions, PD);
        const baseline = await waitEvent((e) => e.event === 'open' && e.n === 1, 'the baseline memory reading');
        const wire = conn.frame({ opcode: OP.BINARY, rsv1: true, payload: bomb.payload }); // masked before the clock starts
        const t0 = process.hrtime.bigint();
        await conn.write(wire);
        const code = await expectCloseCode(conn, 30_000);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        assert.equal(code, 1009);
        const closed = await waitEvent((e) => e.event === 'closed' && e.n === 1, 'the server side close');
        const peakGrowth = closed.maxRSS - baseline.rss;
        const rssGrowth = closed.rss - baseline.rss;
        t.diagnostic(
          `bomb: ${bomb.payload.length} bytes compressed -> ${bomb.inflatedBytes} bytes; rejected with 1009 in ${ms.toFixed(0)} ms; ` +
            `server RSS ${(baseline.rss / MiB).toFixed(1)} MiB before, ${(closed.rss / MiB).toFixed(1)} MiB after ` +
            `(+${(rssGrowth / MiB).toFixed(1)} MiB), peak RSS ${(closed.maxRSS / MiB).toFixed(1)} MiB (+${(peakGrowth / MiB).toFixed(1)} MiB over the baseline)`,
        );
        assert.ok(peakGrowth < MAX_RSS_GROWTH, `peak RSS grew by ${(peakGrowth / MiB).toFixed(1)} MiB (limit 100 MiB)`);
        assert.ok(rssGrowth < MAX_RSS_GROWTH, `RSS grew by ${(rssGrowth / MiB).toFixed(1)} MiB (limit 100 MiB)`);
      } finally {
        conn.destroy();
      }
      // The server carries on: a second connection gets a compressed echo.
      const hs2 = await rawClientHandshake(port, PD);
      try {
        await hs2.conn!.send({ opcode: OP.TEXT, rsv1: true, payload: compressMessage(Buffer.from(TEXT_4K)) });
        assert.equal((await messageData(await readMessage(hs2.conn!))).toString(), TEXT_4K);
      } finally {
        hs2.conn!.destroy();
      }
    } finally {
      child.stdin.end();
      const exit = await withTimeout(exited, 10_000, 'the child to exit').catch(() => null);
      if (exit === null) child.kill('SIGKILL');
    }
  });

  test('our client: a 64 MiB bomb from the server with maxPayload 1 MiB -> 1009', TEST_OPTS, async (t) => {
    const bomb = deflateBomb(64);
    const raw = await DeflateRawServer.listen();
    const ws = new WebSocket(raw.url, { maxPayload: LIMIT });
    const c = new Collector(ws as never);
    try {
      const { conn } = await raw.accept([PD]);
      await c.waitOpen();
      const t0 = process.hrtime.bigint();
      await conn.send({ opcode: OP.TEXT, rsv1: true, payload: bomb.payload });
      assert.equal(await expectCloseCode(conn), 1009);
      t.diagnostic(`client bomb: ${bomb.payload.length} bytes -> ${bomb.inflatedBytes} bytes, 1009 after ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms`);
      await c.waitClosed();
      assert.equal(c.errors.length, 1);
    } finally {
      ws.terminate();
      await raw.close();
    }
  });
});
