import http from 'node:http';
import net from 'node:net';
import { listHas, RequestHeadParser, type RequestHead } from '../protocol/index.js';
import { refuseHandshake } from './refuse.js';

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
    const parser = new RequestHeadParser(options);
    const timer = setTimeout(() => {
      // A client that sends half a request and stalls is dropped.
      socket.removeListener('data', onData);
      refuseHandshake(socket, 408, 'Opening handshake timed out');
    }, options.handshakeTimeout);
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    // A client that leaves mid-request frees its timer (and the partial head) at once.
    const onClose = (): void => clearTimeout(timer);
    const onData = (chunk: Buffer): void => {
      const result = parser.push(chunk);
      if (result.state === 'partial') return;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose); // nothing of the handshake outlives it
      socket.pause(); // until the WebSocket takes over the socket
      if (result.state === 'error') {
        refuseHandshake(socket, result.status, result.message);
        return;
      }
      const req = incomingMessage(socket, result.head);
      if (!listHas(req.headers.upgrade as string | undefined, 'websocket')) {
        refuseHandshake(socket, 426, http.STATUS_CODES[426]!);
        return;
      }
      onUpgrade(req, socket, result.rest);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.once('close', onClose);
  });
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
