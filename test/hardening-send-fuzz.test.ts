/**
 * No send API can put uninitialised memory, or bytes outside the caller's view, on the wire
 * (issue 3, "Hardening"). A fast-check fuzz calls send / ping / pong / close of our client with
 * odd arguments against a raw server that records every frame (RFC 6455 section 5.2 framing,
 * masked as section 5.3 requires and unmasked by the raw peer). Each call must either throw a
 * TypeError / RangeError synchronously, or put exactly the expected payload on the wire.
 *
 * The expected bytes are computed independently of the implementation: views are built over
 * buffers whose bytes outside the view hold a marker (0xFF) that never occurs inside a view and
 * never in UTF-8, so a single stray byte shows; strings are encoded by a UTF-8 encoder written
 * here (lone surrogates become U+FFFD, as the WHATWG encoder does).
 */
import { isUtf8 } from 'node:buffer';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WebSocket } from '../src/index.ts';
import { OP, RawServer, type Frame, type RawConnection } from './helpers/raw-peer.ts';
import { rawClient, startServer, waitFor, within, WAIT_MS } from './helpers/hardening-net.ts';

const MARKER = 0xff;

/** UTF-8 of a JS string; a lone surrogate encodes as U+FFFD (EF BF BD). */
function utf8(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Buffer.from(out);
}

/** ECMAScript ToUint8 (what storing into a Uint8Array does), written out. */
function toUint8(v: unknown): number {
  const n = Number(v);
  if (!Number.isFinite(n)) return 0;
  const t = Math.trunc(n) % 256;
  return t < 0 ? t + 256 : t;
}

/**
 * One generated argument. `bytes`: the payload it must produce; 'reject': it must throw a
 * TypeError; 'either': throwing a TypeError and sending `bytes` are both fine.
 */
interface Arg {
  label: string;
  make: () => unknown;
  bytes?: Buffer;
  text?: boolean; // string-like: a text message unless { binary: true }
  verdict: 'accept' | 'reject' | 'either';
  blob?: boolean;
}

const VIEW_TYPES = [
  ['Uint8Array', Uint8Array],
  ['Int8Array', Int8Array],
  ['Uint8ClampedArray', Uint8ClampedArray],
  ['Uint16Array', Uint16Array],
  ['Int32Array', Int32Array],
  ['Float32Array', Float32Array],
  ['Float64Array', Float64Array],
  ['BigUint64Array', BigUint64Array],
  ['DataView', DataView],
  ['Buffer', Buffer],
] as const;

/** A view of `n` elements after `pre` elements, with `post` more after it, over a marked buffer. */
const viewArb: fc.Arbitrary<Arg> = fc
  .record({
    type: fc.integer({ min: 0, max: VIEW_TYPES.length - 1 }),
    shared: fc.boolean(),
    pre: fc.integer({ min: 0, max: 3 }),
    post: fc.integer({ min: 0, max: 3 }),
    inside: fc.uint8Array({ maxLength: 140 }).map((a) => a.map((b) => (b === MARKER ? 0 : b))),
  })
  .map(({ type, shared, pre, post, inside }) => {
    const [name, Ctor] = VIEW_TYPES[type]!;
    const bpe = 'BYTES_PER_ELEMENT' in Ctor ? (Ctor as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT : 1;
    const n = Math.floor(inside.length / bpe);
    const bytes = Buffer.from(inside.subarray(0, n * bpe));
    const make = (): unknown => {
      const size = (pre + n + post) * bpe;
      const backing = shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
      const all = new Uint8Array(backing);
      all.fill(MARKER);
      all.set(bytes, pre * bpe);
      if (name === 'DataView') return new DataView(backing, pre, n);
      if (name === 'Buffer') return Buffer.from(backing, pre, n);
      return new (Ctor as unknown as new (b: ArrayBufferLike, o: number, l: number) => unknown)(backing, pre * bpe, n);
    };
    return { label: `${name}(${shared ? 'SharedArrayBuffer' : 'ArrayBuffer'}, offset ${pre * bpe}, ${n} elements)`, make, bytes, verdict: 'accept' as const };
  });

const stringArb: fc.Arbitrary<Arg> = fc.array(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0xd800, 0xdbff, 0xdc00, 0xdfff, 0x00, 0x7f, 0x80, 0x7ff, 0x800, 0xfffd, 0xfeff)), { maxLength: 60 }).map((codes) => {
  const s = String.fromCharCode(...codes);
  return { label: `string ${JSON.stringify(s)}`, make: () => s, bytes: utf8(s), text: true, verdict: 'accept' as const };
});

