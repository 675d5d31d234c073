/**
 * WebSocket frames as a conformance peer writes and reads them (RFC 6455 section 5.2).
 *
 * The writer can put any bits on the wire: reserved bits, reserved opcodes, unmasked client
 * frames, non-minimal or lying length fields. The reader is strict: every rule the peer under
 * test must follow when it sends is checked and a breach is recorded with its RFC section.
 *
 * Independent of src/protocol on purpose: a checker must not judge an implementation with that
 * implementation's own parser.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Opcodes, RFC 6455 section 5.2 (values 3-7 and 11-15 are reserved). */
export const OP = {
  CONT: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** Hex SHA-256, for reporting large payloads without dumping them. */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Bytes from a hex string; spaces are ignored: hex('ce ba e1') */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

/** Bytes of a string (UTF-8) or a Uint8Array, without copying a Buffer. */
export function toBuffer(data: Uint8Array | string | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  /** FIN bit; default true. */
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /**
   * Masking: `true` masks with a random key, `false` sends unmasked, 4 bytes mask with that
   * key. Default: masked when the raw peer is the client, unmasked when it is the server.
   */
  mask?: boolean | Uint8Array;
  /** Length field encoding: 7 (in the second byte), 16 or 64 bit; default the minimal one. */
  lengthEncoding?: 7 | 16 | 64;
  /** Put this value in the length field instead of the payload length (to lie about it). */
  declaredLength?: number | bigint;
}

/** XORs `data` with the 4-byte key in place (RFC 6455 section 5.3). */
export function applyMask(data: Buffer, key: Uint8Array): void {
  const n = data.length;
  const k0 = key[0]!, k1 = key[1]!, k2 = key[2]!, k3 = key[3]!;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    data[i] = data[i]! ^ k0;
    data[i + 1] = data[i + 1]! ^ k1;
    data[i + 2] = data[i + 2]! ^ k2;
    data[i + 3] = data[i + 3]! ^ k3;
  }
  for (; i < n; i++) data[i] = data[i]! ^ key[i & 3]!;
}

/** Encodes one frame (RFC 6455 section 5.2). `defaultMasked` applies when spec.mask is unset. */
export function encodeFrame(spec: FrameSpec, defaultMasked: boolean): Buffer {
  const payload = toBuffer(spec.payload);
  const fin = spec.fin ?? true;
  const b0 =
    (fin ? 0x80 : 0) |
    (spec.rsv1 ? 0x40 : 0) |
    (spec.rsv2 ? 0x20 : 0) |
    (spec.rsv3 ? 0x10 : 0) |
    (spec.opcode & 0x0f);
  let key: Uint8Array | undefined;
  const m = spec.mask ?? defaultMasked;
  if (m === true) key = randomBytes(4);
  else if (m !== false) {
    if (m.length !== 4) throw new Error('a masking key is 4 bytes');
    key = m;
  }
  const declared = spec.declaredLength ?? payload.length;
  const declaredNum = typeof declared === 'bigint' ? declared : BigInt(declared);
  const encoding =
    spec.lengthEncoding ?? (declaredNum < 126n ? 7 : declaredNum < 65536n ? 16 : 64);
  const extLen = encoding === 7 ? 0 : encoding === 16 ? 2 : 8;
  const header = Buffer.alloc(2 + extLen + (key ? 4 : 0));
  header[0] = b0;
  if (encoding === 7) {
    if (declaredNum > 125n) throw new Error('a 7-bit length field holds at most 125');
    header[1] = Number(declaredNum);
  } else if (encoding === 16) {
    if (declaredNum > 65535n) throw new Error('a 16-bit length field holds at most 65535');
    header[1] = 126;
    header.writeUInt16BE(Number(declaredNum), 2);
  } else {
    header[1] = 127;
    header.writeBigUInt64BE(declaredNum, 2);
  }
  if (key) {
    header[1] = header[1]! | 0x80;
    header.set(key, 2 + extLen);
    const masked = Buffer.from(payload); // copy: the caller's payload stays as it was
    applyMask(masked, key);
    return Buffer.concat([header, masked]);
  }
  return Buffer.concat([header, payload]);
}

/** Payload of a Close frame (RFC 6455 section 5.5.1): 2-byte code, then the reason. */
export function closePayload(code?: number, reason?: Uint8Array | string): Buffer {
  if (code === undefined) return toBuffer(reason);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, toBuffer(reason)]);
}

/**
 * Splits `total` bytes into chop sizes: `sizes` is used in order, its last entry repeats.
 * splitSizes(10, [1, 1, 3]) -> [1, 1, 3, 3, 2]
 */
