/**
 * One WebSocket connection driven by hand, in either role: the conformance peer writes any
 * bytes (whole frames, frames chopped at any offset, several frames per TCP write) and reads
 * what the implementation under test sends back, frame by frame or as reassembled messages,
 * checking every rule a sender must follow (RFC 6455 sections 5.1-5.5). A breach rejects the
 * next read with an error naming the rule. Every wait takes a timeout.
 */
import { isUtf8 } from 'node:buffer';
import type net from 'node:net';
import { closePayload, DEFAULT_MAX_BYTES, encodeFrame, FrameParser, OP, sizeText, splitSizes, type Frame, type FrameSpec } from './frames.js';
import { printable } from './printable.js';
import { DEFAULT_WAIT_MS, sleep, TimeoutError, yieldToLoop } from './wait.js';

/** Which role the RAW peer plays (the implementation under test plays the other). */
export type RawRole = 'client' | 'server';

/** What the implementation under test sent, as nextEvent() reads it. */
export type PeerEvent =
  | { type: 'message'; opcode: 1 | 2; data: Buffer; frames: number }
  | { type: 'ping' | 'pong'; data: Buffer }
  | { type: 'close'; data: Buffer; code: number | undefined; reason: Buffer };

/** A one-line description of an event, for failure messages. */
export function describeEvent(ev: PeerEvent): string {
  const preview = (b: Buffer) =>
    b.length <= 24 ? `0x${b.toString('hex') || '(empty)'}` : `${b.length} bytes`;
  switch (ev.type) {
    case 'message':
      return `${ev.opcode === 1 ? 'text' : 'binary'} message (${preview(ev.data)}, ${ev.frames} frame(s))`;
    case 'close':
      return `close frame (code ${ev.code ?? 'none'}, reason "${printable(ev.reason.toString('utf8'), 125)}")`;
    default:
      return `${ev.type} (${preview(ev.data)})`;
  }
}

/** The implementation ended the TCP connection while a frame or message was awaited. */
export class ConnectionEnded extends Error {
  constructor(
    message: string,
    /** Bytes of an incomplete frame left when it ended. */
    readonly leftover: number,
  ) {
    super(message);
    this.name = 'ConnectionEnded';
  }
}

/**
 * A frame as `received` records it: every header field, and the payload only when it is small
 * (at most RECEIVED_PAYLOAD_BYTES, within a total budget), so that recording every frame of a
 * connection costs a bounded amount of memory. `payloadLength` is always the real length.
 */
export interface ReceivedFrame extends Frame {
  payloadLength: number;
  /** false when `payload` was not kept (it is then empty). */
  payloadKept: boolean;
}

/** What a queued frame counts besides its payload against the bound (its object, its header). */
const QUEUED_FRAME_COST = 256;

/** Largest payload `received` keeps (control frames are at most 125 bytes). */
export const RECEIVED_PAYLOAD_BYTES = 4096;
/** Total payload bytes `received` keeps over a connection. */
const RECEIVED_PAYLOAD_BUDGET = 1024 * 1024;
/** Frames `received` records over a connection; later ones are counted, not recorded. */
const RECEIVED_FRAMES_LIMIT = 50_000;

export interface RawConnectionOptions {
  /**
   * Bound on what is held of what the implementation sent: one frame, one reassembled message,
   * the frames received and not read yet. Beyond it the connection fails with a fatal
   * violation and the socket is destroyed. Default DEFAULT_MAX_BYTES (64 MiB).
   */
  maxBytes?: number;
}

/**
 * Follows the frames this raw peer writes, whatever bytes it writes, to know whether the last
 * write ended between two frames (a control frame may only be written there).
 */
class OutgoingFrames {
  private header: number[] = [];
  private payloadLeft = 0;

  get atBoundary(): boolean {
    return this.payloadLeft === 0 && this.header.length === 0;
  }