const numberArb: fc.Arbitrary<Arg> = fc
  .oneof(fc.double(), fc.integer(), fc.constantFrom(Number.NaN, -0, 0, Infinity, -Infinity, 1e300, 5e-324, Number.MAX_SAFE_INTEGER, 2 ** 64))
  .map((n) => ({ label: `number ${Object.is(n, -0) ? '-0' : String(n)}`, make: () => n, bytes: Buffer.from(String(n), 'latin1'), text: true, verdict: 'accept' as const }));

const arrayArb: fc.Arbitrary<Arg> = fc
  .array(fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 254 }) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(-1, 256, 1.5, Number.NaN, 1e300, '7', null, undefined, true, -129.9) }), { maxLength: 140 })
  .map((values) => ({ label: `array ${JSON.stringify(values)}`, make: () => [...values], bytes: Buffer.from(values.map(toUint8)), verdict: 'accept' as const }));

const wholeBufferArb: fc.Arbitrary<Arg> = fc.record({ shared: fc.boolean(), inside: fc.uint8Array({ maxLength: 140 }) }).map(({ shared, inside }) => ({
  label: `whole ${shared ? 'SharedArrayBuffer' : 'ArrayBuffer'} of ${inside.length}`,
  make: () => {
    const backing = shared ? new SharedArrayBuffer(inside.length) : new ArrayBuffer(inside.length);
    new Uint8Array(backing).set(inside);
    return backing;
  },
  bytes: Buffer.from(inside),
  verdict: 'accept' as const,
}));

// Blob parts are BufferSource, which excludes views of a SharedArrayBuffer (WebIDL [AllowShared] is not set).
const blobArb: fc.Arbitrary<Arg> = fc.array(fc.oneof(viewArb.filter((v) => !v.label.includes('SharedArrayBuffer')), stringArb), { maxLength: 3 }).map((parts) => ({
  label: `Blob of [${parts.map((p) => p.label).join(', ')}]`,
  make: () => new Blob(parts.map((p) => p.make()) as ConstructorParameters<typeof Blob>[0]),
  bytes: Buffer.concat(parts.map((p) => p.bytes!)),
  verdict: 'accept' as const,
  blob: true,
}));

/** Values no send API accepts (the data must be bytes, a string or a number). */
const rejectedArb: fc.Arbitrary<Arg> = fc
  .constantFrom<[string, () => unknown]>(
    ['true', () => true],
    ['false', () => false],
    ['null', () => null],
    ['{}', () => ({})],
    ['array-like object', () => ({ length: 3, 0: 1 })],
    ['Buffer JSON', () => ({ type: 'Buffer', data: [1, 2, 3] })],
    ['object with toString', () => ({ toString: () => 'x' })],
    ['Symbol', () => Symbol('s')],
    ['BigInt', () => 10n],
    ['Date', () => new Date(0)],
    ['Map', () => new Map()],
    ['array holding a BigInt', () => [1, 2n, 3]],
    ['array holding a Symbol', () => [Symbol('s')]],
  )
  .map(([label, make]) => ({ label, make, verdict: 'reject' as const }));

const detachedArb: fc.Arbitrary<Arg> = fc.constantFrom<Arg>(
  {
    label: 'detached ArrayBuffer',
    make: () => {
      const ab = new ArrayBuffer(8);
      structuredClone(ab, { transfer: [ab] });
      return ab;
    },
    bytes: Buffer.alloc(0),
    verdict: 'either',
  },
  {
    label: 'view of a detached ArrayBuffer',
    make: () => {
      const ab = new ArrayBuffer(8);
      const view = new Uint8Array(ab, 2, 4);
      structuredClone(ab, { transfer: [ab] });
      return view;
    },
    bytes: Buffer.alloc(0),
    verdict: 'either',
  },
);

const dataArb = fc.oneof(
  { weight: 4, arbitrary: viewArb },
  { weight: 2, arbitrary: stringArb },
  { weight: 2, arbitrary: numberArb },
  { weight: 2, arbitrary: arrayArb },
  { weight: 1, arbitrary: wholeBufferArb },
  { weight: 1, arbitrary: rejectedArb },
  { weight: 1, arbitrary: detachedArb },
);

