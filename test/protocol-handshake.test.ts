import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  acceptKey,
  checkUpgradeRequest,
  checkUpgradeResponse,
  generateKey,
  isValidKey,
  parseExtensions,
  parseProtocolList,
} from '../src/protocol/index.ts';

const good = {
  host: 'example.com',
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
};

describe('opening handshake (RFC 6455 section 4)', () => {
  test('Sec-WebSocket-Accept of the RFC 6455 section 1.3 example', () => {
    assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  test('generated keys are 16 random bytes in base64', () => {
    const keys = new Set(Array.from({ length: 50 }, generateKey));
    assert.equal(keys.size, 50);
    for (const key of keys) {
      assert.ok(isValidKey(key));
      assert.equal(Buffer.from(key, 'base64').length, 16);
    }
    assert.ok(!isValidKey('dGhlIHNhbXBsZSBub25jZQ'));
    assert.ok(!isValidKey('dGhlIHNhbXBsZSBub25jZR=='), 'non-zero padding bits');
    assert.ok(!isValidKey('dGhlIHNhbXBsZSBub25j*Q=='));
  });

  test('a valid request passes, with Origin, protocols and extensions passed up', () => {
    const r = checkUpgradeRequest('GET', '1.1', {
      ...good,
      connection: 'keep-alive, Upgrade',
      upgrade: 'WebSocket',
      origin: 'http://example.com',
      'sec-websocket-protocol': 'chat, superchat',
      'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits, x-foo',
    });
    assert.ok(r.ok);
    assert.deepEqual(r.info.protocols, ['chat', 'superchat']);
    assert.equal(r.info.origin, 'http://example.com');
    assert.deepEqual(
      r.info.extensions.map((e) => e.name),
      ['permessage-deflate', 'x-foo'],
    );
  });

  const bad: Array<[string, string, string, Record<string, string | undefined>, number]> = [
    ['POST', 'POST', '1.1', good, 405],
    ['HTTP/1.0', 'GET', '1.0', good, 400],
    ['no Host', 'GET', '1.1', { ...good, host: undefined }, 400],
    ['no Upgrade', 'GET', '1.1', { ...good, upgrade: undefined }, 400],
    ['Upgrade: h2c', 'GET', '1.1', { ...good, upgrade: 'h2c' }, 400],
    ['Connection: keep-alive', 'GET', '1.1', { ...good, connection: 'keep-alive' }, 400],
    ['short key', 'GET', '1.1', { ...good, 'sec-websocket-key': 'abc' }, 400],
    ['no key', 'GET', '1.1', { ...good, 'sec-websocket-key': undefined }, 400],
    ['version 8', 'GET', '1.1', { ...good, 'sec-websocket-version': '8' }, 426],
    ['no version', 'GET', '1.1', { ...good, 'sec-websocket-version': undefined }, 426],
    ['duplicate protocol', 'GET', '1.1', { ...good, 'sec-websocket-protocol': 'a, a' }, 400],
    ['bad protocol token', 'GET', '1.1', { ...good, 'sec-websocket-protocol': 'a b' }, 400],
    ['bad extensions', 'GET', '1.1', { ...good, 'sec-websocket-extensions': 'foo;=' }, 400],
  ];
  for (const [name, method, version, headers, status] of bad) {
    test(`refuses ${name} with ${status}`, () => {
      const r = checkUpgradeRequest(method, version, headers);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.status, status);
        assert.ok(r.message.length > 0);
        if (status === 426) assert.deepEqual(r.headers, { 'Sec-WebSocket-Version': '13' });
      }
    });
  }

  test('client-side response checks (section 4.1)', () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const ok = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': acceptKey(key) };
    assert.deepEqual(checkUpgradeResponse(ok, key, [], []), { ok: true, protocol: '', extensions: [] });
    assert.equal(checkUpgradeResponse({ ...ok, 'sec-websocket-protocol': 'chat' }, key, ['chat'], []).ok, true);
    const fails: Array<[Record<string, string>, string[]]> = [
      [{ ...ok, 'sec-websocket-accept': 'nope' }, []],
      [{ ...ok, upgrade: 'h2c' }, []],
      [{ ...ok, connection: 'close' }, []],
      [{ ...ok, 'sec-websocket-protocol': 'chat' }, []],
      [{ ...ok, 'sec-websocket-protocol': 'other' }, ['chat']],
      [ok, ['chat']],
      [{ ...ok, 'sec-websocket-extensions': 'permessage-deflate' }, []],
    ];
    for (const [headers, protocols] of fails) assert.equal(checkUpgradeResponse(headers, key, protocols, []).ok, false);
  });
});

describe('header grammars', () => {
  test('Sec-WebSocket-Extensions per RFC 6455 section 9.1', () => {
    assert.deepEqual(parseExtensions('permessage-deflate; client_max_window_bits; server_max_window_bits="10", foo'), [
      {
        name: 'permessage-deflate',
        params: [
          ['client_max_window_bits', true],
          ['server_max_window_bits', '10'],
        ],
      },
      { name: 'foo', params: [] },
    ]);
    assert.deepEqual(parseExtensions('__proto__; constructor=1'), [{ name: '__proto__', params: [['constructor', '1']] }]);
    for (const badValue of ['', ';', 'a;', 'a; b=', 'a; b="', 'a; b="c d"', 'a b', 'a,,b c', 'a; b=c d', '"a"']) {
      assert.equal(parseExtensions(badValue), null, JSON.stringify(badValue));
    }
  });

  test('Sec-WebSocket-Protocol per RFC 6455 section 4.3', () => {
    assert.deepEqual(parseProtocolList(' chat ,superchat'), ['chat', 'superchat']);
    assert.equal(parseProtocolList('chat, chat'), null);
    assert.equal(parseProtocolList(''), null);
    assert.equal(parseProtocolList('a/b'), null);
  });

  test('adversarial 100k-character headers parse in linear time', () => {
    // Shapes that made backtracking regexes explode (ws CVE-2021-32640, CVE-2020-7662).
    const inputs = [
      'a' + ' '.repeat(100_000) + 'b',
      'x;'.repeat(50_000),
      'x; y="' + '\\a'.repeat(50_000),
      ','.repeat(100_000) + ' ',
      'p' + ',p'.repeat(50_000),
    ];
    for (const value of inputs) {
      const start = process.hrtime.bigint();
      parseExtensions(value);
      parseProtocolList(value);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      // Not a timing gate on speed: a super-linear parser takes minutes here, linear ones milliseconds.
      assert.ok(ms < 5000, `took ${ms} ms`);
    }
  });

  test('fuzz: the header parsers never throw', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        parseExtensions(s);
        parseProtocolList(s);
        checkUpgradeRequest('GET', '1.1', { ...good, 'sec-websocket-extensions': s, 'sec-websocket-protocol': s, connection: s });
      }),
      { numRuns: 2000 },
    );
  });
});
