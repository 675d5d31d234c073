/**
 * fullduplex/web: the WHATWG WebSocket (https://websockets.spec.whatwg.org/) against our server.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, CloseEvent } from '../src/web/index.ts';
import {
  frame,
  nextEvent,
  recordEvents,
  startRawServer,
  startServer,
  unusedPort,
  waitFor,
  withTimeout,
  type CloseEventLike,
  type TestServer,
} from './helpers/web-helpers.ts';

/** Asserts that fn throws a DOMException with this name. */
function throwsDOMException(fn: () => unknown, name: string, message?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DOMException, `expected a DOMException, got ${String(err)}${message ? ` (${message})` : ''}`);
    assert.equal(err.name, name, message);
    return true;
  });
}

/** Opens a socket and waits for 'open'. */
async function connect(url: string, protocols?: string | string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols);
  await nextEvent(ws, 'open');
  return ws;
}

/** Closes a socket if needed and waits for its 'close' event. */
async function closeAndWait(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = nextEvent(ws, 'close');
  ws.close();
  await closed;
}

function bytesOf(text: string): number[] {
  return [...Buffer.from(text)];
}

describe('WebSocket interface', () => {
  test('constants on the constructor and the prototype, read-only', () => {
    const expected = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
    for (const [name, value] of Object.entries(expected)) {
      for (const holder of [WebSocket, WebSocket.prototype]) {
        const desc = Object.getOwnPropertyDescriptor(holder, name);
        assert.deepEqual(desc, { value, writable: false, enumerable: true, configurable: false }, name);
      }
    }
  });

  test('attributes are accessors on the prototype; Symbol.toStringTag; EventTarget', () => {
    for (const name of ['url', 'readyState', 'bufferedAmount', 'extensions', 'protocol']) {
      const desc = Object.getOwnPropertyDescriptor(WebSocket.prototype, name)!;
      assert.equal(typeof desc.get, 'function', name);
      assert.equal(desc.set, undefined, `${name} is read-only`);
      assert.equal(desc.enumerable, true);
    }
    for (const name of ['binaryType', 'onopen', 'onmessage', 'onerror', 'onclose']) {
      const desc = Object.getOwnPropertyDescriptor(WebSocket.prototype, name)!;
      assert.equal(typeof desc.get, 'function', name);
      assert.equal(typeof desc.set, 'function', name);
    }
    assert.equal(WebSocket.length, 1);
    assert.equal(WebSocket.prototype.send.length, 1);
    assert.equal(WebSocket.prototype.close.length, 0);
    assert.equal(CloseEvent.length, 1);
    assert.equal(WebSocket.prototype[Symbol.toStringTag], 'WebSocket');
    assert.equal(Object.prototype.toString.call(WebSocket.prototype), '[object WebSocket]');
    assert.ok(WebSocket.prototype instanceof EventTarget);
    // Attribute getters check their receiver.
    assert.throws(() => Object.getOwnPropertyDescriptor(WebSocket.prototype, 'readyState')!.get!.call({}), TypeError);
  });

  test('CloseEvent: constructor, defaults, conversions, read-only attributes', () => {
    const plain = new CloseEvent('close');
    assert.ok(plain instanceof Event);
    assert.equal(plain.type, 'close');
    assert.equal(plain.wasClean, false);
    assert.equal(plain.code, 0);
    assert.equal(plain.reason, '');
    assert.equal(Object.prototype.toString.call(plain), '[object CloseEvent]');

    const e = new CloseEvent('x', { wasClean: 1 as unknown as boolean, code: 65537, reason: 'a\uD800', bubbles: true });
    assert.equal(e.wasClean, true);
    assert.equal(e.code, 1, 'unsigned short conversion is modulo 2^16');
    assert.equal(e.reason, 'a\uFFFD', 'USVString conversion');
    assert.equal(e.bubbles, true);
    assert.equal(new CloseEvent('x', { code: -1 }).code, 65535);
    assert.equal(new CloseEvent('x', { code: 1000.9 }).code, 1000);
    assert.equal(new CloseEvent('x', null as unknown as undefined).code, 0);

    assert.equal(Reflect.set(e, 'code', 5), false);
    assert.equal(Reflect.set(e, 'wasClean', false), false);
    assert.equal(Reflect.set(e, 'reason', 'y'), false);
    assert.equal(e.code, 1);

    assert.throws(() => new (CloseEvent as unknown as new () => Event)(), TypeError);
    assert.throws(() => new CloseEvent('x', 5 as unknown as undefined), TypeError);
    assert.throws(() => (CloseEvent as unknown as (t: string) => void)('x'), TypeError);
  });
});

