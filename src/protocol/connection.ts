import { ProtocolError } from './errors.js';
import { isUtf8 } from './utf8.js';
import { headerSize, Opcode, writeHeader } from './frame.js';
import { applyMask, nextMaskKey } from './mask.js';
import { Hold, Parser, type ParserHandler } from './parser.js';

/** The states of a connection (RFC 6455 sections 4 and 7; WHATWG readyState values). */
export const ReadyState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
export type ReadyStateValue = (typeof ReadyState)[keyof typeof ReadyState];

export type Role = 'client' | 'server';

export type WriteCallback = (error?: Error | null) => void;

/**
 * A message compressor negotiated as an extension (RFC 7692), supplied by the I/O layer.
 * Both functions complete asynchronously, in call order.
 */
export interface MessageCompressor {
  /** Messages smaller than this are not compressed. */
  readonly threshold: number;
  /** Compresses one fragment; `fin` ends the message (the trailing 00 00 FF FF is removed). */
  compress(data: Buffer, fin: boolean, cb: (error: Error | null, result?: Buffer) => void): void;
  /** Inflates one whole message, failing with a ProtocolError (1009) past `maxLength` bytes. */
  decompress(data: Buffer, maxLength: number, cb: (error: Error | null, result?: Buffer) => void): void;
  /** Frees the compression state. */
  close(): void;
}

export interface ConnectionOptions {
  role: Role;
  /** Largest incoming message in bytes, 0 for no limit. */
  maxPayload: number;
  /** Most frames in one incoming message, 0 for no limit. */
  maxFragments?: number;
  skipUtf8Validation: boolean;
  /** Answer pings with pongs automatically (section 5.5.2). */
  autoPong: boolean;
}

const EMPTY = Buffer.alloc(0);
/**
 * Server payloads up to this size are copied next to their header (one small buffer); larger
 * ones go out as header + the payload itself, gathered by writev.
 */
const COPY_THRESHOLD = 1024;

/**
 * The sans-I/O state machine of an established connection: bytes in through `receive()`,
 * frames out through `write()`, events out through the `handle*` methods, OPEN -> CLOSING ->
 * CLOSED with the closing handshake of section 7 in both directions. An I/O layer subclasses
 * it (methods, not closures: one object per connection); timers and the TCP connection
 * belong to that layer, which calls `transportClosed()` when the connection is gone.
 */
export abstract class Connection implements ParserHandler {
  readonly role: Role;
  readyState: ReadyStateValue = ReadyState.OPEN;
  /** Our Close frame has been queued. */
  closeSent = false;
  /** The peer's Close frame has been received. */
  closeReceived = false;
  /** The code of the peer's Close frame: 1005 if it had none, 1006 if none came (section 7.1.5). */
  closeCode = 1006;
  closeReason: Buffer = EMPTY;

  readonly parser: Parser;
  private readonly autoPong: boolean;
  private readonly masking: boolean;
  private readonly maxPayload: number;
  private readonly validateUtf8: boolean;
  /** An outgoing message sent with `fin: false` is open: the next frames are continuations. */
  private fragmenting = false;
  private compressor: MessageCompressor | null = null;
  /** Whether the outgoing message being sent is compressed (decided on its first frame). */
  private compressingMessage = false;
  /** Outgoing operations waiting behind a compression in progress, in call order. */
  private sendQueue: Array<() => void> | null = null;
  /** Bytes handed to `send()` and not yet framed (waiting for the compressor). */
  pendingBytes = 0;

  constructor(options: ConnectionOptions) {
    this.role = options.role;
    this.autoPong = options.autoPong;
    this.maxPayload = options.maxPayload;
    this.validateUtf8 = !options.skipUtf8Validation;
    this.masking = options.role === 'client'; // section 5.1: clients mask, servers do not
    this.parser = new Parser(this, {
      expectMasked: options.role === 'server',
      maxPayload: options.maxPayload,
      maxFragments: options.maxFragments,
      skipUtf8Validation: options.skipUtf8Validation,
    });
  }

  // Supplied by the I/O layer

  /** Queues bytes for the peer, in order; `cb` runs once they are written (or failed). */
  protected abstract write(data: Buffer, cb?: WriteCallback): void;
  /** A complete (and, if compressed, inflated) message. */
  protected abstract handleMessage(data: Buffer, isBinary: boolean): void;
  protected abstract handlePing(data: Buffer): void;
  protected abstract handlePong(data: Buffer): void;
  /** The peer's Close frame arrived; the reply, if one was due, is already queued. */
  protected abstract handlePeerClose(code: number, reason: Buffer): void;
  /** The peer broke the protocol; a Close frame with `error.closeCode` is already queued. */
  protected abstract handleProtocolError(error: ProtocolError): void;

  /**
   * Whether output is backed up: automatic pongs are then skipped (section 5.5.3 lets an
   * endpoint answer only the latest ping), so a ping flood from a peer that does not read
   * cannot grow the output.
   */
  protected isBackpressured(): boolean {
    return false;
  }

