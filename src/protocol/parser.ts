import { isValidWireCloseCode } from './close-codes.js';
import { ProtocolError, type ProtocolErrorCode } from './errors.js';
import { isKnownOpcode, MAX_CONTROL_PAYLOAD, Opcode } from './frame.js';
import { applyMask } from './mask.js';
import { isUtf8, Utf8Validator } from './utf8.js';

/** What the parser reports, in wire order. */
export interface ParserHandler {
  /**
   * A complete data message (RFC 6455 section 5.4: the payloads of its fragments, joined).
   * `compressed` is set when its first frame had RSV1 (RFC 7692 section 6): the data is
   * still compressed and its UTF-8 has not been checked.
   */
  onMessage(data: Buffer, isBinary: boolean, compressed: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  /** A valid Close frame; `code` is 1005 when the frame carried none (section 7.1.5). */
  onClose(code: number, reason: Buffer): void;
  /** The peer broke the protocol; the parser has stopped. */
  onError(error: ProtocolError): void;
}

export interface ParserOptions {
  /** True on the server: every client frame must be masked (section 5.1). */
  expectMasked: boolean;
  /** Largest message accepted, in bytes; 0 for no limit (fails with 1009). */
  maxPayload: number;
  /** Skip the UTF-8 check of text messages and close reasons. */
  skipUtf8Validation: boolean;
  /** Most frames one message may span; 0 for no limit (fails with 1009). */
  maxFragments?: number;
}

/** Default cap on the frames of one message (Autobahn 9.x sends 4 MiB in 64-byte frames: 65,536). */
export const DEFAULT_MAX_FRAGMENTS = 131_072;
/**
 * Small pieces of a message (from tiny frames or reads) are merged in groups of this many,
 * so memory follows bytes, not the number of pieces (ws CVE-2026-48779 class). Each byte is
 * copied about once; large pieces are kept as they are.
 */
const MERGE_GROUP = 1024;
/** Pieces averaging at least this many bytes are not worth merging. */
const SMALL_PIECE = 4096;

const EMPTY = Buffer.alloc(0);

/** Holders of a parser pause: each resumes only its own hold. */
export const Hold = { USER: 1, INFLATE: 2, DEFER: 4 } as const;
const MAX_SAFE_HIGH = 0x1fffff; // high 32 bits of Number.MAX_SAFE_INTEGER

/**
 * Incremental frame parser and message assembler (RFC 6455 sections 5 and 6.2). Accepts the
 * input in chunks of any size. Payloads that sit whole in one chunk are sliced, not copied;
 * masked payloads are unmasked in place. Control frames may arrive between the fragments of
 * a message (section 5.4). It holds no sockets or timers.
 */
export class Parser {
  /** Set when an extension that uses RSV1 was negotiated (RFC 7692 section 6). */
  rsv1Allowed = false;

  private readonly expectMasked: boolean;
  private readonly maxPayload: number;
  private readonly maxFragments: number;
  private readonly validateUtf8: boolean;
  private readonly handler: ParserHandler;

  // The frame being read.
  /** Bytes of a header split across chunks (allocated when that first happens). */
  private head: Buffer | null = null;
  private headLen = 0;
  private inPayload = false;
  private fin = false;
  private opcode = 0;
  private masked = false;
  /** The frame's masking key, big-endian. */
  private maskKey = 0;
  private maskOffset = 0;
  private remaining = 0;
  private controlParts: Buffer[] | null = null;

  // The message being assembled.
  private messageType = 0; // 0: none, Opcode.TEXT or Opcode.BINARY
  private messageCompressed = false;
  /** The message's payload: its first piece, and all pieces once there is more than one. */
  private firstPart: Buffer | null = null;
  private parts: Buffer[] | null = null;
  /** Index of the first piece not yet considered for merging, and the bytes from there on. */
  private mergeFrom = 0;
  private mergeBytes = 0;
  private messageSize = 0;
  private messageFrames = 0;
  /** Non-null while a text message is validated piece by piece (fail fast). */
  private streamingUtf8: Utf8Validator | null = null;
  private validator: Utf8Validator | null = null;

