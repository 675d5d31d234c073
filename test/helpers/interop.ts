/**
 * What the interop suites (ws, Python websockets, Chromium) share: message and close records,
 * a timeout wrapper, an async queue of events, and an Endpoint that records one socket.
 */
import { createHash } from 'node:crypto';

/** What Endpoint needs of a socket: ours and the `ws` package's both fit. */
interface Socket {
  on(event: string, listener: (...args: any[]) => void): unknown;
  send(data: string | Buffer, options: { binary?: boolean; fin?: boolean }, cb: (err?: Error | null) => void): void;
}

/** How long a wait may take before the test fails, unless the caller says otherwise. */
export const WAIT_MS = 10_000;

export interface Received {
  data: Buffer;
  isBinary: boolean;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`unexpected message data type: ${Object.prototype.toString.call(data)}`);
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Rejects with a message naming what was awaited when `ms` passes first. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An async FIFO fed by events; `take` waits (with a timeout) for the first item that matches. */
export class Queue<T> {
  constructor(private readonly waitMs = WAIT_MS) {}

  private readonly items: T[] = [];
  private readonly waiters: Array<{ match: (item: T) => boolean; resolve: (item: T) => void }> = [];

  push(item: T): void {
    const i = this.waiters.findIndex((w) => w.match(item));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(item);
    else this.items.push(item);
  }

  take(what: string, match: (item: T) => boolean = () => true): Promise<T> {
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]);
    const waiter = { match, resolve: (_: T) => {} };
    const found = new Promise<T>((resolve) => {
      waiter.resolve = resolve;
      this.waiters.push(waiter);
    });
    return withTimeout(found, what, this.waitMs).finally(() => {
      const j = this.waiters.indexOf(waiter);
      if (j >= 0) this.waiters.splice(j, 1); // a timed-out waiter must not swallow a later item
    });
  }
}

/** Buffers every message and the close of a socket from the moment it is created. */
export class Endpoint<S extends Socket = Socket> {
  readonly ws: S;
  readonly closed: Promise<CloseInfo>;
  readonly errors: Error[] = [];
  readonly messages = new Queue<Received>();

  constructor(ws: S) {
    this.ws = ws;
    ws.on('message', (data: unknown, isBinary: boolean) => this.messages.push({ data: toBuffer(data), isBinary }));
    ws.on('error', (err: Error) => this.errors.push(err));
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: toBuffer(reason).toString('utf8') }));
    });
  }

  next(what = 'a message'): Promise<Received> {
    return this.messages.take(what);
  }

  waitClosed(what = 'close'): Promise<CloseInfo> {
    return withTimeout(this.closed, what);
  }

  send(data: string | Buffer, options: { binary?: boolean; fin?: boolean } = {}): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve, reject) => {
        this.ws.send(data, { binary: typeof data !== 'string', ...options }, (err?: Error | null) => (err ? reject(err) : resolve()));
      }),
      'send callback',
    );
  }
}

