import { EventEmitter } from 'node:events';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import {
  Hold,
  isUtf8,
  isValidWireCloseCode,
  type MessageCompressor,
  MAX_CLOSE_REASON_BYTES,
  MAX_CONTROL_PAYLOAD,
  type ProtocolError,
  ReadyState,
  type ReadyStateValue,
} from '../protocol/index.js';
import { type ClientOptions, startClientHandshake } from './client-handshake.js';
import { addEventListener, defineOnAttributes, type EventHandler, removeEventListener } from './event-target.js';
import {
  type ConnectionOwner,
  kAfterRead,
  kBackpressured,
  kMessage,
  kPeerClose,
  kProtocolError,
  kSocketClose,
  kSocketEnd,
  kSocketError,
  SocketConnection,
} from './socket-connection.js';
import type { WriteCallback } from '../protocol/index.js';
import { PreparedMessage } from './prepared-message.js';
import { type ByteSource, toBuffer } from './to-buffer.js';

export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments';
export type { ClientOptions } from './client-handshake.js';

/** Data `send()` accepts (as in `ws`). */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView | Blob | readonly number[] | number | PreparedMessage;

export interface SendOptions {
  /** Send as a binary message (default: true unless `data` is a string). */
  binary?: boolean;
  /** Last fragment of the message (default true); false leaves the message open. */
  fin?: boolean;
  /** Compress the message when permessage-deflate was negotiated (default true). */
  compress?: boolean;
  /** Accepted for compatibility with `ws`; frames are masked by role as RFC 6455 section 5.1 requires. */
  mask?: boolean;
}

/** Options that apply to an established connection, in both roles. */
export interface ConnectionSettings {
  /** Largest incoming message in bytes, after decompression (default 100 MiB, as in ws). */
  maxPayload?: number;
  /** Most frames one incoming message may span (default 131,072). */
  maxFragments?: number;
  skipUTF8Validation?: boolean;
  autoPong?: boolean;
  allowSynchronousEvents?: boolean;
  /** Milliseconds to wait for the closing handshake before dropping the connection (default 30 s). */
  closeTimeout?: number;
  /**
   * Most bytes queued for a peer that does not read (default 64 MiB). A send that would pass
   * it while data is already queued triggers `onBufferFull`. A single message larger than the
   * limit still goes out when nothing is queued.
   */
  maxBufferedAmount?: number;
  /** 'close' (default): close with 1008 and drop the peer after closeTimeout; 'drop': drop the message. */
  onBufferFull?: 'close' | 'drop';
  /** Ping the peer every this many ms and drop it if nothing arrived since the last ping (default 0: off). */
  heartbeatInterval?: number;
}

const EMPTY = Buffer.alloc(0);
const STATE_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
/** ws's default limit on incoming messages: 100 MiB. */
export const DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;
/** How long to wait for the peer to finish the closing handshake before dropping the connection. */
export const DEFAULT_CLOSE_TIMEOUT = 30_000;
/** Bytes queued for a slow peer before `onBufferFull` applies. */
export const DEFAULT_MAX_BUFFERED_AMOUNT = 64 * 1024 * 1024;

type Payload = Buffer | string | PreparedMessage;

/** A send (or the close after it) waiting behind a Blob being read. */
type QueuedItem =
  | { payload: Payload | Blob; binary: boolean; fin: boolean; compress: boolean; cb: WriteCallback | undefined }
  | { close: true; code: number | undefined; reason: Buffer | string | undefined };

/**
 * A WebSocket connection, client or server side, with the public API of the `ws` package:
 * the same constructor, options, events, methods and error messages, so a `ws` user switches
 * by changing the import. The protocol itself lives in `src/protocol/`; this class binds it
 * to a socket (backpressure, timers, the closing handshake's TCP teardown).
 */
