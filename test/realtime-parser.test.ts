/**
 * Socket.IO v5 packet parser: the protocol document's examples, schema checks (the
 * socket.io-parser type-confusion advisories), the attachment cap, and properties.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Decoder, encode, hasBinary, PacketType, type DecodeResult, type Packet } from '../src/realtime/parser.js';

function decodeAll(parts: (string | Buffer)[], maxAttachments?: number): DecodeResult[] {
  const d = new Decoder(maxAttachments === undefined ? {} : { maxAttachments });
  return parts.map((p) => d.add(p));
}

function decodeOne(...parts: (string | Buffer)[]): Packet {
  const results = decodeAll(parts);
  const last = results[results.length - 1]!;
  for (const r of results.slice(0, -1)) assert.equal(r.kind, 'pending');
  if (last.kind !== 'packet') assert.fail(`expected a packet, got ${last.kind}: ${last.kind === 'error' ? last.error.message : ''}`);
  return last.packet;
}

function rejects(parts: (string | Buffer)[], pattern?: RegExp, maxAttachments?: number): void {
  const results = decodeAll(parts, maxAttachments);
  const last = results[results.length - 1]!;
  assert.equal(last.kind, 'error', `expected an error for ${JSON.stringify(parts.map(String))}`);
  if (pattern && last.kind === 'error') assert.match(last.error.message, pattern);
}

test('encodes the examples of the protocol document', () => {
  assert.deepEqual(encode({ type: PacketType.CONNECT, nsp: '/' }), ['0']);
  assert.deepEqual(encode({ type: PacketType.CONNECT, nsp: '/admin', data: { sid: 'oSO0OpakMV_3jnilAAAA' } }), [
    '0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}',
  ]);
  assert.deepEqual(encode({ type: PacketType.CONNECT_ERROR, nsp: '/', data: { message: 'Not authorized' } }), [
    '4{"message":"Not authorized"}',
  ]);
  assert.deepEqual(encode({ type: PacketType.EVENT, nsp: '/', data: ['foo'] }), ['2["foo"]']);
  assert.deepEqual(encode({ type: PacketType.EVENT, nsp: '/admin', data: ['bar'] }), ['2/admin,["bar"]']);
  assert.deepEqual(encode({ type: PacketType.EVENT, nsp: '/', data: ['foo'], id: 12 }), ['212["foo"]']);
  assert.deepEqual(encode({ type: PacketType.ACK, nsp: '/admin', data: ['bar'], id: 13 }), ['3/admin,13["bar"]']);
  assert.deepEqual(encode({ type: PacketType.DISCONNECT, nsp: '/' }), ['1']);
  assert.deepEqual(encode({ type: PacketType.DISCONNECT, nsp: '/admin' }), ['1/admin,']);
  const bin = encode({ type: PacketType.EVENT, nsp: '/', data: ['baz', Buffer.from([1, 2, 3, 4])] });
  assert.equal(bin[0], '51-["baz",{"_placeholder":true,"num":0}]');
  assert.deepEqual(bin[1], Buffer.from([1, 2, 3, 4]));
  const two = encode({ type: PacketType.EVENT, nsp: '/admin', data: ['baz', Buffer.from([1, 2]), Buffer.from([3, 4])] });
  assert.equal(two[0], '52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  assert.equal(two.length, 3);
  const ack = encode({ type: PacketType.ACK, nsp: '/', data: ['bar', Buffer.from([1, 2, 3, 4])], id: 15 });
  assert.equal(ack[0], '61-15["bar",{"_placeholder":true,"num":0}]');
});

test('binary values of every kind, nested anywhere, become attachments (typed arrays as views, not copies)', () => {
  const ab = new Uint8Array([5, 6]).buffer;
  const big = new Uint8Array(8).fill(1);
  const view = new Uint16Array(big.buffer, 2, 2);
  const dv = new DataView(new ArrayBuffer(1));
  const enc = encode({ type: PacketType.EVENT, nsp: '/', data: ['x', { a: [ab, { b: view }], c: dv }] });
  assert.equal(enc.length, 4);
  assert.deepEqual([...enc[1]!], [5, 6]);
  assert.equal(enc[2]!.length, 4);
  assert.equal(enc[2]!.buffer, big.buffer);
  const p = decodeOne(...enc);
  assert.equal(p.type, PacketType.BINARY_EVENT);
  const data = p.data as any[];
  assert.deepEqual([...data[1].a[0]], [5, 6]);
  assert.ok(Buffer.isBuffer(data[1].a[1].b));
  assert.ok(Buffer.isBuffer(data[1].c));
  assert.equal(hasBinary({ toJSON: () => [Buffer.alloc(1)] }), true);
  assert.equal(hasBinary({ a: [1, 'x', null] }), false);
});

test('a Blob or File in EVENT / ACK data is refused with a TypeError, not sent as {}', () => {
  const refused = { name: 'TypeError', message: /send Blob data as an ArrayBuffer: await blob\.arrayBuffer\(\)/ };
  const blob = new Blob(['abc']);
  assert.throws(() => encode({ type: PacketType.EVENT, nsp: '/', data: ['upload', blob] }), refused);
  assert.throws(() => encode({ type: PacketType.EVENT, nsp: '/', data: ['upload', { file: new File(['x'], 'a.txt') }] }), refused);
  assert.throws(() => encode({ type: PacketType.ACK, nsp: '/', id: 1, data: [[blob]] }), refused);
  // Beside binary data too: the walk for attachments sees it.
  assert.throws(() => encode({ type: PacketType.EVENT, nsp: '/', data: ['upload', Buffer.from([1]), blob] }), refused);
  assert.throws(() => encode({ type: PacketType.BINARY_EVENT, nsp: '/', data: ['upload', blob] }), refused);
});

test('decodes namespaces, ids and payloads', () => {
  assert.deepEqual(decodeOne('0'), { type: 0, nsp: '/' });
  assert.deepEqual(decodeOne('0/admin,{"token":"123"}'), { type: 0, nsp: '/admin', data: { token: '123' } });
  assert.deepEqual(decodeOne('1/admin,'), { type: 1, nsp: '/admin' });
  assert.deepEqual(decodeOne('2/admin,7["a",1]'), { type: 2, nsp: '/admin', id: 7, data: ['a', 1] });
  assert.deepEqual(decodeOne('3/admin,13[]'), { type: 3, nsp: '/admin', id: 13, data: [] });
  assert.deepEqual(decodeOne('4{"message":"x"}'), { type: 4, nsp: '/', data: { message: 'x' } });
  const p = decodeOne('51-/admin,3["up",{"_placeholder":true,"num":0}]', Buffer.from([9]));
  assert.equal(p.nsp, '/admin');
  assert.equal(p.id, 3);
  assert.deepEqual((p.data as any[])[1], Buffer.from([9]));
  // a text event may carry a look-alike placeholder as plain data
  assert.deepEqual(decodeOne('2["a",{"_placeholder":true,"num":0}]').data, ['a', { _placeholder: true, num: 0 }]);
});

test('schema violations are errors, never throws (type confusion class)', () => {
  const bad: [string[], RegExp][] = [
    [[''], /unknown packet type/],
    [['7'], /unknown packet type/],
    [['x'], /unknown packet type/],
    [['2'], /EVENT data must be a non-empty array/],
    [['2[]'], /non-empty array/],
    [['2{}'], /non-empty array/],
    [['2"a"'], /non-empty array/],
    [['2[1]'], /EVENT name must be a string/],
    [['2[{"toString":"x"}]'], /EVENT name must be a string/],
    [['2[null]'], /EVENT name must be a string/],
    [['2["disconnect"]'], /reserved event name/],
    [['2["connect"]'], /reserved event name/],
    [['0[]'], /CONNECT data must be an object/],
    [['0"token"'], /CONNECT data must be an object/],
    [['0null'], /CONNECT data must be an object/],
    [['05'], /CONNECT takes no ack id/],
    [['1{}'], /DISCONNECT takes no data/],
    [['3[]'], /ACK needs an ack id/],
    [['31{}'], /ACK data must be an array/],
    [['41'], /CONNECT_ERROR/],
    [['2["a"'], /not valid JSON/],
    [['2["a"]x'], /not valid JSON/],
    [['2/admin,["a"]garbage'], /not valid JSON/],
    [['299999999999999999999["a"]'], /ack id too/],
    [['29007199254740993["a"]'], /ack id too large/],
    [['5-["a"]'], /illegal attachments count/],
    [['5x-["a"]'], /illegal attachments count/],
    [['51["a"]'], /illegal attachments count/],
    [['50-["a",{"_placeholder":true,"num":0}]'], /invalid attachment placeholder/],
    [['5a'], /illegal attachments count/],
  ];
  for (const [parts, pattern] of bad) rejects(parts, pattern);
  // placeholders with a bad num
  for (const num of ['1', '-1', '0.5', '"0"', 'null', '1e400']) {
    rejects([`51-["a",{"_placeholder":true,"num":${num}}]`, Buffer.from([1]) as unknown as string], /placeholder/);
  }
  // order violations
  rejects([Buffer.from([1]) as unknown as string], /no packet waiting/);
  rejects(['51-["a",{"_placeholder":true,"num":0}]', '2["b"]'], /text message while waiting/);
  // a decoder is unusable after an error
  const d = new Decoder();
  assert.equal(d.add('2[1]').kind, 'error');
  assert.equal(d.add('2["ok"]').kind, 'error');
});

test('the attachment cap (default 10, configurable)', () => {
  const ten = Array.from({ length: 10 }, (_, i) => Buffer.from([i]));
  const enc = encode({ type: PacketType.EVENT, nsp: '/', data: ['x', ...ten] });
  assert.equal(decodeOne(...enc).type, PacketType.BINARY_EVENT);
  rejects(['511-["x"]'], /too many attachments \(11 > 10\)/);
  rejects(['599999999-["x"]'], /illegal attachments count|too many/);
  rejects(['53-["x"]'], /too many attachments \(3 > 2\)/, 2);
  assert.equal(decodeAll(['50-["x"]'], 0)[0]!.kind, 'packet');
  assert.throws(() => new Decoder({ maxAttachments: -1 }), RangeError);
});

test('encode refuses what it cannot encode', () => {
  assert.throws(() => encode({ type: PacketType.EVENT, nsp: 'admin', data: ['x'] }), /namespace/);
  assert.throws(() => encode({ type: PacketType.EVENT, nsp: '/a,b', data: ['x'] }), /namespace/);
  assert.throws(() => encode({ type: PacketType.EVENT, nsp: '/', data: ['x'], id: -1 }), /ack id/);
  assert.throws(() => encode({ type: PacketType.EVENT, nsp: '/', data: ['x'], id: 1.5 }), /ack id/);
  const cyclic: any = { a: 1 };
  cyclic.self = cyclic;
  assert.throws(() => encode({ type: PacketType.EVENT, nsp: '/', data: ['x', cyclic] }), TypeError);
});

const nspArb = fc.oneof(fc.constant('/'), fc.string({ maxLength: 8 }).filter((s) => !s.includes(',')).map((s) => '/' + s));
const idArb = fc.option(fc.nat(), { nil: undefined });
const jsonValue = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
const binArb = fc.uint8Array({ maxLength: 16 }).map((u) => Buffer.from(u));
const withBinary: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    jsonValue,
    binArb,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 4 }).filter((k) => k !== '__proto__'), tie('v'), { maxKeys: 3, noNullPrototype: true }),
  ),
})).v;
const eventName = fc.string({ maxLength: 10 }).filter((s) => !['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'].includes(s));

function countBinary(v: unknown): number {
  if (Buffer.isBuffer(v)) return 1;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + countBinary(x), 0);
  if (v && typeof v === 'object') return Object.values(v).reduce((n: number, x) => n + countBinary(x), 0);
  return 0;
}

test('property: encode then decode gives back the packet (events, acks, binary)', () => {
  fc.assert(
    fc.property(nspArb, idArb, eventName, fc.array(withBinary, { maxLength: 4 }), fc.boolean(), (nsp, id, name, args, isAck) => {
      const data = isAck ? args : [name, ...args];
      fc.pre(countBinary(data) <= 10);
      const packet: Packet = { type: isAck ? PacketType.ACK : PacketType.EVENT, nsp, data, id: isAck ? (id ?? 0) : id };
      const enc = encode(packet);
      const back = decodeOne(...enc);
      assert.equal(back.nsp, nsp);
      assert.equal(back.id, packet.id);
      assert.deepEqual(back.data, data);
      const binary = enc.length > 1 || enc[0].startsWith('5') || enc[0].startsWith('6');
      assert.equal(back.type, binary ? (isAck ? PacketType.BINARY_ACK : PacketType.BINARY_EVENT) : packet.type);
    }),
    { numRuns: 300 },
  );
});

test('property: CONNECT / CONNECT_ERROR / DISCONNECT roundtrip', () => {
  const obj = fc.dictionary(fc.string({ maxLength: 5 }).filter((k) => k !== '__proto__'), jsonValue, { maxKeys: 4, noNullPrototype: true });
  fc.assert(
    fc.property(nspArb, fc.option(obj, { nil: undefined }), obj, (nsp, auth, err) => {
      assert.deepEqual(decodeOne(...encode({ type: PacketType.CONNECT, nsp, data: auth })), { type: 0, nsp, ...(auth ? { data: auth } : {}) });
      assert.deepEqual(decodeOne(...encode({ type: PacketType.CONNECT_ERROR, nsp, data: err })), { type: 4, nsp, data: err });
      assert.deepEqual(decodeOne(...encode({ type: PacketType.DISCONNECT, nsp })), { type: 1, nsp });
    }),
    { numRuns: 200 },
  );
});

test('property: random input never throws, and every packet returned passes the schema', () => {
  const prefix = fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '51-', '52-', '2/a,', '21', '6');
  const chunk = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.tuple(prefix, fc.string({ maxLength: 30 })).map(([a, b]) => a + b),
    fc.tuple(prefix, fc.jsonValue({ maxDepth: 3 })).map(([a, b]) => a + JSON.stringify(b)),
    fc.uint8Array({ maxLength: 8 }).map((u) => Buffer.from(u)),
  );
  fc.assert(
    fc.property(fc.array(chunk, { maxLength: 6 }), (chunks) => {
      const d = new Decoder();
      for (const c of chunks) {
        const r = d.add(c);
        if (r.kind === 'packet') {
          const p = r.packet;
          assert.ok(p.nsp.startsWith('/'));
          if (p.id !== undefined) assert.ok(Number.isSafeInteger(p.id) && p.id >= 0);
          if (p.type === PacketType.EVENT || p.type === PacketType.BINARY_EVENT) {
            assert.ok(Array.isArray(p.data) && typeof (p.data as unknown[])[0] === 'string');
          }
          if (p.type === PacketType.CONNECT) assert.ok(p.data === undefined || (typeof p.data === 'object' && !Array.isArray(p.data)));
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('deeply nested payloads are an error, not a crash', () => {
  const deep = '['.repeat(5000) + ']'.repeat(5000);
  const r = decodeAll([`51-["x",${deep},{"_placeholder":true,"num":0}]`, Buffer.from([1]) as unknown as string]);
  assert.equal(r[1]!.kind, 'error');
  const ok = decodeAll([`2["x",${deep}]`]);
  assert.equal(ok[0]!.kind, 'packet');
});

test('a "__proto__" key holding a placeholder stays an own property (no prototype change)', () => {
  const p = decodeOne('51-["a",{"__proto__":{"_placeholder":true,"num":0}}]', Buffer.from([1]));
  const o = (p.data as any[])[1];
  assert.equal(Object.getPrototypeOf(o), Object.prototype);
  assert.ok(Buffer.isBuffer(Object.getOwnPropertyDescriptor(o, '__proto__')!.value));
  assert.equal(({} as any).readUInt8, undefined);
});
