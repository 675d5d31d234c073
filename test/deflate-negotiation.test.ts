// permessage-deflate negotiation, RFC 7692 sections 5 and 7.1 (with RFC 6455 section 9.1 for
// the Sec-WebSocket-Extensions grammar):
//   1. unit tests of clientOffer / acceptOffer / acceptResponse (src/protocol/permessage-deflate.ts)
//   2. the same rules over real opening handshakes: a raw client offering to our server (which
//      declines what it cannot accept and carries on uncompressed), and our client against a raw
//      server answering with anything (our client fails the connection on a bad answer:
//      'error', then 'close' with 1006, never 'open').

import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  acceptOffer,
  acceptResponse,
  clientOffer,
  parseExtensions,
  type ExtensionOffer,
  type PerMessageDeflateOptions,
} from '../src/protocol/index.ts';
import { WebSocket, WebSocketServer } from '../src/index.ts';
import { OP } from './helpers/raw-peer.ts';
import { DeflateRawServer, messageData, rawClientHandshake, readMessage } from './helpers/deflate-raw.ts';
import { compressMessage, compressibleText } from './helpers/deflate-wire.ts';
import { Collector, startServer, type RunningServer, WAIT_MS } from './helpers/deflate-peers.ts';

/** Parses a header value the test wrote; it must be syntactically valid. */
function offers(header: string): ExtensionOffer[] {
  const parsed = parseExtensions(header);
  assert.ok(parsed, `test input must parse: ${header}`);
  return parsed;
}

/** The parameters of one permessage-deflate element, read independently of src/. */
function paramsOf(element: string): Map<string, string | true> {
  const [name, ...rest] = element.split(';').map((s) => s.trim());
  assert.equal(name, 'permessage-deflate');
  const out = new Map<string, string | true>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq).trim();
    assert.ok(!out.has(key), `duplicate parameter ${key} in ${element}`);
    out.set(key, eq < 0 ? true : p.slice(eq + 1).trim());
  }
  return out;
}

const PD = 'permessage-deflate';

// ---------------------------------------------------------------------------------------------
// 1. unit level

describe('clientOffer (RFC 7692 section 5, 7.1)', () => {
  test('defaults offer client_max_window_bits without a value (section 7.1.2.2: "I can honour any window")', () => {
    assert.deepEqual([...paramsOf(clientOffer({}))], [['client_max_window_bits', true]]);
  });

  test('every option maps to its parameter, values without leading zeros (section 7.1.2)', () => {
    const p = paramsOf(
      clientOffer({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 10 }),
    );
    assert.equal(p.get('server_no_context_takeover'), true);
    assert.equal(p.get('client_no_context_takeover'), true);
    assert.equal(p.get('server_max_window_bits'), '9');
    assert.equal(p.get('client_max_window_bits'), '10');
    assert.equal(p.size, 4);
  });

  test('clientMaxWindowBits: false leaves client_max_window_bits out (then the server MUST NOT send it, 7.1.2.2)', () => {
    assert.deepEqual([...paramsOf(clientOffer({ clientMaxWindowBits: false }))], []);
  });

  test('the offer our client builds is accepted by our own server side', () => {
    for (const o of [{}, { serverNoContextTakeover: true }, { serverMaxWindowBits: 9, clientMaxWindowBits: 9 }, { clientMaxWindowBits: false }]) {
      const r = acceptOffer(offers(clientOffer(o)), {});
      assert.ok(r, JSON.stringify(o));
      const back = acceptResponse(offers(r.response)[0]!, o);
      assert.ok(back.ok, JSON.stringify(o));
      assert.deepEqual(back.params, r.params, JSON.stringify(o));
    }
  });
});

