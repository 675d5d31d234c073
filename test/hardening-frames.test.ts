/**
 * Hardening of the frame parser (issue 3, "Hardening"), over real loopback sockets: lying
 * 64-bit lengths, endless and tiny fragments, dribbled messages, garbage, and a fast-check fuzz
 * with permessage-deflate on. Each case checks the close code the server sends (RFC 6455
 * section 7.4.1: 1002 protocol error, 1007 inconsistent data, 1009 message too big) and, where
 * a peer could push on memory, the RSS of a server running alone in a child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { TextDecoder } from 'node:util';
import fc from 'fast-check';
import { WebSocket } from '../src/index.ts';
import { closePayload, encodeFrame, OP, RawServer, type Frame, type FrameSpec, type RawConnection } from './helpers/raw-peer.ts';
import { ChildServer, MiB, mib } from './helpers/hardening-child.ts';
import {
  echo,
  openClient,
  rawClient,
  tick,
  waitFor,
  within,
  WAIT_MS,
  withServer,
  type TestServer,
} from './helpers/hardening-net.ts';

/** RSS growth allowed during a flood; the unbounded versions of these floods grow by hundreds of MiB. */
const MEMORY_BOUND = 64 * MiB;

/** Echo server; deliberately no 'error' listener on its connections. Records their close codes. */
function echoServer(s: TestServer): { closes: number[] } {
  const state = { closes: [] as number[] };
  s.wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code: number) => state.closes.push(code));
  });
  return state;
}

/** The server's Close frame code (RFC 6455 section 5.5.1), undefined if none came. */
function closeCodeOf(frames: readonly Frame[]): number | undefined {
  const close = frames.find((f) => f.opcode === OP.CLOSE);
  if (close === undefined) return undefined;
  return close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
}

/** Waits until the server closed the TCP connection, then returns the close code it sent. */
async function serverCloseCode(conn: RawConnection, ms = WAIT_MS): Promise<number | undefined> {
  await conn.waitClosed(ms, 'the server to close the connection');
  return closeCodeOf(conn.received);
}

/** A frame header with a 64-bit length field (RFC 6455 section 5.2), masked, without payload. */
function header64(opcode: number, length: bigint, fin = true): Buffer {
  const h = Buffer.alloc(14);
  h[0] = (fin ? 0x80 : 0) | opcode;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(length, 2);
  randomBytes(4).copy(h, 10);
  return h;
}

// ---------------------------------------------------------------------------------------------
// 64-bit lengths
// ---------------------------------------------------------------------------------------------

test('a 64-bit length with the most significant bit set (2^63) fails the connection with 1002', async () => {
  await withServer({}, async (s) => {
    const state = echoServer(s);
    const errors: string[] = [];
    s.wss.on('connection', (ws) => ws.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? e.message)));
    for (const opcode of [OP.BINARY, OP.TEXT, OP.PING]) {
      const { conn } = await rawClient(s.port);
      // RFC 6455 section 5.2: "the most significant bit MUST be 0".
      await conn.write(header64(opcode, 1n << 63n));
      assert.equal(await serverCloseCode(conn), 1002, `opcode ${opcode}`);
    }
    await waitFor(() => state.closes.length === 3, WAIT_MS, 'the server side to close');
    assert.deepEqual(errors, Array(3).fill('WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH'));
  });
});

test('a 64-bit length of 2^60, 2^53 or 2^53-1 fails the connection with 1009, without waiting for the payload', async () => {
  await withServer({}, async (s) => {
    echoServer(s);
    for (const length of [1n << 60n, 1n << 53n, (1n << 53n) - 1n, (1n << 63n) - 1n]) {
      const { conn } = await rawClient(s.port);
      await conn.write(header64(OP.BINARY, length));
      assert.equal(await serverCloseCode(conn), 1009, `length ${length}`);
    }
    // Across fragments the sum is what counts (section 5.4): 3000 bytes, then a continuation
    // that would take the message past the default maxPayload of 100 MiB.
    const { conn } = await rawClient(s.port);
    await conn.write(encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(3000), fin: false }, true));
    await conn.write(header64(OP.CONT, BigInt(100 * MiB - 1000)));
    assert.equal(await serverCloseCode(conn), 1009);
  });
});

