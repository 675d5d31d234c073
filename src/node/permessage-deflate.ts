import zlib from 'node:zlib';
import {
  type DeflateParams,
  type MessageCompressor,
  type PerMessageDeflateOptions,
  ProtocolError,
  type Role,
} from '../protocol/index.js';

/** RFC 7692 section 7.2.1: a sync flush ends with these 4 bytes, removed on the wire. */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const DEFAULT_THRESHOLD = 1024;
const DEFAULT_CONCURRENCY = 10;

type ZStream = zlib.DeflateRaw | zlib.InflateRaw;
type Done = (error: Error | null, result?: Buffer) => void;

/**
 * Runs at most `limit` zlib operations at once, process-wide, first come first served: zlib
 * work goes to libuv's thread pool, and unbounded concurrency there is how many WebSocket
 * servers ran out of memory (ws #1202, engine.io #559).
 */
class Limiter {
  private running = 0;
  private readonly waiting: Array<(release: () => void) => void> = [];
  constructor(private readonly limit: number) {}

  run(job: (release: () => void) => void): void {
    if (this.running < this.limit) {
      this.running++;
      job(this.release);
    } else {
      this.waiting.push(job);
    }
  }

  private readonly release = (): void => {
    const next = this.waiting.shift();
    if (next) next(this.release);
    else this.running--;
  };
}

let limiter: Limiter | null = null;

/** Inflate streams that met a final DEFLATE block (RFC 7692 section 7.2.3.4): never reused. */
const ended = new WeakSet<ZStream>();

/**
 * zlib streams of connections that negotiated no_context_takeover keep no state between
 * messages, so they are shared: taken for one message, reset and returned.
 */
const idleStreams = new Map<string, ZStream[]>();
const MAX_IDLE_PER_KIND = DEFAULT_CONCURRENCY;

/**
 * zlib raises a raw deflate window of 8 bits to 9 but then keeps matches within 250 bytes
 * (MAX_DIST = window - 262), so its output still inflates with a 256-byte window: 8 is safe.
 */
function createStream(kind: 'deflate' | 'inflate', bits: number, options: Record<string, unknown> | undefined): ZStream {
  // Every write is sync-flushed (RFC 7692 section 7.2.1), so a message costs one trip to
  // zlib's thread pool instead of a write and a flush.
  const settings = { ...options, windowBits: bits, flush: zlib.constants.Z_SYNC_FLUSH };
  const stream = kind === 'deflate' ? zlib.createDeflateRaw(settings) : zlib.createInflateRaw(settings);
  // Errors are read from the stream's job; an unheard 'error' must never crash the process.
  stream.on('error', () => {});
  stream.once('end', () => ended.add(stream));
  return stream;
}

/** The zlib side of permessage-deflate for one connection (RFC 7692 section 7.2). */
export class DeflateCompressor implements MessageCompressor {
  readonly threshold: number;
  private readonly deflateOptions: Record<string, unknown> | undefined;
  private readonly inflateOptions: Record<string, unknown> | undefined;
  private readonly compressBits: number;
  private readonly decompressBits: number;
  /** Our side resets its context per message: use shared streams. */
  private readonly shareDeflate: boolean;
  /** The peer resets its context per message: use shared streams. */
  private readonly shareInflate: boolean;
  private deflate: ZStream | null = null;
  private inflate: ZStream | null = null;
  private deflateBusy = false;
  private inflateBusy = false;
  private closed = false;

  constructor(params: DeflateParams, role: Role, options: PerMessageDeflateOptions) {
    this.threshold = options.threshold ?? DEFAULT_THRESHOLD;
    this.deflateOptions = options.zlibDeflateOptions;
    this.inflateOptions = options.zlibInflateOptions;
    const server = role === 'server';
    this.compressBits = server ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    this.decompressBits = server ? params.clientMaxWindowBits : params.serverMaxWindowBits;
    this.shareDeflate = server ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.shareInflate = server ? params.clientNoContextTakeover : params.serverNoContextTakeover;
    limiter ??= new Limiter(options.concurrencyLimit ?? DEFAULT_CONCURRENCY);
  }

