import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Opcode, Parser, type ParserHandler, type ProtocolError } from '../src/protocol/index.ts';
import { chop, encodeFrame } from './helpers/frames.ts';

type Event =
  | { t: 'message'; data: string; binary: boolean }
  | { t: 'ping' | 'pong'; data: string }
  | { t: 'close'; code: number; reason: string }
  | { t: 'error'; code: string; closeCode: number };

function collect(options: Partial<{ expectMasked: boolean; maxPayload: number; skipUtf8Validation: boolean }> = {}) {
  const events: Event[] = [];
  const handler: ParserHandler = {
    onMessage: (data, binary) => events.push({ t: 'message', data: data.toString('hex'), binary }),
    onPing: (data) => events.push({ t: 'ping', data: data.toString('hex') }),
    onPong: (data) => events.push({ t: 'pong', data: data.toString('hex') }),
    onClose: (code, reason) => events.push({ t: 'close', code, reason: reason.toString() }),
    onError: (e: ProtocolError) => events.push({ t: 'error', code: e.code, closeCode: e.closeCode }),
  };
  const parser = new Parser(handler, {
    expectMasked: options.expectMasked ?? true,
    maxPayload: options.maxPayload ?? 0,
    skipUtf8Validation: options.skipUtf8Validation ?? false,
  });
  return { parser, events };
}

const KEY = 0x37fa213d;
const hex = (s: string | Uint8Array) => Buffer.from(s).toString('hex');