// ---------------------------------------------------------------------------------------------
// Fragment counts
// ---------------------------------------------------------------------------------------------

/** n frames of one message: the first opcode, then continuations; zero-length unless given. */
function fragments(n: number, opcode: number, payload = Buffer.alloc(0), fin = true): Buffer {
  const key = Buffer.from([1, 2, 3, 4]);
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(encodeFrame({ opcode: i === 0 ? opcode : OP.CONT, payload, fin: fin && i === n - 1, mask: key }, true));
  }
  return Buffer.concat(parts);
}

test('maxFragments 1000: a message of exactly 1000 frames is delivered, 1001 frames fail with 1009', async () => {
  await withServer({ maxFragments: 1000 }, async (s) => {
    echoServer(s);
    const a = await rawClient(s.port);
    await a.conn.write(fragments(1000, OP.TEXT, Buffer.from('x')));
    const ev = await a.conn.nextEvent(WAIT_MS, 'the echo of a 1000-frame message');
    assert.equal(ev.type, 'message');
    assert.equal(ev.type === 'message' && ev.data.toString(), 'x'.repeat(1000));
    a.conn.destroy();

    const b = await rawClient(s.port);
    await b.conn.write(fragments(1001, OP.TEXT, Buffer.from('x')));
    assert.equal(await serverCloseCode(b.conn), 1009);
  });
});

/**
 * Writes a text frame with FIN clear, then zero-length continuation frames with FIN clear, in
 * blocks, until the server closes the connection (or `limit` frames). Returns how many.
 */
async function endlessContinuations(conn: RawConnection, limit: number): Promise<number> {
  const block = fragments(10_000, OP.CONT, Buffer.alloc(0), false);
  await conn.write(fragments(1, OP.TEXT, Buffer.alloc(0), false));
  let sent = 1;
  while (sent < limit && conn.writable && !conn.remoteEnded && !conn.closed) {
    await conn.write(block);
    sent += 10_000;
    await tick();
  }
  return sent;
}

test('endless zero-length continuation frames (default maxFragments 131072) end with 1009', async (t) => {
  await withServer({}, async (s) => {
    echoServer(s);
    const { conn } = await rawClient(s.port);
    const sent = await endlessContinuations(conn, 5_000_000);
    assert.equal(await serverCloseCode(conn), 1009);
    assert.ok(sent < 5_000_000, 'the server must stop the stream long before the test does');
    t.diagnostic(`frames written before the server closed: ${sent}`);
  });
});

test('endless zero-length continuation frames (maxFragments 1000): 1009, memory bounded in the server process', async (t) => {
  const child = await ChildServer.start({ mode: 'digest', options: { maxFragments: 1000 } });
  try {
    await child.mark();
    const { conn } = await rawClient(child.port);
    const sent = await endlessContinuations(conn, 5_000_000);
    assert.equal(await serverCloseCode(conn), 1009);
    const mem = await child.memory();
    t.diagnostic(`frames written: ${sent}; peak RSS growth ${mib(mem.peakGrowth)}; cpu ${mem.cpuMs} ms`);
    assert.ok(mem.peakGrowth < MEMORY_BOUND, `RSS grew by ${mib(mem.peakGrowth)}`);
    await child.waitEvent((e) => e.event === 'close' && e.n === 1, WAIT_MS, 'the server-side close event');
    assert.ok(child.alive, 'the server process must survive');
  } finally {
    await child.stop();
  }
});

