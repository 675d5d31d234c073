/**
 * Connection: one WebSocket connection in the nodejs-websocket style (seed 002), either
 * accepted by a `Server` or opened with `connect()`. A thin face over our ws-compatible
 * `WebSocket`: text messages are strings ('text' / `sendText`), binary messages are streams
 * ('binary' gives a Readable, `beginBinary()` a Writable) or whole Buffers (`sendBinary`).
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { WebSocket } from '../index.js';
import { OutStream } from './out-stream.js';
import type { Server } from './server.js';

/** Events of a Connection and their arguments. */
export interface ConnectionEvents {
  /** The handshake completed (client side; server side it precedes the server's 'connection'). */
  connect: [];
  /** A text message arrived. */
  text: [str: string];
  /** A binary message arrived; read its bytes from the stream. */
  binary: [inStream: Readable];
  /** A pong arrived, with its payload as a string. */
  pong: [data: string];
  /** The connection closed; 1005 means the peer sent no code, 1006 that there was no closing handshake. */
  close: [code: number, reason: string];
  /**
   * Something went wrong (network error, protocol error from the peer, a send on a closed
   * connection). Unlike a bare EventEmitter, a Connection without 'error' listeners does not
   * throw: a dropped client must not bring the whole server down.
   */
  error: [err: Error];
}

/** What a send callback receives: nothing on success, the error otherwise. */
export type SendCallback = (err?: Error | null) => void;

/** @internal Facts known about a connection before its WebSocket exists. */
export interface ConnectionInit {
  server: Server | null;
  path: string | null;
  headers: IncomingHttpHeaders;
  protocols: string[];
  socket: Socket | null;
}

/** Bytes of a received message, whatever shape the WebSocket delivered them in. */
function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(String(data));
}

export class Connection extends EventEmitter<ConnectionEvents> {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  /** Waiting for the handshake to complete. */
  readonly CONNECTING = 0;
  /** Data can be sent and received. */
  readonly OPEN = 1;
  /** A close frame was sent; waiting for the answer. */
  readonly CLOSING = 2;
  /** The connection is closed. */
  readonly CLOSED = 3;

  /** The Server that accepted this connection, or null for a client connection. */
  readonly server: Server | null;
  /** The underlying net or tls socket (null until the handshake response for a client). */
  socket: Socket | null;
  /** The request path, e.g. "/chat?room=1". */
  readonly path: string | null;
  /** Handshake headers, names lower-cased: the request's on a server, the response's on a client. */
  headers: IncomingHttpHeaders;
  /** Subprotocols requested by the client (empty if none). */
  readonly protocols: string[];
  /** The stream returned by `beginBinary()` while a binary transmission is going on, else null. */
  outStream: OutStream | null = null;

  #ws: WebSocket | null = null;

  /** @internal Use `createServer()` or `connect()`. */
  constructor(init: ConnectionInit) {
    super();
    this.server = init.server;
    this.path = init.path;
    this.headers = init.headers;
    this.protocols = init.protocols;
    this.socket = init.socket;
  }

  /** One of CONNECTING, OPEN, CLOSING, CLOSED. */
  get readyState(): number {
    return this.#ws ? this.#ws.readyState : Connection.CONNECTING;
  }

  /** The subprotocol agreed in the handshake, or undefined. */
  get protocol(): string | undefined {
    return this.#ws?.protocol || undefined;
  }

  /** The ws-compatible WebSocket underneath (null only during a server-side handshake). */
  get webSocket(): WebSocket | null {
    return this.#ws;
  }