describe('frame parser (RFC 6455 section 5)', () => {
  test('RFC 6455 section 5.7 examples', () => {
    const { parser, events } = collect({ expectMasked: false });
    parser.push(Buffer.from([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])); // unmasked "Hello"
    parser.push(Buffer.from([0x01, 0x03, 0x48, 0x65, 0x6c])); // fragmented "Hel"
    parser.push(Buffer.from([0x80, 0x02, 0x6c, 0x6f])); // "lo"
    parser.push(Buffer.from([0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])); // ping "Hello"
    assert.deepEqual(events, [
      { t: 'message', data: hex('Hello'), binary: false },
      { t: 'message', data: hex('Hello'), binary: false },
      { t: 'ping', data: hex('Hello') },
    ]);
    const masked = collect();
    masked.parser.push(Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])); // masked "Hello"
    assert.deepEqual(masked.events, [{ t: 'message', data: hex('Hello'), binary: false }]);
  });

  test('the three length encodings, byte by byte', () => {
    for (const size of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
      const payload = Buffer.alloc(size, 0x61);
      const bytes = encodeFrame({ opcode: Opcode.BINARY, payload, mask: KEY });
      const { parser, events } = collect();
      for (let i = 0; i < bytes.length; i += size > 1000 ? 997 : 1) parser.push(bytes.subarray(i, i + (size > 1000 ? 997 : 1)));
      assert.deepEqual(events, [{ t: 'message', data: payload.toString('hex'), binary: true }], `size ${size}`);
    }
  });

  const failures: Array<[string, Buffer, string, number, boolean?]> = [
    ['RSV1 without extension', encodeFrame({ opcode: 1, payload: Buffer.from('a'), rsv: 4, mask: KEY }), 'WS_ERR_UNEXPECTED_RSV_1', 1002],
    ['RSV2', encodeFrame({ opcode: 1, payload: Buffer.from('a'), rsv: 2, mask: KEY }), 'WS_ERR_UNEXPECTED_RSV_2_3', 1002],
    ['RSV3', encodeFrame({ opcode: 2, payload: Buffer.from('a'), rsv: 1, mask: KEY }), 'WS_ERR_UNEXPECTED_RSV_2_3', 1002],
    ['reserved opcode 3', encodeFrame({ opcode: 3, payload: Buffer.alloc(0), mask: KEY }), 'WS_ERR_INVALID_OPCODE', 1002],
    ['reserved opcode 11', encodeFrame({ opcode: 11, payload: Buffer.alloc(0), mask: KEY }), 'WS_ERR_INVALID_OPCODE', 1002],
    ['unmasked client frame', encodeFrame({ opcode: 1, payload: Buffer.from('a') }), 'WS_ERR_EXPECTED_MASK', 1002],
    ['masked server frame', encodeFrame({ opcode: 1, payload: Buffer.from('a'), mask: KEY }), 'WS_ERR_UNEXPECTED_MASK', 1002, false],
    ['fragmented ping', encodeFrame({ opcode: 9, payload: Buffer.alloc(1), fin: false, mask: KEY }), 'WS_ERR_EXPECTED_FIN', 1002],
    ['126-byte ping', encodeFrame({ opcode: 9, payload: Buffer.alloc(126), mask: KEY }), 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 1002],
    ['continuation without start', encodeFrame({ opcode: 0, payload: Buffer.from('a'), mask: KEY }), 'WS_ERR_INVALID_OPCODE', 1002],
    ['close with 1-byte payload', encodeFrame({ opcode: 8, payload: Buffer.alloc(1), mask: KEY }), 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 1002],
    ['close code 1005', encodeFrame({ opcode: 8, payload: Buffer.from([0x03, 0xed]), mask: KEY }), 'WS_ERR_INVALID_CLOSE_CODE', 1002],
    ['close code 999', encodeFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe7]), mask: KEY }), 'WS_ERR_INVALID_CLOSE_CODE', 1002],
    ['close reason not UTF-8', encodeFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0xff]), mask: KEY }), 'WS_ERR_INVALID_UTF8', 1007],
    ['text not UTF-8', encodeFrame({ opcode: 1, payload: Buffer.from([0xce, 0xba, 0xe1, 0xbd]), mask: KEY }), 'WS_ERR_INVALID_UTF8', 1007],
    ['surrogate in text', encodeFrame({ opcode: 1, payload: Buffer.from([0xed, 0xa0, 0x80]), mask: KEY }), 'WS_ERR_INVALID_UTF8', 1007],
    ['64-bit length with MSB set', Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]), 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH', 1002],
    ['64-bit length above 2^53-1', Buffer.from([0x82, 0xff, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]), 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH', 1009],
  ];
  for (const [name, bytes, code, closeCode, expectMasked] of failures) {
    test(`fails on ${name} with ${closeCode}`, () => {
      const { parser, events } = collect({ expectMasked: expectMasked ?? true });
      parser.push(bytes);
      parser.push(encodeFrame({ opcode: 1, payload: Buffer.from('after'), mask: KEY }));
      assert.deepEqual(events, [{ t: 'error', code, closeCode }]);
    });
  }

  test('a new data frame inside a fragmented message fails with 1002', () => {
    const { parser, events } = collect();
    parser.push(encodeFrame({ opcode: 1, payload: Buffer.from('a'), fin: false, mask: KEY }));
    parser.push(encodeFrame({ opcode: 1, payload: Buffer.from('b'), mask: KEY }));
    assert.deepEqual(events, [{ t: 'error', code: 'WS_ERR_INVALID_OPCODE', closeCode: 1002 }]);
  });

  test('control frames between fragments are delivered at once', () => {
    const { parser, events } = collect();
    parser.push(encodeFrame({ opcode: 2, payload: Buffer.from('ab'), fin: false, mask: KEY }));
    parser.push(encodeFrame({ opcode: 9, payload: Buffer.from('p'), mask: KEY }));
    assert.deepEqual(events, [{ t: 'ping', data: hex('p') }]);
    parser.push(encodeFrame({ opcode: 0, payload: Buffer.from('cd'), mask: KEY }));
    assert.deepEqual(events.at(-1), { t: 'message', data: hex('abcd'), binary: true });
  });

  test('maxPayload counts the whole message across fragments (1009)', () => {
    const { parser, events } = collect({ maxPayload: 10 });
    parser.push(encodeFrame({ opcode: 2, payload: Buffer.alloc(6), fin: false, mask: KEY }));
    parser.push(encodeFrame({ opcode: 0, payload: Buffer.alloc(6), mask: KEY }));
    assert.deepEqual(events, [{ t: 'error', code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', closeCode: 1009 }]);
  });

  test('maxPayload is enforced from the header, before the payload arrives', () => {
    const { parser, events } = collect({ maxPayload: 1024 });
    parser.push(Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4])); // 4 GiB announced, masked
    assert.deepEqual(events, [{ t: 'error', code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', closeCode: 1009 }]);
  });

  test('UTF-8 fails fast: the bad fragment fails before the message ends', () => {
    const { parser, events } = collect();
    parser.push(encodeFrame({ opcode: 1, payload: Buffer.from('κόσμε'), fin: false, mask: KEY }));
    parser.push(encodeFrame({ opcode: 0, payload: Buffer.from([0xf4, 0x90, 0x80, 0x80]), fin: false, mask: KEY }));
    assert.deepEqual(events, [{ t: 'error', code: 'WS_ERR_INVALID_UTF8', closeCode: 1007 }]);
  });

  test('UTF-8 fails fast inside one frame delivered in chops', () => {
    const { parser, events } = collect();
    const payload = Buffer.concat([Buffer.from('hello '), Buffer.from([0xc0, 0xaf]), Buffer.from(' world')]);
    const bytes = encodeFrame({ opcode: 1, payload, mask: KEY });
    parser.push(bytes.subarray(0, 10)); // header + 4 valid bytes
    assert.deepEqual(events, []);
    parser.push(bytes.subarray(10, 15)); // reaches the 0xC0
    assert.deepEqual(events, [{ t: 'error', code: 'WS_ERR_INVALID_UTF8', closeCode: 1007 }]);
  });

  test('a close frame stops the parser: later frames are ignored', () => {
    const { parser, events } = collect();
    parser.push(
      Buffer.concat([
        encodeFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0x6f, 0x6b]), mask: KEY }),
        encodeFrame({ opcode: 1, payload: Buffer.from('late'), mask: KEY }),
      ]),
    );
    assert.deepEqual(events, [{ t: 'close', code: 1000, reason: 'ok' }]);
  });

  test('an empty close frame reports 1005', () => {
    const { parser, events } = collect();
    parser.push(encodeFrame({ opcode: 8, payload: Buffer.alloc(0), mask: KEY }));
    assert.deepEqual(events, [{ t: 'close', code: 1005, reason: '' }]);
  });

  test('pause holds events until resume, in order', () => {
    const { parser, events } = collect();
    const bytes = Buffer.concat(['a', 'b', 'c'].map((s) => encodeFrame({ opcode: 1, payload: Buffer.from(s), mask: KEY })));
    const handlerPush = events.push.bind(events);
    events.push = (...items: Event[]) => {
      const n = handlerPush(...items);
      parser.pause();
      return n;
    };
    parser.push(bytes);
    assert.equal(events.length, 1);
    parser.resume();
    assert.equal(events.length, 2);
    parser.resume();
    parser.resume();
    assert.deepEqual(events.map((e) => (e as { data: string }).data), [hex('a'), hex('b'), hex('c')]);
  });
});