test('a flood of 1,000,000 one-byte fragments of one message: delivered intact, server memory bounded', async (t) => {
  // Held as one Buffer per fragment, 10^6 fragments cost ~155 MB of Buffer objects (measured
  // with plain subarrays); compaction keeps the message near its 1 MB of bytes.
  const N = 1_000_000;
  const child = await ChildServer.start({ mode: 'digest', options: { maxFragments: 2_000_000 } });
  try {
    const { conn } = await rawClient(child.port);
    const key = [0x11, 0x22, 0x33, 0x44];
    const wire = Buffer.allocUnsafe(N * 7);
    const payload = Buffer.allocUnsafe(N);
    for (let i = 0; i < N; i++) {
      const o = i * 7;
      const byte = (i * 31 + (i >> 8)) & 0xff;
      payload[i] = byte;
      wire[o] = (i === 0 ? OP.BINARY : OP.CONT) | (i === N - 1 ? 0x80 : 0); // FIN only on the last (section 5.4)
      wire[o + 1] = 0x80 | 1;
      wire[o + 2] = key[0]!;
      wire[o + 3] = key[1]!;
      wire[o + 4] = key[2]!;
      wire[o + 5] = key[3]!;
      wire[o + 6] = byte ^ key[0]!; // payload offset 0: masked with the first key byte (section 5.3)
    }
    await child.mark();
    for (let off = 0; off < wire.length; off += 256 * 1024) {
      await conn.write(wire.subarray(off, off + 256 * 1024));
    }
    const ev = await conn.nextEvent(30_000, 'the digest of the million-fragment message');
    assert.equal(ev.type, 'message');
    const digest = JSON.parse(ev.type === 'message' ? ev.data.toString() : '{}') as { len: number; sha256: string; binary: boolean };
    assert.deepEqual(digest, { len: N, sha256: createHash('sha256').update(payload).digest('hex'), binary: true });
    const mem = await child.memory();
    t.diagnostic(`peak RSS growth ${mib(mem.peakGrowth)} (baseline ${mib(mem.baselineRss)}); cpu ${mem.cpuMs} ms`);
    assert.ok(mem.peakGrowth < MEMORY_BOUND, `RSS grew by ${mib(mem.peakGrowth)}`);
    conn.destroy();
  } finally {
    await child.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// Dribbled messages
// ---------------------------------------------------------------------------------------------

test('a message dribbled in 1-3 byte TCP writes, with a ping between its fragments, is echoed intact', async () => {
  await withServer({}, async (s) => {
    echoServer(s);
    const { conn } = await rawClient(s.port);
    // Multi-byte UTF-8 split everywhere, also inside a character (section 8.1 validates the
    // whole message, not each frame).
    const text = Buffer.from('κόσμε 🙂 – ünïcödé '.repeat(120));
    const third = Math.floor(text.length / 3) + 1; // not on a character boundary
    const bytes = Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: text.subarray(0, third), fin: false }, true),
      encodeFrame({ opcode: OP.PING, payload: 'dribble' }, true),
      encodeFrame({ opcode: OP.CONT, payload: text.subarray(third, 2 * third), fin: false }, true),
      encodeFrame({ opcode: OP.CONT, payload: text.subarray(2 * third), fin: true }, true),
      encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(3000, 0xab) }, true),
    ]);
    const sizes = Array.from({ length: 64 }, (_, i) => 1 + ((i * 7) % 3));
    const writing = conn.writeChopped(bytes, [...sizes, ...sizes, ...sizes, 2]);
    const pong = await conn.nextEvent(15_000, 'the pong');
    assert.deepEqual(pong.type === 'pong' && pong.data.toString(), 'dribble');
    const msg = await conn.nextEvent(15_000, 'the echo');
    assert.equal(msg.type, 'message');
    assert.ok(msg.type === 'message' && msg.data.equals(text), 'the echoed text must be the text sent');
    const bin = await conn.nextEvent(15_000, 'the binary echo');
    assert.ok(bin.type === 'message' && bin.data.equals(Buffer.alloc(3000, 0xab)));
    await writing;
    conn.destroy();
  });
});

// ---------------------------------------------------------------------------------------------
// Garbage after the handshake, 50 connections at once
// ---------------------------------------------------------------------------------------------