  compress(data: Buffer, fin: boolean, cb: Done): void {
    limiter!.run((release) => {
      if (this.closed) {
        release();
        cb(new Error('The connection is closed'));
        return;
      }
      const stream = (this.deflate ??= this.take('deflate'));
      this.deflateBusy = true;
      this.process(stream, data, 0, (error, out) => {
        this.deflateBusy = false;
        if (error) this.deflate = null;
        // Section 7.2.1: remove the trailing 00 00 FF FF of the final fragment.
        else if (fin) out = out!.subarray(0, out!.length - 4);
        if (this.closed || (fin && this.shareDeflate)) this.retire('deflate');
        release();
        cb(error, out);
      });
    });
  }

  decompress(data: Buffer, maxLength: number, cb: Done): void {
    limiter!.run((release) => {
      if (this.closed) {
        release();
        cb(new Error('The connection is closed'));
        return;
      }
      const stream = (this.inflate ??= this.take('inflate'));
      this.inflateBusy = true;
      // Section 7.2.2: append 00 00 FF FF, then inflate; stop as soon as the output passes maxLength.
      this.process(stream, Buffer.concat([data, TRAILER]), maxLength, (error, out) => {
        this.inflateBusy = false;
        if (error) this.inflate = null;
        // After a final block the stream is done: the next message starts a fresh one.
        if (this.closed || this.shareInflate || ended.has(stream)) this.retire('inflate');
        release();
        cb(error, out);
      });
    });
  }

  /** Frees the zlib state now, or as soon as the operation in progress ends. */
  close(): void {
    this.closed = true;
    if (!this.deflateBusy) this.retire('deflate');
    if (!this.inflateBusy) this.retire('inflate');
  }

  /** Writes `input` (sync-flushed) and collects the output; a limit of 0 means none. */
  private process(stream: ZStream, input: Buffer, limit: number, done: Done): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (error: Error | null): void => {
      if (settled) return;
      settled = true;
      stream.removeListener('data', onData);
      stream.removeListener('error', onError);
      if (error) {
        stream.close(); // a failed or over-limit stream is never reused
        done(error);
      } else {
        done(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      }
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (limit > 0 && size > limit) {
        finish(new ProtocolError('Max payload size exceeded', 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1009));
        return;
      }
      chunks.push(chunk);
    };
    const onError = (error: Error): void =>
      finish(new ProtocolError(`Invalid compressed data: ${error.message}`, 'WS_ERR_INVALID_COMPRESSED_DATA', 1007));
    stream.on('data', onData);
    stream.on('error', onError);
    // The output of a write is all emitted before its callback runs.
    stream.write(input, () => finish(null));
  }

  private key(kind: 'deflate' | 'inflate'): string {
    return kind === 'deflate'
      ? `d${this.compressBits}${JSON.stringify(this.deflateOptions ?? {})}`
      : `i${this.decompressBits}${JSON.stringify(this.inflateOptions ?? {})}`;
  }

  private take(kind: 'deflate' | 'inflate'): ZStream {
    const shared = kind === 'deflate' ? this.shareDeflate : this.shareInflate;
    if (shared) {
      const stream = idleStreams.get(this.key(kind))?.pop();
      if (stream) return stream;
    }
    return createStream(
      kind,
      kind === 'deflate' ? this.compressBits : this.decompressBits,
      kind === 'deflate' ? this.deflateOptions : this.inflateOptions,
    );
  }

  /** Lets go of a stream: back to the idle pool (reset) if it is shared, else closed. */
  private retire(kind: 'deflate' | 'inflate'): void {
    const stream = kind === 'deflate' ? this.deflate : this.inflate;
    if (stream === null) return;
    if (kind === 'deflate') this.deflate = null;
    else this.inflate = null;
    const shared = kind === 'deflate' ? this.shareDeflate : this.shareInflate;
    const key = this.key(kind);
    let idle = idleStreams.get(key);
    if (idle === undefined) idleStreams.set(key, (idle = []));
    if (shared && !ended.has(stream) && idle.length < MAX_IDLE_PER_KIND) {
      stream.reset();
      idle.push(stream);
    } else {
      stream.close();
    }
  }
}