  feed(bytes: Uint8Array): void {
    let i = 0;
    while (i < bytes.length) {
      if (this.payloadLeft > 0) {
        const take = Math.min(this.payloadLeft, bytes.length - i);
        this.payloadLeft -= take;
        i += take;
        continue;
      }
      this.header.push(bytes[i++]!);
      const h = this.header;
      if (h.length < 2) continue;
      const len7 = h[1]! & 0x7f;
      const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      const total = 2 + ext + (h[1]! & 0x80 ? 4 : 0);
      if (h.length < total) continue;
      let length = len7;
      if (ext === 2) length = (h[2]! << 8) | h[3]!;
      else if (ext === 8) length = Number(Buffer.from(h.slice(2, 10)).readBigUInt64BE(0));
      this.header = [];
      this.payloadLeft = length;
    }
  }
}

/** A WebSocket connection whose framing is done by hand; `role` is the role of this raw side. */
export class RawConnection {
  private readonly parser: FrameParser;
  /** Frames received and not read yet. */
  private readonly queue: Frame[] = [];
  /** Payload bytes in `queue`. */
  private queuedBytes = 0;
  private readonly maxBytes: number;
  private receivedPayloadBytes = 0;
  /**
   * Frames received, in order (for checks on masking keys and such), with small payloads only
   * (see ReceivedFrame); at most RECEIVED_FRAMES_LIMIT of them.
   */
  readonly received: ReceivedFrame[] = [];
  /** Frames received beyond what `received` records. */
  receivedNotRecorded = 0;
  private readonly outgoing = new OutgoingFrames();
  private waiters = new Set<() => void>();
  /** The implementation ended its side of TCP (FIN received). */
  remoteEnded = false;
  /** The TCP socket is fully closed. */
  closed = false;
  socketErrors: Error[] = [];
  /** A data message being reassembled from fragments (RFC 6455 5.4). */
  private partial: { opcode: 1 | 2; parts: Buffer[]; frames: number; bytes: number } | undefined;
  /** A close frame was read by nextEvent. */
  closeReceived = false;
  /** A close frame was written by this raw peer. */
  closeSent = false;

