/**
 * Loopback helpers for the hardening tests (test/hardening-*.test.ts).
 *
 * Everything here talks to 127.0.0.1 only, and every wait is bounded: a helper that waits
 * takes a timeout and rejects with a message naming what it waited for.
 *
 * - `startServer()` runs our WebSocketServer on an ephemeral port and closes it (terminating
 *   whatever is still open) when the test is done.
 * - `httpExchange()` writes arbitrary bytes to the server and reads back whatever it answers:
 *   the HTTP status line, headers and body of a refusal (RFC 6455 section 4.2.2 / 4.4), or the
 *   101 of an accepted upgrade, and whether the server closed the TCP connection.
 * - `rawUpgrade()` performs the opening handshake by hand (RFC 6455 section 4.1) with any extra
 *   header lines, and hands back the socket (paused) and the response headers, so a test can
 *   offer permessage-deflate, stall, or never read.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from '../../src/index.ts';
import type { ServerOptions } from '../../src/node/websocket-server.ts';
import { acceptFor, RawConnection } from './raw-peer.ts';
import { headerMap } from '../../src/conformance/handshake.ts';

/** Default bound for one wait; generous because the machine is shared. */
export const WAIT_MS = 5000;

/** Resolves with `promise`, or rejects naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `ready` every few ms until it holds; rejects after `ms`. */
export async function waitFor(ready: () => boolean, ms: number, what: string, pollMs = 5): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface TestServer {
  wss: WebSocketServer;
  port: number;
  url: string;
  /** Terminates every connection still open and stops listening (bounded). */
  close(): Promise<void>;
}

/** Our WebSocketServer on 127.0.0.1 with an ephemeral port (the `port` mode, so the HTTP limits apply). */
export async function startServer(options: Omit<ServerOptions, 'port' | 'host'> = {}): Promise<TestServer> {
  const wss = new WebSocketServer({ ...options, host: '127.0.0.1', port: 0 });
  await within(once(wss, 'listening'), WAIT_MS, 'the WebSocketServer to listen');
  const port = (wss.address() as net.AddressInfo).port;
  let closed = false;
  return {
    wss,
    port,
    url: `ws://127.0.0.1:${port}`,
    async close() {
      if (closed) return;
      closed = true;
      for (const ws of wss.clients ?? []) ws.terminate();
      await within(new Promise<void>((resolve) => wss.close(() => resolve())), WAIT_MS, 'the WebSocketServer to close').catch(
        () => {},
      );
    },
  };
}

/** Runs `fn` with a fresh server, which is always closed afterwards. */
export async function withServer(options: Parameters<typeof startServer>[0], fn: (s: TestServer) => Promise<void>): Promise<void> {
  const server = await startServer(options);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/** A fresh Sec-WebSocket-Key (RFC 6455 section 4.1, item 7: 16 random bytes, base64). */
export function newKey(): string {
  return randomBytes(16).toString('base64');
}

export interface UpgradeHeadOptions {
  path?: string;
  key?: string;
  /** Host header value; default 127.0.0.1:port. */
  host?: string;
  /** Extra header lines ("Name: value"), added after the required ones. */
  extra?: readonly string[];
}

/** A valid opening handshake request head (RFC 6455 section 4.1), with extra lines. */
export function upgradeHead(port: number, opts: UpgradeHeadOptions = {}): string {
  const lines = [
    `GET ${opts.path ?? '/'} HTTP/1.1`,
    `Host: ${opts.host ?? `127.0.0.1:${port}`}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${opts.key ?? newKey()}`,
    'Sec-WebSocket-Version: 13',
    ...(opts.extra ?? []),
  ];
  return lines.join('\r\n') + '\r\n\r\n';
}

export interface HttpAnswer {
  /** Every byte the server sent. */
  raw: Buffer;
  /** First status line, '' if the server sent nothing. */
  statusLine: string;
  /** Status code of the final (non-1xx other than 101) response, or undefined. */
  status: number | undefined;
  /** Headers of that response, lower-case names (repeated headers joined with ", "). */
  headers: Map<string, string>;
  /** Body of that response (up to Content-Length when given). */
  body: string;
  /** The server closed (or reset) the TCP connection within the wait. */
  closed: boolean;
  /** Milliseconds from the last write to the answer (informational only, never asserted). */
  elapsedMs: number;
}

function parseAnswer(raw: Buffer): Omit<HttpAnswer, 'closed' | 'elapsedMs' | 'raw'> & { complete: boolean } {
  let offset = 0;
  let statusLine = '';
  for (;;) {
    const end = raw.indexOf('\r\n\r\n', offset);
    if (end < 0) return { statusLine, status: undefined, headers: new Map(), body: '', complete: false };
    const lines = raw.subarray(offset, end).toString('latin1').split('\r\n');
    if (statusLine === '') statusLine = lines[0] ?? '';
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    const status = m ? Number(m[1]) : undefined;
    const headers = headerMap(lines.slice(1));
    // A 100 Continue (or other informational response but 101) precedes the real one.
    if (status !== undefined && status >= 100 && status < 200 && status !== 101) {
      offset = end + 4;
      continue;
    }
    const bodyStart = end + 4;
    const length = headers.has('content-length') ? Number(headers.get('content-length')) : undefined;
    const bodyBytes = raw.subarray(bodyStart, length === undefined ? raw.length : bodyStart + length);
    const complete = status === 101 || length === undefined || raw.length - bodyStart >= length;
    return { statusLine, status, headers, body: bodyBytes.toString('utf8'), complete };
  }
}

export interface ExchangeOptions {
  timeoutMs?: number;
  /** Half-close our side after writing (so the server sees the end of the request stream). */
  end?: boolean;
  /** Write the request in pieces of this many bytes, a tick apart. */
  chunkSize?: number;
}

/**
 * Writes `request` to 127.0.0.1:port and collects the answer until the server closes the
 * connection, a 101 arrives, or `timeoutMs` passes. The socket is always destroyed after.
 */
export async function httpExchange(port: number, request: string | Buffer, opts: ExchangeOptions = {}): Promise<HttpAnswer> {
  const timeoutMs = opts.timeoutMs ?? WAIT_MS;
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {}); // ECONNRESET after a refusal counts as closed
  const chunks: Buffer[] = [];
  let closed = false;
  let started = Date.now();
  try {
    await within(once(socket, 'connect'), timeoutMs, `TCP connect to ${port}`);
    const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : request;
    if (opts.chunkSize !== undefined) {
      for (let i = 0; i < bytes.length && !socket.destroyed; i += opts.chunkSize) {
        socket.write(bytes.subarray(i, i + opts.chunkSize));
        await tick();
      }
    } else {
      socket.write(bytes);
    }
    if (opts.end) socket.end();
    started = Date.now();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve();
      }
      function onData(chunk: Buffer): void {
        chunks.push(chunk);
        const answer = parseAnswer(Buffer.concat(chunks));
        if (answer.status === 101 && answer.complete) done();
      }
      function onClose(): void {
        closed = true;
        done();
      }
      socket.on('data', onData);
      socket.on('close', onClose);
      if (socket.destroyed) onClose();
    });
  } finally {
    socket.destroy();
  }
  const raw = Buffer.concat(chunks);
  const answer = parseAnswer(raw);
  return {
    raw,
    statusLine: answer.statusLine,
    status: answer.status,
    headers: answer.headers,
    body: answer.body,
    closed,
    elapsedMs: Date.now() - started,
  };
}