/**
 * The listener table of a WebSocket. EventEmitter's own is a null-prototype literal, which V8
 * keeps in dictionary mode (about 250 bytes once a few events have listeners); instances of an
 * empty constructor whose prototype has no prototype are fast objects with the same lookups.
 */
function Listeners(): void {}
Listeners.prototype = Object.create(null);

export class WebSocket extends EventEmitter {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;
  declare onopen: EventHandler | null;
  declare onmessage: EventHandler | null;
  declare onclose: EventHandler | null;
  declare onerror: EventHandler | null;

  private _readyState: ReadyStateValue = ReadyState.CONNECTING;
  private _binaryType: BinaryType = 'nodebuffer';
  private _protocol = '';
  private _extensions = '';
  /** @internal The client URL (updated when a redirect is followed). */
  _url: string | undefined;
  private _isServer = true;
  private _socket: Socket | null = null;
  private _connection: SocketConnection | null = null;
  private _paused = false;
  private _closeTimer: NodeJS.Timeout | null = null;
  private _closeTimeout = DEFAULT_CLOSE_TIMEOUT;
  private _bufferedAfterClose = 0;
  private _errorEmitted = false;
  private _sendQueue: QueuedItem[] | null = null;
  /** An outgoing fragmented message is open (its first frame went out). */
  private _fragmenting = false;
  /** The first frame of the open outgoing message was dropped (onBufferFull 'drop'): drop the rest. */
  private _dropping = false;
  private _deferMessages = false;
  private _maxBuffered = DEFAULT_MAX_BUFFERED_AMOUNT;
  private _dropWhenFull = false;
  private _heartbeat: NodeJS.Timeout | null = null;

  /** The client's handshake request while CONNECTING. */
  _req: ClientRequest | null = null;