describe('constructor', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      handleProtocols: (protocols: Set<string>) => protocols.values().next().value ?? false,
    });
  });
  after(() => server.close());

  test('an unparsable or relative URL is a SyntaxError (there is no base URL)', () => {
    for (const url of ['', 'foo', '/path', '//127.0.0.1/', '?q', 'ws://', 'ws://[::1', 'http://127.0.0.1:99999/']) {
      throwsDOMException(() => new WebSocket(url), 'SyntaxError', url);
    }
  });

  test('a scheme other than ws, wss, http, https is a SyntaxError', () => {
    for (const url of ['ftp://127.0.0.1/', 'file:///tmp/x', 'javascript:alert(1)', 'data:text/plain,x', 'ws+unix:/tmp/s']) {
      throwsDOMException(() => new WebSocket(url), 'SyntaxError', url);
    }
  });

  test('a URL with a fragment, even an empty one, is a SyntaxError', () => {
    for (const url of [`${server.url}/#`, `${server.url}/#frag`, `http://127.0.0.1:${server.port}/a?b#c`]) {
      throwsDOMException(() => new WebSocket(url), 'SyntaxError', url);
    }
  });

  test('http and https become ws and wss; url is the serialized URL', async () => {
    const a = new WebSocket(`HTTP://127.0.0.1:${server.port}/p/../a?x=1`);
    assert.equal(a.url, `ws://127.0.0.1:${server.port}/a?x=1`);
    const b = new WebSocket(new URL(`https://127.0.0.1:${server.port}`));
    assert.equal(b.url, `wss://127.0.0.1:${server.port}/`);
    const c = new WebSocket(`ws://127.0.0.1:${server.port}`);
    assert.equal(c.url, `ws://127.0.0.1:${server.port}/`);
    await Promise.all([a, b, c].map(closeAndWait));
  });

  test('initial state: CONNECTING, nothing buffered, no protocol or extensions, binaryType blob', async () => {
    const ws = new WebSocket(server.url);
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    assert.equal(ws.bufferedAmount, 0);
    assert.equal(ws.protocol, '');
    assert.equal(ws.extensions, '');
    assert.equal(ws.binaryType, 'blob');
    assert.equal(ws.onopen, null);
    assert.equal(ws.onmessage, null);
    assert.equal(ws.onerror, null);
    assert.equal(ws.onclose, null);
    await closeAndWait(ws);
  });

  test('protocols that are not tokens, or duplicated, are a SyntaxError', () => {
    const invalid: unknown[] = ['', 'a b', 'a,b', 'é', '(x)', 'x\u0000', ['ok', 'not ok'], ['a', 'a'], {}, [''], ['a', 'b', 'a']];
    for (const protocols of invalid) {
      throwsDOMException(() => new WebSocket(server.url, protocols as string), 'SyntaxError', JSON.stringify(protocols));
    }
  });

  test('argument conversion errors are TypeErrors', () => {
    assert.throws(() => new (WebSocket as unknown as new () => WebSocket)(), TypeError);
    assert.throws(() => (WebSocket as unknown as (u: string) => void)(server.url), TypeError);
    assert.throws(() => new WebSocket(Symbol('x') as unknown as string), TypeError);
    assert.throws(() => new WebSocket(server.url, Symbol('x') as unknown as string), TypeError);
    assert.throws(() => new WebSocket(server.url, [Symbol('x')] as unknown as string[]), TypeError);
  });

  test('valid protocols: a string, a sequence (any iterable), case-sensitive names, null as "null"', async () => {
    const cases: Array<[unknown, string]> = [
      ['chat', 'chat'],
      [['a', 'A'], 'a, A'],
      [new Set(['x.y', "!#$%&'*+-.^_`|~09azAZ"]), "x.y, !#$%&'*+-.^_`|~09azAZ"],
      [null, 'null'],
    ];
    for (const [protocols, header] of cases) {
      const index = server.connections.length;
      const ws = new WebSocket(server.url, protocols as string);
      await nextEvent(ws, 'open');
      const conn = await server.connection(index);
      // Header whitespace is not significant: compare the list.
      assert.deepEqual(String(conn.request.headers['sec-websocket-protocol']).split(/\s*,\s*/), header.split(', '));
      assert.equal(ws.protocol, header.split(', ')[0]);
      await closeAndWait(ws);
    }
  });
});

