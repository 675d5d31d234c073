import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RequestHeadParser } from '../src/protocol/index.ts';
import { chop } from './helpers/frames.ts';

const LIMITS = { maxHeaderSize: 1024, maxHeaderCount: 8 };
const HEAD =
  'GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Protocol: a\r\nsec-websocket-protocol:  b \r\n\r\n';

function parse(text: string | Buffer, cuts: number[] = [], limits = LIMITS) {
  const parser = new RequestHeadParser(limits);
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  let result: ReturnType<RequestHeadParser['push']> = { state: 'partial' };
  for (const piece of chop(bytes, cuts)) {
    result = parser.push(Buffer.from(piece));
    if (result.state !== 'partial') break;
  }
  return result;
}

describe('HTTP request head parser (RFC 9112)', () => {
  test('parses request line and headers; repeated fields are joined; the rest is handed back', () => {
    const r = parse(HEAD + '\x81\x00');
    assert.equal(r.state, 'done');
    if (r.state !== 'done') return;
    assert.equal(r.head.method, 'GET');
    assert.equal(r.head.target, '/chat?x=1');
    assert.equal(r.head.version, '1.1');
    assert.equal(r.head.headers['sec-websocket-protocol'], 'a, b');
    assert.equal(Object.getPrototypeOf(r.head.headers), null);
    assert.equal(r.head.rawHeaders.length, 10);
    assert.deepEqual([...r.rest], [0x81, 0x00]);
  });

  test('any chunking gives the same result, CRLFCRLF split across chunks included', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: HEAD.length + 2 }), { maxLength: 12 }), (cuts) => {
        const r = parse(HEAD + 'xy', cuts);
        assert.equal(r.state, 'done');
        if (r.state !== 'done') return;
        // The rest is what followed the head in the chunk that completed it.
        assert.ok('xy'.startsWith(r.rest.toString()));
        assert.equal(r.head.headers['sec-websocket-protocol'], 'a, b');
      }),
      { numRuns: 300 },
    );
  });

  const refusals: Array<[string, string, number]> = [
    ['too many header lines', 'GET / HTTP/1.1\r\n' + 'A: b\r\n'.repeat(9) + '\r\n', 431],
    ['a head over the size limit', 'GET / HTTP/1.1\r\nX: ' + 'a'.repeat(1100) + '\r\n\r\n', 431],
    ['a head over the size limit that never ends', 'GET / HTTP/1.1\r\nX: ' + 'a'.repeat(1100), 431],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n', 400],
    ['space before the colon', 'GET / HTTP/1.1\r\nA : b\r\n\r\n', 400],
    ['a bad request line', 'GET  / HTTP/1.1\r\n\r\n', 400],
    ['a bad version', 'GET / HTTP/11\r\n\r\n', 400],
    ['a control character in a value', 'GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n', 400],
    ['a space in the target', 'GET /a b HTTP/1.1\r\n\r\n', 400],
  ];
  for (const [name, text, status] of refusals) {
    test(`refuses ${name} with ${status}`, () => {
      const r = parse(text);
      assert.equal(r.state, 'error');
      if (r.state === 'error') assert.equal(r.status, status);
    });
  }

  test('an oversized head is refused without waiting for its end, fed byte by byte', () => {
    const parser = new RequestHeadParser(LIMITS);
    let result;
    let fed = 0;
    for (const byte of Buffer.from('GET / HTTP/1.1\r\nX: ' + 'a'.repeat(5000))) {
      result = parser.push(Buffer.from([byte]));
      fed++;
      if (result.state !== 'partial') break;
    }
    assert.equal(result?.state, 'error');
    assert.ok(fed <= LIMITS.maxHeaderSize + 1);
  });

  test('long whitespace runs in values cost linear time', () => {
    const limits = { maxHeaderSize: 1 << 20, maxHeaderCount: 100 };
    const r = parse('GET / HTTP/1.1\r\nA: x' + ' '.repeat(500_000) + 'y' + ' '.repeat(400_000) + '\r\n\r\n', [], limits);
    assert.equal(r.state, 'done');
  });

  test('fuzz: random heads never throw', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.array(fc.nat({ max: 300 }), { maxLength: 5 }), (s, cuts) => {
        parse('GET / HTTP/1.1\r\n' + s + '\r\n\r\n', cuts);
        parse(s, cuts);
      }),
      { numRuns: 2000 },
    );
  });
});