interface Call {
  method: 'send' | 'ping' | 'pong';
  arg: Arg;
  binary: boolean | undefined;
}

const callArb: fc.Arbitrary<Call> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      method: fc.constant('send' as const),
      arg: fc.oneof({ weight: 6, arbitrary: dataArb }, { weight: 1, arbitrary: blobArb }, {
        weight: 1,
        arbitrary: fc.constant<Arg>({ label: 'undefined', make: () => undefined, verdict: 'reject' }),
      }),
      binary: fc.option(fc.boolean(), { nil: undefined }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      method: fc.constantFrom('ping' as const, 'pong' as const),
      arg: fc.oneof(
        { weight: 6, arbitrary: dataArb },
        // A Blob is for send() only; no payload at all is an empty ping (section 5.5.2).
        { weight: 1, arbitrary: blobArb.map((a): Arg => ({ ...a, verdict: 'reject' })) },
        { weight: 1, arbitrary: fc.constant<Arg>({ label: 'undefined', make: () => undefined, bytes: Buffer.alloc(0), verdict: 'accept' }) },
      ),
      binary: fc.constant(undefined),
    }),
  },
);

/**
 * A list of calls. A send of bad data right behind a Blob send is left out here: while the
 * Blob is read, later sends wait in a queue, and that case has a test of its own below (its
 * failure mode is an unhandled rejection that would outlive this test).
 */
const callsArb = fc.array(callArb, { minLength: 1, maxLength: 6 }).map((list) => {
  const out: Call[] = [];
  let blobPending = false;
  for (const call of list) {
    if (blobPending && call.method === 'send' && call.arg.verdict !== 'accept') continue;
    if (call.method === 'send' && call.arg.blob) blobPending = true;
    out.push(call);
  }
  return out;
});

interface Outcome {
  data: Array<{ opcode: number; payload: Buffer; label: string }>;
  control: Array<{ opcode: number; payload: Buffer; label: string }>;
}

function describe(value: unknown): string {
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return typeof value;
  }
}

/** Makes one call; returns what must appear on the wire (nothing if it threw as allowed). */
function perform(ws: WebSocket, call: Call, expected: Outcome, errors: string[]): void {
  const value = call.arg.make();
  const where = `${call.method}(${call.arg.label})`;
  let thrown: unknown;
  try {
    if (call.method === 'send') {
      const options = call.binary === undefined ? {} : { binary: call.binary };
      ws.send(value as never, options, (error?: Error | null) => {
        if (error) errors.push(`${where}: callback error ${error.message}`);
      });
    } else if (call.method === 'ping') ws.ping(value as never);
    else ws.pong(value as never);
  } catch (error) {
    thrown = error;
  }
  const bytes = call.arg.bytes;
  const tooBig = call.method !== 'send' && bytes !== undefined && bytes.length > 125; // section 5.5
  if (thrown !== undefined) {
    const ok =
      (call.arg.verdict !== 'accept' && thrown instanceof TypeError) || (tooBig && thrown instanceof RangeError);
    assert.ok(ok, `${where} threw ${describe(thrown)}: ${(thrown as Error)?.message}`);
    return;
  }
  assert.notEqual(call.arg.verdict, 'reject', `${where} must throw a TypeError, it did not (${describe(value)})`);
  assert.ok(!tooBig, `${where}: a ${bytes!.length}-byte control payload must throw a RangeError`);
  if (call.method === 'send') {
    const text = call.binary === undefined ? call.arg.text === true : !call.binary;
    expected.data.push({ opcode: text ? OP.TEXT : OP.BINARY, payload: bytes!, label: where });
  } else {
    expected.control.push({ opcode: call.method === 'ping' ? OP.PING : OP.PONG, payload: bytes!, label: where });
  }
}

/** Reads frames until the text message `sync`; returns the data messages and control frames before it. */
async function readUntil(conn: RawConnection, sync: string): Promise<Outcome> {
  const got: Outcome = { data: [], control: [] };
  for (;;) {
    const ev = await conn.nextEvent(WAIT_MS, `the sync message ${sync}`);
    if (ev.type === 'message') {
      if (ev.opcode === OP.TEXT && ev.data.toString() === sync) return got;
      got.data.push({ opcode: ev.opcode, payload: ev.data, label: '' });
    } else if (ev.type === 'ping' || ev.type === 'pong') {
      got.control.push({ opcode: ev.type === 'ping' ? OP.PING : OP.PONG, payload: ev.data, label: '' });
    } else {
      assert.fail(`unexpected ${ev.type}`);
    }
  }
}

