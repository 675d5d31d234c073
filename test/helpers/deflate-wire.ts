/**
 * The test side of permessage-deflate's payload transformation (RFC 7692 section 7.2), done
 * with node:zlib directly and independently of src/, plus the payloads the deflate tests send.
 *
 * - `compressMessage` / `Deflater`: what a sender puts on the wire (section 7.2.1): raw DEFLATE,
 *   sync-flushed, with the trailing 00 00 FF FF removed. `Deflater` keeps its LZ77 window
 *   between messages (context takeover, section 7.1.1), `compressMessage` does not.
 * - `inflateMessage` / `Inflater`: what a receiver does (section 7.2.2): append 00 00 FF FF and
 *   inflate. The window size is the one negotiated, so data that refers back further than the
 *   negotiated window fails to inflate ("invalid distance too far back"): that is how the tests
 *   check that a peer honoured server_max_window_bits / client_max_window_bits.
 * - Payloads: compressible text (JSON-like, with multi-byte UTF-8) and binary (a bitmap-like
 *   gradient), incompressible random binary, and a DEFLATE bomb built without inflating it.
 */
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';

/** RFC 7692 section 7.2.1: the 4 octets a sync flush ends with, removed on the wire. */
export const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Section 7.2.1: compresses one whole message with a fresh context. */
export function compressMessage(data: Uint8Array, windowBits = 15, level = 6): Buffer {
  const out = zlib.deflateRawSync(data, { windowBits, level, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  if (!out.subarray(out.length - 4).equals(TRAILER)) throw new Error('sync flush did not end with 00 00 FF FF');
  return out.subarray(0, out.length - 4);
}

/**
 * Section 7.2.2: inflates one message with a fresh context (the sender used no context
 * takeover, or this is its first message). Throws on bad data or a too-far-back distance.
 */
export function inflateMessage(payload: Uint8Array, windowBits = 15): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TRAILER]), { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** Runs `input` through a zlib stream up to a sync flush and collects the output. */
function flushThrough(stream: zlib.DeflateRaw | zlib.InflateRaw, input: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer): void => {
      chunks.push(c);
    };
    const onError = (e: Error): void => {
      stream.off('data', onData);
      reject(e);
    };
    stream.on('data', onData);
    stream.once('error', onError);
    for (const piece of input) stream.write(piece);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      stream.off('data', onData);
      stream.off('error', onError);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** A receiver's inflate context kept across messages (section 7.1.1: context takeover). */
export class Inflater {
  private readonly stream: zlib.InflateRaw;
  constructor(readonly windowBits = 15) {
    this.stream = zlib.createInflateRaw({ windowBits });
    this.stream.on('error', () => {}); // reported through inflate()'s promise
  }
  /** Section 7.2.2: appends 00 00 FF FF to the message payload and inflates it. */
  inflate(payload: Uint8Array): Promise<Buffer> {
    return flushThrough(this.stream, [Buffer.from(payload), TRAILER]);
  }
  close(): void {
    this.stream.close();
  }
}

/** A sender's deflate context kept across messages (section 7.1.1: context takeover). */
export class Deflater {
  private readonly stream: zlib.DeflateRaw;
  constructor(readonly windowBits = 15) {
    this.stream = zlib.createDeflateRaw({ windowBits });
    this.stream.on('error', () => {});
  }
  /** Compresses `data` as a part of a message; `fin` removes the trailer (section 7.2.1). */
  async deflate(data: Uint8Array, fin = true): Promise<Buffer> {
    const out = await flushThrough(this.stream, [Buffer.from(data)]);
    if (!fin) return out;
    if (!out.subarray(out.length - 4).equals(TRAILER)) throw new Error('sync flush did not end with 00 00 FF FF');
    return out.subarray(0, out.length - 4);
  }
  close(): void {
    this.stream.close();
  }
}

// ---------------------------------------------------------------------------------------------
// payloads

const WORDS = ['alpha', 'beta', 'gamma', 'δέλτα', 'epsilon', '你好', 'zeta', 'ünïcödé', 'eta', '🚀', 'theta', 'iota'];

/**
 * Compressible text of exactly `size` UTF-8 bytes: JSON-like records (Autobahn 12.1's "large
 * JSON" flavour) with multi-byte characters, cut on a character boundary and padded with ASCII.
 */
export function compressibleText(size: number, seed = 1): string {
  const parts: string[] = [];
  let bytes = 0;
  let i = seed;
  while (bytes < size) {
    i = (i * 1103515245 + 12345) & 0x7fffffff;
    const record = `{"id":${i % 100000},"user":"${WORDS[i % WORDS.length]}","tags":["${WORDS[(i >> 3) % WORDS.length]}","${WORDS[(i >> 7) % WORDS.length]}"],"ok":${i % 2 === 0}},\n`;
    parts.push(record);
    bytes += Buffer.byteLength(record);
  }
  const encoded = Buffer.from(parts.join(''));
  let cut = size;
  while (cut > 0 && (encoded[cut]! & 0xc0) === 0x80) cut--; // step back to a character start
  const text = encoded.subarray(0, cut).toString('utf8') + ' '.repeat(size - cut);
  if (Buffer.byteLength(text) !== size) throw new Error('compressibleText: size mismatch');
  return text;
}

/** Compressible binary (a "bitmap": smooth gradient rows with a little noise, like Autobahn 12.2/12.5). */
export function compressibleBinary(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = ((i & 0xff) + ((i >> 8) & 0x0f) + (i % 97 === 0 ? 0x55 : 0)) & 0xff;
  return out;
}

/** Incompressible binary: random bytes. */
export function randomBinary(size: number): Buffer {
  return randomBytes(size);
}

/**
 * `kb` kilobytes of random data repeated `times` times: with a 32 KiB window (15 bits) it
 * compresses to about one copy; with a 512-byte window (9 bits) it cannot refer back that far
 * and does not compress. Inflating data compressed with window 15 using window 9 fails, which
 * makes the window bits observable on the wire.
 */
export function farRepeats(kb = 2, times = 8): Buffer {
  const block = randomBytes(kb * 1024);
  return Buffer.concat(Array.from({ length: times }, () => block));
}

/**
 * A DEFLATE bomb: a message payload (trailer removed, section 7.2.1) that inflates to `mib`
 * MiB of zeros. Built from one full-flushed segment of 1 MiB of zeros repeated: a full flush
 * ends on a byte boundary and forgets the window, so the segments concatenate into one valid
 * raw DEFLATE stream and nobody has to inflate (or deflate) the whole thing to make it.
 */
export function deflateBomb(mib: number): { payload: Buffer; inflatedBytes: number } {
  const segment = zlib.deflateRawSync(Buffer.alloc(1 << 20), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  if (!segment.subarray(segment.length - 4).equals(TRAILER)) throw new Error('full flush did not end with 00 00 FF FF');
  const whole = Buffer.alloc(segment.length * mib);
  for (let i = 0; i < mib; i++) segment.copy(whole, i * segment.length);
  return { payload: whole.subarray(0, whole.length - 4), inflatedBytes: mib * (1 << 20) };
}

/** Not DEFLATE data: 0xff starts a block of the reserved type 11 (RFC 1951 section 3.2.3). */
export const GARBAGE = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02, 0x03]);
