/**
 * Server: a WebSocket server in the nodejs-websocket style (seed 002). It owns an HTTP(S)
 * server (`server.socket`) with our ws-compatible WebSocketServer on it, wraps every accepted
 * WebSocket in a Connection and keeps the open ones in `server.connections`.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { WebSocketServer } from '../index.js';
import { Connection } from './connection.js';
import { maxBufferLength } from './settings.js';

/** Options of `createServer()`. */
export interface ServerOptions extends https.ServerOptions {
  /** Serve wss:// (TLS) with the key/cert/pfx options given here. */
  secure?: boolean;
  /** Subprotocols the server accepts; it picks the first one in the client's list that is here. */
  validProtocols?: string[];
  /** Picks the subprotocol (a name from `protocols`, or a falsy value for none). */
  selectProtocol?: (conn: Connection, protocols: string[]) => string | false | null | undefined;
  /**
   * Origins browsers may connect from (see WebSocketServer's `allowOrigins`). Default '*':
   * like nodejs-websocket, any page may connect (seed 002's page is not served by this
   * server). Restrict it when connections carry cookies or other ambient credentials.
   */
  allowOrigins?: '*' | readonly string[] | ((origin: string, req: http.IncomingMessage) => boolean);
}

/** Events of a Server and their arguments. */
export interface ServerEvents {
  /** The server is bound (after `listen()`). */
  listening: [];
  /** The server closed, after all its connections ended. */
  close: [];
  /** The underlying server failed, e.g. EADDRINUSE. */
  error: [err: Error];
  /** A client completed the handshake. */
  connection: [conn: Connection];
}

/** Parses a Sec-WebSocket-Protocol request header into names. */
function requestedProtocols(header: string | undefined): string[] {
  if (!header) return [];
  return header.split(',').map((p) => p.trim()).filter((p) => p !== '');
}

export class Server extends EventEmitter<ServerEvents> {
  /** The underlying http.Server (https.Server when `secure`). */
  readonly socket: http.Server;
  /** The open connections, e.g. for broadcasting. */
  readonly connections: Connection[] = [];

  readonly #wss: WebSocketServer;
  /** Connections created while choosing a subprotocol, before their WebSocket exists. */
  readonly #pending = new WeakMap<http.IncomingMessage, Connection>();

  constructor(options: ServerOptions = {}, callback?: (conn: Connection) => void) {
    super();
    const { secure, validProtocols, selectProtocol, allowOrigins = '*', ...tlsOptions } = options;
    this.socket = secure ? https.createServer(tlsOptions) : http.createServer();
    this.socket.on('request', (_req, res: http.ServerResponse) => {
      const body = 'This is a WebSocket server: connect with a WebSocket client.\n';
      res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket' });
      res.end(body);
    });
    this.socket.on('listening', () => this.emit('listening'));
    this.socket.on('error', (err) => this.emit('error', err));
    this.socket.on('close', () => this.emit('close'));

    this.#wss = new WebSocketServer({
      server: this.socket,
      maxPayload: maxBufferLength(),
      allowOrigins,
      handleProtocols: (protocols: Set<string>, req: http.IncomingMessage) => {
        const offered = [...protocols];
        if (selectProtocol) return selectProtocol(this.#connectionFor(req), offered) || false;
        if (validProtocols) return offered.find((p) => validProtocols.includes(p)) ?? false;
        return false;
      },
    });
    // The WebSocketServer re-emits the HTTP server's errors, which this.socket already reports.
    this.#wss.on('error', () => {});
    this.#wss.on('connection', (ws, req: http.IncomingMessage) => {
      const conn = this.#connectionFor(req);
      this.#pending.delete(req);
      conn.attach(ws);
      this.connections.push(conn);
      conn.once('close', () => {
        const i = this.connections.indexOf(conn);
        if (i !== -1) this.connections.splice(i, 1);
      });
      conn.emit('connect');
      this.emit('connection', conn);
    });
    if (callback) this.on('connection', callback);
  }

  /**
   * Starts accepting connections on `port` (0 picks a free one) and `host` (all interfaces if
   * omitted). `callback` is added as a 'listening' listener.
   */
  listen(port: number | string, callback?: () => void): this;
  listen(port: number | string, host?: string, callback?: () => void): this;
  listen(port: number | string, hostOrCallback?: string | (() => void), callback?: () => void): this {
    const host = typeof hostOrCallback === 'string' ? hostOrCallback : undefined;
    const cb = typeof hostOrCallback === 'function' ? hostOrCallback : callback;
    if (cb) this.once('listening', cb);
    if (host === undefined) this.socket.listen(Number(port));
    else this.socket.listen(Number(port), host);
    return this;
  }

  /**
   * Stops accepting connections and keeps the existing ones; 'close' is emitted (and
   * `callback` called) once they have all ended.
   */
  close(callback?: () => void): this {
    if (callback) this.once('close', callback);
    // Not wss.close() yet: that would close the open connections, which nodejs-websocket keeps.
    this.socket.close(() => this.#wss.close());
    return this;
  }

  /** Sends `data` (string: text, else binary) to every open connection. */
  broadcast(data: string | Buffer | Uint8Array): void {
    for (const conn of this.connections) {
      if (conn.readyState === Connection.OPEN) conn.send(data);
    }
  }

  #connectionFor(req: http.IncomingMessage): Connection {
    let conn = this.#pending.get(req);
    if (!conn) {
      const header = req.headers['sec-websocket-protocol'];
      conn = new Connection({
        server: this,
        path: req.url ?? '/',
        headers: req.headers,
        protocols: requestedProtocols(Array.isArray(header) ? header.join(',') : header),
        socket: req.socket,
      });
      this.#pending.set(req, conn);
    }
    return conn;
  }
}