/** Bytes that cannot be a valid client frame: each breaks a section 5.2 rule in its first byte or two. */
function garbage(i: number): Buffer {
  switch (i % 5) {
    case 0:
      return Buffer.from('GET / HTTP/1.1\r\nHost: again\r\n\r\n'); // 'G' = 0x47: RSV1 set, no extension
    case 1:
      return Buffer.alloc(64, 0xff); // RSV1-3 set, opcode 15
    case 2:
      return Buffer.concat([Buffer.from([0x81, 0x05]), Buffer.from('hello')]); // unmasked (section 5.1)
    case 3:
      return Buffer.concat([Buffer.from([0x83, 0x80]), randomBytes(40)]); // reserved opcode 3
    default: {
      const b = randomBytes(128);
      b[0] = (b[0]! | 0x20) & 0xef; // RSV2 set, whatever else
      return b;
    }
  }
}

test('garbage right after the handshake on 50 connections: each gets 1002 and is closed; a good client is unaffected', async () => {
  await withServer({}, async (s) => {
    const state = echoServer(s);
    const good = await openClient(s.url);
    const storm = Array.from({ length: 50 }, async (_, i) => {
      // Half send the garbage in the same TCP write as the request (it reaches the server as
      // the upgrade's head), half after the 101.
      const inRequest = i % 2 === 0;
      const { conn } = await rawClient(s.port, inRequest ? { appendToRequest: garbage(i) } : {});
      if (!inRequest) await conn.write(garbage(i));
      const code = await serverCloseCode(conn, 10_000);
      return code;
    });
    const echoes = (async () => {
      const out: string[] = [];
      for (let i = 0; i < 20; i++) out.push((await echo(good, `good ${i}`)).toString());
      return out;
    })();
    const [codes, replies] = await Promise.all([Promise.all(storm), echoes]);
    assert.deepEqual(codes, Array(50).fill(1002));
    assert.deepEqual(replies, Array.from({ length: 20 }, (_, i) => `good ${i}`));
    await waitFor(() => state.closes.length === 50, WAIT_MS, 'all 50 server-side close events');
    assert.equal(s.wss.clients!.size, 1);
    assert.equal(good.readyState, WebSocket.OPEN);
    assert.equal((await echo(good, 'still fine')).toString(), 'still fine');
    good.terminate();
  });
});

test('our client, with no error listener, facing a server that sends garbage: Close 1002, no crash', async () => {
  const raw = await RawServer.listen();
  try {
    for (const bytes of [Buffer.from([0xff, 0x00]), Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0, 0, 0, 0, 0]), Buffer.from('HTTP/1.1 200 OK\r\n\r\n')]) {
      // A server must not mask (RFC 6455 section 5.1); RSV bits and opcode 15 are invalid (5.2).
      const ws = new WebSocket(raw.url(), { perMessageDeflate: false });
      const { conn } = await raw.accept({ appendAfterResponse: bytes });
      const code = await within(new Promise<number>((resolve) => ws.once('close', (c: number) => resolve(c))), WAIT_MS, 'the client to close');
      assert.equal(code, 1006, 'the client never got a Close back: 1006 locally');
      const closeFrame = conn.received.find((f) => f.opcode === OP.CLOSE);
      assert.equal(closeFrame?.payload.readUInt16BE(0), 1002);
      conn.destroy();
    }
  } finally {
    await raw.close();
  }
});

// ---------------------------------------------------------------------------------------------
// permessage-deflate: DEFLATE blocks with BFINAL set
// ---------------------------------------------------------------------------------------------

/**
 * RFC 7692 section 7.2.3.4: "implementors can choose to flush data using DEFLATE blocks with
 * BFINAL set to 1". Such a message is valid, and so is every message after it; and whatever one
 * peer sends must not change how the server inflates another peer's messages.
 */