export function splitSizes(total: number, sizes: readonly number[]): number[] {
  const out: number[] = [];
  let left = total;
  let i = 0;
  while (left > 0) {
    const s = Math.max(1, Math.min(left, sizes[Math.min(i, sizes.length - 1)]!));
    out.push(s);
    left -= s;
    i++;
  }
  return out;
}

export interface Frame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  maskKey: Buffer | null;
  lengthEncoding: 7 | 16 | 64;
  /** Unmasked payload. */
  payload: Buffer;
}

/** Default bound on what a conformance peer holds of what the other side sent: 64 MiB. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** "64 MiB", "1 KiB", "100 bytes". */
export function sizeText(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/**
 * Incremental frame parser; collects the bytes without quadratic copying. A frame whose length
 * field is above `maxFrameBytes` is a fatal breach found from its header alone: the parser does
 * not wait for (or keep) its payload, and after any fatal breach it drops every byte pushed.
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** A breach that makes further parsing meaningless (length field out of range). */
  fatal: string | undefined;
  /** Rule breaches by the sender, in order. */
  readonly violations: string[] = [];

  /**
   * @param expectMasked whether the sender is a client (must mask) or a server (must not).
   * @param maxFrameBytes largest frame payload this parser waits for and holds.
   */
  constructor(
    private readonly expectMasked: boolean,
    readonly maxFrameBytes: number = DEFAULT_MAX_BYTES,
  ) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.fatal !== undefined) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Records a fatal breach, drops what is buffered and ignores every later byte. */
  abort(reason: string): void {
    if (this.fatal !== undefined) return;
    this.fatal = reason;
    this.violations.push(reason);
    this.chunks = [];
    this.buffered = 0;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const parts: Buffer[] = [];
    let need = n;
    for (const c of this.chunks) {
      if (need <= 0) break;
      parts.push(c.length > need ? c.subarray(0, need) : c);
      need -= Math.min(c.length, need);
    }
    return Buffer.concat(parts, n);
  }

  private consume(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const take = Math.min(c.length, n - off);
      c.copy(out, off, 0, take);
      off += take;
      if (take === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(take);
    }
    this.buffered -= n;
    return out;
  }

  private tooBig(length: bigint): string {
    return (
      `the ${this.expectMasked ? 'client' : 'server'} sent more than ${sizeText(this.maxFrameBytes)} ` +
      `(a frame header announcing ${length} bytes); this check holds at most ${sizeText(this.maxFrameBytes)} and stopped reading`
    );
  }

  /** The next complete frame, or undefined if more bytes are needed. */
  next(): Frame | undefined {
    if (this.fatal !== undefined || this.buffered < 2) return undefined;
    const h = this.peek(Math.min(this.buffered, 14));
    const b0 = h[0]!;
    const b1 = h[1]!;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    let headerLen = 2;
    let length: number;
    let lengthEncoding: 7 | 16 | 64 = 7;
    if (len7 === 126) {
      if (h.length < 4) return undefined;
      length = h.readUInt16BE(2);
      headerLen = 4;
      lengthEncoding = 16;
      if (length < 126) {
        this.violations.push(`16-bit length field holds ${length}; RFC 6455 5.2 requires the minimal encoding`);
      }
    } else if (len7 === 127) {
      if (h.length < 10) return undefined;
      const big = h.readBigUInt64BE(2);
      headerLen = 10;
      lengthEncoding = 64;
      if (big >> 63n) {
        this.abort('most significant bit of the 64-bit length is set (RFC 6455 5.2)');
        return undefined;
      }
      if (big > BigInt(this.maxFrameBytes)) {
        this.abort(this.tooBig(big));
        return undefined;
      }
      length = Number(big);
      if (length < 65536) {
        this.violations.push(`64-bit length field holds ${length}; RFC 6455 5.2 requires the minimal encoding`);
      }
    } else {
      length = len7;
    }
    if (length > this.maxFrameBytes) {
      this.abort(this.tooBig(BigInt(length)));
      return undefined;
    }
    if (masked) headerLen += 4;
    if (this.buffered < headerLen + length) return undefined;
    const header = this.consume(headerLen);
    const maskKey = masked ? Buffer.from(header.subarray(headerLen - 4, headerLen)) : null;
    let payload = this.consume(length);
    if (maskKey) {
      payload = Buffer.from(payload);
      applyMask(payload, maskKey);
    }
    if (masked !== this.expectMasked) {
      this.violations.push(
        this.expectMasked
          ? 'client sent an unmasked frame; RFC 6455 5.1/5.3: a client MUST mask every frame'
          : 'server sent a masked frame; RFC 6455 5.1: a server MUST NOT mask any frame',
      );
    }
    return {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked,
      maskKey,
      lengthEncoding,
      payload,
    };
  }
}