  /** Feeds bytes received from the peer. */
  receive(chunk: Buffer): void {
    this.parser.push(chunk);
  }

  /**
   * Turns on a negotiated compression extension (RFC 7692): RSV1 becomes legal on the first
   * frame of a data message.
   */
  useCompressor(compressor: MessageCompressor): void {
    this.compressor = compressor;
    this.parser.rsv1Allowed = true;
  }

  /**
   * Sends a data frame. With `fin` false the message stays open and later calls send its
   * continuation frames (section 5.4). With a compressor and `compress`, a message of at
   * least `threshold` bytes is compressed (RFC 7692 section 7.2.1): RSV1 on its first frame.
   */
  send(data: Buffer | string, isBinary: boolean, fin = true, compress = true, cb?: WriteCallback): void {
    const first = !this.fragmenting;
    const opcode = first ? (isBinary ? Opcode.BINARY : Opcode.TEXT) : Opcode.CONTINUATION;
    this.fragmenting = !fin;
    if (first) {
      const c = this.compressor;
      this.compressingMessage =
        c !== null && compress && (typeof data === 'string' ? Buffer.byteLength(data) : data.length) >= c.threshold;
    }
    if (!this.compressingMessage) {
      if (this.sendQueue !== null) {
        const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
        this.pendingBytes += size;
        this.sendQueue.push(() => {
          this.pendingBytes -= size;
          this.sendPlain(opcode, data, fin, cb);
        });
      } else {
        this.sendPlain(opcode, data, fin, cb);
      }
      return;
    }
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    this.pendingBytes += payload.length;
    const job = (): void => {
      this.sendQueue ??= []; // later operations wait for this one
      this.compressor!.compress(payload, fin, (error, result) => {
        this.pendingBytes -= payload.length;
        if (error) {
          // Only a closed compressor fails; the connection is going away.
          if (cb) cb(error);
        } else if (this.readyState !== ReadyState.CLOSED) {
          this.frame(opcode, result!, fin, first, cb);
        }
        this.runQueue();
      });
    };
    if (this.sendQueue !== null) this.sendQueue.push(job);
    else job();
  }

  /**
   * Sends a complete unmasked, uncompressed frame built once for many connections (see
   * `frameMessage`). Returns false when this connection cannot use it, and the caller sends
   * the payload the usual way: a client must mask (section 5.1), a message to compress needs
   * its own frame, and an open fragmented message cannot be interrupted (section 5.4).
   */
  sendFrame(frame: Buffer, payloadLength: number, compress: boolean, cb?: WriteCallback): boolean {
    if (this.masking || this.fragmenting) return false;
    if (this.compressor !== null && compress && payloadLength >= this.compressor.threshold) return false;
    if (this.sendQueue !== null) {
      this.pendingBytes += frame.length;
      this.sendQueue.push(() => {
        this.pendingBytes -= frame.length;
        this.write(frame, cb);
      });
    } else {
      this.write(frame, cb);
    }
    return true;
  }

  /** Sends a Ping (section 5.5.2); the caller keeps `data` within 125 bytes. */
  ping(data: Buffer = EMPTY, cb?: WriteCallback): void {
    this.control(Opcode.PING, data, cb);
  }

  /** Sends a Pong (section 5.5.3). */
  pong(data: Buffer = EMPTY, cb?: WriteCallback): void {
    this.control(Opcode.PONG, data, cb);
  }

  /**
   * Starts (or answers) the closing handshake: queues our Close frame once (section 5.5.1),
   * after any data still being compressed. Without a code the frame has no payload. The
   * caller has validated code and reason.
   */
  close(code?: number, reason: Buffer | string = EMPTY, cb?: WriteCallback): void {
    if (this.closeSent || this.readyState === ReadyState.CLOSED) return;
    this.closeSent = true;
    this.readyState = ReadyState.CLOSING;
    let payload = EMPTY;
    if (code !== undefined) {
      const reasonLength = typeof reason === 'string' ? Buffer.byteLength(reason) : reason.length;
      payload = Buffer.allocUnsafe(2 + reasonLength);
      payload.writeUInt16BE(code, 0);
      if (typeof reason === 'string') payload.write(reason, 2);
      else reason.copy(payload, 2);
    }
    this.control(Opcode.CLOSE, payload, cb);
  }

  /** Both Close frames have been exchanged: the TCP connection may now be closed (section 7.1.1). */
  get closingHandshakeDone(): boolean {
    return this.closeSent && this.closeReceived;
  }

  /** The transport is gone (section 7.1.4: "The WebSocket Connection is Closed"). */
  transportClosed(): void {
    this.readyState = ReadyState.CLOSED;
    this.parser.stop();
    this.sendQueue = null;
    this.compressor?.close();
  }

  // ParserHandler