describe('connection lifecycle', () => {
  let echo: TestServer;
  before(async () => {
    echo = await startServer({}, { echo: true });
  });
  after(() => echo.close());

  test('open, message, close: the event sequence and readyState in each handler', async () => {
    const ws = new WebSocket(echo.url);
    const { log, closed } = recordEvents(ws);
    await nextEvent(ws, 'open');
    ws.send('ping');
    const msg = await nextEvent<MessageEvent>(ws, 'message');
    assert.ok(msg instanceof MessageEvent);
    assert.ok(msg instanceof Event);
    assert.equal(msg.data, 'ping');
    assert.equal(msg.origin, echo.url);
    ws.close(1000, 'done');
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const close = await closed;
    assert.ok(close instanceof CloseEvent);
    assert.deepEqual(
      log.map((e) => [e.type, e.readyState]),
      [['open', WebSocket.OPEN], ['message', WebSocket.OPEN], ['close', WebSocket.CLOSED]],
    );
    assert.equal(close.wasClean, true);
    assert.equal(close.code, 1000);
    assert.equal(close.reason, 'done');
  });

  test('the open event is queued as a task: listeners added later in the same task see it', async () => {
    const ws = new WebSocket(echo.url);
    await Promise.resolve(); // microtasks run within the current task
    await new Promise((resolve) => process.nextTick(resolve));
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    await nextEvent(ws, 'open');
    assert.equal(ws.readyState, WebSocket.OPEN);
    await closeAndWait(ws);
  });

  test('the origin of a message is the serialized origin of the URL', async () => {
    const ws = await connect(`http://127.0.0.1:${echo.port}/some/path?q`);
    ws.send('x');
    const msg = await nextEvent<MessageEvent>(ws, 'message');
    assert.equal(msg.origin, `ws://127.0.0.1:${echo.port}`);
    await closeAndWait(ws);
  });

  test('connection refused: error, then close 1006 not clean; no open', async () => {
    const port = await unusedPort();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const { log, closed } = recordEvents(ws);
    const close = await closed;
    assert.deepEqual(log.map((e) => [e.type, e.readyState]), [['error', WebSocket.CLOSED], ['close', WebSocket.CLOSED]]);
    assert.equal(Object.getPrototypeOf(log[0]!.event), Event.prototype, 'error is a plain Event');
    assert.equal(close.code, 1006);
    assert.equal(close.reason, '');
    assert.equal(close.wasClean, false);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  test('handshake rejected by the server: error, then close 1006', async () => {
    const server = await startServer({ verifyClient: () => false });
    try {
      const ws = new WebSocket(server.url);
      const { log, closed } = recordEvents(ws);
      const close = await closed;
      assert.deepEqual(log.map((e) => e.type), ['error', 'close']);
      assert.equal(close.code, 1006);
      assert.equal(close.wasClean, false);
    } finally {
      await server.close();
    }
  });

  test('protocols requested but none selected by the server: the connection fails', async () => {
    const server = await startServer({ handleProtocols: () => false });
    try {
      const ws = new WebSocket(server.url, ['a', 'b']);
      const { log, closed } = recordEvents(ws);
      const close = await closed;
      assert.deepEqual(log.map((e) => e.type), ['error', 'close']);
      assert.equal(close.code, 1006);
      assert.equal(ws.protocol, '');
    } finally {
      await server.close();
    }
  });

  test('protocol is the subprotocol the server selected', async () => {
    const server = await startServer({ handleProtocols: (protocols: Set<string>) => ([...protocols].includes('b') ? 'b' : false) });
    try {
      const ws = new WebSocket(server.url, ['a', 'b']);
      assert.equal(ws.protocol, '');
      await nextEvent(ws, 'open');
      assert.equal(ws.protocol, 'b');
      await closeAndWait(ws);
    } finally {
      await server.close();
    }
  });

  test('extensions is the Sec-WebSocket-Extensions value of the handshake response', async () => {
    // The server may or may not accept the client's permessage-deflate offer; either way the
    // attribute must be exactly what the response said ('' when it said nothing).
    const deflate = await startServer({ perMessageDeflate: true }, { echo: true });
    let responseValue: string | undefined;
    deflate.wss.on('headers', (lines: string[]) => {
      const line = lines.find((l) => /^sec-websocket-extensions:/i.test(l));
      responseValue = line?.slice(line.indexOf(':') + 1).trim();
    });
    try {
      const ws = new WebSocket(deflate.url);
      assert.equal(ws.extensions, '');
      await nextEvent(ws, 'open');
      assert.equal(ws.extensions, responseValue ?? '');
      ws.send('x'.repeat(5000));
      const msg = await nextEvent<MessageEvent>(ws, 'message');
      assert.equal(msg.data, 'x'.repeat(5000));
      await closeAndWait(ws);
    } finally {
      await deflate.close();
    }
    const plain = await connect(echo.url);
    assert.equal(plain.extensions, '');
    await closeAndWait(plain);
  });

  test('a protocol error from the server after open: error, then close 1006', async () => {
    const raw = await startRawServer(frame(0x1, Buffer.from([0xff, 0xfe]))); // invalid UTF-8 text
    try {
      const ws = new WebSocket(raw.url);
      const { log, closed } = recordEvents(ws);
      const close = await closed;
      assert.deepEqual(log.map((e) => e.type), ['open', 'error', 'close']);
      assert.equal(close.code, 1006);
      assert.equal(close.wasClean, false);
    } finally {
      await raw.close();
    }
  });

  test('a message and a Close frame in one chunk: the message is still dispatched while OPEN', async () => {
    const closeBody = Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from('bye')]); // 4000 'bye'
    const raw = await startRawServer(Buffer.concat([frame(0x1, Buffer.from('last')), frame(0x8, closeBody)]));
    try {
      const ws = new WebSocket(raw.url);
      const { log, closed } = recordEvents(ws);
      const close = await closed;
      assert.deepEqual(
        log.map((e) => [e.type, e.readyState]),
        [['open', WebSocket.OPEN], ['message', WebSocket.OPEN], ['close', WebSocket.CLOSED]],
      );
      assert.equal((log[1]!.event as MessageEvent).data, 'last');
      assert.equal(close.code, 4000);
      assert.equal(close.reason, 'bye');
      assert.equal(close.wasClean, true);
    } finally {
      await raw.close();
    }
  });
});

