/**
 * The Engine.IO v4 packet codec ("Packet encoding" in the protocol document): known
 * encodings, the encode/decode roundtrip, and random input that must never throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodePacket,
  decodePayload,
  encodePacket,
  encodePayload,
  PACKET_TYPES,
  type Packet,
} from '../src/realtime/engine/index.ts';

test('known encodings from the protocol document', () => {
  assert.equal(encodePacket({ type: 'message', data: 'hello' }, true), '4hello');
  assert.equal(encodePacket({ type: 'ping', data: 'probe' }, true), '2probe');
  assert.equal(encodePacket({ type: 'upgrade' }, true), '5');
  assert.equal(encodePacket({ type: 'noop' }, true), '6');
  assert.deepEqual(encodePacket({ type: 'message', data: Buffer.from([1, 2, 3]) }, true), Buffer.from([1, 2, 3]));
  assert.equal(encodePacket({ type: 'message', data: Buffer.from([1, 2, 3]) }, false), 'bAQID');
  assert.equal(
    encodePayload([
      { type: 'message', data: 'hello' },
      { type: 'message', data: Buffer.from([1, 2, 3, 4]) },
    ]),
    '4hello\x1ebAQIDBA==',
  );
  assert.equal(encodePayload([{ type: 'message', data: '€€€' }, { type: 'close' }]), '4€€€\x1e1');
  assert.throws(() => encodePacket({ type: 'ping', data: Buffer.from([1]) }, true), /binary data/);
});

test('known decodings', () => {
  assert.deepEqual(decodePacket('4hello'), { type: 'message', data: 'hello' });
  assert.deepEqual(decodePacket('4'), { type: 'message', data: '' });
  assert.deepEqual(decodePacket('3probe'), { type: 'pong', data: 'probe' });
  assert.deepEqual(decodePacket('2'), { type: 'ping' });
  assert.deepEqual(decodePacket('bAQIDBA=='), { type: 'message', data: Buffer.from([1, 2, 3, 4]) });
  assert.deepEqual(decodePacket(Buffer.from([9, 8])), { type: 'message', data: Buffer.from([9, 8]) });
  assert.deepEqual(decodePayload('4a\x1e4b\x1e2'), [
    { type: 'message', data: 'a' },
    { type: 'message', data: 'b' },
    { type: 'ping' },
  ]);
  for (const bad of ['', '7', '9x', 'x', 'b!!', 'bAQ', 'bA===', '\x1e']) {
    assert.equal(decodePayload(bad), null, JSON.stringify(bad));
  }
  assert.equal(decodePayload('4a\x1e'), null, 'an empty packet after the separator');
  assert.equal(decodePacket(''), null);
});

const textPacket: fc.Arbitrary<Packet> = fc.record({
  type: fc.constantFrom(...PACKET_TYPES),
  // The record separator cannot appear inside a packet of a polling payload (JSON escapes it).
  data: fc.option(fc.string({ unit: 'grapheme' }).map((s) => s.replaceAll('\x1e', '')), { nil: undefined }),
}).map(({ type, data }) => (data === undefined ? { type } : { type, data }));

const binaryPacket: fc.Arbitrary<Packet> = fc
  .uint8Array({ maxLength: 64 })
  .map((bytes) => ({ type: 'message' as const, data: Buffer.from(bytes) }));

/** What decoding gives back: a MESSAGE without data decodes with empty data. */
function normalized(p: Packet): Packet {
  if (p.type === 'message' && p.data === undefined) return { type: 'message', data: '' };
  if (p.data === '' && p.type !== 'message') return { type: p.type };
  return p;
}

test('property: packet encode/decode roundtrip (both transports)', () => {
  fc.assert(
    fc.property(fc.oneof(textPacket, binaryPacket), fc.boolean(), (packet, supportsBinary) => {
      const decoded = decodePacket(encodePacket(packet, supportsBinary));
      assert.deepEqual(decoded, normalized(packet));
    }),
  );
});

test('property: payload encode/decode roundtrip', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(textPacket, binaryPacket), { minLength: 1, maxLength: 8 }), (packets) => {
      assert.deepEqual(decodePayload(encodePayload(packets)), packets.map(normalized));
    }),
  );
});

test('property: random input never throws, and decodes to packets or null', () => {
  const input = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.array(fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', 'b', '\x1e', 'A', '=', '/', '+', '€', ''), {
      maxLength: 30,
    }).map((parts) => parts.join('')),
  );
  fc.assert(
    fc.property(input, (s) => {
      const payload = decodePayload(s);
      if (payload !== null) {
        assert.ok(payload.length >= 1);
        for (const p of payload) assert.ok(PACKET_TYPES.includes(p.type));
      }
      const packet = decodePacket(s);
      if (packet !== null) assert.ok(PACKET_TYPES.includes(packet.type));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array(), (bytes) => {
      assert.equal(decodePacket(Buffer.from(bytes))?.type, 'message');
    }),
  );
});