test('permessage-deflate: a message ended by a BFINAL block, then normal messages, on this and other connections', async () => {
  await withServer({ perMessageDeflate: true }, async (s) => {
    echoServer(s);
    const results: string[] = [];
    for (const offer of ['permessage-deflate; client_no_context_takeover', 'permessage-deflate']) {
      const a = await rawClient(s.port, { extra: [`Sec-WebSocket-Extensions: ${offer}`] });
      // zlib's default finish flush ends the stream with a final block.
      await a.conn.write(encodeFrame({ opcode: OP.BINARY, payload: zlib.deflateRawSync(Buffer.from('first')), rsv1: true }, true));
      await a.conn.write(encodeFrame({ opcode: OP.BINARY, payload: deflateMessage(Buffer.from('second')), rsv1: true }, true));
      for (const want of ['first', 'second']) {
        const ev = await a.conn.nextFrame(WAIT_MS, `the echo of "${want}"`).catch((e: Error) => e);
        const got = ev instanceof Error ? ev.message : ev.opcode === OP.CLOSE ? `Close ${ev.payload.readUInt16BE(0)}` : ev.payload.toString();
        results.push(`${offer} / ${want}: ${got}`);
      }
      a.conn.destroy();
      // A well-behaved peer on another connection, same parameters.
      const b = await rawClient(s.port, { extra: [`Sec-WebSocket-Extensions: ${offer}`] });
      await b.conn.write(encodeFrame({ opcode: OP.BINARY, payload: deflateMessage(Buffer.from('other peer')), rsv1: true }, true));
      const ev = await b.conn.nextFrame(WAIT_MS, 'the echo for the other peer').catch((e: Error) => e);
      results.push(`${offer} / other peer: ${ev instanceof Error ? ev.message : ev.opcode === OP.CLOSE ? `Close ${ev.payload.readUInt16BE(0)}` : ev.payload.toString()}`);
      b.conn.destroy();
    }
    assert.deepEqual(results, [
      'permessage-deflate; client_no_context_takeover / first: first',
      'permessage-deflate; client_no_context_takeover / second: second',
      'permessage-deflate; client_no_context_takeover / other peer: other peer',
      'permessage-deflate / first: first',
      'permessage-deflate / second: second',
      'permessage-deflate / other peer: other peer',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzz: the frame parser with permessage-deflate on
// ---------------------------------------------------------------------------------------------

const MAX_PAYLOAD = 4096;
const MAX_FRAGMENTS = 6;
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** A compressed message body as RFC 7692 section 7.2.1 says: DEFLATE, sync flush, trailer removed. */
function deflateMessage(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

interface WireFrame {
  opcode: number;
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  masked: boolean;
  payload: Buffer;
}

const INVALID_UTF8 = [
  Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64]), // a surrogate
  Buffer.from([0xf0, 0x90, 0x80]), // truncated at the end
  Buffer.from([0xc0, 0xaf]), // overlong
  Buffer.from([0x61, 0xff, 0x62]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
];

/** A long run of one byte, printed short in counterexamples. */
function filled(size: number, byte: number): Buffer {
  const b = Buffer.alloc(size, byte);
  Object.defineProperty(b, fc.toStringMethod, { value: () => `Buffer.alloc(${size}, ${byte})` });
  return b;
}

const contentArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 80 }).map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constantFrom(...INVALID_UTF8) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_PAYLOAD - 50, max: MAX_PAYLOAD + 50 }).map((n) => filled(n, 0x61)) },
  { weight: 1, arbitrary: fc.constant(0).map(() => filled(64 * 1024, 0x62)) }, // a bomb once compressed
);

type Item =
  | { kind: 'message'; opcode: 1 | 2; content: Buffer; compress: 'no' | 'yes' | 'final' | 'garbage'; garbage: Buffer; cuts: number[]; pingAt: number; rsv1OnCont: boolean; unmasked: boolean }
  | { kind: 'control'; opcode: number; payload: Buffer; fin: boolean; rsv1: boolean }
  | { kind: 'close'; payload: Buffer }
  | { kind: 'raw'; frame: WireFrame };

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('message' as const),
      opcode: fc.constantFrom(1 as const, 2 as const),
      content: contentArb,
      compress: fc.oneof(
        { weight: 3, arbitrary: fc.constant('yes' as const) },
        { weight: 1, arbitrary: fc.constant('final' as const) },
        { weight: 2, arbitrary: fc.constant('no' as const) },
        { weight: 1, arbitrary: fc.constant('garbage' as const) },
      ),
      garbage: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.from(b)),
      cuts: fc.array(fc.nat({ max: 200 }), { maxLength: 8 }),
      pingAt: fc.integer({ min: -1, max: 4 }),
      rsv1OnCont: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      unmasked: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('control' as const),
      opcode: fc.constantFrom(OP.PING, OP.PONG),
      payload: fc.uint8Array({ maxLength: 130 }).map((b) => Buffer.from(b)),
      fin: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      rsv1: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('close' as const),
      payload: fc.oneof(
        fc.constant(Buffer.alloc(0)),
        fc.constant(Buffer.from([0x03])),
        fc.tuple(fc.constantFrom(1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999, 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535), fc.oneof(fc.string({ maxLength: 20 }).map((s) => Buffer.from(s)), fc.constantFrom(...INVALID_UTF8)))
          .map(([code, reason]) => closePayload(code, reason).subarray(0, 125)),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('raw' as const),
      frame: fc.record({
        opcode: fc.integer({ min: 0, max: 15 }),
        fin: fc.boolean(),
        rsv1: fc.boolean(),
        rsv2: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
        rsv3: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
        masked: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        payload: fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)),
      }),
    }),
  },
);