describe('binaryType and received data', () => {
  let echo: TestServer;
  before(async () => {
    echo = await startServer({}, { echo: true });
  });
  after(() => echo.close());

  test('text arrives as a string (a leading BOM is kept); binary as a Blob by default', async () => {
    const ws = await connect(echo.url);
    ws.send('\uFEFFhé ✓');
    const text = await nextEvent<MessageEvent>(ws, 'message');
    assert.equal(text.data, '\uFEFFhé ✓');
    ws.send(new Uint8Array([0, 1, 2, 255]));
    const bin = await nextEvent<MessageEvent>(ws, 'message');
    assert.ok(bin.data instanceof Blob);
    assert.deepEqual([...new Uint8Array(await bin.data.arrayBuffer())], [0, 1, 2, 255]);
    await closeAndWait(ws);
  });

  test("binaryType 'arraybuffer' gives an ArrayBuffer of exactly the message's bytes", async () => {
    const ws = await connect(echo.url);
    ws.binaryType = 'arraybuffer';
    assert.equal(ws.binaryType, 'arraybuffer');
    ws.send(new Uint8Array([9, 8, 7]));
    const msg = await nextEvent<MessageEvent>(ws, 'message');
    assert.ok(msg.data instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(msg.data)], [9, 8, 7]);
    ws.send(new ArrayBuffer(0));
    const empty = await nextEvent<MessageEvent>(ws, 'message');
    assert.ok(empty.data instanceof ArrayBuffer);
    assert.equal(empty.data.byteLength, 0);
    await closeAndWait(ws);
  });

  test('assigning a value outside the enum is ignored; a Symbol throws', async () => {
    const ws = new WebSocket(echo.url);
    for (const value of ['foo', 'Blob', 'ARRAYBUFFER', '', null, undefined, 1]) {
      ws.binaryType = value as 'blob';
      assert.equal(ws.binaryType, 'blob', String(value));
    }
    ws.binaryType = 'arraybuffer';
    ws.binaryType = 'nodebuffer' as 'blob';
    assert.equal(ws.binaryType, 'arraybuffer');
    assert.throws(() => {
      ws.binaryType = Symbol('x') as unknown as 'blob';
    }, TypeError);
    await closeAndWait(ws);
  });

  test('binaryType is read when each message is dispatched', async () => {
    const ws = await connect(echo.url);
    const types: string[] = [];
    const done = new Promise<void>((resolve) => {
      ws.onmessage = (e) => {
        types.push(Object.prototype.toString.call(e.data));
        if (types.length === 1) ws.binaryType = 'arraybuffer';
        if (types.length === 2) resolve();
      };
    });
    ws.send(new Uint8Array([1]));
    ws.send(new Uint8Array([2]));
    await withTimeout(done, 'two messages');
    assert.deepEqual(types, ['[object Blob]', '[object ArrayBuffer]']);
    await closeAndWait(ws);
  });
});

