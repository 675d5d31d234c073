/**
 * Raw RFC 6455 peers for the test suite.
 *
 * The frame writer/reader, the raw connection and the raw client live in src/conformance/ (the
 * `fullduplex check` command uses them too) and are re-exported here. What only the tests need
 * stays here: `RawServer`, which plays the server against OUR client: it checks the client's
 * upgrade request (RFC 6455 section 4.1 / 4.2.1), answers 101 with the right
 * Sec-WebSocket-Accept, and hands back a `RawConnection` whose frames are unmasked by default.
 *
 * Every wait takes a timeout; nothing here can hang a test.
 */
import net from 'node:net';
import { acceptFor, hasToken, readHttpHead, type HttpHead } from '../../src/conformance/handshake.ts';
import { RawConnection } from '../../src/conformance/raw-connection.ts';
import { DEFAULT_WAIT_MS, withTimeout } from '../../src/conformance/wait.ts';

export {
  applyMask,
  closePayload,
  encodeFrame,
  FrameParser,
  hex,
  OP,
  sha256,
  splitSizes,
  toBuffer,
  type Frame,
  type FrameSpec,
} from '../../src/conformance/frames.ts';
export { acceptFor, WS_GUID } from '../../src/conformance/handshake.ts';
export { connectRawClient, type RawClientOptions } from '../../src/conformance/raw-client.ts';
export { describeEvent, RawConnection, type PeerEvent, type RawRole } from '../../src/conformance/raw-connection.ts';
export { DEFAULT_WAIT_MS, sleep, withTimeout } from '../../src/conformance/wait.ts';

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