  /** @internal Binds the connection to its WebSocket. */
  attach(ws: WebSocket): void {
    this.#ws = ws;
    ws.on('open', () => this.emit('connect'));
    ws.on('upgrade', (res: IncomingMessage) => {
      this.headers = res.headers;
      this.socket = res.socket;
    });
    ws.on('message', (data: unknown, isBinary: boolean) => {
      if (!isBinary) {
        this.emit('text', toBuffer(data).toString('utf8'));
        return;
      }
      const inStream = new Readable({ read() {} });
      inStream.push(toBuffer(data));
      inStream.push(null);
      this.emit('binary', inStream);
    });
    ws.on('pong', (data: Buffer) => this.emit('pong', data.toString('utf8')));
    ws.on('error', (err: Error) => this.#emitError(err));
    ws.on('close', (code: number, reason: Buffer) => {
      this.outStream = null;
      this.emit('close', code, reason.toString('utf8'));
    });
  }

  /** Sends a text message. `callback` runs once it is written out (or with the error). */
  sendText(str: string, callback?: SendCallback): void {
    this.#whenSendable('text', callback, (ws) => ws.send(String(str), { binary: false }, callback));
  }

  /** Sends one whole binary message (like `beginBinary().end(data)`). */
  sendBinary(data: Buffer | Uint8Array | ArrayBuffer, callback?: SendCallback): void {
    this.#whenSendable('binary', callback, (ws) => ws.send(data, { binary: true }, callback));
  }

  /** Sends a string as text or anything else as binary. */
  send(data: string | Buffer | Uint8Array | ArrayBuffer, callback?: SendCallback): void {
    if (typeof data === 'string') this.sendText(data, callback);
    else this.sendBinary(data, callback);
  }

  /**
   * Starts a binary message whose bytes are written to the returned stream; it is sent in
   * fragments and ends when the stream ends. Text cannot be sent until then.
   */
  beginBinary(): OutStream {
    const ws = this.#ws;
    if (!ws || ws.readyState !== Connection.OPEN) {
      throw new Error(`beginBinary: the connection is not open (readyState ${this.readyState})`);
    }
    if (this.outStream) throw new Error('beginBinary: a binary transmission is already in progress');
    const stream = new OutStream(
      (data, fin, cb) => ws.send(data, { binary: true, fin }, cb),
      () => ws.close(1011, 'binary stream aborted'),
    );
    const done = (): void => {
      if (this.outStream === stream) this.outStream = null;
    };
    stream.once('finish', done);
    stream.once('close', done);
    stream.on('error', (err) => this.#emitError(err));
    this.outStream = stream;
    return stream;
  }

  /** Sends a ping with an optional payload (at most 125 bytes). */
  sendPing(data: string | Buffer = ''): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== Connection.OPEN) {
      this.#emitError(new Error(`sendPing: the connection is not open (readyState ${this.readyState})`));
      return;
    }
    ws.ping(data);
  }

  /**
   * Starts the closing handshake. `code` is a close code RFC 6455 allows (1000 if a reason
   * is given without one); an invalid code throws a TypeError.
   */
  close(code?: number, reason?: string): void {
    const ws = this.#ws;
    if (!ws) return;
    if (reason !== undefined && code === undefined) code = 1000;
    ws.close(code, reason);
  }

  /** Runs `send` now, or after a finishing binary stream; fails if the connection can't send. */
  #whenSendable(kind: string, callback: SendCallback | undefined, send: (ws: WebSocket) => void): void {
    const ws = this.#ws;
    let problem: string | null = null;
    if (!ws || ws.readyState !== Connection.OPEN) {
      problem = `can't send ${kind} data: the connection is not open (readyState ${this.readyState})`;
    } else if (this.outStream) {
      const stream = this.outStream;
      if (stream.writableEnded && !stream.destroyed) {
        // The stream's last fragment is about to go out: send right after it, in order.
        let queued = true;
        const retry = (): void => {
          if (!queued) return;
          queued = false;
          this.#whenSendable(kind, callback, send);
        };
        stream.once('finish', retry);
        stream.once('close', retry);
        return;
      }
      problem = `can't send ${kind} data while a binary transmission (beginBinary) is in progress`;
    }
    if (problem === null) {
      send(ws!);
      return;
    }
    const err = new Error(problem);
    this.#emitError(err);
    if (callback) process.nextTick(callback, err);
  }

  #emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