describe('send()', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  test('throws InvalidStateError while CONNECTING; TypeError without an argument', async () => {
    const ws = new WebSocket(server.url);
    throwsDOMException(() => ws.send('x'), 'InvalidStateError');
    throwsDOMException(() => ws.send(new Blob(['x'])), 'InvalidStateError');
    assert.throws(() => (ws.send as () => void)(), TypeError);
    assert.equal(ws.bufferedAmount, 0);
    await closeAndWait(ws);
  });

  test('every data type, the bytes of views only, and bufferedAmount counting application bytes', async () => {
    const index = server.connections.length;
    const ws = await connect(server.url);
    const conn = await server.connection(index);

    const big = new ArrayBuffer(16);
    new Uint8Array(big).forEach((_, i, a) => (a[i] = i));
    const f64 = new Float64Array([1.5, -2, 3.25]);
    const pooled = Buffer.from('0123456789').subarray(3, 6); // a Buffer with an offset
    const sends: Array<[unknown, number[], boolean]> = [
      ['héllo', bytesOf('héllo'), false],
      ['a\uD800b', [0x61, 0xef, 0xbf, 0xbd, 0x62], false], // lone surrogate -> U+FFFD
      ['', [], false],
      [big, [...new Uint8Array(big)], true],
      [new Uint8Array(big, 2, 3), [2, 3, 4], true],
      [new DataView(big, 10, 4), [10, 11, 12, 13], true],
      [new Int16Array(big, 4, 2), [4, 5, 6, 7], true],
      [f64.subarray(1, 2), [...new Uint8Array(f64.buffer, 8, 8)], true],
      [pooled, bytesOf('345'), true],
      [new Blob(['blob ', new Uint8Array([1, 2])]), [...bytesOf('blob '), 1, 2], true],
      [42, bytesOf('42'), false], // anything else is converted to a string
    ];
    let expected = 0;
    for (const [data, bytes] of sends) {
      ws.send(data as string);
      expected += bytes.length;
      assert.equal(ws.bufferedAmount, expected, `after sending ${Object.prototype.toString.call(data)}`);
    }
    await waitFor(() => conn.received.length === sends.length, 'every message at the server');
    conn.received.forEach((r, i) => {
      assert.deepEqual([...r.data], sends[i]![1], `message ${i}`);
      assert.equal(r.isBinary, sends[i]![2], `message ${i} binary`);
    });
    await waitFor(() => ws.bufferedAmount === 0, 'bufferedAmount back to 0');
    await closeAndWait(ws);
  });

  test('a view over a SharedArrayBuffer is a TypeError', async () => {
    const ws = await connect(server.url);
    assert.throws(() => ws.send(new Uint8Array(new SharedArrayBuffer(4))), TypeError);
    assert.equal(ws.bufferedAmount, 0);
    await closeAndWait(ws);
  });

  test('Blob sends keep their order with the other sends; the bytes are taken at send() time', async () => {
    const index = server.connections.length;
    const ws = await connect(server.url);
    const conn = await server.connection(index);
    const view = new Uint8Array([7, 7, 7]);
    ws.send('one');
    ws.send(new Blob(['two']));
    ws.send(view);
    view.fill(0); // must not change what was sent
    ws.send(new Blob([new Uint8Array(100_000).fill(4)]));
    ws.send(new TextEncoder().encode('five').buffer);
    ws.send(new Blob([]));
    ws.send('seven');
    ws.close(1000, 'done'); // the Close frame goes after every message sent before it
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const { code, reason } = await withTimeout(conn.closed, 'server close');
    assert.equal(code, 1000);
    assert.equal(reason, 'done');
    assert.deepEqual(
      conn.received.map((r) => [r.isBinary, r.data.byteLength, r.data[0]]),
      [
        [false, 3, 'o'.charCodeAt(0)],
        [true, 3, 't'.charCodeAt(0)],
        [true, 3, 7],
        [true, 100_000, 4],
        [true, 4, 'f'.charCodeAt(0)],
        [true, 0, undefined],
        [false, 5, 's'.charCodeAt(0)],
      ],
    );
    await withTimeout(new Promise((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve(null) : ws.addEventListener('close', resolve))), 'close');
  });

  test('bufferedAmount rises with each send and falls back to 0 once written', async () => {
    const index = server.connections.length;
    const ws = await connect(server.url);
    const conn = await server.connection(index);
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < 8; i++) ws.send(chunk);
    ws.send(new Blob([chunk]));
    assert.equal(ws.bufferedAmount, 9 << 20);
    // The value only changes between tasks, never within one.
    await Promise.resolve();
    await new Promise((resolve) => process.nextTick(resolve));
    assert.equal(ws.bufferedAmount, 9 << 20);
    await waitFor(() => conn.received.length === 9, 'nine messages at the server');
    await waitFor(() => ws.bufferedAmount === 0, 'bufferedAmount back to 0');
    await closeAndWait(ws);
  });

  test('after close(), send() sends nothing but bufferedAmount still grows, and stays', async () => {
    const index = server.connections.length;
    const ws = await connect(server.url);
    const conn = await server.connection(index);
    ws.send('abc');
    ws.close();
    const before = ws.bufferedAmount;
    ws.send('four');
    ws.send(new Blob(['12345']));
    ws.send(new Uint8Array(6));
    assert.equal(ws.bufferedAmount, before + 4 + 5 + 6);
    const closed = nextEvent(ws, 'close');
    await closed;
    assert.equal(ws.bufferedAmount, 4 + 5 + 6, 'the unsent bytes never drain');
    ws.send('xy'); // CLOSED: no exception, no sending, still counted
    assert.equal(ws.bufferedAmount, 4 + 5 + 6 + 2);
    await withTimeout(conn.closed, 'server close');
    assert.deepEqual(conn.received.map((r) => r.data.toString()), ['abc']);
  });
});