  onMessage(data: Buffer, isBinary: boolean, compressed: boolean): void {
    if (!compressed) {
      this.handleMessage(data, isBinary);
      return;
    }
    if (this.compressor === null) return; // unreachable: the parser refuses RSV1 without one
    // Inflate before reading on; messages stay in order (RFC 7692 section 7.2.2).
    const parser = this.parser;
    parser.pause(Hold.INFLATE);
    this.compressor.decompress(data, this.maxPayload, (error, result) => {
      if (this.readyState === ReadyState.CLOSED || parser.isStopped) return;
      if (error) {
        this.fail(error instanceof ProtocolError ? error : new ProtocolError(`Invalid compressed data: ${error.message}`, 'WS_ERR_INVALID_COMPRESSED_DATA', 1007));
        return;
      }
      if (!isBinary && this.validateUtf8 && !isUtf8(result!)) {
        this.fail(new ProtocolError('Invalid WebSocket frame: invalid UTF-8 sequence', 'WS_ERR_INVALID_UTF8', 1007));
        return;
      }
      this.handleMessage(result!, isBinary);
      parser.resume(Hold.INFLATE);
    });
  }

  onPing(data: Buffer): void {
    // Section 5.5.2: answer with a Pong carrying the same data, unless we are closing.
    if (this.autoPong && this.readyState === ReadyState.OPEN && !this.isBackpressured()) this.pong(data);
    this.handlePing(data);
  }

  onPong(data: Buffer): void {
    this.handlePong(data);
  }

  onClose(code: number, reason: Buffer): void {
    this.closeReceived = true;
    this.closeCode = code;
    this.closeReason = reason;
    // Section 5.5.1: reply with a Close frame, echoing the status code (and reason) received.
    if (!this.closeSent) this.close(code === 1005 ? undefined : code, reason);
    this.handlePeerClose(code, reason);
  }

  onError(error: ProtocolError): void {
    // Section 7.1.7: fail the connection, sending a Close frame with the reason.
    this.close(error.closeCode);
    this.handleProtocolError(error);
  }

  /** Fails the connection for an error found outside the parser (e.g. while inflating). */
  private fail(error: ProtocolError): void {
    this.parser.stop();
    this.onError(error);
  }

  // Framing

  /** Runs the operations queued behind a compression, until the next compression. */
  private runQueue(): void {
    const queue = this.sendQueue;
    this.sendQueue = null;
    if (queue === null) return;
    while (queue.length > 0) {
      queue.shift()!();
      const next = this.sendQueue as Array<() => void> | null;
      if (next !== null) {
        // A compression started: the rest waits behind it.
        next.push(...queue);
        return;
      }
    }
  }

  private control(opcode: number, payload: Buffer, cb: WriteCallback | undefined): void {
    if (this.sendQueue !== null) this.sendQueue.push(() => this.frame(opcode, payload, true, false, cb));
    else this.frame(opcode, payload, true, false, cb);
  }

  private sendPlain(opcode: number, data: Buffer | string, fin: boolean, cb: WriteCallback | undefined): void {
    if (typeof data === 'string') this.frameString(opcode, data, fin, cb);
    else this.frame(opcode, data, fin, false, cb);
  }

  private frame(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean, cb?: WriteCallback): void {
    const length = payload.length;
    if (this.masking) {
      const size = headerSize(length, true);
      const out = Buffer.allocUnsafe(size + length);
      const key = nextMaskKey();
      writeHeader(out, 0, opcode, length, fin, rsv1, key);
      if (length > 0) {
        payload.copy(out, size);
        applyMask(out.subarray(size), key);
      }
      this.write(out, cb);
      return;
    }
    const size = headerSize(length, false);
    if (length <= COPY_THRESHOLD) {
      const out = Buffer.allocUnsafe(size + length);
      writeHeader(out, 0, opcode, length, fin, rsv1, null);
      payload.copy(out, size);
      this.write(out, cb);
    } else {
      const header = Buffer.allocUnsafe(size);
      writeHeader(header, 0, opcode, length, fin, rsv1, null);
      this.write(header);
      this.write(payload, cb);
    }
  }

  /** Frames a string, encoding it straight into the output buffer (one copy). */
  private frameString(opcode: number, text: string, fin: boolean, cb: WriteCallback | undefined): void {
    const length = Buffer.byteLength(text);
    if (length > COPY_THRESHOLD && !this.masking) {
      this.frame(opcode, Buffer.from(text), fin, false, cb);
      return;
    }
    const maskKey = this.masking ? nextMaskKey() : null;
    const size = headerSize(length, this.masking);
    const out = Buffer.allocUnsafe(size + length);
    writeHeader(out, 0, opcode, length, fin, false, maskKey);
    out.write(text, size);
    if (maskKey !== null && length > 0) applyMask(out.subarray(size), maskKey);
    this.write(out, cb);
  }
}

/** An unmasked, unfragmented frame for `payload` (RFC 6455 section 5.2), for `sendFrame`. */
export function frameMessage(payload: Buffer, isBinary: boolean): Buffer {
  const size = headerSize(payload.length, false);
  const out = Buffer.allocUnsafe(size + payload.length);
  writeHeader(out, 0, isBinary ? Opcode.BINARY : Opcode.TEXT, payload.length, true, false, null);
  payload.copy(out, size);
  return out;
}
