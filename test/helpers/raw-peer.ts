/**
 * Raw RFC 6455 peers for the conformance suite.
 *
 * Both peers speak plain TCP on 127.0.0.1 and do the WebSocket framing by hand, so a test can
 * put any bytes on the wire (bad opcodes, reserved bits, lying length fields, invalid UTF-8,
 * frames split across TCP writes at any offset) and can check every byte the implementation
 * under test sends back.
 *
 * - `connectRawClient(port)` plays the client against our server: it sends a valid HTTP/1.1
 *   upgrade request (RFC 6455 section 4.1), checks the 101 answer and Sec-WebSocket-Accept
 *   (section 4.2.2), and hands back a `RawConnection` whose frames are masked by default.
 * - `RawServer` plays the server against our client: it checks the client's upgrade request
 *   (section 4.1 / 4.2.1), answers 101 with the right Sec-WebSocket-Accept, and hands back a
 *   `RawConnection` whose frames are unmasked by default.
 *
 * Every frame the implementation sends is parsed strictly: its masking must match its role
 * (section 5.1 / 5.3), its length must use the minimal encoding with the top bit of a 64-bit
 * length clear (section 5.2), no reserved bit may be set (no extension is ever negotiated),
 * control frames must be final and at most 125 bytes (section 5.5), continuation frames must
 * continue something (section 5.4), close payloads must be empty or hold a code plus a UTF-8
 * reason (section 5.5.1). A breach rejects the next read with an error naming the rule.
 *
 * Every wait takes a timeout; nothing here can hang a test.
 */
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';

/** RFC 6455 section 1.3: the GUID appended to Sec-WebSocket-Key. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Opcodes, RFC 6455 section 5.2 (values 3-7 and 11-15 are reserved). */
export const OP = {
  CONT: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** Generous default for a single wait; the machine is shared and may be slow. */
export const DEFAULT_WAIT_MS = 5000;

/** Sec-WebSocket-Accept for a key, RFC 6455 section 4.2.2 step 5.4. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Bytes from a hex string; spaces are ignored: hex('ce ba e1') */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

export function toBuffer(data: Uint8Array | string | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Races a promise against a timer; the error message names what was awaited. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// Frame building (the raw peer's side)
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Frame parsing (what the implementation under test sends)
// ---------------------------------------------------------------------------------------------

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

/** Incremental frame parser; collects the bytes without quadratic copying. */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** A breach that makes further parsing meaningless (length field out of range). */
  fatal: string | undefined;
  /** Rule breaches by the sender, in order. */
  readonly violations: string[] = [];

  /** @param expectMasked whether the sender is a client (must mask) or a server (must not). */
  constructor(private readonly expectMasked: boolean) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
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
        this.fatal = 'most significant bit of the 64-bit length is set (RFC 6455 5.2)';
        this.violations.push(this.fatal);
        return undefined;
      }
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        this.fatal = `64-bit length ${big} is beyond anything this test can hold`;
        this.violations.push(this.fatal);
        return undefined;
      }
      length = Number(big);
      if (length < 65536) {
        this.violations.push(`64-bit length field holds ${length}; RFC 6455 5.2 requires the minimal encoding`);
      }
    } else {
      length = len7;
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

// ---------------------------------------------------------------------------------------------
// A raw connection (either role)
// ---------------------------------------------------------------------------------------------

/** Which role the RAW peer plays (the implementation under test plays the other). */
export type RawRole = 'client' | 'server';

export type PeerEvent =
  | { type: 'message'; opcode: 1 | 2; data: Buffer; frames: number }
  | { type: 'ping' | 'pong'; data: Buffer }
  | { type: 'close'; data: Buffer; code: number | undefined; reason: Buffer };

export function describeEvent(ev: PeerEvent): string {
  const preview = (b: Buffer) =>
    b.length <= 24 ? `0x${b.toString('hex') || '(empty)'}` : `${b.length} bytes`;
  switch (ev.type) {
    case 'message':
      return `${ev.opcode === 1 ? 'text' : 'binary'} message (${preview(ev.data)}, ${ev.frames} frame(s))`;
    case 'close':
      return `close frame (code ${ev.code ?? 'none'}, reason ${JSON.stringify(ev.reason.toString())})`;
    default:
      return `${ev.type} (${preview(ev.data)})`;
  }
}

export class RawConnection {
  private readonly parser: FrameParser;
  /** Frames received and not read yet. */
  private readonly queue: Frame[] = [];
  /** Every frame received, in order (for checks on masking keys and such). */
  readonly received: Frame[] = [];
  private waiters = new Set<() => void>();
  /** The implementation ended its side of TCP (FIN received). */
  remoteEnded = false;
  /** The TCP socket is fully closed. */
  closed = false;
  socketErrors: Error[] = [];
  /** A data message being reassembled from fragments (RFC 6455 5.4). */
  private partial: { opcode: 1 | 2; parts: Buffer[]; frames: number } | undefined;
  /** A close frame was read by nextEvent. */
  closeReceived = false;
  /** A close frame was written by this raw peer. */
  closeSent = false;

  constructor(
    readonly socket: net.Socket,
    readonly role: RawRole,
    head: Buffer,
  ) {
    this.parser = new FrameParser(role === 'server');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.parser.push(chunk);
      for (let f = this.parser.next(); f; f = this.parser.next()) {
        this.queue.push(f);
        this.received.push(f);
      }
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
    if (head.length > 0) {
      this.parser.push(head);
      for (let f = this.parser.next(); f; f = this.parser.next()) {
        this.queue.push(f);
        this.received.push(f);
      }
    }
    socket.resume();
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
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
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
      const ok = this.socket.write(bytes.subarray(off, off + size));
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
      throw new Error(
        `TCP connection closed by the implementation while waiting for ${what}` +
          (leftover ? ` (${leftover} bytes of an incomplete frame left)` : ''),
      );
    }
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
        this.partial.parts.push(f.payload);
        this.partial.frames++;
      } else if (f.opcode === OP.TEXT || f.opcode === OP.BINARY) {
        if (this.partial) throw new Error('new data frame while a fragmented message is open (RFC 6455 5.4)');
        this.partial = { opcode: f.opcode, parts: [f.payload], frames: 1 };
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

// ---------------------------------------------------------------------------------------------
// HTTP head reading
// ---------------------------------------------------------------------------------------------

interface HttpHead {
  startLine: string;
  headers: Map<string, string>;
  rest: Buffer;
}

/**
 * Reads an HTTP head (up to CRLF CRLF) from a socket; the socket is left paused with the
 * bytes after the head returned in `rest`.
 */
function readHttpHead(socket: net.Socket, timeoutMs: number, what: string): Promise<HttpHead> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const fail = (msg: string) => {
      cleanup();
      reject(new Error(msg));
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 16384) fail(`${what}: no end of HTTP head within 16 KiB`);
        return;
      }
      socket.pause();
      cleanup();
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
      }
      resolve({ startLine: lines[0] ?? '', headers, rest: buf.subarray(end + 4) });
    };
    const onClose = () => fail(`${what}: connection closed before the HTTP head was complete`);
    const onError = (err: Error) => fail(`${what}: socket error ${err.message}`);
    const timer = setTimeout(() => fail(`${what}: timed out after ${timeoutMs} ms`), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}