const plain = (opcode: number, payload: Buffer, fin = true, rsv1 = false): WireFrame => ({ opcode, fin, rsv1, rsv2: false, rsv3: false, masked: true, payload });

/** Turns generated items into the concrete frames to send; `clean` collects the compressed bodies we made. */
function toFrames(items: Item[], clean: Map<string, Buffer>): WireFrame[] {
  const frames: WireFrame[] = [];
  for (const item of items) {
    if (item.kind === 'control') frames.push({ ...plain(item.opcode, item.payload, item.fin, item.rsv1) });
    else if (item.kind === 'close') frames.push(plain(OP.CLOSE, item.payload));
    else if (item.kind === 'raw') frames.push(item.frame);
    else {
      let body = item.content;
      if (item.compress === 'yes' || item.compress === 'final') {
        // 'final': a DEFLATE stream ended by a block with BFINAL set (RFC 7692 section 7.2.3.4).
        body = item.compress === 'yes' ? deflateMessage(item.content) : zlib.deflateRawSync(item.content);
        clean.set(body.toString('hex'), item.content);
      } else if (item.compress === 'garbage') {
        body = item.garbage;
      }
      const cuts = [...new Set(item.cuts.map((c) => Math.min(c, body.length)))].sort((a, b) => a - b).filter((c) => c > 0 && c < body.length);
      const pieces: Buffer[] = [];
      let last = 0;
      for (const c of cuts) {
        pieces.push(body.subarray(last, c));
        last = c;
      }
      pieces.push(body.subarray(last));
      pieces.forEach((piece, i) => {
        if (i === item.pingAt) frames.push(plain(OP.PING, Buffer.from(`p${i}`)));
        frames.push({
          opcode: i === 0 ? item.opcode : OP.CONT,
          fin: i === pieces.length - 1,
          rsv1: i === 0 ? item.compress !== 'no' : item.rsv1OnCont,
          rsv2: false,
          rsv3: false,
          masked: !item.unmasked,
          payload: piece,
        });
      });
    }
  }
  return frames;
}

type Expected =
  | { kind: 'digest'; len: number; sha256: string; binary: boolean }
  | { kind: 'pong'; payload: string }
  | { kind: 'any-message' }; // a message whose compressed body we did not make: any outcome

interface Prediction {
  events: Expected[];
  /** The server's Close: a code, 'empty' (a Close without payload), or a set when ambiguous. */
  close: number | 'empty' | number[];
  /** The reason the server must echo back with our code. */
  reason?: Buffer;
}

function isValidWireCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Reference model of the server side (RFC 6455 sections 5.2-5.5, 7.4.1 and 8.1; RFC 7692
 * sections 6 and 7.2.2), with maxPayload and maxFragments: what the server must send back for
 * these frames, and how it must close.
 */