describe('close()', () => {
  let echo: TestServer;
  before(async () => {
    echo = await startServer({}, { echo: true });
  });
  after(() => echo.close());

  test('codes other than 1000 and 3000-4999 are an InvalidAccessError, in every state', async () => {
    const ws = new WebSocket(echo.url);
    const invalid: unknown[] = [0, 999, 1001, 1005, 1006, 1015, 2999, 4999.5, 5000, 65535, 65536, -1, NaN, 'abc', null];
    for (const code of invalid) throwsDOMException(() => ws.close(code as number), 'InvalidAccessError', String(code));
    // The code is checked before the reason.
    throwsDOMException(() => ws.close(999, 'x'.repeat(200)), 'InvalidAccessError');
    assert.throws(() => ws.close(Symbol('x') as unknown as number), TypeError);
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    await closeAndWait(ws);
    throwsDOMException(() => ws.close(1001), 'InvalidAccessError', 'when CLOSED');
  });

  test('a reason longer than 123 UTF-8 bytes is a SyntaxError', async () => {
    const ws = new WebSocket(echo.url);
    throwsDOMException(() => ws.close(1000, 'a'.repeat(124)), 'SyntaxError');
    throwsDOMException(() => ws.close(1000, '€'.repeat(41) + 'a'), 'SyntaxError'); // 124 bytes
    throwsDOMException(() => ws.close(undefined, 'a'.repeat(124)), 'SyntaxError');
    throwsDOMException(() => ws.close(1000, '\uD800'.repeat(42)), 'SyntaxError'); // 42 x U+FFFD = 126 bytes
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    await closeAndWait(ws);
  });

  test('client-initiated: code and reason reach the server; the close event is clean', async () => {
    const index = echo.connections.length;
    const ws = await connect(echo.url);
    const conn = await echo.connection(index);
    const reason = '€'.repeat(41); // exactly 123 bytes
    const events: string[] = [];
    ws.onerror = () => events.push('error');
    ws.onclose = () => events.push('close');
    ws.close(4001, reason);
    assert.equal(ws.readyState, WebSocket.CLOSING);
    ws.close(1000, 'ignored'); // CLOSING: does nothing
    const close = await nextEvent<CloseEventLike>(ws, 'close');
    assert.deepEqual(await withTimeout(conn.closed, 'server close'), { code: 4001, reason });
    assert.deepEqual(events, ['close']);
    assert.equal(close.wasClean, true);
    assert.equal(close.code, 4001);
    assert.equal(close.reason, reason);
    assert.equal(ws.readyState, WebSocket.CLOSED);
    ws.close(); // CLOSED: does nothing
  });

  test('close() without arguments sends an empty Close frame (1005 at both ends)', async () => {
    const index = echo.connections.length;
    const ws = await connect(echo.url);
    const conn = await echo.connection(index);
    const closed = nextEvent<CloseEventLike>(ws, 'close');
    ws.close();
    assert.deepEqual(await withTimeout(conn.closed, 'server close'), { code: 1005, reason: '' });
    const close = await closed;
    assert.equal(close.code, 1005);
    assert.equal(close.reason, '');
    assert.equal(close.wasClean, true);
  });

  test('[Clamp] conversion of the code: rounded half to even, strings converted', async () => {
    const cases: Array<[unknown, number]> = [[2999.5, 3000], [3000.5, 3000], [1000.4, 1000], ['4000', 4000]];
    for (const [code, sent] of cases) {
      const index = echo.connections.length;
      const ws = await connect(echo.url);
      const conn = await echo.connection(index);
      ws.close(code as number);
      assert.deepEqual(await withTimeout(conn.closed, 'server close'), { code: sent, reason: '' }, String(code));
      await waitFor(() => ws.readyState === WebSocket.CLOSED, 'CLOSED');
    }
  });

  test('a lone surrogate in the reason is sent as U+FFFD', async () => {
    const index = echo.connections.length;
    const ws = await connect(echo.url);
    const conn = await echo.connection(index);
    ws.close(3000, 'x\uDC00');
    assert.deepEqual(await withTimeout(conn.closed, 'server close'), { code: 3000, reason: 'x\uFFFD' });
    await waitFor(() => ws.readyState === WebSocket.CLOSED, 'CLOSED');
  });

  test('server-initiated close with code and reason: clean, and the peer’s code and reason', async () => {
    const index = echo.connections.length;
    const ws = await connect(echo.url);
    const conn = await echo.connection(index);
    const { log, closed } = recordEvents(ws);
    conn.socket.close(4002, 'server says ✓');
    const close = await closed;
    assert.deepEqual(log.map((e) => e.type), ['close']);
    assert.equal(close.wasClean, true);
    assert.equal(close.code, 4002);
    assert.equal(close.reason, 'server says ✓');
  });

  test('server-initiated close without a code: 1005', async () => {
    const index = echo.connections.length;
    const ws = await connect(echo.url);
    const conn = await echo.connection(index);
    const closed = nextEvent<CloseEventLike>(ws, 'close');
    conn.socket.close();
    const close = await closed;
    assert.equal(close.wasClean, true);
    assert.equal(close.code, 1005);
    assert.equal(close.reason, '');
  });

  test('the server drops the TCP connection: close 1006, not clean', async () => {
    const index = echo.connections.length;
    const ws = await connect(echo.url);
    const conn = await echo.connection(index);
    const closed = nextEvent<CloseEventLike>(ws, 'close');
    conn.socket.terminate();
    const close = await closed;
    assert.equal(close.wasClean, false);
    assert.equal(close.code, 1006);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  test('close() while CONNECTING fails the connection: CLOSING at once, then error, close 1006', async () => {
    const ws = new WebSocket(echo.url);
    const { log, closed } = recordEvents(ws);
    ws.close(1000, 'never sent');
    assert.equal(ws.readyState, WebSocket.CLOSING);
    ws.close(); // does nothing
    const close = await closed;
    assert.deepEqual(log.map((e) => [e.type, e.readyState]), [['error', WebSocket.CLOSED], ['close', WebSocket.CLOSED]]);
    assert.equal(close.code, 1006);
    assert.equal(close.reason, '');
    assert.equal(close.wasClean, false);
  });

  test('messages arriving after close() are not dispatched', async () => {
    const server = await startServer({}, {
      onConnection: (c) => {
        for (const m of ['m1', 'm2', 'm3', 'm4']) c.socket.send(m);
      },
    });
    try {
      const ws = new WebSocket(server.url);
      const { log, closed } = recordEvents(ws);
      ws.onmessage = () => ws.close(4000);
      const close = await closed;
      assert.deepEqual(log.map((e) => e.type), ['open', 'message', 'close']);
      assert.equal((log[1]!.event as MessageEvent).data, 'm1');
      assert.equal(close.code, 4000);
      assert.equal(close.wasClean, true);
    } finally {
      await server.close();
    }
  });
});

describe('event handler attributes', () => {
  let echo: TestServer;
  before(async () => {
    echo = await startServer({}, { echo: true });
  });
  after(() => echo.close());

  test('a handler keeps its place among listeners when reassigned; null removes it', async () => {
    const ws = new WebSocket(echo.url);
    const calls: string[] = [];
    const fire = () => {
      calls.length = 0;
      ws.dispatchEvent(new Event('open')); // synthetic
      return [...calls];
    };
    // Synthetic 'open' events, dispatched synchronously before the real one can run.
    ws.addEventListener('open', () => calls.push('A'));
    ws.onopen = () => calls.push('H1');
    ws.addEventListener('open', () => calls.push('B'));
    assert.deepEqual(fire(), ['A', 'H1', 'B']);
    ws.onopen = () => calls.push('H2');
    assert.deepEqual(fire(), ['A', 'H2', 'B'], 'reassigning keeps the position');
    ws.onopen = null;
    assert.equal(ws.onopen, null);
    assert.deepEqual(fire(), ['A', 'B'], 'null removes the handler');
    ws.onopen = () => calls.push('H3');
    assert.deepEqual(fire(), ['A', 'B', 'H3'], 'a handler set again goes last');
    await closeAndWait(ws);
  });

  test('non-object values become null; a non-callable object is kept but does nothing', async () => {
    const ws = new WebSocket(echo.url);
    const handler = () => {};
    for (const name of ['onopen', 'onmessage', 'onerror', 'onclose'] as const) {
      for (const value of ['function () {}', 1, true, undefined, Symbol('x')]) {
        (ws as unknown as Record<string, unknown>)[name] = handler;
        (ws as unknown as Record<string, unknown>)[name] = value;
        assert.equal(ws[name], null, `${name} = ${String(value)}`);
      }
    }
    const calls: string[] = [];
    ws.addEventListener('message', () => calls.push('listener'));
    const obj = { handleEvent: () => calls.push('handleEvent') };
    ws.onmessage = obj as unknown as () => void;
    assert.equal(ws.onmessage, obj);
    ws.dispatchEvent(new Event('message'));
    assert.deepEqual(calls, ['listener'], 'an event handler is never a handleEvent object');
    await closeAndWait(ws);
  });

  test('this is the socket; returning false cancels a cancelable event', async () => {
    const ws = new WebSocket(echo.url);
    let self: unknown;
    ws.onerror = function (this: WebSocket) {
      self = this;
      return false;
    };
    const event = new Event('error', { cancelable: true });
    ws.dispatchEvent(event);
    assert.equal(self, ws);
    assert.equal(event.defaultPrevented, true);
    ws.onerror = null;
    await closeAndWait(ws);
  });

  test('on* handlers receive the real events, alongside addEventListener listeners', async () => {
    const ws = new WebSocket(echo.url);
    const seen: string[] = [];
    ws.addEventListener('open', () => seen.push('listener:open'));
    ws.onopen = (e) => {
      seen.push(`onopen:${e.type}`);
      ws.send('hi');
    };
    ws.onmessage = (e) => {
      seen.push(`onmessage:${e.data}`);
      ws.close(3001, 'r');
    };
    const closed = new Promise<CloseEventLike>((resolve) => {
      ws.onclose = (e) => {
        seen.push(`onclose:${e.code}`);
        resolve(e as CloseEventLike);
      };
    });
    ws.onerror = () => seen.push('onerror');
    const close = await withTimeout(closed, 'onclose');
    assert.equal(close.reason, 'r');
    assert.deepEqual(seen, ['listener:open', 'onopen:open', 'onmessage:hi', 'onclose:3001']);
  });
});
