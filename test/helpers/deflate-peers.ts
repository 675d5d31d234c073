/**
 * Real peers for the permessage-deflate tests: our WebSocketServer / WebSocket and the `ws`
 * package's, behind one small interface (they share ws's API), plus a bounded-wait message
 * collector. Every server listens on 127.0.0.1:0; every wait has a timeout.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket as NetSocket, AddressInfo } from 'node:net';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { WebSocket, WebSocketServer } from '../../src/index.ts';
import { withTimeout } from './raw-peer.ts';

export const WAIT_MS = 10_000;

export type Impl = 'ours' | 'ws';

/** The ws-style socket API both implementations share (typed loosely: two classes). */
export type AnySocket = {
  readyState: number;
  extensions: string;
  send(data: unknown, options?: Record<string, unknown>, cb?: (err?: Error | null) => void): void;
  ping(data?: unknown): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
};

export interface Received {
  data: Buffer;
  isBinary: boolean;
}

function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`unexpected message data: ${Object.prototype.toString.call(data)}`);
}

/** Collects messages, errors and the close of one socket from the moment it exists. */
export class Collector {
  private readonly items: Received[] = [];
  private readonly waiters: Array<(r: Received) => void> = [];
  private readonly failers: Array<(e: Error) => void> = [];
  readonly errors: Error[] = [];
  opened = false;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: AnySocket) {
    ws.on('open', () => (this.opened = true));
    ws.on('message', (data: unknown, isBinary: boolean) => {
      const r = { data: toBuffer(data), isBinary };
      const w = this.waiters.shift();
      if (w) w(r);
      else this.items.push(r);
    });
    ws.on('error', (e: Error) => {
      this.errors.push(e);
      for (const f of this.failers.splice(0)) f(e); // a waiting next() fails at once, naming the error
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: toBuffer(reason).toString() }));
    });
  }

  next(what = 'a message', ms = WAIT_MS): Promise<Received> {
    const item = this.items.shift();
    if (item) return Promise.resolve(item);
    let waiter: (r: Received) => void = () => {};
    let failer: (e: Error) => void = () => {};
    const p = new Promise<Received>((resolve, reject) => {
      waiter = resolve;
      failer = (e) => reject(new Error(`error event while waiting for ${what}: ${e.message}`));
      this.waiters.push(waiter);
      this.failers.push(failer);
    });
    return withTimeout(p, ms, what).finally(() => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
      const j = this.failers.indexOf(failer);
      if (j >= 0) this.failers.splice(j, 1);
    });
  }

  waitOpen(ms = WAIT_MS): Promise<void> {
    if (this.opened) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve, reject) => {
        this.ws.once('open', () => resolve());
        void this.closed.then(({ code }) => {
          if (!this.opened) reject(new Error(`closed with ${code} before open: ${this.errors.map((e) => e.message).join('; ')}`));
        });
      }),
      ms,
      'the connection to open',
    );
  }

  waitClosed(ms = WAIT_MS): Promise<{ code: number; reason: string }> {
    return withTimeout(this.closed, ms, 'the connection to close');
  }

  /** Sends and resolves when the send callback ran. */
  send(data: string | Buffer, options: Record<string, unknown> = {}): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve, reject) => {
        this.ws.send(data, { binary: typeof data !== 'string', ...options }, (err?: Error | null) => (err ? reject(err) : resolve()));
      }),
      WAIT_MS,
      'a send callback',
    );
  }

  /** Closes with 1000 and waits for the close event. */
  async finish(): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === 1) this.ws.close(1000, 'done');
    else if (this.ws.readyState === 0) this.ws.terminate();
    return this.waitClosed();
  }
}

export interface ServerConnection {
  collector: Collector;
  req: IncomingMessage;
  /** The TCP socket under the connection (for wire byte counts). */
  socket: NetSocket;
}

export interface RunningServer {
  port: number;
  url: string;
  /** Connections in arrival order. */
  nextConnection(ms?: number): Promise<ServerConnection>;
  close(): Promise<void>;
}

/**
 * Starts our server or ws's on 127.0.0.1:0. With `echo` every message goes back to its sender
 * with its type kept (text as text, binary as binary), compressed if negotiated.
 */
export async function startServer(impl: Impl, options: Record<string, unknown>, echo = true): Promise<RunningServer> {
  const Server = (impl === 'ours' ? WebSocketServer : WsServer) as any;
  const wss = new Server({ host: '127.0.0.1', port: 0, ...options });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      wss.once('listening', () => resolve());
      wss.once('error', reject);
    }),
    WAIT_MS,
    `${impl} server to listen`,
  );
  const port = (wss.address() as AddressInfo).port;
  const queue: ServerConnection[] = [];
  const waiters: Array<(c: ServerConnection) => void> = [];
  const all = new Set<AnySocket>();
  wss.on('connection', (ws: AnySocket, req: IncomingMessage) => {
    all.add(ws);
    ws.on('close', () => all.delete(ws));
    const collector = new Collector(ws);
    collector.opened = true;
    if (echo) {
      ws.on('message', (data: unknown, isBinary: boolean) => {
        if (ws.readyState === 1) ws.send(data, { binary: isBinary });
      });
    }
    const c = { collector, req, socket: req.socket as NetSocket };
    const w = waiters.shift();
    if (w) w(c);
    else queue.push(c);
  });
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    nextConnection(ms = WAIT_MS) {
      const c = queue.shift();
      if (c) return Promise.resolve(c);
      return withTimeout(new Promise<ServerConnection>((resolve) => waiters.push(resolve)), ms, `a connection on the ${impl} server`);
    },
    async close() {
      for (const ws of all) ws.terminate();
      await withTimeout(new Promise<void>((resolve) => wss.close(() => resolve())), WAIT_MS, `${impl} server to close`).catch(() => {});
    },
  };
}

/** Opens a client of either implementation; `socket` is its TCP socket once upgraded. */
export function openClient(
  impl: Impl,
  url: string,
  options: Record<string, unknown>,
): { collector: Collector; upgrade: Promise<{ extensions: string | undefined; socket: NetSocket }> } {
  const Client = (impl === 'ours' ? WebSocket : WsClient) as any;
  const ws = new Client(url, options) as AnySocket;
  const collector = new Collector(ws);
  const upgrade = withTimeout(
    new Promise<{ extensions: string | undefined; socket: NetSocket }>((resolve) => {
      ws.once('upgrade', (res: IncomingMessage) => {
        const h = res.headers['sec-websocket-extensions'];
        resolve({ extensions: Array.isArray(h) ? h.join(', ') : h, socket: res.socket as NetSocket });
      });
    }),
    WAIT_MS,
    `the ${impl} client's upgrade response`,
  );
  upgrade.catch(() => {}); // awaited by the tests that need it
  return { collector, upgrade };
}