function compare(kind: string, got: Outcome['data'], want: Outcome['data']): void {
  assert.equal(got.length, want.length, `${kind}: ${got.length} frames on the wire, ${want.length} expected (${want.map((w) => w.label).join('; ')})`);
  want.forEach((w, i) => {
    const g = got[i]!;
    assert.equal(g.opcode, w.opcode, `${w.label}: opcode`);
    assert.ok(g.payload.equals(w.payload), `${w.label}: sent ${g.payload.toString('hex')}, expected ${w.payload.toString('hex')}`);
    if (!w.payload.includes(MARKER)) assert.ok(!g.payload.includes(MARKER), `${w.label}: a byte from outside the view went out`);
  });
}

test('fuzz: send / ping / pong with odd arguments: a TypeError/RangeError, or exactly the expected bytes', async (t) => {
  const raw = await RawServer.listen();
  const ws = new WebSocket(raw.url(), { perMessageDeflate: false });
  const callbackErrors: string[] = [];
  try {
    const { conn } = await raw.accept();
    await within(new Promise((resolve) => (ws.readyState === WebSocket.OPEN ? resolve(null) : ws.once('open', resolve))), WAIT_MS, 'open');
    let run = 0;
    let calls = 0;
    await fc.assert(
      fc.asyncProperty(callsArb, async (list) => {
        const expected: Outcome = { data: [], control: [] };
        for (const call of list) {
          perform(ws, call, expected, callbackErrors);
          calls++;
        }
        // Data messages keep their order (Blobs are read first); control frames may go ahead of them.
        const sync = `SYNC-${run++}`;
        ws.send(sync);
        const got = await readUntil(conn, sync);
        compare('data', got.data, expected.data);
        compare('control', got.control, expected.control);
        assert.deepEqual(callbackErrors, []);
      }),
      { numRuns: 250, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false, includeErrorInReport: true },
    );
    t.diagnostic(`${calls} calls in ${run} runs`);
    assert.deepEqual(conn.violations, []);
    conn.destroy();
  } finally {
    ws.terminate();
    await raw.close();
  }
});

// ---------------------------------------------------------------------------------------------
// close(code, reason)
// ---------------------------------------------------------------------------------------------

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535, 65536, -1000, Number.NaN, Infinity];

type CodeArg = { label: string; value: unknown; valid: boolean };
const codeArb: fc.Arbitrary<CodeArg> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...VALID_CODES).map((c) => ({ label: String(c), value: c, valid: true })) },
  { weight: 1, arbitrary: fc.integer({ min: 3000, max: 4999 }).map((c) => ({ label: String(c), value: c, valid: true })) },
  { weight: 2, arbitrary: fc.constantFrom(...INVALID_CODES).map((c) => ({ label: String(c), value: c, valid: false })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<CodeArg>(
      { label: "'1000'", value: '1000', valid: false },
      { label: 'null', value: null, valid: false },
      { label: 'true', value: true, valid: false },
      { label: '{}', value: {}, valid: false },
      { label: '1000n', value: 1000n, valid: false },
    ),
  },
  { weight: 1, arbitrary: fc.constant({ label: 'undefined', value: undefined, valid: true }) },
);

const reasonArb: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 3, arbitrary: viewArb },
  { weight: 3, arbitrary: stringArb },
  { weight: 1, arbitrary: numberArb },
  { weight: 1, arbitrary: fc.string({ minLength: 120, maxLength: 130 }).map((s): Arg => ({ label: `string of ${utf8(s).length} bytes`, make: () => s, bytes: utf8(s), verdict: 'accept' })) },
  { weight: 1, arbitrary: rejectedArb.filter((a) => !a.label.startsWith('array')) },
  { weight: 1, arbitrary: fc.constant<Arg>({ label: 'undefined', make: () => undefined, bytes: Buffer.alloc(0), verdict: 'accept' }) },
);