  private stopped = false;
  /** Who holds the parser paused: a bit per holder (see `Hold`); events flow when 0. */
  private holds = 0;
  /** Input held while paused. */
  private backlog: Buffer[] | null = null;

  constructor(handler: ParserHandler, options: ParserOptions) {
    this.handler = handler;
    this.expectMasked = options.expectMasked;
    this.maxPayload = options.maxPayload;
    this.maxFragments = options.maxFragments ?? DEFAULT_MAX_FRAGMENTS;
    this.validateUtf8 = !options.skipUtf8Validation;
  }

  /** Whether the parser has stopped for good (after an error or a Close frame). */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Feeds bytes received from the peer. */
  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    if (this.holds !== 0) {
      (this.backlog ??= []).push(chunk);
      return;
    }
    this.consume(chunk);
  }

  /**
   * Stops delivering events after the current one; input is kept until every holder that
   * paused has resumed (the application, an inflate in progress, deferred events).
   */
  pause(hold: number = Hold.USER): void {
    this.holds |= hold;
  }

  resume(hold: number = Hold.USER): void {
    if ((this.holds & hold) === 0) return;
    this.holds &= ~hold;
    const backlog = this.backlog;
    while (this.holds === 0 && !this.stopped && backlog !== null && backlog.length > 0) this.consume(backlog.shift()!);
  }

  /** Discards all state; no further events. */
  stop(): void {
    this.stopped = true;
    this.firstPart = null;
    this.parts = null;
    this.controlParts = null;
    this.backlog = null;
  }

  private consume(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    for (;;) {
      if (!this.inPayload) {
        if (pos >= len) return;
        if (this.headLen === 0 && len - pos >= 2 && len - pos >= headerLength(chunk[pos + 1]!)) {
          const size = headerLength(chunk[pos + 1]!);
          if (!this.readHeader(chunk, pos, len - pos - size)) return;
          pos += size;
        } else {
          pos = this.gatherHeader(chunk, pos);
          if (this.headLen === 0) {
            if (!this.readHeader(this.head!, 0, len - pos)) return;
          } else {
            return; // header still incomplete: wait for more bytes
          }
        }
      }

      const take = this.remaining < len - pos ? this.remaining : len - pos;
      if (take === 0 && this.remaining > 0) return;
      const part = chunk.subarray(pos, pos + take);
      if (this.masked && take > 0) {
        applyMask(part, this.maskKey, this.maskOffset);
        this.maskOffset = (this.maskOffset + take) & 3;
      }
      pos += take;
      this.remaining -= take;
      if (this.opcode >= 0x8) this.controlPayload(part);
      else this.dataPayload(part);
      if (this.remaining === 0) this.inPayload = false;
      if (this.stopped) return;
      if (this.holds !== 0) {
        if (pos < len) (this.backlog ??= []).unshift(chunk.subarray(pos));
        return;
      }
    }
  }

  /**
   * Copies header bytes into `head` until the header is complete (then `headLen` is reset
   * to 0 and `head` holds it) or the chunk runs out. Returns the new position in `chunk`.
   */
  private gatherHeader(chunk: Buffer, pos: number): number {
    const len = chunk.length;
    const head = (this.head ??= Buffer.allocUnsafe(14));
    while (pos < len) {
      head[this.headLen++] = chunk[pos++]!;
      if (this.headLen >= 2 && this.headLen === headerLength(head[1]!)) {
        this.headLen = 0;
        return pos;
      }
    }
    return pos;
  }