describe('acceptOffer: the server picks the first acceptable offer (RFC 7692 sections 5, 7)', () => {
  test('a plain offer is accepted with a plain response and 15-bit windows both ways', () => {
    const r = acceptOffer(offers(PD), {});
    assert.ok(r);
    assert.equal(r.response, PD);
    assert.deepEqual(r.params, { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 });
  });

  test('other extensions are skipped; permessage-deflate later in the list is still found', () => {
    const r = acceptOffer(offers(`x-webkit-deflate-frame, foo; bar=1, ${PD}; server_no_context_takeover`), {});
    assert.ok(r);
    assert.equal(r.params.serverNoContextTakeover, true);
  });

  test('several offers: the first acceptable one wins, in the client\'s order of preference (section 5)', () => {
    const r = acceptOffer(offers(`${PD}; server_max_window_bits=10, ${PD}; server_max_window_bits=12, ${PD}`), {});
    assert.ok(r);
    assert.equal(r.params.serverMaxWindowBits, 10);
    assert.equal(paramsOf(r.response).get('server_max_window_bits'), '10');
  });

  test('a malformed offer is declined and the next one is taken (section 7: the server MUST decline it)', () => {
    const bad = [
      'server_max_window_bits=16',
      'server_max_window_bits=7',
      'server_max_window_bits=010',
      'server_max_window_bits=abc',
      'server_max_window_bits=-9',
      'server_max_window_bits=+9',
      'server_max_window_bits=9.0',
      'server_max_window_bits=0',
      'server_max_window_bits', // section 7.1.2.1: a value is required
      'client_max_window_bits=16',
      'client_max_window_bits=7',
      'client_max_window_bits=010',
      'client_max_window_bits=abc',
      'server_no_context_takeover=1', // section 7.1.1.1: no value
      'client_no_context_takeover=true', // section 7.1.1.2: no value
      'server_no_context_takeover; server_no_context_takeover', // duplicates (section 7)
      'client_no_context_takeover; client_no_context_takeover',
      'server_max_window_bits=10; server_max_window_bits=10',
      'client_max_window_bits; client_max_window_bits=10',
      'client_max_window_bits=10; client_max_window_bits=10',
      'foo', // unknown parameters (section 7: "not defined for use in an offer")
      'foo=bar',
      '__proto__',
      'constructor=1',
      'Server_No_Context_Takeover', // parameter names are compared exactly
    ];
    for (const params of bad) {
      assert.equal(acceptOffer(offers(`${PD}; ${params}`), {}), null, `should decline: ${params}`);
      const r = acceptOffer(offers(`${PD}; ${params}, ${PD}; client_no_context_takeover`), {});
      assert.ok(r, `should fall through to the second offer after: ${params}`);
      assert.equal(r.params.clientNoContextTakeover, true, params);
    }
  });

  test('a quoted value is the same as the token (RFC 6455 section 9.1: quoted-string unescapes to a token)', () => {
    const r = acceptOffer(offers(`${PD}; server_max_window_bits="10"; client_max_window_bits="9"`), {});
    assert.ok(r);
    assert.equal(r.params.serverMaxWindowBits, 10);
    assert.equal(r.params.clientMaxWindowBits, 9);
    assert.equal(acceptOffer(offers(`${PD}; server_max_window_bits="16"`), {}), null);
    // A quoted-string that is not a token once unescaped makes the whole header invalid.
    assert.equal(parseExtensions(`${PD}; server_max_window_bits="1 0"`), null);
  });

  test('server_no_context_takeover in an offer is accepted and MUST be echoed (section 7.1.1.1)', () => {
    const r = acceptOffer(offers(`${PD}; server_no_context_takeover`), {});
    assert.ok(r);
    assert.equal(r.params.serverNoContextTakeover, true);
    assert.equal(paramsOf(r.response).get('server_no_context_takeover'), true);
  });

  test('client_no_context_takeover in an offer: the server may echo it; if it does, both sides agree (7.1.1.2)', () => {
    const r = acceptOffer(offers(`${PD}; client_no_context_takeover`), {});
    assert.ok(r);
    assert.equal(r.params.clientNoContextTakeover, paramsOf(r.response).get('client_no_context_takeover') === true);
  });

  test('the server options add no_context_takeover parameters even when not offered (7.1.1.1, 7.1.1.2: MAY)', () => {
    const r = acceptOffer(offers(PD), { serverNoContextTakeover: true, clientNoContextTakeover: true });
    assert.ok(r);
    const p = paramsOf(r.response);
    assert.equal(p.get('server_no_context_takeover'), true);
    assert.equal(p.get('client_no_context_takeover'), true);
    assert.equal(r.params.serverNoContextTakeover, true);
    assert.equal(r.params.clientNoContextTakeover, true);
  });

  test('server_max_window_bits: the response has the same or a smaller value (7.1.2.1)', () => {
    for (const [offered, option, expected] of [
      [10, undefined, 10],
      [12, 10, 10],
      [9, 12, 9],
      [15, 9, 9],
    ] as const) {
      const r = acceptOffer(offers(`${PD}; server_max_window_bits=${offered}`), option === undefined ? {} : { serverMaxWindowBits: option });
      assert.ok(r);
      assert.equal(r.params.serverMaxWindowBits, expected, `offered ${offered}, option ${option}`);
      assert.equal(paramsOf(r.response).get('server_max_window_bits'), String(expected));
    }
  });

  test('server_max_window_bits may be in the response though not offered (7.1.2.1)', () => {
    const r = acceptOffer(offers(PD), { serverMaxWindowBits: 11 });
    assert.ok(r);
    assert.equal(r.params.serverMaxWindowBits, 11);
    assert.equal(paramsOf(r.response).get('server_max_window_bits'), '11');
  });

  test('server_max_window_bits=8 is answered with 8, never more (7.1.2.1)', () => {
    // zlib raises a raw window of 8 to 9 but keeps matches within 250 bytes, so 8 is honoured.
    const r = acceptOffer(offers(`${PD}; server_max_window_bits=8`), {});
    assert.ok(r);
    assert.equal(paramsOf(r.response).get('server_max_window_bits'), '8');
    const next = acceptOffer(offers(`${PD}; server_max_window_bits=8, ${PD}`), {});
    assert.ok(next, 'falls through to the plain offer');
  });

  test('client_max_window_bits without a value: the server may answer with a value (7.1.2.2)', () => {
    const plain = acceptOffer(offers(`${PD}; client_max_window_bits`), {});
    assert.ok(plain);
    assert.equal(plain.params.clientMaxWindowBits, 15);
    const v = paramsOf(plain.response).get('client_max_window_bits');
    assert.ok(v === undefined || v === '15', `response value ${v}`);
    const limited = acceptOffer(offers(`${PD}; client_max_window_bits`), { clientMaxWindowBits: 10 });
    assert.ok(limited);
    assert.equal(limited.params.clientMaxWindowBits, 10);
    assert.equal(paramsOf(limited.response).get('client_max_window_bits'), '10');
  });

  test('client_max_window_bits with a value: the response value is equal or smaller (7.1.2.2)', () => {
    for (const [offered, option, expected] of [
      [10, undefined, 10],
      [9, 12, 9],
      [12, 10, 10],
      [8, undefined, 8],
    ] as const) {
      const r = acceptOffer(offers(`${PD}; client_max_window_bits=${offered}`), option === undefined ? {} : { clientMaxWindowBits: option });
      assert.ok(r);
      assert.ok(r.params.clientMaxWindowBits <= offered);
      assert.equal(r.params.clientMaxWindowBits, expected);
      const v = paramsOf(r.response).get('client_max_window_bits');
      assert.ok(v === String(expected), `offered ${offered}, option ${option}: response ${v}`);
    }
  });

  test('client_max_window_bits MUST NOT be in the response if not offered (7.1.2.2): such an offer is skipped', () => {
    const options: PerMessageDeflateOptions = { clientMaxWindowBits: 10 };
    assert.equal(acceptOffer(offers(PD), options), null);
    const r = acceptOffer(offers(`${PD}, ${PD}; client_max_window_bits`), options);
    assert.ok(r);
    assert.equal(paramsOf(r.response).get('client_max_window_bits'), '10');
    for (const header of [PD, `${PD}; server_no_context_takeover`, `${PD}; server_max_window_bits=12`]) {
      const plain = acceptOffer(offers(header), {});
      assert.ok(plain);
      assert.equal(paramsOf(plain.response).has('client_max_window_bits'), false, header);
    }
  });

  test('extension and parameter names like __proto__ / constructor are plain data (no crash, no pollution)', () => {
    const raw: ExtensionOffer[] = [
      { name: '__proto__', params: [['__proto__', '1']] },
      { name: 'constructor', params: [['prototype', true]] },
      { name: 'hasOwnProperty', params: [] },
      { name: 'toString', params: [['valueOf', 'x']] },
    ];
    assert.equal(acceptOffer(raw, {}), null);
    assert.equal(acceptOffer(offers('__proto__; constructor=1, constructor, toString; __proto__'), {}), null);
    const r = acceptOffer(offers(`__proto__, constructor; prototype, ${PD}`), {});
    assert.ok(r);
    assert.equal(acceptOffer([{ name: PD, params: [['__proto__', true]] }], {}), null);
    assert.equal(acceptOffer([{ name: PD, params: [['constructor', '9']] }], {}), null);
    assert.equal(({} as Record<string, unknown>)['1'], undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'prototype'), false);
  });

  test('a long crafted offer (20,000 unknown parameters) is declined, not a hang (the test timeout bounds it)', { timeout: 20_000 }, () => {
    const header = `${PD}; ` + 'a=b; '.repeat(20_000) + 'x';
    const parsed = parseExtensions(header);
    assert.ok(parsed);
    assert.equal(parsed[0]!.params.length, 20_001);
    assert.equal(acceptOffer(parsed, {}), null);
  });
});