  /**
   * Opens a client connection to `address` (ws:, wss:, http:, https: or ws+unix:).
   * `address` is null for the server side, where `WebSocketServer` calls `setSocket()`.
   */
  constructor(address: string | URL | null, protocols?: string | string[] | ClientOptions, options?: ClientOptions) {
    super();
    (this as unknown as { _events: object })._events = new (Listeners as unknown as new () => object)();
    if (address === null) return;
    this._isServer = false;
    if (protocols !== undefined && typeof protocols === 'object' && !Array.isArray(protocols)) {
      options = protocols;
      protocols = undefined;
    }
    const list = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols as string];
    this._url = startClientHandshake(this, address, list, options ?? {});
  }

  get binaryType(): BinaryType {
    return this._binaryType;
  }

  set binaryType(type: BinaryType) {
    if (type === 'nodebuffer' || type === 'arraybuffer' || type === 'fragments') this._binaryType = type;
  }

  /** Bytes queued by `send()` and not yet written to the network. */
  get bufferedAmount(): number {
    const socket = this._socket;
    if (socket === null) return this._bufferedAfterClose;
    const connection = this._connection!;
    return socket.writableLength + connection.queuedBytes + connection.pendingBytes + this._bufferedAfterClose;
  }

  /** The negotiated extensions' names, comma-separated (as in `ws`). */
  get extensions(): string {
    return this._extensions;
  }

  get isPaused(): boolean {
    return this._paused;
  }

  /** The negotiated subprotocol, or ''. */
  get protocol(): string {
    return this._protocol;
  }

  get readyState(): ReadyStateValue {
    return this._readyState;
  }

  /** The URL of a client connection (undefined on the server side). */
  get url(): string | undefined {
    return this._url;
  }

  /** Whether the closing handshake completed (both Close frames exchanged). */
  get cleanClose(): boolean {
    return this._connection?.closingHandshakeDone ?? false;
  }

  addEventListener(type: string, handler: EventHandler, options?: { once?: boolean }): void {
    addEventListener.call(this, type, handler, options);
  }

  removeEventListener(type: string, handler: EventHandler): void {
    removeEventListener.call(this, type, handler);
  }

  /**
   * Takes over a socket whose opening handshake is done. `head` holds bytes that arrived
   * after the handshake. Called by `WebSocketServer` and by the client handshake.
   */
  setSocket(
    socket: Socket,
    head: Buffer,
    options: ConnectionSettings & { protocol?: string; extensions?: string; compressor?: MessageCompressor },
  ): void {
    const connection = new SocketConnection(socket, this as ConnectionOwner, {
      role: this._isServer ? 'server' : 'client',
      maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      maxFragments: options.maxFragments,
      skipUtf8Validation: options.skipUTF8Validation === true,
      autoPong: options.autoPong !== false,
    });
    this._socket = socket;
    this._connection = connection;
    if (options.compressor) connection.useCompressor(options.compressor);
    this._closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this._protocol = options.protocol ?? '';
    this._extensions = options.extensions ?? '';
    this._deferMessages = options.allowSynchronousEvents === false;
    this._maxBuffered = options.maxBufferedAmount ?? DEFAULT_MAX_BUFFERED_AMOUNT;
    this._dropWhenFull = options.onBufferFull === 'drop';
    connection.attach(head);
    if (options.heartbeatInterval && options.heartbeatInterval > 0) this.startHeartbeat(options.heartbeatInterval);
    this._readyState = ReadyState.OPEN;
    this.emit('open');
  }

  /**
   * Sends a message. `cb(error)` runs once the frame is written to the socket. Sending
   * after `close()` does not throw: the data is counted in `bufferedAmount` and `cb` gets
   * an error, as in `ws`.
   */
  send(data: SendData, options?: SendOptions | WriteCallback, cb?: WriteCallback): void {
    if (typeof options === 'function') {
      cb = options;
      options = {};
    }
    if (this._readyState === ReadyState.CONNECTING) throw notOpenError(this._readyState);
    if (typeof data === 'number') data = data.toString();
    if (this._readyState !== ReadyState.OPEN) {
      this.sendAfterClose(data, cb);
      return;
    }
    const binary = data instanceof PreparedMessage ? data.binary : (options?.binary ?? typeof data !== 'string');
    const fin = options?.fin ?? true;
    const compress = options?.compress ?? true;
    // Converted now, so a bad argument throws here even when the send has to wait.
    const payload = isBlob(data) ? data : toPayload(data);
    if (this._sendQueue !== null || isBlob(payload)) {
      this.enqueue({ payload, binary, fin, compress, cb });
      return;
    }
    this.deliver(payload, binary, fin, compress, cb);
  }

  /** Sends a Ping frame (RFC 6455 section 5.5.2) with at most 125 bytes of data. */
  ping(data?: SendData | WriteCallback, mask?: boolean | WriteCallback, cb?: WriteCallback): void {
    this.control('ping', data, mask, cb);
  }

  /** Sends an unsolicited Pong frame (RFC 6455 section 5.5.3, a unidirectional heartbeat). */
  pong(data?: SendData | WriteCallback, mask?: boolean | WriteCallback, cb?: WriteCallback): void {
    this.control('pong', data, mask, cb);
  }

  /**
   * Starts the closing handshake (RFC 6455 section 7.1.2). `code` must be a status code
   * valid on the wire (section 7.4); the reason is at most 123 bytes of UTF-8. Without a
   * code, the Close frame has no payload.
   */
  close(code?: number, reason?: string | Buffer | ArrayBuffer | ArrayBufferView): void {
    if (this._readyState === ReadyState.CLOSED) return;
    if (this._readyState === ReadyState.CONNECTING) {
      this.abortHandshake(new Error('WebSocket was closed before the connection was established'));
      return;
    }
    const connection = this._connection!;
    if (this._readyState === ReadyState.CLOSING) {
      if (connection.closingHandshakeDone) this.endSocket();
      return;
    }
    if (code !== undefined && (typeof code !== 'number' || !isValidWireCloseCode(code))) {
      throw new TypeError('First argument must be a valid error code number');
    }
    // Any byte source is accepted, but only its own bytes are sent (never uninitialised memory).
    const reasonBytes = reason === undefined || typeof reason === 'string' ? reason : toBuffer(reason);
    if (reasonBytes !== undefined && Buffer.byteLength(reasonBytes) > MAX_CLOSE_REASON_BYTES) {
      throw new RangeError('The message must not be greater than 123 bytes');
    }
    // RFC 6455 section 5.5.1: the reason is UTF-8 (a peer would fail the connection with 1007).
    if (Buffer.isBuffer(reasonBytes) && !isUtf8(reasonBytes)) throw new TypeError('The close reason must be valid UTF-8');
    this._readyState = ReadyState.CLOSING;
    const reasonToSend = code === undefined ? undefined : reasonBytes;
    // RFC 6455 section 5.5.1: no data after the Close frame, so it waits for queued sends.
    if (this._sendQueue !== null) this._sendQueue.push({ close: true, code, reason: reasonToSend });
    else this.sendClose(code, reasonToSend);
  }

  private sendClose(code: number | undefined, reason: Buffer | string | undefined): void {
    this._connection!.close(code, reason);
    this.startCloseTimer();
  }

  /** Drops the connection at once, without a closing handshake. */
  terminate(): void {
    if (this._readyState === ReadyState.CLOSED) return;
    if (this._readyState === ReadyState.CONNECTING) {
      this.abortHandshake(new Error('WebSocket was closed before the connection was established'));
      return;
    }
    this._readyState = ReadyState.CLOSING;
    this._socket!.destroy();
  }

  /** Stops reading from the peer; messages already read wait until `resume()`. */
  pause(): void {
    if (this._readyState === ReadyState.CONNECTING || this._readyState === ReadyState.CLOSED) return;
    this._paused = true;
    this._connection!.parser.pause();
    this._socket!.pause();
  }

  resume(): void {
    if (this._readyState === ReadyState.CONNECTING || this._readyState === ReadyState.CLOSED) return;
    this._paused = false;
    this._connection!.parser.resume();
    if (!this._paused) this._socket!.resume();
  }

  // Client handshake hooks (used by client-handshake.ts)

  /** Fails the opening handshake: 'error' (if anyone listens), then 'close' with 1006. */
  abortHandshake(error: Error): void {
    if (this._readyState === ReadyState.CLOSED) return;
    this._readyState = ReadyState.CLOSING;
    const req = this._req;
    this._req = null;
    if (req !== null) {
      req.destroy();
      req.on('error', () => {});
    }
    if (this._socket !== null && !this._socket.destroyed) this._socket.destroy();
    process.nextTick(() => {
      this._readyState = ReadyState.CLOSED;
      this.emitError(error);
      this.emit('close', 1006, EMPTY);
    });
  }

  /** Emits 'error' once, and only when someone listens (an unheard 'error' would kill the process). */
  emitError(error: unknown): void {
    if (this._errorEmitted) return;
    this._errorEmitted = true;
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  // Reports from the SocketConnection

  [kMessage](data: Buffer, isBinary: boolean): void {
    if (this._deferMessages) {
      // allowSynchronousEvents: false: at most one message per turn of the event loop.
      const parser = this._connection!.parser;
      parser.pause(Hold.DEFER);
      setImmediate(() => parser.resume(Hold.DEFER));
    }
    this.emit('message', isBinary ? this.convertBinary(data) : data, isBinary);
  }

  [kPeerClose](): void {
    this._readyState = ReadyState.CLOSING;
    this.finishClosingHandshake();
  }

  [kProtocolError](error: ProtocolError): void {
    // RFC 6455 section 7.1.7: after our Close frame, close the TCP connection.
    this._readyState = ReadyState.CLOSING;
    this.endSocket();
    this.startCloseTimer();
    this.emitError(error);
  }

  [kBackpressured](): boolean {
    return this.bufferedAmount > this._maxBuffered;
  }

  /** After each read: replies to a ping flood count too, so a peer that never reads is cut off. */
  [kAfterRead](): void {
    if (!this._dropWhenFull && this._readyState === ReadyState.OPEN && this.bufferedAmount > this._maxBuffered) {
      this.bufferFull();
    }
  }

  [kSocketEnd](): void {
    if (this._readyState === ReadyState.OPEN) this._readyState = ReadyState.CLOSING;
    this.endSocket();
  }

  [kSocketError](): void {
    // A transport error (ECONNRESET, EPIPE...) ends the connection: 'close' with 1006 follows.
    if (this._readyState !== ReadyState.CLOSED) this._readyState = ReadyState.CLOSING;
    this._socket!.destroy();
  }

  [kSocketClose](): void {
    const connection = this._connection!;
    this._readyState = ReadyState.CLOSED;
    if (this._heartbeat !== null) clearInterval(this._heartbeat);
    this._heartbeat = null;
    connection.transportClosed();
    connection.discard(() => notOpenError(ReadyState.CLOSED));
    if (this._closeTimer !== null) clearTimeout(this._closeTimer);
    this._closeTimer = null;
    this.emit('close', connection.closeCode, connection.closeReason);
  }

  // Internals

  private convertBinary(data: Buffer): Buffer | ArrayBuffer | Buffer[] {
    switch (this._binaryType) {
      case 'arraybuffer':
        if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data.buffer as ArrayBuffer;
        return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
      case 'fragments':
        return [data];
      default:
        return data;
    }
  }

  /**
   * Both Close frames are exchanged (RFC 6455 section 7.1.1): the server closes the TCP
   * connection first; the client waits for that, then closes its side.
   */
  private finishClosingHandshake(): void {
    if (this._isServer) this.endSocket();
    else this.startCloseTimer();
  }

  /** Flushes queued frames and half-closes the socket. */
  private endSocket(): void {
    this._connection!.flush();
    this._socket!.end();
  }

  private startCloseTimer(): void {
    if (this._closeTimer !== null) return;
    this._closeTimer = setTimeout(() => this._socket!.destroy(), this._closeTimeout);
  }

  private control(kind: 'ping' | 'pong', data: unknown, mask: unknown, cb: WriteCallback | undefined): void {
    if (this._readyState === ReadyState.CONNECTING) throw notOpenError(this._readyState);
    if (typeof data === 'function') {
      cb = data as WriteCallback;
      data = undefined;
    } else if (typeof mask === 'function') {
      cb = mask as WriteCallback;
    }
    if (typeof data === 'number') data = data.toString();
    const payload = data === undefined ? EMPTY : toBuffer(data as ByteSource);
    if (payload.length > MAX_CONTROL_PAYLOAD) throw new RangeError('The data size must not be greater than 125 bytes');
    if (this._readyState !== ReadyState.OPEN) {
      this.sendAfterClose(payload, cb);
      return;
    }
    if (kind === 'ping') this._connection!.ping(payload, cb);
    else this._connection!.pong(payload, cb);
  }

  /**
   * Hands a message (or fragment) to the connection, applying `maxBufferedAmount` per whole
   * message: a message whose first frame was dropped is dropped whole, and one whose first
   * frame went out is finished (RFC 6455 section 5.4: fragments are not interleaved or lost).
   */
  private deliver(payload: Payload, binary: boolean, fin: boolean, compress: boolean, cb: WriteCallback | undefined): void {
    if (this._dropping) {
      if (fin) this._dropping = false;
      if (cb !== undefined) process.nextTick(cb, bufferFullError());
      return;
    }
    if (!this._fragmenting && this.wouldOverflow(payload)) {
      if (cb !== undefined) process.nextTick(cb, bufferFullError());
      if (this._dropWhenFull) this._dropping = !fin;
      else this.bufferFull();
      return;
    }
    this._fragmenting = !fin;
    if (payload instanceof PreparedMessage) {
      if (this._connection!.sendFrame(payload.frame, payload.data.length, compress, cb)) return;
      payload = payload.data;
    }
    this._connection!.send(payload, binary, fin, compress, cb);
  }

  /** Would this send push the queue past `maxBufferedAmount` while data is already waiting? */
  private wouldOverflow(payload: Payload): boolean {
    const queued = this.bufferedAmount;
    const size = payload instanceof PreparedMessage ? payload.data.length : payload.length;
    return queued > 0 && queued + size > this._maxBuffered;
  }

  /** onBufferFull 'close': RFC 6455 status 1008, then the close timer drops a peer that never reads. */
  private bufferFull(): void {
    if (this._readyState !== ReadyState.OPEN) return;
    this.close(1008, 'Send buffer limit exceeded');
  }

  /** Pings every `interval` ms; a peer that sent nothing since the previous ping is dropped. */
  private startHeartbeat(interval: number): void {
    this._heartbeat = setInterval(() => {
      if (this._readyState !== ReadyState.OPEN) return;
      const connection = this._connection!;
      if (!connection.alive) {
        this.emitError(Object.assign(new Error('The peer missed its heartbeat'), { code: 'WS_ERR_HEARTBEAT_TIMEOUT' }));
        this.terminate();
        return;
      }
      connection.alive = false;
      connection.ping();
    }, interval);
    this._heartbeat.unref();
  }

  private sendAfterClose(data: SendData, cb: WriteCallback | undefined): void {
    if (isBlob(data)) this._bufferedAfterClose += data.size;
    else if (data instanceof PreparedMessage) this._bufferedAfterClose += data.data.length;
    else this._bufferedAfterClose += toBuffer(data).length;
    if (cb !== undefined) process.nextTick(cb, notOpenError(this._readyState));
  }

  /** Sends (and a close) wait in order behind a Blob whose bytes are being read. */
  private enqueue(item: QueuedItem): void {
    if (this._sendQueue !== null) {
      this._sendQueue.push(item);
      return;
    }
    this._sendQueue = [item];
    void this.drainQueue();
  }

  private async drainQueue(): Promise<void> {
    const queue = this._sendQueue!;
    while (queue.length > 0) {
      const item = queue[0]!;
      if ('close' in item) {
        queue.shift();
        if (this._readyState !== ReadyState.CLOSED) this.sendClose(item.code, item.reason);
        continue;
      }
      let payload = item.payload;
      if (isBlob(payload)) {
        try {
          payload = Buffer.from(await payload.arrayBuffer());
        } catch (error) {
          queue.shift();
          if (item.cb) item.cb(error as Error);
          continue;
        }
      }
      queue.shift();
      if (this._connection === null || this._connection.readyState !== ReadyState.OPEN) {
        this.sendAfterClose(payload, item.cb);
        continue;
      }
      this.deliver(payload, item.binary, item.fin, item.compress, item.cb);
    }
    this._sendQueue = null;
  }
}

for (const [i, name] of STATE_NAMES.entries()) {
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value: i });
}
defineOnAttributes(WebSocket.prototype);

function bufferFullError(): Error {
  return Object.assign(new Error('Send buffer limit exceeded (maxBufferedAmount)'), { code: 'WS_ERR_BUFFER_FULL' });
}

function notOpenError(state: number): Error {
  return new Error(`WebSocket is not open: readyState ${state} (${STATE_NAMES[state]})`);
}

function isBlob(data: unknown): data is Blob {
  return typeof Blob !== 'undefined' && data instanceof Blob;
}

/** Strings stay strings (encoded straight into the frame); everything else becomes a Buffer. */
/** Strings stay strings (encoded straight into the frame); prepared messages stay prepared. */
function toPayload(data: Exclude<SendData, Blob>): Payload {
  return typeof data === 'string' || data instanceof PreparedMessage ? data : toBuffer(data);
}

export type { IncomingMessage };
