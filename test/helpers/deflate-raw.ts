/**
 * Raw peers that negotiate permessage-deflate by hand, for tests that must see or forge the
 * bytes on the wire. They do their own opening handshake (so they can offer or answer any
 * Sec-WebSocket-Extensions value, also malformed ones) and then hand the socket to
 * `RawConnection` from raw-peer.ts, whose frame parser checks masking and length encodings.
 * `RawConnection.nextEvent` refuses reserved bits (it assumes no extension), so compressed
 * traffic is read here with `readMessage`, which enforces RFC 7692 section 6's framing rules:
 * RSV1 only on the first frame of a data message, never on continuation or control frames,
 * never RSV2/RSV3.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { acceptFor, DEFAULT_WAIT_MS, type Frame, OP, RawConnection, RawServer, withTimeout } from './raw-peer.ts';
import { Inflater, inflateMessage } from './deflate-wire.ts';

export interface HttpHead {
  startLine: string;
  /** Lower-case names; repeated headers keep every value, in order. */
  headers: Map<string, string[]>;
  rest: Buffer;
}

/** Reads one HTTP head from `socket` (bounded by a timeout and 64 KiB); leaves the socket paused. */
export function readHead(socket: net.Socket, timeoutMs: number, what: string): Promise<HttpHead> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const fail = (message: string): void => {
      cleanup();
      reject(new Error(`${what}: ${message}`));
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 65536) fail('no end of the HTTP head within 64 KiB');
        return;
      }
      socket.pause();
      cleanup();
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string[]>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const list = headers.get(name) ?? [];
        list.push(line.slice(colon + 1).trim());
        headers.set(name, list);
      }
      resolve({ startLine: lines[0] ?? '', headers, rest: buf.subarray(end + 4) });
    };
    const onClose = (): void => fail('connection closed before the HTTP head was complete');
    const onError = (e: Error): void => fail(`socket error ${e.message}`);
    const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}

export interface RawHandshakeResult {
  status: number;
  /** The Sec-WebSocket-Extensions response header(s), joined with ", ", or undefined. */
  extensions: string | undefined;
  head: HttpHead;
  /** Present when the server answered 101 with the right Sec-WebSocket-Accept. */
  conn?: RawConnection;
  socket: net.Socket;
}

/**
 * Connects to our server on 127.0.0.1 and sends an upgrade request offering `offer` as
 * Sec-WebSocket-Extensions (an array sends one header line per element, RFC 6455 section
 * 9.1 allows that; undefined offers nothing).
 */
export async function rawClientHandshake(
  port: number,
  offer: string | string[] | undefined,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<RawHandshakeResult> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  socket.on('error', () => {}); // seen through the reads; never crash the test process
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
    const headP = readHead(socket, timeoutMs, 'the server handshake response');
    const offers = offer === undefined ? [] : Array.isArray(offer) ? offer : [offer];
    socket.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        offers.map((o) => `Sec-WebSocket-Extensions: ${o}\r\n`).join('') +
        '\r\n',
    );
    const head = await headP;
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.startLine)?.[1] ?? 0);
    const extensions = head.headers.get('sec-websocket-extensions')?.join(', ');
    const result: RawHandshakeResult = { status, extensions, head, socket };
    if (status === 101) {
      const accept = head.headers.get('sec-websocket-accept')?.[0];
      if (accept !== acceptFor(key)) throw new Error(`bad Sec-WebSocket-Accept ${accept}`);
      result.conn = new RawConnection(socket, 'client', head.rest);
    } else {
      socket.destroy();
    }
    return result;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** What a raw server answers in Sec-WebSocket-Extensions: header lines (none when empty). */
export type ExtensionAnswer = string[] | ((offer: string | undefined) => string[]);

/**
 * Plays the server against our client: answers each upgrade request with 101 and whatever
 * Sec-WebSocket-Extensions lines the test chose (also ones no real server should send).
 */
export class DeflateRawServer {
  private constructor(private readonly raw: RawServer) {}

  static async listen(): Promise<DeflateRawServer> {
    return new DeflateRawServer(await RawServer.listen());
  }

  get url(): string {
    return this.raw.url();
  }