test('fuzz: close(code, reason) with odd arguments: a TypeError/RangeError, or exactly the expected Close frame', async (t) => {
  const raw = await RawServer.listen();
  const seen = new Map<string, number>();
  try {
    await fc.assert(
      fc.asyncProperty(codeArb, reasonArb, async (code, reason) => {
        const ws = new WebSocket(raw.url(), { perMessageDeflate: false });
        const { conn } = await raw.accept();
        try {
          await within(new Promise((resolve) => (ws.readyState === WebSocket.OPEN ? resolve(null) : ws.once('open', resolve))), WAIT_MS, 'open');
          const value = reason.make();
          const where = `close(${code.label}, ${reason.label})`;
          let thrown: unknown;
          try {
            ws.close(code.value as number, value as string);
          } catch (error) {
            thrown = error;
          }
          const bytes = reason.bytes;
          // Section 5.5: 125 bytes of payload, 2 of them the code, so at most 123 of reason.
          const tooLong = bytes !== undefined && bytes.length > 123;
          // Section 5.5.1: a reason given as bytes must be UTF-8 (a string always encodes to it).
          const notUtf8 = bytes !== undefined && typeof value !== 'string' && !isUtf8(bytes);
          const label = thrown === undefined ? 'sent' : (thrown as Error).constructor.name;
          seen.set(label, (seen.get(label) ?? 0) + 1);
          if (thrown !== undefined) {
            const ok =
              (thrown instanceof TypeError && (!code.valid || reason.verdict !== 'accept' || notUtf8)) ||
              (thrown instanceof RangeError && tooLong);
            assert.ok(ok, `${where} threw ${describe(thrown)}: ${(thrown as Error).message}`);
            assert.equal(ws.readyState, WebSocket.OPEN, `${where}: a close() that throws changes nothing`);
            ws.terminate();
            return;
          }
          assert.ok(code.valid, `${where}: an invalid code must throw a TypeError`);
          assert.equal(ws.readyState, WebSocket.CLOSING);
          const frame: Frame = await conn.nextFrame(WAIT_MS, 'the Close frame');
          assert.equal(frame.opcode, OP.CLOSE);
          if (code.value === undefined) {
            // No code: no payload at all (section 5.5.1); the reason is not sent.
            assert.equal(frame.payload.length, 0, `${where}: payload ${frame.payload.toString('hex')}`);
          } else {
            assert.ok(reason.verdict !== 'reject', `${where}: an invalid reason must throw a TypeError`);
            assert.ok(!tooLong, `${where}: a ${bytes!.length}-byte reason must throw a RangeError`);
            assert.ok(!notUtf8, `${where}: a reason that is not UTF-8 must throw a TypeError`);
            const want = Buffer.concat([Buffer.from([(code.value as number) >> 8, (code.value as number) & 0xff]), bytes ?? Buffer.alloc(0)]);
            assert.ok(frame.payload.equals(want), `${where}: sent ${frame.payload.toString('hex')}, expected ${want.toString('hex')}`);
          }
        } finally {
          ws.terminate();
          conn.destroy();
        }
      }),
      { numRuns: 120, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false, includeErrorInReport: true },
    );
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(seen))}`);
  } finally {
    await raw.close();
  }
});

test('close() with a code that is not an integer throws a TypeError (RFC 6455 section 7.4: 2-byte integer codes)', async () => {
  const raw = await RawServer.listen();
  try {
    for (const code of [1000.5, 3000.25, 4999.9, 1001 + Number.EPSILON * 1024]) {
      const ws = new WebSocket(raw.url(), { perMessageDeflate: false });
      const { conn } = await raw.accept();
      try {
        await within(new Promise((resolve) => ws.once('open', resolve)), WAIT_MS, 'open');
        let outcome: string;
        try {
          ws.close(code);
          const frame = await conn.nextFrame(WAIT_MS, 'the Close frame');
          outcome = `sent a Close with code ${frame.payload.readUInt16BE(0)}`;
        } catch (error) {
          outcome = (error as Error).constructor.name;
        }
        assert.equal(outcome, 'TypeError', `close(${code})`);
      } finally {
        ws.terminate();
        conn.destroy();
      }
    }
  } finally {
    await raw.close();
  }
});

test('send(blob) then close(): the message goes out before the Close frame (section 5.5.1: no data after Close)', async () => {
  const raw = await RawServer.listen();
  try {
    const ws = new WebSocket(raw.url(), { perMessageDeflate: false });
    const { conn } = await raw.accept();
    try {
      await within(new Promise((resolve) => ws.once('open', resolve)), WAIT_MS, 'open');
      const results: string[] = [];
      ws.send(new Blob(['last words']), (error?: Error | null) => results.push(error ? error.message : 'sent'));
      ws.close(1000, 'bye');
      const first = await conn.nextEvent(WAIT_MS, 'the first frame');
      assert.deepEqual(
        first.type === 'message' ? first.data.toString() : first.type,
        'last words',
        `the Blob's message was lost (send callback: ${results.join(', ')})`,
      );
      const second = await conn.nextEvent(WAIT_MS, 'the Close');
      assert.equal(second.type === 'close' && second.code, 1000);
    } finally {
      ws.terminate();
      conn.destroy();
    }
  } finally {
    await raw.close();
  }
});

