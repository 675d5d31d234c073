import type { IncomingMessage, ServerResponse } from 'node:http';
import { abortRequest, ERROR_CODES } from './errors.js';
import { decodePayload, encodePayload } from './packet.js';
import { DETACHED, type OutPacket, type Transport, type TransportHost } from './transport.js';

const NOOP = (): void => {};

/**
 * The HTTP long-polling transport ("Transports" > "HTTP long-polling"): a long-running GET
 * receives the packets the server queued, a short POST carries the client's packets.
 * At most one GET and one POST may be pending at a time; an overlapping request ends the session.
 */
export class PollingTransport implements Transport {
  readonly name = 'polling' as const;
  host: TransportHost = DETACHED;
  /** The waiting GET. */
  private _poll: ServerResponse | null = null;
  private _posting = false;
  /** Set by close(linger): runs when the CLOSE packet went out on the next GET, or on timeout. */
  private _onClosed: (() => void) | null = null;
  private _lingerTimer: NodeJS.Timeout | null = null;
  private _ended = false;

  constructor(
    private readonly _maxBody: number,
    private readonly _lingerMs: number,
  ) {}

  get writable(): boolean {
    return this._poll !== null && !this._ended;
  }

  /** A GET or POST for this session (the server checked the query already). */
  onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET') this.onPoll(res);
    else if (req.method === 'POST') this.onData(req, res);
    else abortRequest(res, ERROR_CODES.BAD_REQUEST);
  }

  send(packets: readonly OutPacket[], done?: () => void): void {
    const res = this._poll;
    if (res === null) return;
    this._poll = null;
    // "Packet encoding" > "HTTP long-polling": text packets joined by \x1e, binary as "b<base64>".
    const body = encodePayload(packets);
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body, done);
  }

  close(done: () => void = NOOP, linger = false): void {
    if (this._ended) {
      done();
      return;
    }
    if (this._poll !== null) {
      this.send([{ type: 'close' }]);
      this.finishClose();
      done();
      return;
    }
    if (!linger) {
      this.finishClose();
      done();
      return;
    }
    this._onClosed = done;
    this._lingerTimer ??= setTimeout(() => this.finishClose(), this._lingerMs);
  }

  discard(): void {
    if (this._ended) return;
    this._ended = true;
    this.clearLinger();
    // A GET still waiting after an upgrade is answered so the client's poll loop ends cleanly.
    if (this._poll !== null) this.send([{ type: 'noop' }]);
  }

  private onPoll(res: ServerResponse): void {
    if (this._ended) {
      abortRequest(res, ERROR_CODES.BAD_REQUEST);
      return;
    }
    if (this._poll !== null) {
      abortRequest(res, ERROR_CODES.BAD_REQUEST, 'Overlapping poll request');
      this.host.onTransportError('transport error', 'overlap from client');
      return;
    }
    this._poll = res;
    res.on('close', () => {
      if (this._poll !== res) return;
      this._poll = null;
      this.host.onTransportError('transport error', 'poll connection closed prematurely');
    });
    if (this._onClosed !== null) {
      this.send([{ type: 'close' }]);
      this.finishClose();
      return;
    }
    this.host.onDrain();
  }

  private onData(req: IncomingMessage, res: ServerResponse): void {
    if (this._posting) {
      abortRequest(res, ERROR_CODES.BAD_REQUEST, 'Overlapping data request');
      this.host.onTransportError('transport error', 'data request overlap from client');
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (declared > this._maxBody) {
      this.tooLarge(res);
      return;
    }
    this._posting = true;
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      this._posting = false;
      return true;
    };
    req.on('error', NOOP); // an aborted upload: 'close' below tells the session
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > this._maxBody) {
        settle();
        chunks.length = 0;
        this.tooLarge(res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!settle()) return;
      const packets = decodePayload(Buffer.concat(chunks, size).toString('utf8'));
      if (packets === null) {
        abortRequest(res, ERROR_CODES.BAD_REQUEST, 'Malformed payload');
        this.host.onTransportError('parse error', 'malformed polling payload');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': 2 });
      res.end('ok');
      for (const packet of packets) {
        if (this._ended) break;
        if (packet.type === 'close') {
          this.host.onTransportClose();
          break;
        }
        this.host.onPacket(packet);
      }
    });
    res.on('close', () => {
      if (settle()) this.host.onTransportError('transport error', 'data request connection closed prematurely');
    });
  }

  /** A body over maxHttpBufferSize: 413, the connection dropped, the session ended. */
  private tooLarge(res: ServerResponse): void {
    if (!res.headersSent) {
      res.writeHead(413, { Connection: 'close', 'Content-Length': 0 });
      res.end();
    }
    this.host.onTransportError('transport error', 'payload too large');
  }

  private finishClose(): void {
    this._ended = true;
    this.clearLinger();
    const done = this._onClosed;
    this._onClosed = null;
    done?.();
  }

  private clearLinger(): void {
    if (this._lingerTimer !== null) clearTimeout(this._lingerTimer);
    this._lingerTimer = null;
  }
}
