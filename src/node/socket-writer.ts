import type { Socket } from 'node:net';

import type { WriteCallback } from '../protocol/index.js';

export type { WriteCallback };

/** Batches up to this size are joined into one buffer; larger ones go out with writev. */
const JOIN_LIMIT = 16 * 1024;

/** Writers with queued output, flushed together once the current tick ends. */
const dirty: SocketWriter[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  // A flush may queue more output (a callback that sends): those writers go to the next round.
  const writers = dirty.splice(0, dirty.length);
  for (const writer of writers) writer.flush();
}

/**
 * Batches the frames a connection produces during one tick into one socket write (or one
 * writev): a burst of sends, or all replies to one read, costs one system call.
 */
export class SocketWriter {
  /** Bytes queued here and not yet handed to the socket. */
  queuedBytes = 0;
  private chunks: Buffer[] = [];
  private callbacks: WriteCallback[] | null = null;
  private queued = false;
  private readonly socket: Socket;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  /** Queues bytes for the socket; `cb` runs once they are written (or failed). */
  write = (data: Buffer, cb?: WriteCallback): void => {
    this.chunks.push(data);
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
  };

  /** Hands everything queued to the socket now. */
  flush(): void {
    this.queued = false;
    const chunks = this.chunks;
    if (chunks.length === 0) return;
    const callbacks = this.callbacks;
    const bytes = this.queuedBytes;
    this.chunks = [];
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

  /** Drops queued output, failing its callbacks. */
  discard(error: Error): void {
    const callbacks = this.callbacks;
    this.chunks = [];
    this.callbacks = null;
    this.queuedBytes = 0;
    if (callbacks !== null) process.nextTick(runCallbacks, callbacks, error);
  }
}

function runCallbacks(callbacks: WriteCallback[], error?: Error | null): void {
  for (const cb of callbacks) cb(error ?? null);
}