describe('acceptResponse: the client checks the answer (RFC 7692 section 7: fail on a bad one)', () => {
  const ok = (response: string, options: PerMessageDeflateOptions = {}) => acceptResponse(offers(response)[0]!, options);

  test('answers the server is free to give are accepted', () => {
    const plain = ok(PD);
    assert.ok(plain.ok);
    assert.deepEqual(plain.params, { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 });
    const sn = ok(`${PD}; server_no_context_takeover`); // 7.1.1.1: MAY even if not offered
    assert.ok(sn.ok && sn.params.serverNoContextTakeover);
    const cn = ok(`${PD}; client_no_context_takeover`); // 7.1.1.2
    assert.ok(cn.ok && cn.params.clientNoContextTakeover);
    const sb = ok(`${PD}; server_max_window_bits=10`); // 7.1.2.1: MAY even if not offered
    assert.ok(sb.ok && sb.params.serverMaxWindowBits === 10);
    const cb = ok(`${PD}; client_max_window_bits=10`); // offered without a value by default
    assert.ok(cb.ok && cb.params.clientMaxWindowBits === 10);
    const q = ok(`${PD}; server_max_window_bits="12"`); // RFC 6455 9.1 quoting
    assert.ok(q.ok && q.params.serverMaxWindowBits === 12);
  });

  test('a smaller server_max_window_bits than offered is fine, a larger one fails (7.1.2.1)', () => {
    const options = { serverMaxWindowBits: 10 };
    const smaller = ok(`${PD}; server_max_window_bits=9`, options);
    assert.ok(smaller.ok && smaller.params.serverMaxWindowBits === 9);
    const same = ok(`${PD}; server_max_window_bits=10`, options);
    assert.ok(same.ok && same.params.serverMaxWindowBits === 10);
    assert.equal(ok(`${PD}; server_max_window_bits=11`, options).ok, false);
    assert.equal(ok(`${PD}; server_max_window_bits=15`, options).ok, false);
  });

  test('our client_max_window_bits limit holds whatever the server answers', () => {
    const r = ok(`${PD}; client_max_window_bits=12`, { clientMaxWindowBits: 10 });
    // RFC 7692 7.1.2.2: the answer may lower the offered value, never raise it: such an answer fails.
    assert.equal(r.ok, false);
    const smaller = ok(`${PD}; client_max_window_bits=9`, { clientMaxWindowBits: 10 });
    assert.ok(smaller.ok && smaller.params.clientMaxWindowBits === 9);
  });

  test('bad answers fail: unknown, duplicate, valueless-where-a-value-is-needed and out-of-range parameters', () => {
    const bad = [
      'foo',
      'foo=bar',
      '__proto__',
      'constructor=1',
      'server_no_context_takeover; server_no_context_takeover',
      'client_no_context_takeover; client_no_context_takeover',
      'server_max_window_bits=10; server_max_window_bits=10',
      'client_max_window_bits=10; client_max_window_bits=10',
      'server_no_context_takeover=1',
      'client_no_context_takeover=1',
      'server_max_window_bits',
      'client_max_window_bits', // 7.1.2.2: valueless only in an offer
      'server_max_window_bits=16',
      'server_max_window_bits=7',
      'server_max_window_bits=010',
      'server_max_window_bits=abc',
      'client_max_window_bits=16',
      'client_max_window_bits=7',
      'client_max_window_bits=010',
      'client_max_window_bits=abc',
    ];
    for (const params of bad) {
      const r = ok(`${PD}; ${params}`);
      assert.equal(r.ok, false, `should fail: ${params}`);
      if (!r.ok) assert.ok(r.message.length > 0);
    }
  });

  test('client_max_window_bits in the answer when not offered fails (7.1.2.2: MUST NOT)', () => {
    assert.equal(ok(`${PD}; client_max_window_bits=10`, { clientMaxWindowBits: false }).ok, false);
    assert.ok(ok(PD, { clientMaxWindowBits: false }).ok);
  });

  test('server_no_context_takeover asked for and missing from the answer fails (7.1.1.1: MUST include)', () => {
    assert.equal(ok(PD, { serverNoContextTakeover: true }).ok, false);
    assert.ok(ok(`${PD}; server_no_context_takeover`, { serverNoContextTakeover: true }).ok);
  });

  test('client_no_context_takeover offered binds the client even if the server does not repeat it (7.1.1.2)', () => {
    const r = ok(PD, { clientNoContextTakeover: true });
    assert.ok(r.ok && r.params.clientNoContextTakeover);
  });

  test('client_max_window_bits=8: refused or honoured, never a larger window', () => {
    const r = ok(`${PD}; client_max_window_bits=8`);
    assert.ok(r.ok && r.params.clientMaxWindowBits === 8);
  });
});