  /** Takes the next connection and answers 101 with the chosen extension header lines. */
  async accept(answer: ExtensionAnswer, timeoutMs = DEFAULT_WAIT_MS): Promise<{ conn: RawConnection; offer: string | undefined }> {
    const socket = await this.raw.takeSocket(timeoutMs);
    const head = await readHead(socket, timeoutMs, "the client's upgrade request");
    const key = head.headers.get('sec-websocket-key')?.[0] ?? '';
    const offer = head.headers.get('sec-websocket-extensions')?.join(', ');
    const lines = typeof answer === 'function' ? answer(offer) : answer;
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n` +
        lines.map((l) => `Sec-WebSocket-Extensions: ${l}\r\n`).join('') +
        '\r\n',
    );
    return { conn: new RawConnection(socket, 'server', head.rest), offer };
  }

  close(): Promise<void> {
    return this.raw.close();
  }
}

// ---------------------------------------------------------------------------------------------
// reading compressed traffic

export interface WireMessage {
  opcode: 1 | 2;
  /** RSV1 of the first frame: the message was compressed (RFC 7692 section 6). */
  compressed: boolean;
  /** Every data frame of the message, as received. */
  frames: Frame[];
  /** Control frames received between its fragments. */
  controls: Frame[];
  /** The payloads of its frames concatenated: compressed bytes if `compressed`. */
  wire: Buffer;
}

/**
 * Reads the next data message, enforcing RFC 7692 section 6: RSV1 may be set on the first
 * frame of a data message only; an endpoint MUST NOT set it on control frames or non-first
 * fragments; RSV2/RSV3 stay clear (RFC 6455 section 5.2). A close frame before the message
 * is an error naming its code.
 */
export async function readMessage(conn: RawConnection, timeoutMs = DEFAULT_WAIT_MS, what = 'a data message'): Promise<WireMessage> {
  const deadline = Date.now() + timeoutMs;
  const frames: Frame[] = [];
  const controls: Frame[] = [];
  for (;;) {
    const f = await conn.nextFrame(Math.max(1, deadline - Date.now()), what);
    if (f.rsv2 || f.rsv3) throw new Error(`frame with opcode ${f.opcode} has RSV2/RSV3 set (RFC 6455 5.2)`);
    if (f.opcode >= 8) {
      if (f.rsv1) throw new Error(`control frame (opcode ${f.opcode}) with RSV1 set (RFC 7692 section 6)`);
      if (f.opcode === OP.CLOSE) {
        const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 'none';
        throw new Error(`close frame (code ${code}, reason ${JSON.stringify(f.payload.subarray(2).toString())}) while waiting for ${what}`);
      }
      controls.push(f);
      continue;
    }
    if (frames.length === 0) {
      if (f.opcode !== OP.TEXT && f.opcode !== OP.BINARY) throw new Error(`message starts with opcode ${f.opcode}`);
    } else {
      if (f.opcode !== OP.CONT) throw new Error(`opcode ${f.opcode} inside a fragmented message (RFC 6455 5.4)`);
      if (f.rsv1) throw new Error('RSV1 set on a continuation frame (RFC 7692 section 6: first frame only)');
    }
    frames.push(f);
    if (f.fin) {
      return {
        opcode: frames[0]!.opcode as 1 | 2,
        compressed: frames[0]!.rsv1,
        frames,
        controls,
        wire: Buffer.concat(frames.map((x) => x.payload)),
      };
    }
  }
}

/** The message's data: inflated (with `inflater`, or a fresh context of `windowBits`) if compressed. */
export async function messageData(m: WireMessage, inflater?: Inflater, windowBits = 15): Promise<Buffer> {
  if (!m.compressed) return m.wire;
  return inflater ? inflater.inflate(m.wire) : inflateMessage(m.wire, windowBits);
}

/**
 * Reads frames until a close frame and returns its code (data frames before it are skipped);
 * then answers it (if this peer has not sent one) and ends TCP: a raw server closes it first,
 * a raw client waits for the server to (RFC 6455 section 7.1.1).
 */
export async function expectCloseCode(conn: RawConnection, timeoutMs = DEFAULT_WAIT_MS): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = await conn.nextFrame(Math.max(1, deadline - Date.now()), 'a close frame');
    if (f.opcode !== OP.CLOSE) continue;
    if (f.rsv1) throw new Error('close frame with RSV1 set (RFC 7692 section 6)');
    const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
    if (!conn.closeSent) await conn.sendClose(code).catch(() => {}); // RFC 6455 5.5.1: echo the code
    if (conn.role === 'server') conn.end();
    await conn.waitRemoteEnd(Math.max(1, deadline - Date.now())).catch(() => {});
    conn.destroy();
    return code;
  }
}
