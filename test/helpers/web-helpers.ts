/**
 * Helpers for test/web-websocket.test.ts: a loopback WebSocketServer from our package, a raw
 * TCP WebSocket server for byte-exact peer behaviour, and bounded waits.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer } from '../../src/index.ts';

export const TIMEOUT_MS = 5000;

/** Resolves with the promise's value, or rejects once `ms` pass. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The next event of this type dispatched at the target. */
export function nextEvent<E extends Event = Event>(target: EventTarget, type: string, ms = TIMEOUT_MS): Promise<E> {
  return withTimeout(
    new Promise<E>((resolve) => target.addEventListener(type, (e) => resolve(e as E), { once: true })),
    `'${type}' event`,
    ms,
  );
}

/** Polls (once per macrotask) until the condition holds, bounded by a timeout. */
export function waitFor(condition: () => boolean, what: string, ms = TIMEOUT_MS): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const check = () => (condition() ? resolve() : setImmediate(check));
      check();
    }),
    what,
    ms,
  );
}

export interface LogEntry {
  type: string;
  readyState: number;
  event: Event;
}

/** Records every open/message/error/close event (with readyState at dispatch) on a socket. */
export function recordEvents(ws: EventTarget & { readyState: number }): { log: LogEntry[]; closed: Promise<CloseEventLike> } {
  const log: LogEntry[] = [];
  for (const type of ['open', 'message', 'error', 'close']) {
    ws.addEventListener(type, (event) => log.push({ type, readyState: ws.readyState, event }));
  }
  return { log, closed: nextEvent<Event>(ws, 'close') as unknown as Promise<CloseEventLike> };
}

export interface CloseEventLike extends Event {
  code: number;
  reason: string;
  wasClean: boolean;
}

export interface Received {
  data: Buffer;
  isBinary: boolean;
}

export interface ServerConnection {
  /** The server side of the connection (ws-compatible API). */
  socket: any;
  request: IncomingMessage;
  received: Received[];
  /** Resolves with the close code and reason the server saw. */
  closed: Promise<{ code: number; reason: string }>;
}

export interface TestServer {
  url: string;
  port: number;
  wss: any;
  connections: ServerConnection[];
  /** The next (or an already made) connection, by index. */
  connection(index?: number): Promise<ServerConnection>;
  close(): Promise<void>;
}

/**
 * A WebSocketServer from our package on 127.0.0.1, port 0. With `echo`, every message goes back
 * to its sender, text as text and binary as binary.
 */
export async function startServer(
  options: Record<string, unknown> = {},
  { echo = false, onConnection }: { echo?: boolean; onConnection?: (c: ServerConnection) => void } = {},
): Promise<TestServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await withTimeout(new Promise((resolve) => wss.once('listening', resolve)), 'server listening');
  const port = (wss.address() as { port: number }).port;
  const connections: ServerConnection[] = [];
  const waiters: Array<() => void> = [];
  wss.on('connection', (socket: any, request: IncomingMessage) => {
    const received: Received[] = [];
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      socket.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') }));
    });
    socket.on('error', () => {});
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      received.push({ data: Buffer.from(data), isBinary });
      if (echo) socket.send(data, { binary: isBinary });
    });
    const c: ServerConnection = { socket, request, received, closed };
    connections.push(c);
    onConnection?.(c);
    for (const w of waiters.splice(0)) w();
  });
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    wss,
    connections,
    connection(index = 0) {
      return withTimeout(
        new Promise<ServerConnection>((resolve) => {
          const check = () => (connections[index] ? resolve(connections[index]!) : waiters.push(check));
          check();
        }),
        `server connection #${index}`,
      );
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      await withTimeout(new Promise((resolve) => wss.close(resolve)), 'server close');
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await withTimeout(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 'probe listen');
  const { port } = server.address() as { port: number };
  await withTimeout(new Promise((resolve) => server.close(resolve)), 'probe close');
  return port;
}

/** An unmasked server-to-client frame. */
export function frame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const len = payload.byteLength;
  let header: Buffer;
  if (len < 126) {
    header = Buffer.from([(fin ? 0x80 : 0) | opcode, len]);
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[0] = (fin ? 0x80 : 0) | opcode;
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = (fin ? 0x80 : 0) | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([header, payload]);
}

/**
 * A minimal raw WebSocket server for peer behaviour our own server would never produce: it
 * completes the opening handshake, writes `afterHandshake` in one write, and ends the TCP
 * connection as soon as the client sends anything (such as its Close frame).
 */
export async function startRawServer(afterHandshake: Buffer): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = Buffer.alloc(0);
    let upgraded = false;
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) {
        socket.end();
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      upgraded = true;
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? '';
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      const response =
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(response, 'latin1'), afterHandshake]));
    });
  });
  await withTimeout(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 'raw server listen');
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/`,
    async close() {
      for (const s of sockets) s.destroy();
      await withTimeout(new Promise((resolve) => server.close(resolve)), 'raw server close');
    },
  };
}