// Property tests

const arbMessage = fc.record({
  binary: fc.boolean(),
  // Text is valid UTF-8 (any string, lone surrogates excluded); binary is anything.
  text: fc.string({ unit: 'grapheme', maxLength: 40 }),
  bytes: fc.uint8Array({ maxLength: 300 }),
  fragments: fc.integer({ min: 1, max: 4 }),
  controls: fc.array(fc.record({ ping: fc.boolean(), data: fc.uint8Array({ maxLength: 125 }) }), { maxLength: 2 }),
});

describe('parser properties (fast-check)', () => {
  test('any frame sequence, masked or not, parses back identically under any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(arbMessage, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 30 }),
        (messages, masked, cuts) => {
          const frames: Buffer[] = [];
          const expected: Event[] = [];
          const mask = () => (masked ? ((cuts.length << 24) | 0x5aa5ff) >>> 0 : null);
          for (const m of messages) {
            const payload = m.binary ? Buffer.from(m.bytes) : Buffer.from(m.text);
            const step = Math.ceil(payload.length / m.fragments) || 1;
            let offset = 0;
            let first = true;
            do {
              const piece = payload.subarray(offset, offset + step);
              offset += step;
              const fin = offset >= payload.length;
              frames.push(encodeFrame({ opcode: first ? (m.binary ? 2 : 1) : 0, payload: piece, fin, mask: mask() }));
              first = false;
              // Control frames may sit between fragments (section 5.4).
              if (!fin) {
                for (const c of m.controls) {
                  frames.push(encodeFrame({ opcode: c.ping ? 9 : 10, payload: c.data, mask: mask() }));
                  expected.push({ t: c.ping ? 'ping' : 'pong', data: Buffer.from(c.data).toString('hex') });
                }
              }
            } while (offset < payload.length);
            expected.push({ t: 'message', data: payload.toString('hex'), binary: m.binary });
          }
          const bytes = Buffer.concat(frames);
          const { parser, events } = collect({ expectMasked: masked });
          for (const piece of chop(bytes, cuts.map((c) => c % (bytes.length + 1)))) parser.push(Buffer.from(piece));
          assert.deepEqual(events, expected);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('random bytes never throw and end in at most one clean failure', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 10 }), (bytes, expectMasked, cuts) => {
        const { parser, events } = collect({ expectMasked, maxPayload: 1 << 20 });
        const buf = Buffer.from(bytes);
        for (const piece of chop(buf, cuts.map((c) => c % (buf.length + 1)))) parser.push(Buffer.from(piece));
        const errors = events.filter((e) => e.t === 'error');
        assert.ok(errors.length <= 1);
        if (errors.length === 1) {
          assert.equal(events.at(-1)!.t, 'error', 'nothing is delivered after a failure');
          assert.ok([1002, 1007, 1009].includes((errors[0] as { closeCode: number }).closeCode));
        }
        const closes = events.filter((e) => e.t === 'close');
        assert.ok(closes.length <= 1);
      }),
      { numRuns: 3000 },
    );
  });
});