describe('perMessageDeflate options are checked before anything reaches zlib (issue 3: window bits outside 8..15 never reach zlib)', () => {
  const bad: Array<Record<string, unknown>> = [
    { serverMaxWindowBits: 7 },
    { serverMaxWindowBits: 16 },
    { clientMaxWindowBits: 16 },
    { clientMaxWindowBits: 9.5 },
    { clientMaxWindowBits: Number.NaN },
    { serverMaxWindowBits: -1 },
    { threshold: -1 },
    { concurrencyLimit: Number.NaN },
  ];
  test('a server with a bad option throws a RangeError naming it', () => {
    for (const o of bad) {
      assert.throws(() => new WebSocketServer({ noServer: true, perMessageDeflate: o as PerMessageDeflateOptions }), (e: Error) => {
        assert.ok(e instanceof RangeError, `${JSON.stringify(o)}: ${e}`);
        assert.ok(e.message.includes(Object.keys(o)[0]!), e.message);
        return true;
      });
    }
  });
  test('a client with a bad option throws a RangeError naming it, before connecting', () => {
    for (const o of bad) {
      assert.throws(() => new WebSocket('ws://127.0.0.1:9/', { perMessageDeflate: o as PerMessageDeflateOptions }), (e: Error) => {
        assert.ok(e instanceof RangeError, `${JSON.stringify(o)}: ${e}`);
        assert.ok(e.message.includes(Object.keys(o)[0]!), e.message);
        return true;
      });
    }
  });
  test('8..15 are accepted', () => {
    for (let bits = 8; bits <= 15; bits++) {
      const s = new WebSocketServer({ noServer: true, perMessageDeflate: { serverMaxWindowBits: bits, clientMaxWindowBits: bits } });
      s.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 2a. over real handshakes: a raw client offers, our server answers

describe('our server answers raw offers over a real handshake', () => {
  let server: RunningServer;
  let limited: RunningServer;
  let off: RunningServer;

  before(async () => {
    server = await startServer('ours', { perMessageDeflate: true });
    limited = await startServer('ours', { perMessageDeflate: { clientMaxWindowBits: 10, serverMaxWindowBits: 11, threshold: 0 } });
    off = await startServer('ours', {}); // perMessageDeflate defaults to false, as in ws
  });
  after(async () => {
    await server.close();
    await limited.close();
    await off.close();
  });

  /**
   * Opens a raw connection offering `offer`, checks the Sec-WebSocket-Extensions answer, and
   * runs an echo: an uncompressed text always works; when accepted, a compressed text too,
   * and the echo comes back compressed with the server's negotiated window (section 7.2).
   */
  async function check(srv: RunningServer, offer: string | string[] | undefined, expected: string | null, serverBits = 15): Promise<void> {
    const hs = await rawClientHandshake(srv.port, offer);
    assert.equal(hs.status, 101, `offer ${JSON.stringify(offer)}: status ${hs.head.startLine}`);
    const conn = hs.conn!;
    const serverSide = await srv.nextConnection();
    try {
      if (expected === null) {
        assert.equal(hs.extensions, undefined, `offer ${JSON.stringify(offer)} should be declined`);
        assert.equal(serverSide.collector.ws.extensions, '');
      } else {
        assert.equal(hs.extensions, expected, `offer ${JSON.stringify(offer)}`);
        assert.equal(serverSide.collector.ws.extensions, PD);
      }
      await conn.sendText('plain hello');
      const plain = await readMessage(conn);
      // Below the default threshold (1024) the echo is not compressed; `limited` has threshold 0.
      assert.equal(plain.compressed, expected !== null && srv === limited);
      assert.equal((await messageData(plain, undefined, serverBits)).toString(), 'plain hello');
      if (expected !== null) {
        const text = compressibleText(4096);
        await conn.send({ opcode: OP.TEXT, rsv1: true, payload: compressMessage(Buffer.from(text), 9) });
        const echo = await readMessage(conn);
        assert.equal(echo.compressed, true, 'a 4 KiB echo is compressed');
        assert.equal((await messageData(echo, undefined, serverBits)).toString(), text);
      }
      await conn.sendClose(1000);
      await conn.waitRemoteEnd();
    } finally {
      conn.destroy();
    }
  }

  test('accepted offers get the expected response (section 5, 7.1)', async () => {
    await check(server, PD, PD);
    await check(server, `${PD}; client_max_window_bits`, PD);
    await check(server, `${PD}; server_no_context_takeover`, `${PD}; server_no_context_takeover`);
    await check(server, `${PD}; client_no_context_takeover`, `${PD}; client_no_context_takeover`);
    await check(server, `${PD}; server_max_window_bits=9`, `${PD}; server_max_window_bits=9`, 9);
    await check(server, `${PD}; server_max_window_bits="12"`, `${PD}; server_max_window_bits=12`, 12);
    await check(server, `${PD}; client_max_window_bits=9`, `${PD}; client_max_window_bits=9`);
  });

  test('several offers: the first acceptable one, skipping malformed ones and other extensions (section 5, 7)', async () => {
    await check(server, `${PD}; server_max_window_bits=10, ${PD}`, `${PD}; server_max_window_bits=10`, 10);
    await check(server, `${PD}; server_max_window_bits=16, ${PD}; server_no_context_takeover`, `${PD}; server_no_context_takeover`);
    await check(server, `${PD}; foo, ${PD}; server_max_window_bits=010, ${PD}; client_no_context_takeover`, `${PD}; client_no_context_takeover`);
    await check(server, `x-webkit-deflate-frame, ${PD}`, PD);
    // RFC 6455 9.1: the header may be split over several lines; the order still counts.
    await check(server, ['foo', `${PD}; server_max_window_bits=11`, PD], `${PD}; server_max_window_bits=11`, 11);
  });

  test('malformed, duplicate and unknown parameters: declined, and the connection works uncompressed (section 7)', async () => {
    for (const params of [
      'server_max_window_bits=16',
      'server_max_window_bits=7',
      'server_max_window_bits=010',
      'server_max_window_bits=abc',
      'server_max_window_bits',
      'client_max_window_bits=16',
      'client_max_window_bits=7',
      'server_no_context_takeover; server_no_context_takeover',
      'client_max_window_bits; client_max_window_bits',
      'server_no_context_takeover=1',
      'foo',
      'foo=bar',
    ]) {
      await check(server, `${PD}; ${params}`, null);
    }
  });

  test('extension names like __proto__ and constructor are unknown extensions: declined, no crash', async () => {
    await check(server, '__proto__', null);
    await check(server, 'constructor; prototype=1, __proto__; __proto__', null);
    await check(server, `__proto__, constructor, ${PD}`, PD);
    await check(server, `${PD}; __proto__, ${PD}; constructor=1`, null);
  });

  test('server options: a client_max_window_bits limit needs an offer that has the parameter (7.1.2.2)', async () => {
    await check(limited, PD, null);
    await check(limited, `${PD}; client_max_window_bits`, `${PD}; server_max_window_bits=11; client_max_window_bits=10`, 11);
    await check(limited, `${PD}, ${PD}; client_max_window_bits=9`, `${PD}; server_max_window_bits=11; client_max_window_bits=9`, 11);
    await check(limited, `${PD}; server_max_window_bits=9; client_max_window_bits`, `${PD}; server_max_window_bits=9; client_max_window_bits=10`, 9);
  });

  test('a server with perMessageDeflate off declines every offer', async () => {
    await check(off, `${PD}; client_max_window_bits`, null);
    await check(off, undefined, null);
  });

  test('a syntactically invalid Sec-WebSocket-Extensions header is refused with 400 (RFC 6455 4.2.1, 9.1)', async () => {
    for (const header of [`${PD};`, `${PD}; =9`, `${PD}; server_max_window_bits="1 0"`, `${PD}; server_max_window_bits="9`, `${PD} foo`]) {
      const hs = await rawClientHandshake(server.port, header);
      assert.equal(hs.status, 400, `${header}: ${hs.head.startLine}`);
    }
    // The server carries on.
    await check(server, PD, PD);
  });
});

// ---------------------------------------------------------------------------------------------
// 2b. over real handshakes: our client offers, a raw server answers anything

describe('our client checks the server\'s answer over a real handshake', () => {
  let raw: DeflateRawServer;
  before(async () => {
    raw = await DeflateRawServer.listen();
  });
  after(async () => {
    await raw.close();
  });

  /** Connects our client, answers with `lines`; returns the client's collector and the raw side. */
  async function connect(lines: string[], perMessageDeflate: unknown) {
    const ws = new WebSocket(raw.url, { perMessageDeflate } as never);
    const c = new Collector(ws as never);
    let upgradeHeader: string | undefined;
    ws.on('upgrade', (res: { headers: Record<string, string | string[] | undefined> }) => {
      const h = res.headers['sec-websocket-extensions'];
      upgradeHeader = Array.isArray(h) ? h.join(', ') : h;
    });
    const { conn, offer } = await raw.accept(lines);
    return { ws, c, conn, offer, upgradeHeader: () => upgradeHeader };
  }

  /** The answer must fail the connection: one 'error', then 'close' with 1006, never 'open'; TCP is dropped. */
  async function expectFailure(lines: string[], perMessageDeflate: unknown = undefined): Promise<void> {
    const { c, conn } = await connect(lines, perMessageDeflate);
    try {
      const closed = await c.waitClosed();
      assert.equal(closed.code, 1006, `answer ${JSON.stringify(lines)}`);
      assert.equal(c.opened, false, `answer ${JSON.stringify(lines)} must not open`);
      assert.equal(c.errors.length, 1, `answer ${JSON.stringify(lines)}: one error event`);
      await conn.waitClosed(WAIT_MS, 'our client to drop the TCP connection');
    } finally {
      conn.destroy();
    }
  }

  test('the offer on the wire: defaults, options, and none when perMessageDeflate is false', async () => {
    const cases: Array<[unknown, Array<[string, string | true]> | undefined]> = [
      [undefined, [['client_max_window_bits', true]]],
      [true, [['client_max_window_bits', true]]],
      [{ serverNoContextTakeover: true, serverMaxWindowBits: 9 }, [['server_no_context_takeover', true], ['server_max_window_bits', '9'], ['client_max_window_bits', true]]],
      [{ clientNoContextTakeover: true, clientMaxWindowBits: 12 }, [['client_no_context_takeover', true], ['client_max_window_bits', '12']]],
      [false, undefined],
    ];
    for (const [option, expected] of cases) {
      const { c, conn, offer } = await connect([], option);
      try {
        if (expected === undefined) assert.equal(offer, undefined);
        else assert.deepEqual(new Map(paramsOf(offer!)), new Map(expected), `perMessageDeflate ${JSON.stringify(option)}`);
        await c.waitOpen();
        assert.equal(c.ws.extensions, '', 'no answer, no extension');
      } finally {
        conn.destroy();
        await c.waitClosed();
      }
    }
  });

  test('no Sec-WebSocket-Extensions in the answer: open, uncompressed (RSV1 clear)', async () => {
    const { c, conn } = await connect([], true);
    try {
      await c.waitOpen();
      assert.equal(c.ws.extensions, '');
      c.ws.send(compressibleText(8192));
      const m = await readMessage(conn);
      assert.equal(m.compressed, false);
      assert.equal(m.wire.length, 8192);
    } finally {
      conn.destroy();
      await c.waitClosed();
    }
  });

  test('good answers open the connection; ws.extensions and the upgrade response show them', async () => {
    for (const [answer, options, clientBits] of [
      [PD, undefined, 15],
      [`${PD}; server_no_context_takeover`, undefined, 15],
      [`${PD}; client_no_context_takeover`, undefined, 15],
      [`${PD}; server_max_window_bits=9`, undefined, 15],
      [`${PD}; client_max_window_bits=9`, undefined, 9],
      [`${PD}; server_max_window_bits=9`, { serverMaxWindowBits: 10 }, 15],
      [`${PD}; server_no_context_takeover`, { serverNoContextTakeover: true }, 15],
    ] as const) {
      const { c, conn, upgradeHeader } = await connect([answer], options);
      try {
        await c.waitOpen();
        assert.equal(c.ws.extensions, PD, answer);
        assert.equal(upgradeHeader(), answer);
        // The client's compressed frames honour the window the answer set (section 7.1.2.2).
        const text = compressibleText(3000);
        c.ws.send(text);
        const m = await readMessage(conn);
        assert.equal(m.compressed, true, answer);
        assert.equal((await messageData(m, undefined, clientBits)).toString(), text, answer);
      } finally {
        conn.destroy();
        await c.waitClosed();
      }
    }
  });

  test('an unknown parameter in the answer fails the connection (section 7)', async () => {
    await expectFailure([`${PD}; foo`]);
    await expectFailure([`${PD}; foo=bar`]);
    await expectFailure([`${PD}; __proto__`]);
    await expectFailure([`${PD}; constructor=1`]);
  });

  test('a duplicate parameter fails the connection (section 7)', async () => {
    await expectFailure([`${PD}; server_no_context_takeover; server_no_context_takeover`]);
    await expectFailure([`${PD}; client_no_context_takeover; client_no_context_takeover`]);
    await expectFailure([`${PD}; server_max_window_bits=10; server_max_window_bits=10`]);
    await expectFailure([`${PD}; client_max_window_bits=10; client_max_window_bits=9`]);
  });

  test('invalid values fail the connection (sections 7.1.1, 7.1.2)', async () => {
    for (const p of [
      'server_max_window_bits=16',
      'server_max_window_bits=7',
      'server_max_window_bits=010',
      'server_max_window_bits=abc',
      'server_max_window_bits',
      'client_max_window_bits=16',
      'client_max_window_bits=7',
      'client_max_window_bits', // a response needs a value (7.1.2.2)
      'server_no_context_takeover=1',
    ]) {
      await expectFailure([`${PD}; ${p}`]);
    }
  });

  test('a larger server_max_window_bits than offered fails the connection (7.1.2.1)', async () => {
    await expectFailure([`${PD}; server_max_window_bits=11`], { serverMaxWindowBits: 10 });
    await expectFailure([`${PD}; server_max_window_bits=15`], { serverMaxWindowBits: 9 });
  });

  test('client_max_window_bits when it was not offered fails the connection (7.1.2.2)', async () => {
    await expectFailure([`${PD}; client_max_window_bits=10`], { clientMaxWindowBits: false });
  });

  test('server_no_context_takeover asked for and not granted fails the connection (7.1.1.1)', async () => {
    await expectFailure([PD], { serverNoContextTakeover: true });
  });

  test('permessage-deflate twice fails the connection, in one header line or two (section 5: one element per offer)', async () => {
    await expectFailure([`${PD}, ${PD}`]);
    await expectFailure([PD, PD]);
    await expectFailure([`${PD}; server_no_context_takeover, ${PD}`]);
  });

  test('an extension that was never offered fails the connection (RFC 6455 4.1, RFC 7692 section 5)', async () => {
    await expectFailure(['x-webkit-deflate-frame']);
    await expectFailure([`${PD}, foo`]);
    await expectFailure(['__proto__']);
    await expectFailure(['constructor']);
    await expectFailure([PD], false); // nothing offered at all
  });

  test('a syntactically invalid answer fails the connection (RFC 6455 9.1)', async () => {
    await expectFailure([`${PD};`]);
    await expectFailure([`${PD}; server_max_window_bits="9`]);
  });
});