function hasToken(value: string | undefined, token: string): boolean {
  if (!value) return false;
  return value.split(',').some((t) => t.trim().toLowerCase() === token);
}

// ---------------------------------------------------------------------------------------------
// Raw client (against our server)
// ---------------------------------------------------------------------------------------------

export interface RawClientOptions {
  path?: string;
  timeoutMs?: number;
}

/**
 * Connects to 127.0.0.1:port, performs the opening handshake (RFC 6455 4.1) and checks the
 * server's answer (RFC 6455 4.2.2 / 4.1 "the client MUST validate the server's response").
 */
export async function connectRawClient(port: number, opts: RawClientOptions = {}): Promise<RawConnection> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      timeoutMs,
      `TCP connect to 127.0.0.1:${port}`,
    );
    const key = randomBytes(16).toString('base64');
    const headP = readHttpHead(socket, timeoutMs, 'the server handshake response');
    socket.write(
      `GET ${opts.path ?? '/'} HTTP/1.1\r\n` +
        `Host: 127.0.0.1:${port}\r\n` +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${key}\r\n` +
        'Sec-WebSocket-Version: 13\r\n' +
        '\r\n',
    );
    const head = await headP;
    const problems: string[] = [];
    if (!/^HTTP\/1\.1 101( |$)/.test(head.startLine)) problems.push(`status line is "${head.startLine}", expected 101`);
    if (!hasToken(head.headers.get('upgrade'), 'websocket')) problems.push('Upgrade header is not "websocket"');
    if (!hasToken(head.headers.get('connection'), 'upgrade')) problems.push('Connection header lacks "Upgrade"');
    const accept = head.headers.get('sec-websocket-accept');
    if (accept !== acceptFor(key)) problems.push(`Sec-WebSocket-Accept is ${accept}, expected ${acceptFor(key)}`);
    // We offered no extension and no subprotocol, so the server must not pick any (4.1).
    if (head.headers.has('sec-websocket-extensions')) problems.push('server answered with an extension that was not offered');
    if (head.headers.has('sec-websocket-protocol')) problems.push('server answered with a subprotocol that was not offered');
    if (problems.length) throw new Error(`bad handshake response: ${problems.join('; ')}`);
    return new RawConnection(socket, 'client', head.rest);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Raw server (against our client)
// ---------------------------------------------------------------------------------------------

export interface HandshakeRequest {
  requestLine: string;
  path: string;
  headers: Map<string, string>;
}

export interface AcceptOptions {
  timeoutMs?: number;
  /** Bytes written in the same TCP write as the 101 response (frames right after the head). */
  appendAfterResponse?: Uint8Array;
}

export class RawServer {
  private readonly incoming: net.Socket[] = [];
  private readonly sockets = new Set<net.Socket>();
  private waiters = new Set<() => void>();

  private constructor(private readonly server: net.Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {}); // seen by the RawConnection; never crash the test process
      socket.setNoDelay(true);
      this.incoming.push(socket);
      for (const w of [...this.waiters]) w();
    });
  }

  static async listen(): Promise<RawServer> {
    const server = net.createServer();
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      }),
      DEFAULT_WAIT_MS,
      'the raw server to listen',
    );
    return new RawServer(server);
  }

  get port(): number {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('raw server is not listening');
    return a.port;
  }

  url(path = '/'): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /** The next client connection, before any handshake (for servers that answer it their own way). */
  takeSocket(timeoutMs: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const s = this.incoming.shift();
        if (s) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(s);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for the client to connect`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /**
   * Takes the next client connection, checks its upgrade request (RFC 6455 4.1 / 4.2.1) and
   * answers 101 with the Sec-WebSocket-Accept it computes (4.2.2). No extension and no
   * subprotocol is accepted, whatever the client offered.
   */
  async accept(opts: AcceptOptions = {}): Promise<{ conn: RawConnection; request: HandshakeRequest }> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    const socket = await this.takeSocket(timeoutMs);
    let head: HttpHead;
    try {
      head = await readHttpHead(socket, timeoutMs, "the client's upgrade request");
    } catch (err) {
      socket.destroy();
      throw err;
    }
    const problems: string[] = [];
    const m = /^GET (\S+) HTTP\/1\.1$/.exec(head.startLine);
    if (!m) problems.push(`request line is "${head.startLine}", expected "GET <path> HTTP/1.1"`);
    if (!head.headers.get('host')) problems.push('no Host header');
    if (!hasToken(head.headers.get('upgrade'), 'websocket')) problems.push('Upgrade header lacks "websocket"');
    if (!hasToken(head.headers.get('connection'), 'upgrade')) problems.push('Connection header lacks "Upgrade"');
    const key = head.headers.get('sec-websocket-key') ?? '';
    if (!/^[A-Za-z0-9+/]{22}==$/.test(key) || Buffer.from(key, 'base64').length !== 16) {
      problems.push(`Sec-WebSocket-Key "${key}" is not 16 base64-encoded bytes`);
    }
    if (head.headers.get('sec-websocket-version') !== '13') problems.push('Sec-WebSocket-Version is not 13');
    if (head.rest.length > 0) {
      problems.push('client sent data before the 101 response (RFC 6455 4.1: it MUST wait)');
    }
    if (problems.length) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      throw new Error(`bad upgrade request from the client: ${problems.join('; ')}`);
    }
    const response = Buffer.from(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n` +
        '\r\n',
      'latin1',
    );
    socket.write(opts.appendAfterResponse ? Buffer.concat([response, opts.appendAfterResponse]) : response);
    const conn = new RawConnection(socket, 'server', head.rest);
    return { conn, request: { requestLine: head.startLine, path: m ? m[1]! : '', headers: head.headers } };
  }

  /** Destroys every socket and stops listening. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const s of this.incoming) s.destroy();
    await withTimeout(
      new Promise<void>((resolve) => this.server.close(() => resolve())),
      DEFAULT_WAIT_MS,
      'the raw server to close',
    ).catch(() => {});
  }
}