function predict(frames: WireFrame[], clean: Map<string, Buffer>): Prediction {
  const events: Expected[] = [];
  let msg: { opcode: number; compressed: boolean; parts: Buffer[]; size: number; frames: number; decoder: TextDecoder | null } | null = null;
  const fail = (code: number): Prediction => ({ events, close: code });
  for (const f of frames) {
    if (f.rsv2 || f.rsv3) return fail(1002); // section 5.2: no extension defines RSV2/RSV3
    if (![0, 1, 2, 8, 9, 10].includes(f.opcode)) return fail(1002); // reserved opcodes
    if (!f.masked) return fail(1002); // section 5.1: clients MUST mask
    const len = f.payload.length;
    if (f.opcode >= 8) {
      // Section 5.5: control frames are final, at most 125 bytes; RFC 7692 section 6: no RSV1.
      if (!f.fin || len > 125 || f.rsv1) return fail(1002);
    } else if (f.opcode === 0) {
      if (msg === null || f.rsv1) return fail(1002); // section 5.4; RFC 7692 section 6.1
    } else if (msg !== null) {
      return fail(1002); // a new message inside a fragmented one (section 5.4)
    }
    if (f.opcode < 8) {
      const size = (msg?.size ?? 0) + len;
      if (size > MAX_PAYLOAD) return fail(1009);
      const count = (msg?.frames ?? 0) + 1;
      if (count > MAX_FRAGMENTS) return fail(1009);
      if (msg === null) {
        const decoder = f.opcode === 1 && !f.rsv1 ? new TextDecoder('utf-8', { fatal: true }) : null;
        msg = { opcode: f.opcode, compressed: f.rsv1, parts: [], size: 0, frames: 0, decoder };
      }
      msg.size = size;
      msg.frames = count;
      msg.parts.push(f.payload);
      if (msg.decoder !== null) {
        // Fail fast (section 8.1): invalid UTF-8 fails the connection when it arrives.
        try {
          msg.decoder.decode(f.payload, { stream: true });
        } catch {
          return fail(1007);
        }
      }
      if (f.fin) {
        let data: Buffer = Buffer.concat(msg.parts);
        if (msg.decoder !== null) {
          try {
            msg.decoder.decode();
          } catch {
            return fail(1007);
          }
        }
        if (msg.compressed) {
          const known = clean.get(data.toString('hex'));
          if (known === undefined) {
            // A body we did not compress: whatever zlib makes of it, the connection either
            // carries on or fails with 1007 (bad data) or 1009 (inflates too far). From here
            // on the exact outcome is not predicted.
            events.push({ kind: 'any-message' });
            return { events, close: [1000, 1002, 1005, 1007, 1009] };
          }
          if (known.length > MAX_PAYLOAD) return fail(1009); // stopped while inflating
          data = known;
          if (msg.opcode === 1 && !isUtf8(data)) return fail(1007);
        }
        events.push({ kind: 'digest', len: data.length, sha256: sha(data), binary: msg.opcode === 2 });
        msg = null;
      }
      continue;
    }
    if (f.opcode === OP.PING) events.push({ kind: 'pong', payload: f.payload.toString('hex') }); // section 5.5.2
    if (f.opcode === OP.CLOSE) {
      if (len === 0) return { events, close: 'empty' };
      if (len === 1) return fail(1002);
      const code = f.payload.readUInt16BE(0);
      if (!isValidWireCloseCode(code)) return fail(1002); // section 7.4
      const reason = f.payload.subarray(2);
      if (!isUtf8(reason)) return fail(1007);
      return { events, close: code, reason }; // section 5.5.1: the reply echoes the code
    }
  }
  return { events, close: 1000, reason: Buffer.from('bye') }; // our own final Close
}

function encode(f: WireFrame): Buffer {
  const spec: FrameSpec = { opcode: f.opcode, payload: f.payload, fin: f.fin, rsv1: f.rsv1, rsv2: f.rsv2, rsv3: f.rsv3, mask: f.masked };
  return encodeFrame(spec, true);
}