test('send() with bad data while a Blob is being read throws at once, and later sends still go out', async () => {
  // Sends wait in order behind a Blob; checking their data must not wait with them: a TypeError
  // that surfaces later, inside the queue, is an unhandled rejection (fatal by default in Node)
  // and leaves the queue stuck.
  const raw = await RawServer.listen();
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  process.on('unhandledRejection', onRejection);
  try {
    const ws = new WebSocket(raw.url(), { perMessageDeflate: false });
    const { conn } = await raw.accept();
    try {
      await within(new Promise((resolve) => ws.once('open', resolve)), WAIT_MS, 'open');
      ws.send(new Blob(['first']));
      let threw: unknown;
      try {
        ws.send({} as never);
      } catch (error) {
        threw = error;
      }
      ws.send('after');
      const got: string[] = [];
      for (let i = 0; i < 2; i++) {
        const ev = await conn.nextEvent(2000, 'a message').catch((e: Error) => e);
        got.push(ev instanceof Error ? 'nothing' : ev.type === 'message' ? ev.data.toString() : ev.type);
      }
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        { threw: threw instanceof TypeError, got, rejections: rejections.map((r) => (r as Error).message) },
        { threw: true, got: ['first', 'after'], rejections: [] },
      );
    } finally {
      ws.terminate();
      conn.destroy();
    }
  } finally {
    process.off('unhandledRejection', onRejection);
    await raw.close();
  }
});

test('server role: views larger than the copy threshold (sent without copying) carry exactly their own bytes', async () => {
  const s = await startServer({});
  try {
    const sends: Array<[string, ArrayBufferView | ArrayBuffer, Buffer]> = [];
    const inside = Buffer.alloc(40_000);
    for (let i = 0; i < inside.length; i++) inside[i] = (i * 7) % 255; // never the marker
    const marked = (pre: number, post: number): ArrayBuffer => {
      const ab = new ArrayBuffer(pre + inside.length + post);
      const all = new Uint8Array(ab);
      all.fill(MARKER);
      all.set(inside, pre);
      return ab;
    };
    sends.push(['Uint8Array at offset 7', new Uint8Array(marked(7, 9), 7, inside.length), inside]);
    sends.push(['DataView at offset 3', new DataView(marked(3, 5), 3, inside.length), inside]);
    sends.push(['Float64Array at offset 16', new Float64Array(marked(16, 8), 16, inside.length / 8), inside]);
    sends.push(['Buffer slice of a marked Buffer', Buffer.from(marked(100, 100)).subarray(100, 100 + inside.length), inside]);
    sends.push(['SharedArrayBuffer view', (() => {
      const sab = new SharedArrayBuffer(inside.length + 64);
      new Uint8Array(sab).fill(MARKER).set(inside, 32);
      return new Uint8Array(sab, 32, inside.length);
    })(), inside]);
    s.wss.on('connection', (ws) => {
      for (const [, data] of sends) ws.send(data);
    });
    const { conn } = await rawClient(s.port);
    for (const [label, , want] of sends) {
      const ev = await conn.nextEvent(WAIT_MS, label);
      assert.ok(ev.type === 'message' && ev.opcode === OP.BINARY, label);
      assert.ok(ev.type === 'message' && ev.data.equals(want), `${label}: wrong bytes on the wire`);
    }
    assert.deepEqual(conn.violations, []);
    conn.destroy();
    await waitFor(() => s.wss.clients!.size === 0, WAIT_MS, 'the connection to go');
  } finally {
    await s.close();
  }
});