  constructor(
    readonly socket: net.Socket,
    readonly role: RawRole,
    head: Buffer,
    opts: RawConnectionOptions = {},
  ) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.parser = new FrameParser(role === 'server', this.maxBytes);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.ingest(chunk);
      this.wake();
    });
    socket.on('end', () => {
      this.remoteEnded = true;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', (err) => {
      this.socketErrors.push(err);
      this.wake();
    });
    if (head.length > 0) this.ingest(head);
    if (this.parser.fatal === undefined) socket.resume();
  }

  /** The side under test, for messages. */
  private get other(): string {
    return this.role === 'client' ? 'server' : 'client';
  }

  private ingest(chunk: Buffer): void {
    if (this.parser.fatal !== undefined) return;
    this.parser.push(chunk);
    for (let f = this.parser.next(); f; f = this.parser.next()) {
      this.queue.push(f);
      this.queuedBytes += f.payload.length + QUEUED_FRAME_COST;
      this.record(f);
      if (this.queuedBytes > this.maxBytes) {
        this.fatal(
          `the ${this.other} sent more than ${sizeText(this.maxBytes)} that the check did not read yet; ` +
            `this check holds at most ${sizeText(this.maxBytes)} and stopped reading`,
        );
        return;
      }
    }
    if (this.parser.fatal !== undefined) this.fatal(this.parser.fatal);
  }

  private record(f: Frame): void {
    if (this.received.length >= RECEIVED_FRAMES_LIMIT) {
      this.receivedNotRecorded++;
      return;
    }
    const keep = f.payload.length <= RECEIVED_PAYLOAD_BYTES && this.receivedPayloadBytes + f.payload.length <= RECEIVED_PAYLOAD_BUDGET;
    if (keep) this.receivedPayloadBytes += f.payload.length;
    this.received.push({
      ...f,
      // A copy, so that a kept slice does not pin a large chunk of socket data.
      payload: keep ? Buffer.from(f.payload) : Buffer.alloc(0),
      payloadLength: f.payload.length,
      payloadKept: keep,
    });
  }

  /**
   * A breach after which nothing the implementation sends is read any more: it is recorded as a
   * framing violation (the next read rejects with it), everything held is dropped and the
   * socket is destroyed.
   */
  private fatal(reason: string): void {
    this.parser.abort(reason);
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.partial = undefined;
    this.socket.destroy();
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until `ready()` holds; rejects after `timeoutMs` with a message naming `what`. */
  waitUntil(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ready()) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** The rule breaches found so far in what the implementation sent. */
  get violations(): readonly string[] {
    return this.parser.violations;
  }

  private throwIfViolation(): void {
    if (this.parser.violations.length > 0) {
      throw new Error(`implementation under test broke the framing rules: ${this.parser.violations.join('; ')}`);
    }
  }

  /** Number of frames received and not read yet. */
  get pendingFrames(): number {
    return this.queue.length;
  }

  /** Whether everything this peer wrote so far ends at a frame boundary. */
  get atFrameBoundary(): boolean {
    return this.outgoing.atBoundary;
  }

  get writable(): boolean {
    return !this.socket.destroyed && this.socket.writable && !this.socket.writableEnded;
  }

  // -- writing --------------------------------------------------------------------------------

  /** Encodes a frame with this peer's default masking (client: masked, server: unmasked). */
  frame(spec: FrameSpec): Buffer {
    return encodeFrame(spec, this.role === 'client');
  }

  /** Writes bytes (one TCP write) and waits until they are handed to the kernel. */
  write(bytes: Uint8Array): Promise<void> {
    if (!this.writable) return Promise.resolve();
    this.outgoing.feed(bytes);
    return new Promise((resolve) => {
      this.socket.write(bytes, () => resolve());
    });
  }

  /** Writes all given frames in a single TCP write ("one chop"). */
  send(...specs: FrameSpec[]): Promise<void> {
    return this.write(Buffer.concat(specs.map((s) => this.frame(s))));
  }

  sendText(text: Uint8Array | string, fin = true): Promise<void> {
    return this.send({ opcode: OP.TEXT, payload: text, fin });
  }

  sendBinary(data: Uint8Array, fin = true): Promise<void> {
    return this.send({ opcode: OP.BINARY, payload: data, fin });
  }

  sendPing(data?: Uint8Array | string): Promise<void> {
    return this.send({ opcode: OP.PING, payload: data });
  }

  sendPong(data?: Uint8Array | string): Promise<void> {
    return this.send({ opcode: OP.PONG, payload: data });
  }

  sendClose(code?: number, reason?: Uint8Array | string): Promise<void> {
    this.closeSent = true;
    return this.send({ opcode: OP.CLOSE, payload: closePayload(code, reason) });
  }

  /**
   * Writes `bytes` in chops (sizes as for splitSizes), yielding to the event loop between
   * chops so that the implementation sees each chop in its own read, or sleeping `delayMs`
   * between chops if given. Stops quietly if the implementation closed the connection.
   */
  async writeChopped(bytes: Uint8Array, sizes: readonly number[], delayMs = 0): Promise<void> {
    let off = 0;
    for (const size of splitSizes(bytes.length, sizes)) {
      if (!this.writable || this.remoteEnded) return;
      const piece = bytes.subarray(off, off + size);
      this.outgoing.feed(piece);
      const ok = this.socket.write(piece);
      off += size;
      if (!ok) await this.waitDrain();
      if (delayMs > 0) await sleep(delayMs);
      else await yieldToLoop();
    }
  }

  private waitDrain(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Writes the frames one byte per TCP write ("octet-wise chops"). */
  sendOctetWise(...specs: FrameSpec[]): Promise<void> {
    return this.writeChopped(Buffer.concat(specs.map((s) => this.frame(s))), [1]);
  }

  /** Writes each frame in its own TCP write, `delayMs` apart ("frame-wise chops"). */
  async sendFrameWise(specs: FrameSpec[], delayMs = 10): Promise<void> {
    for (const s of specs) {
      if (!this.writable || this.remoteEnded) return;
      await this.write(this.frame(s));
      await sleep(delayMs);
    }
  }

  /** Half-closes TCP (sends FIN). */
  end(): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // -- reading --------------------------------------------------------------------------------

  /** Next frame the implementation sent. Rejects on timeout, on TCP close, on a rule breach. */
  async nextFrame(timeoutMs = DEFAULT_WAIT_MS, what = 'a frame'): Promise<Frame> {
    await this.waitUntil(
      () =>
        this.queue.length > 0 ||
        this.parser.violations.length > 0 ||
        this.remoteEnded ||
        this.closed,
      timeoutMs,
      what,
    );
    this.throwIfViolation();
    const f = this.queue.shift();
    if (!f) {
      const leftover = this.parser.bufferedBytes;
      throw new ConnectionEnded(
        `TCP connection closed by the implementation while waiting for ${what}` +
          (leftover ? ` (${leftover} bytes of an incomplete frame left)` : ''),
        leftover,
      );
    }
    this.queuedBytes -= f.payload.length + QUEUED_FRAME_COST;
    return f;
  }

  /**
   * Next message or control frame: data frames are reassembled into messages (RFC 6455 5.4);
   * control frames are returned as they come, also between the fragments of a message.
   * Checks the frame rules an implementation's sender must follow.
   */
  async nextEvent(timeoutMs = DEFAULT_WAIT_MS, what = 'a message or control frame'): Promise<PeerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = await this.nextFrame(Math.max(1, deadline - Date.now()), what);
      if (f.rsv1 || f.rsv2 || f.rsv3) {
        throw new Error(`frame with opcode ${f.opcode} has a reserved bit set though no extension was negotiated (RFC 6455 5.2)`);
      }
      if (f.opcode >= 8) {
        if (!f.fin) throw new Error(`fragmented control frame, opcode ${f.opcode} (RFC 6455 5.5)`);
        if (f.payload.length > 125) {
          throw new Error(`control frame with ${f.payload.length}-byte payload (RFC 6455 5.5: at most 125)`);
        }
        if (f.opcode === OP.PING) return { type: 'ping', data: f.payload };
        if (f.opcode === OP.PONG) return { type: 'pong', data: f.payload };
        if (f.opcode === OP.CLOSE) {
          if (this.closeReceived) throw new Error('a second close frame was sent (RFC 6455 5.5.1)');
          this.closeReceived = true;
          if (f.payload.length === 1) throw new Error('close frame with a 1-byte payload (RFC 6455 5.5.1)');
          const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
          const reason = f.payload.subarray(2);
          if (!isUtf8(reason)) throw new Error('close reason sent is not valid UTF-8 (RFC 6455 5.5.1)');
          return { type: 'close', data: f.payload, code, reason };
        }
        throw new Error(`frame with reserved control opcode ${f.opcode} (RFC 6455 5.2)`);
      }
      if (this.closeReceived) {
        throw new Error('data frame sent after a close frame (RFC 6455 5.5.1)');
      }
      if (f.opcode === OP.CONT) {
        if (!this.partial) throw new Error('continuation frame with no message to continue (RFC 6455 5.4)');
        if (this.partial.bytes + f.payload.length > this.maxBytes) {
          const reason =
            `the ${this.other} sent a message of more than ${sizeText(this.maxBytes)} (${this.partial.frames + 1} fragments so far); ` +
            `this check holds at most ${sizeText(this.maxBytes)} and stopped reading`;
          this.fatal(reason);
          throw new Error(`implementation under test broke the framing rules: ${reason}`);
        }
        this.partial.parts.push(f.payload);
        this.partial.bytes += f.payload.length;
        this.partial.frames++;
      } else if (f.opcode === OP.TEXT || f.opcode === OP.BINARY) {
        if (this.partial) throw new Error('new data frame while a fragmented message is open (RFC 6455 5.4)');
        this.partial = { opcode: f.opcode, parts: [f.payload], frames: 1, bytes: f.payload.length };
      } else {
        throw new Error(`frame with reserved data opcode ${f.opcode} (RFC 6455 5.2)`);
      }
      if (f.fin) {
        const p = this.partial;
        this.partial = undefined;
        const data = p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts);
        return { type: 'message', opcode: p.opcode, data, frames: p.frames };
      }
    }
  }

  /** Waits until the implementation ended or closed the TCP connection. */
  waitRemoteEnd(timeoutMs = DEFAULT_WAIT_MS, what = 'the implementation to close the TCP connection'): Promise<void> {
    return this.waitUntil(() => this.remoteEnded || this.closed, timeoutMs, what);
  }

  /** Waits until the TCP socket is fully closed. */
  waitClosed(timeoutMs = DEFAULT_WAIT_MS, what = 'the TCP connection to close'): Promise<void> {
    return this.waitUntil(() => this.closed, timeoutMs, what);
  }
}