test('fuzz: random frames with permessage-deflate on: the right close code or the right replies, never a crash', async (t) => {
  await withServer({ perMessageDeflate: true, maxPayload: MAX_PAYLOAD, maxFragments: MAX_FRAGMENTS, closeTimeout: 2000 }, async (s) => {
    // The server answers each message with a digest of what it received (small text, never
    // compressed: below the 1024-byte threshold), and has no 'error' listener.
    const serverCloses: number[] = [];
    s.wss.on('connection', (ws) => {
      ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(JSON.stringify({ len: data.length, sha256: sha(data), binary: isBinary })));
      ws.on('close', (code: number) => serverCloses.push(code));
    });
    const outcomes = new Map<string, number>();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(itemArb, { minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 48 }), { maxLength: 6 }), async (items, chops) => {
        runs++;
        const clean = new Map<string, Buffer>();
        const frames = [...toFrames(items, clean), plain(OP.CLOSE, closePayload(1000, 'bye'))];
        const expected = predict(frames, clean);
        const { conn, headers } = await rawClient(s.port, {
          extra: ['Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover'],
        });
        try {
          assert.match(headers.get('sec-websocket-extensions') ?? '', /^permessage-deflate/, 'deflate must be negotiated');
          const bytes = Buffer.concat(frames.map(encode));
          if (chops.length === 0) await conn.write(bytes);
          else await conn.writeChopped(bytes, chops);
          await conn.waitClosed(WAIT_MS, 'the server to close the connection');
          const got = conn.received;
          const closeFrames = got.filter((f) => f.opcode === OP.CLOSE);
          assert.ok(closeFrames.length <= 1, 'at most one Close frame');
          for (const f of got) assert.equal(f.rsv2 || f.rsv3, false, 'RSV2/RSV3 are never set');
          const code = closeCodeOf(got);
          const label = code === undefined ? 'none' : String(code);
          outcomes.set(label, (outcomes.get(label) ?? 0) + 1);

          // What the server sent before its Close, as comparable values.
          const replies: Expected[] = [];
          for (const f of got) {
            if (f.opcode === OP.PONG) replies.push({ kind: 'pong', payload: f.payload.toString('hex') });
            else if (f.opcode === OP.TEXT) {
              let body = f.payload;
              if (f.rsv1) body = zlib.inflateRawSync(Buffer.concat([body, TRAILER]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
              const d = JSON.parse(body.toString()) as { len: number; sha256: string; binary: boolean };
              replies.push({ kind: 'digest', len: d.len, sha256: d.sha256, binary: d.binary });
            } else if (f.opcode !== OP.CLOSE) assert.fail(`unexpected frame with opcode ${f.opcode}`);
          }

          if (Array.isArray(expected.close)) {
            // Ambiguous from some message on: what came before it must match exactly, and the
            // connection ends with an error code or the echo of a Close we sent.
            const known = expected.events.length - 1;
            assert.deepEqual(replies.slice(0, known), expected.events.slice(0, known));
            const ours = frames.filter((f) => f.opcode === OP.CLOSE && f.payload.length >= 2).map((f) => f.payload.readUInt16BE(0));
            assert.ok(code === undefined || [1002, 1005, 1007, 1009, ...ours].includes(code), `close code ${code}`);
          } else {
            assert.deepEqual(replies, expected.events);
            if (expected.close === 'empty') {
              assert.equal(closeFrames.length, 1);
              assert.equal(closeFrames[0]!.payload.length, 0, 'an empty Close is answered with an empty Close');
            } else {
              assert.equal(code, expected.close);
              if (expected.reason !== undefined) assert.ok(closeFrames[0]!.payload.subarray(2).equals(expected.reason), 'the reason is echoed');
            }
          }
        } finally {
          conn.destroy();
        }
      }),
      { numRuns: 150, interruptAfterTimeLimit: 25_000, markInterruptAsFailure: false, includeErrorInReport: true },
    );
    t.diagnostic(`runs: ${runs}; server close codes seen by the client: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    // The server carries on: a well-behaved client still gets compressed echoes through.
    await waitFor(() => s.wss.clients!.size === 0, WAIT_MS, 'every fuzzed connection to be gone');
    const ws = await openClient(s.url, { perMessageDeflate: true });
    const reply = await within(
      new Promise<string>((resolve) => {
        ws.once('message', (d: Buffer) => resolve(d.toString()));
        ws.send('z'.repeat(3000));
      }),
      WAIT_MS,
      'the digest for a good client',
    );
    assert.equal(JSON.parse(reply).len, 3000);
    ws.terminate();
  });
});
