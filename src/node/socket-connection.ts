import type { Socket } from 'node:net';
import { Connection, type ConnectionOptions, type ProtocolError, type WriteCallback } from '../protocol/index.js';

/** What a SocketConnection reports to the WebSocket that owns it. */
export const kMessage = Symbol('fullduplex.message');
export const kPeerClose = Symbol('fullduplex.peerClose');
export const kProtocolError = Symbol('fullduplex.protocolError');
export const kBackpressured = Symbol('fullduplex.backpressured');
export const kAfterRead = Symbol('fullduplex.afterRead');
export const kSocketEnd = Symbol('fullduplex.socketEnd');
export const kSocketError = Symbol('fullduplex.socketError');
export const kSocketClose = Symbol('fullduplex.socketClose');

export interface ConnectionOwner {
  emit(event: string | symbol, ...args: unknown[]): boolean;
  [kMessage](data: Buffer, isBinary: boolean): void;
  [kPeerClose](): void;
  [kProtocolError](error: ProtocolError): void;
  [kBackpressured](): boolean;
  [kAfterRead](): void;
  [kSocketEnd](): void;
  [kSocketError](): void;
  [kSocketClose](): void;
}

/** Batches up to this size are joined into one buffer; larger ones go out with writev. */
const JOIN_LIMIT = 16 * 1024;

/** Connections with queued output, flushed together once the current tick ends. */
const dirty: SocketConnection[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  // A flush may queue more output (a callback that sends): that goes in the next round.
  const connections = dirty.splice(0, dirty.length);
  for (const connection of connections) connection.flush();
}

/** Whatever currently handles a socket's events: the handshake reader, then the connection. */
export interface SocketHandler {
  socketData(chunk: Buffer): void;
  socketEnd(): void;
  socketError(): void;
  socketClose(): void;
}

const kHandler = Symbol('fullduplex.handler');
type HandledSocket = Socket & { [kHandler]?: SocketHandler };

// The socket's listeners are added once, as shared functions, and never removed: they reach
// the current handler through the socket. A connection costs no closures, and the socket's
// listener table never has keys deleted (which would turn it into a slow, larger dictionary).
function onData(this: HandledSocket, chunk: Buffer): void {
  this[kHandler]!.socketData(chunk);
}
function onEnd(this: HandledSocket): void {
  this[kHandler]!.socketEnd();
}
function onError(this: HandledSocket): void {
  this[kHandler]!.socketError();
}
function onClose(this: HandledSocket): void {
  this[kHandler]!.socketClose();
}

/** Routes a socket's events to `handler`, adding the shared listeners the first time. */
export function setSocketHandler(socket: Socket, handler: SocketHandler): void {
  const handled = socket as HandledSocket;
  const first = handled[kHandler] === undefined;
  handled[kHandler] = handler;
  if (first) {
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
  }
}

/** Whether our listeners already handle this socket's errors. */
export function hasSocketHandler(socket: object): boolean {
  return (socket as HandledSocket)[kHandler] !== undefined;
}

/**
 * The protocol state machine bound to a socket. Frames produced during one tick go out in
 * one socket write (or one writev): a burst of sends, or all replies to one read, costs one
 * system call. Events go to the owning WebSocket.
 */
export class SocketConnection extends Connection implements SocketHandler {
  readonly socket: Socket;
  readonly owner: ConnectionOwner;
  /** Bytes queued here and not yet handed to the socket. */
  queuedBytes = 0;
  /** Something arrived from the peer (for the heartbeat). */
  alive = true;
  private chunks: Buffer[] | null = null;
  private callbacks: WriteCallback[] | null = null;
  private queued = false;

  constructor(socket: Socket, owner: ConnectionOwner, options: ConnectionOptions) {
    super(options);
    this.socket = socket;
    this.owner = owner;
  }

  /** Starts reading the socket; `head` holds bytes that arrived with the handshake. */
  attach(head: Buffer): void {
    const socket = this.socket;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    if (head.length > 0) socket.unshift(head);
    setSocketHandler(socket, this);
    // A socket handed over paused (by the handshake reader) must flow again.
    if (socket.readableFlowing !== true) socket.resume();
  }

  socketData(chunk: Buffer): void {
    this.alive = true;
    this.receive(chunk);
    this.owner[kAfterRead]();
  }

  socketEnd(): void {
    this.owner[kSocketEnd]();
  }

  socketError(): void {
    this.owner[kSocketError]();
  }

  socketClose(): void {
    this.owner[kSocketClose]();
  }

  protected write(data: Buffer, cb?: WriteCallback): void {
    (this.chunks ??= []).push(data);
    this.queuedBytes += data.length;
    if (cb !== undefined) (this.callbacks ??= []).push(cb);
    if (!this.queued) {
      this.queued = true;
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flushAll);
      }
    }
  }

  /** Hands everything queued to the socket now. */
  flush(): void {
    this.queued = false;
    const chunks = this.chunks;
    if (chunks === null) return;
    const callbacks = this.callbacks;
    const bytes = this.queuedBytes;
    this.chunks = null;
    this.callbacks = null;
    this.queuedBytes = 0;
    const socket = this.socket;
    const done = callbacks === null ? undefined : (error?: Error | null): void => runCallbacks(callbacks, error);
    if (socket.destroyed || !socket.writable) {
      if (done) process.nextTick(done, new Error('The socket was closed before the data was written'));
      return;
    }
    if (chunks.length === 1) {
      socket.write(chunks[0]!, done);
    } else if (bytes <= JOIN_LIMIT) {
      socket.write(Buffer.concat(chunks, bytes), done);
    } else {
      socket.cork();
      const last = chunks.length - 1;
      for (let i = 0; i < last; i++) socket.write(chunks[i]!);
      socket.write(chunks[last]!, done);
      socket.uncork();
    }
  }

  /** Drops queued output, failing its callbacks with the error `makeError` builds (if any). */
  discard(makeError: () => Error): void {
    const callbacks = this.callbacks;
    this.chunks = null;
    this.callbacks = null;
    this.queuedBytes = 0;
    if (callbacks !== null) process.nextTick(runCallbacks, callbacks, makeError());
  }

  protected handleMessage(data: Buffer, isBinary: boolean): void {
    this.owner[kMessage](data, isBinary);
  }

  protected handlePing(data: Buffer): void {
    this.owner.emit('ping', data);
  }

  protected handlePong(data: Buffer): void {
    this.owner.emit('pong', data);
  }

  protected handlePeerClose(): void {
    this.owner[kPeerClose]();
  }

  protected handleProtocolError(error: ProtocolError): void {
    this.owner[kProtocolError](error);
  }

  protected override isBackpressured(): boolean {
    return this.owner[kBackpressured]();
  }
}

function runCallbacks(callbacks: WriteCallback[], error?: Error | null): void {
  for (const cb of callbacks) cb(error ?? null);
}
