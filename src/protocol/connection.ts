import { ProtocolError } from './errors.js';
import { headerSize, Opcode, writeHeader } from './frame.js';
import { applyMask, nextMaskKey } from './mask.js';
import { Parser, type ParserHandler } from './parser.js';

/** The states of a connection (RFC 6455 sections 4 and 7; WHATWG readyState values). */
export const ReadyState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
export type ReadyStateValue = (typeof ReadyState)[keyof typeof ReadyState];

export type Role = 'client' | 'server';

/** Events of an open connection, in wire order. */
export interface ConnectionEvents {
  onMessage(data: Buffer, isBinary: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  /** The peer's Close frame arrived; the reply, if one was due, is already queued. */
  onPeerClose(code: number, reason: Buffer): void;
  /** The peer broke the protocol; a Close frame with `error.closeCode` is already queued. */
  onProtocolError(error: ProtocolError): void;
}

export interface ConnectionOptions {
  role: Role;
  /** Largest incoming message in bytes, 0 for no limit. */
  maxPayload: number;
  skipUtf8Validation: boolean;
  /** Answer pings with pongs automatically (section 5.5.2). */
  autoPong: boolean;
}

const EMPTY = Buffer.alloc(0);
/** Server payloads up to this size are copied next to their header: one buffer, one write. */
const COPY_THRESHOLD = 16 * 1024;

/**
 * The sans-I/O state machine of an established connection: bytes in through `receive()`,
 * frames out through the `write` function it was given, OPEN -> CLOSING -> CLOSED with the
 * closing handshake of section 7 in both directions. Timers and the TCP connection belong
 * to the caller, which calls `transportClosed()` when the connection is gone.
 */
export class Connection implements ParserHandler {
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
  private readonly events: ConnectionEvents;
  private readonly write: (data: Buffer) => void;
  private readonly autoPong: boolean;
  private readonly masking: boolean;
  /** An outgoing message sent with `fin: false` is open: the next frames are continuations. */
  private fragmenting = false;

  constructor(events: ConnectionEvents, write: (data: Buffer) => void, options: ConnectionOptions) {
    this.role = options.role;
    this.events = events;
    this.write = write;
    this.autoPong = options.autoPong;
    this.masking = options.role === 'client'; // section 5.1: clients mask, servers do not
    this.parser = new Parser(this, {
      expectMasked: options.role === 'server',
      maxPayload: options.maxPayload,
      skipUtf8Validation: options.skipUtf8Validation,
    });
  }

  /** Feeds bytes received from the peer. */
  receive(chunk: Buffer): void {
    this.parser.push(chunk);
  }

  /**
   * Sends a data frame. With `fin` false the message stays open and later calls send its
   * continuation frames (section 5.4).
   */
  send(data: Buffer | string, isBinary: boolean, fin = true): void {
    const opcode = this.fragmenting ? Opcode.CONTINUATION : isBinary ? Opcode.BINARY : Opcode.TEXT;
    this.fragmenting = !fin;
    if (typeof data === 'string') this.frameString(opcode, data, fin);
    else this.frame(opcode, data, fin, false);
  }

  /** Sends a Ping (section 5.5.2); the caller keeps `data` within 125 bytes. */
  ping(data: Buffer = EMPTY): void {
    this.frame(Opcode.PING, data, true, false);
  }

  /** Sends a Pong (section 5.5.3). */
  pong(data: Buffer = EMPTY): void {
    this.frame(Opcode.PONG, data, true, false);
  }

  /**
   * Starts (or answers) the closing handshake: queues our Close frame once (section 5.5.1).
   * Without a code the frame has no payload. The caller has validated code and reason.
   */
  close(code?: number, reason: Buffer | string = EMPTY): void {
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
    this.frame(Opcode.CLOSE, payload, true, false);
  }

  /** Both Close frames have been exchanged: the TCP connection may now be closed (section 7.1.1). */
  get closingHandshakeDone(): boolean {
    return this.closeSent && this.closeReceived;
  }

  /** The transport is gone (section 7.1.4: "The WebSocket Connection is Closed"). */
  transportClosed(): void {
    this.readyState = ReadyState.CLOSED;
    this.parser.stop();
  }

  // ParserHandler

  onMessage(data: Buffer, isBinary: boolean): void {
    this.events.onMessage(data, isBinary);
  }

  onPing(data: Buffer): void {
    // Section 5.5.2: answer with a Pong carrying the same data, unless we are closing.
    if (this.autoPong && this.readyState === ReadyState.OPEN) this.pong(data);
    this.events.onPing(data);
  }

  onPong(data: Buffer): void {
    this.events.onPong(data);
  }

  onClose(code: number, reason: Buffer): void {
    this.closeReceived = true;
    this.closeCode = code;
    this.closeReason = reason;
    // Section 5.5.1: reply with a Close frame, echoing the status code (and reason) received.
    if (!this.closeSent) this.close(code === 1005 ? undefined : code, reason);
    this.events.onPeerClose(code, reason);
  }

  onError(error: ProtocolError): void {
    // Section 7.1.7: fail the connection, sending a Close frame with the reason.
    this.close(error.closeCode);
    this.events.onProtocolError(error);
  }

  // Framing

  private frame(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean): void {
    const length = payload.length;
    if (this.masking) {
      const size = headerSize(length, true);
      const out = Buffer.allocUnsafe(size + length);
      writeHeader(out, 0, opcode, length, fin, rsv1, nextMaskKey());
      if (length > 0) {
        payload.copy(out, size);
        applyMask(out.subarray(size), out.subarray(size - 4, size));
      }
      this.write(out);
      return;
    }
    const size = headerSize(length, false);
    if (length <= COPY_THRESHOLD) {
      const out = Buffer.allocUnsafe(size + length);
      writeHeader(out, 0, opcode, length, fin, rsv1, null);
      payload.copy(out, size);
      this.write(out);
    } else {
      const header = Buffer.allocUnsafe(size);
      writeHeader(header, 0, opcode, length, fin, rsv1, null);
      this.write(header);
      this.write(payload);
    }
  }

  /** Frames a string, encoding it straight into the output buffer (one copy). */
  private frameString(opcode: number, text: string, fin: boolean): void {
    const length = Buffer.byteLength(text);
    if (length > COPY_THRESHOLD && !this.masking) {
      this.frame(opcode, Buffer.from(text), fin, false);
      return;
    }
    const maskKey = this.masking ? nextMaskKey() : null;
    const size = headerSize(length, this.masking);
    const out = Buffer.allocUnsafe(size + length);
    writeHeader(out, 0, opcode, length, fin, false, maskKey);
    out.write(text, size);
    if (maskKey !== null && length > 0) applyMask(out.subarray(size), out.subarray(size - 4, size));
    this.write(out);
  }
}
