import http from 'node:http';
import net from 'node:net';
import { listHas, RequestHeadParser, type RequestHead } from '../protocol/index.js';
import { refuseHandshake } from './refuse.js';
import { type SocketHandler, setSocketHandler } from './socket-connection.js';

export interface UpgradeServerOptions {
  maxHeaderSize: number;
  maxHeaderCount: number;
  handshakeTimeout: number;
}

/**
 * The server behind `new WebSocketServer({ port })`: a plain TCP server that reads the
 * request head itself (bounded, strict; see protocol/http-request.ts) instead of going
 * through node:http, which makes handshakes cheaper and idle connections smaller. Requests
 * that are not upgrades get 426, as from `ws`'s internal server.
 */
export function createUpgradeServer(
  options: UpgradeServerOptions,
  onUpgrade: (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void,
): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    setSocketHandler(socket, new HandshakeReader(socket, options, onUpgrade));
  });
}

/** Reads one request head from a new socket, within the limits and the handshake timeout. */
class HandshakeReader implements SocketHandler {
  private parser: RequestHeadParser | null;
  private timer: NodeJS.Timeout | null;

  constructor(
    private readonly socket: net.Socket,
    options: UpgradeServerOptions,
    private readonly onUpgrade: (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void,
  ) {
    this.parser = new RequestHeadParser(options);
    // A client that sends half a request and stalls is dropped.
    this.timer = setTimeout(() => this.refuse(408, 'Opening handshake timed out'), options.handshakeTimeout);
  }

  socketData(chunk: Buffer): void {
    if (this.parser === null) return; // the head is read; the rest waits for the connection
    const result = this.parser.push(chunk);
    if (result.state === 'partial') return;
    this.finish();
    this.socket.pause(); // until the WebSocket takes over the socket
    if (result.state === 'error') {
      this.refuse(result.status, result.message);
      return;
    }
    const req = incomingMessage(this.socket, result.head);
    if (!listHas(req.headers.upgrade as string | undefined, 'websocket')) {
      this.refuse(426, http.STATUS_CODES[426]!);
      return;
    }
    this.onUpgrade(req, this.socket, result.rest);
  }

  socketEnd(): void {
    this.socket.end();
  }

  socketError(): void {
    this.finish();
    this.socket.destroy();
  }

  /** A client that leaves mid-request frees its timer (and the partial head) at once. */
  socketClose(): void {
    this.finish();
  }

  private refuse(status: number, message: string): void {
    this.finish();
    refuseHandshake(this.socket, status, message);
  }

  /** Nothing of the handshake outlives it. */
  private finish(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.parser = null;
  }
}
/** An `http.IncomingMessage` for a head we parsed, so handlers see the usual request object. */
function incomingMessage(socket: net.Socket, head: RequestHead): http.IncomingMessage {
  const req = new http.IncomingMessage(socket);
  req.method = head.method;
  req.url = head.target;
  req.httpVersion = head.version;
  req.httpVersionMajor = Number(head.version[0]);
  req.httpVersionMinor = Number(head.version[2]);
  req.headers = head.headers;
  req.rawHeaders = head.rawHeaders;
  req.complete = true;
  req.push(null); // an upgrade request has no body
  return req;
}