export interface RawUpgrade {
  socket: net.Socket;
  /** Response headers, lower-case names. */
  headers: Map<string, string>;
  /** Bytes that came after the response head. */
  rest: Buffer;
}

/**
 * Performs the opening handshake by hand and checks the 101 and Sec-WebSocket-Accept
 * (RFC 6455 section 4.1, the client's checks of the response). The socket is returned paused,
 * with no listeners but an 'error' sink: nothing is read until the caller says so.
 */
export async function rawUpgrade(
  port: number,
  opts: UpgradeHeadOptions & { timeoutMs?: number; appendToRequest?: Uint8Array } = {},
): Promise<RawUpgrade> {
  const timeoutMs = opts.timeoutMs ?? WAIT_MS;
  const key = opts.key ?? newKey();
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  try {
    await within(once(socket, 'connect'), timeoutMs, `TCP connect to ${port}`);
    socket.setNoDelay(true);
    const head = Buffer.from(upgradeHead(port, { ...opts, key }), 'latin1');
    // Bytes appended to the request arrive in the same TCP write as the head: the server gets
    // them as the upgrade's `head` (frames sent before the 101 was read, RFC 6455 section 4.1).
    socket.write(opts.appendToRequest ? Buffer.concat([head, opts.appendToRequest]) : head);
    const answer = await within(
      new Promise<Buffer>((resolve, reject) => {
        let buf = Buffer.alloc(0);
        const onData = (chunk: Buffer): void => {
          buf = Buffer.concat([buf, chunk]);
          if (buf.indexOf('\r\n\r\n') >= 0) {
            socket.pause();
            socket.off('data', onData);
            socket.off('close', onClose);
            resolve(buf);
          }
        };
        const onClose = (): void => reject(new Error(`connection closed during the handshake: ${buf.toString('latin1')}`));
        socket.on('data', onData);
        socket.on('close', onClose);
      }),
      timeoutMs,
      'the 101 response',
    );
    const end = answer.indexOf('\r\n\r\n');
    const lines = answer.subarray(0, end).toString('latin1').split('\r\n');
    if (!/^HTTP\/1\.1 101/.test(lines[0] ?? '')) throw new Error(`expected 101, got "${lines[0]}"`);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    if (headers.get('sec-websocket-accept') !== acceptFor(key)) throw new Error('wrong Sec-WebSocket-Accept');
    return { socket, headers, rest: answer.subarray(end + 4) };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** rawUpgrade, then a RawConnection (raw-peer.ts) reading and parsing the server's frames. */
export async function rawClient(
  port: number,
  opts: UpgradeHeadOptions & { appendToRequest?: Uint8Array } = {},
): Promise<{ conn: RawConnection; headers: Map<string, string> }> {
  const { socket, headers, rest } = await rawUpgrade(port, opts);
  return { conn: new RawConnection(socket, 'client', rest), headers };
}

/** Opens one of our client WebSockets and waits for 'open'. */
export async function openClient(url: string, options?: ConstructorParameters<typeof WebSocket>[1]): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  await within(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    WAIT_MS,
    `a connection to ${url}`,
  );
  return ws;
}

/** Waits for a client's 'close' event; resolves with its code and reason (code -1 if it had closed already). */
export function closed(ws: WebSocket, ms = WAIT_MS): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: '' });
  return within(
    new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }))),
    ms,
    'a WebSocket to close',
  );
}

/** Sends a message and waits for the next one back (an echo). */
export async function echo(ws: WebSocket, data: string | Buffer, ms = WAIT_MS): Promise<Buffer> {
  const reply = within(
    new Promise<Buffer>((resolve) => ws.once('message', (d: Buffer) => resolve(Buffer.from(d)))),
    ms,
    'an echo',
  );
  ws.send(data);
  return reply;
}