  /**
   * Decodes and checks the header at `buf[off]` (section 5.2). `following` is how many
   * payload bytes are already at hand after it. Returns false if the frame is refused.
   */
  private readHeader(buf: Uint8Array, off: number, following: number): boolean {
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;

    // Section 5.2: RSV1-3 MUST be 0 unless an extension defines them.
    if ((b0 & 0x30) !== 0) return this.fail('RSV2 and RSV3 must be clear', 'WS_ERR_UNEXPECTED_RSV_2_3', 1002);
    // Section 5.2: reserved opcodes MUST fail the connection.
    if (!isKnownOpcode(opcode)) return this.fail(`invalid opcode ${opcode}`, 'WS_ERR_INVALID_OPCODE', 1002);
    // Section 5.1: a server MUST close on an unmasked frame; a client on a masked one.
    if (masked !== this.expectMasked) {
      return this.expectMasked
        ? this.fail('MASK must be set', 'WS_ERR_EXPECTED_MASK', 1002)
        : this.fail('MASK must be clear', 'WS_ERR_UNEXPECTED_MASK', 1002);
    }

    let length = b1 & 0x7f;
    let p = off + 2;
    if (length === 126) {
      length = (buf[p]! << 8) | buf[p + 1]!;
      p += 2;
    } else if (length === 127) {
      const high = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
      const low = ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0;
      // Section 5.2: the most significant bit of a 64-bit length MUST be 0.
      if (high >= 0x80000000) {
        return this.fail('the most significant bit of a 64-bit length must be 0', 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH', 1002);
      }
      if (high > MAX_SAFE_HIGH) {
        return this.fail('payload length > 2^53 - 1', 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH', 1009);
      }
      length = high * 0x100000000 + low;
      p += 8;
    }

    if (opcode >= 0x8) {
      // Section 5.5: control frames are never fragmented and carry at most 125 bytes.
      if (!fin) return this.fail('FIN must be set on control frames', 'WS_ERR_EXPECTED_FIN', 1002);
      if (length > MAX_CONTROL_PAYLOAD) {
        return this.fail(`invalid payload length ${length}`, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 1002);
      }
      if (rsv1) return this.fail('RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1', 1002);
    } else if (opcode === Opcode.CONTINUATION) {
      // Section 5.4: a continuation frame only continues a message that was started.
      if (this.messageType === 0) return this.fail('invalid opcode 0', 'WS_ERR_INVALID_OPCODE', 1002);
      // RFC 7692 section 6.1: RSV1 is set on the first frame of a message only.
      if (rsv1) return this.fail('RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1', 1002);
    } else {
      // Section 5.4: the fragments of one message are not interleaved with another message.
      if (this.messageType !== 0) return this.fail(`invalid opcode ${opcode}`, 'WS_ERR_INVALID_OPCODE', 1002);
      if (rsv1 && !this.rsv1Allowed) return this.fail('RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1', 1002);
    }

    if (opcode < 0x8) {
      if (this.maxPayload > 0 && this.messageSize + length > this.maxPayload) {
        return this.fail('Max payload size exceeded', 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1009);
      }
      this.messageSize += length;
      if (++this.messageFrames > this.maxFragments && this.maxFragments > 0) {
        return this.fail('too many fragments', 'WS_ERR_TOO_MANY_FRAGMENTS', 1009);
      }
      if (opcode !== Opcode.CONTINUATION) {
        this.messageType = opcode;
        this.messageCompressed = rsv1;
        // A text message that is not all here is validated as it arrives (fail fast).
        // Compressed text is validated once inflated.
        if (opcode === Opcode.TEXT && this.validateUtf8 && !rsv1 && !(fin && length <= following)) {
          this.validator ??= new Utf8Validator();
          this.validator.reset();
          this.streamingUtf8 = this.validator;
        }
      }
    }

    if (masked) {
      this.maskKey = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
      this.maskOffset = 0;
    }
    this.fin = fin;
    this.opcode = opcode;
    this.masked = masked;
    this.remaining = length;
    this.inPayload = true;
    return true;
  }

  private dataPayload(part: Buffer): void {
    if (part.length > 0) {
      if (this.firstPart === null) {
        this.firstPart = part;
      } else {
        let parts = this.parts;
        if (parts === null) {
          parts = this.parts = [this.firstPart];
          this.mergeBytes = this.firstPart.length;
        }
        parts.push(part);
        this.mergeBytes += part.length;
        if (parts.length - this.mergeFrom === MERGE_GROUP) this.mergeParts(parts);
      }
      if (this.streamingUtf8 !== null && !this.streamingUtf8.push(part)) {
        this.fail('invalid UTF-8 sequence', 'WS_ERR_INVALID_UTF8', 1007);
        return;
      }
    }
    if (this.remaining === 0 && this.fin) this.finishMessage();
  }

  /** Merges the last group of pieces into one buffer if they are small. */
  private mergeParts(parts: Buffer[]): void {
    if (this.mergeBytes < MERGE_GROUP * SMALL_PIECE) {
      const merged = Buffer.concat(parts.slice(this.mergeFrom), this.mergeBytes);
      parts.length = this.mergeFrom;
      parts.push(merged);
      // After MERGE_GROUP merged groups, fold them together too (rare: a million pieces).
      if (parts.length === MERGE_GROUP) this.parts = [Buffer.concat(parts)];
    }
    this.mergeFrom = this.parts!.length;
    this.mergeBytes = 0;
  }

  private finishMessage(): void {
    const data = this.parts !== null ? Buffer.concat(this.parts) : (this.firstPart ?? EMPTY);
    const isText = this.messageType === Opcode.TEXT;
    const compressed = this.messageCompressed;
    const streaming = this.streamingUtf8;
    this.firstPart = null;
    this.parts = null;
    this.mergeFrom = 0;
    this.mergeBytes = 0;
    this.messageType = 0;
    this.messageSize = 0;
    this.messageFrames = 0;
    this.streamingUtf8 = null;
    if (isText && this.validateUtf8 && !compressed) {
      // Section 8.1: a text message that is not valid UTF-8 fails the connection with 1007.
      if (streaming !== null ? !streaming.end() : !isUtf8(data)) {
        this.fail('invalid UTF-8 sequence', 'WS_ERR_INVALID_UTF8', 1007);
        return;
      }
    }
    this.handler.onMessage(data, !isText, compressed);
  }

  private controlPayload(part: Buffer): void {
    let payload = part;
    if (this.remaining > 0 || this.controlParts !== null) {
      // A control frame split across chunks: collect its (at most 125) bytes.
      (this.controlParts ??= []).push(part);
      if (this.remaining > 0) return;
      payload = Buffer.concat(this.controlParts);
      this.controlParts = null;
    }
    if (this.opcode === Opcode.PING) this.handler.onPing(payload);
    else if (this.opcode === Opcode.PONG) this.handler.onPong(payload);
    else this.closeFrame(payload);
  }

  /** Section 5.5.1: an optional 2-byte status code, then an optional UTF-8 reason. */
  private closeFrame(payload: Buffer): void {
    if (payload.length === 0) {
      this.stopped = true;
      this.handler.onClose(1005, EMPTY);
      return;
    }
    if (payload.length === 1) {
      this.fail('invalid payload length 1', 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 1002);
      return;
    }
    const code = (payload[0]! << 8) | payload[1]!;
    if (!isValidWireCloseCode(code)) {
      this.fail(`invalid status code ${code}`, 'WS_ERR_INVALID_CLOSE_CODE', 1002);
      return;
    }
    const reason = payload.subarray(2);
    if (this.validateUtf8 && !isUtf8(reason)) {
      this.fail('invalid UTF-8 sequence', 'WS_ERR_INVALID_UTF8', 1007);
      return;
    }
    // Section 5.5.1: after a Close frame, no more data is read.
    this.stopped = true;
    this.handler.onClose(code, reason);
  }

  private fail(message: string, code: ProtocolErrorCode, closeCode: number): false {
    const prefix = closeCode === 1009 || code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH' ? 'Unsupported' : 'Invalid';
    this.stop();
    this.handler.onError(new ProtocolError(`${prefix} WebSocket frame: ${message}`, code, closeCode));
    return false;
  }
}

/** Header size given the second header byte: MASK bit and 7-bit length (section 5.2). */
function headerLength(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}
