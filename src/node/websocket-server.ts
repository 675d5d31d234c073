import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import net, { type Socket } from 'node:net';
import {
  acceptHeaders,
  acceptOffer,
  checkUpgradeRequest,
  type ExtensionOffer,
  type MessageCompressor,
  PERMESSAGE_DEFLATE,
  type PerMessageDeflateOptions,
  serializeResponse,
  validateDeflateOptions,
} from '../protocol/index.js';
import { DeflateCompressor } from './permessage-deflate.js';
import { PreparedMessage } from './prepared-message.js';
import { refuseHandshake } from './refuse.js';
import { hasSocketHandler } from './socket-connection.js';
import { createUpgradeServer } from './upgrade-server.js';
import { type ConnectionSettings, DEFAULT_MAX_PAYLOAD, WebSocket } from './websocket.js';

/** What `verifyClient` receives (as in `ws`). */
export interface VerifyClientInfo {
  origin: string | undefined;
  secure: boolean;
  req: http.IncomingMessage;
}

export type VerifyClientCallback = (
  verified: boolean,
  code?: number,
  message?: string,
  headers?: http.OutgoingHttpHeaders,
) => void;

export type VerifyClient =
  | ((info: VerifyClientInfo) => boolean)
  | ((info: VerifyClientInfo, callback: VerifyClientCallback) => void);

/** Server options, with the names and defaults of the `ws` package. */
export interface ServerOptions extends ConnectionSettings {
  host?: string;
  port?: number;
  backlog?: number;
  server?: http.Server | import('node:https').Server;
  noServer?: boolean;
  /** Accept only upgrade requests for this path. */
  path?: string;
  verifyClient?: VerifyClient;
  /** Picks the subprotocol from those the client offered; return false for none. */
  handleProtocols?: (protocols: Set<string>, request: http.IncomingMessage) => string | false;
  /** Track connections in `clients` (default true). */
  clientTracking?: boolean;
  /** Negotiate permessage-deflate (RFC 7692) when a client offers it (default false, as in `ws`). */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** The class instantiated for each connection (a subclass of WebSocket). */
  WebSocket?: typeof WebSocket;
  /**
   * Origins a browser may connect from, besides the server's own host (RFC 6455 section 10.2).
   * Default: same host only, so a page on another site cannot open a connection with the
   * visitor's cookies (cross-site WebSocket hijacking). '*' allows all, as `ws` does.
   */
  allowOrigins?: '*' | readonly string[] | ((origin: string, req: http.IncomingMessage) => boolean);
  /** Most open connections; more get HTTP 503 (default: no limit). */
  maxConnections?: number;
  /** Most header lines in an upgrade request; more get HTTP 431 (default 128). */
  maxHeaderCount?: number;
  /** Largest request head in bytes for the server created with `port` (default 16 KiB); more get 431. */
  maxHeaderSize?: number;
  /** Milliseconds a client gets to send its whole request, for the server created with `port` (default 10 s). */
  handshakeTimeout?: number;
}

/** Defaults of the limits (python-websockets uses the same header count). */
export const DEFAULT_MAX_HEADER_COUNT = 128;
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
export const DEFAULT_MAX_HEADER_SIZE = 16 * 1024;

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;

const kHandled = Symbol('fullduplex.upgraded');

/**
 * A WebSocket server with the API of the `ws` package: it listens on its own port, shares
 * an existing http/https server, or (`noServer`) is fed upgrade requests by `handleUpgrade()`.
 * Each request is checked against RFC 6455 section 4.2.1 before the 101 response.
 */
export class WebSocketServer extends EventEmitter {
  readonly options: ServerOptions & { maxPayload: number };
  /** Every open connection (for maxConnections and a graceful close). */
  private readonly _open = new Set<WebSocket>();
  /** A user's http/https server (`server` option). */
  private _server: http.Server | import('node:https').Server | null = null;
  /** Our own TCP server (`port` option). */
  private _internal: net.Server | null = null;
  private _removeListeners: (() => void) | null = null;
  private _state = RUNNING;
  private _shouldEmitClose = false;

  constructor(options: ServerOptions, callback?: () => void) {
    super();
    this.options = {
      maxPayload: DEFAULT_MAX_PAYLOAD,
      skipUTF8Validation: false,
      autoPong: true,
      allowSynchronousEvents: true,
      clientTracking: true,
      WebSocket,
      ...options,
    } as ServerOptions & { maxPayload: number };
    const opts = this.options;
    if (typeof opts.perMessageDeflate === 'object') validateDeflateOptions(opts.perMessageDeflate);
    const modes = Number(opts.port != null) + Number(opts.server != null) + Number(opts.noServer === true);
    if (modes !== 1) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }
    if (opts.port != null) {
      const server = createUpgradeServer(
        {
          maxHeaderSize: opts.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE,
          maxHeaderCount: opts.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT,
          handshakeTimeout: opts.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
        },
        (req, socket, head) => this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req)),
      );
      server.on('listening', () => this.emit('listening'));
      server.on('error', (error) => this.emit('error', error));
      this._internal = server;
      server.listen(opts.port, opts.host, opts.backlog, callback);
    } else if (opts.server) {
      this._server = opts.server;
    }
    if (this._server !== null) {
      const server = this._server;
      const onListening = (): boolean => this.emit('listening');
      const onError = (error: Error): boolean => this.emit('error', error);
      const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
        // Leave requests for other paths to other 'upgrade' listeners, if there are any.
        if (!this.shouldHandle(req) && server.listenerCount('upgrade') > 1) return;
        this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
      };
      server.on('listening', onListening);
      server.on('error', onError);
      server.on('upgrade', onUpgrade);
      this._removeListeners = () => {
        server.removeListener('listening', onListening);
        server.removeListener('error', onError);
        server.removeListener('upgrade', onUpgrade);
      };
    }
  }

  /** Open connections, when `clientTracking` is on (the default). */
  get clients(): Set<WebSocket> | undefined {
    return this.options.clientTracking ? this._open : undefined;
  }

  /** The bound address of the server this instance listens with. */
  address(): ReturnType<http.Server['address']> {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    return (this._internal ?? this._server)?.address() ?? null;
  }

  /**
   * Stops accepting connections and closes the open ones gracefully: each gets a Close frame
   * with 1001 (going away) and `closeTimeout` ms to answer before it is dropped. 'close' is
   * emitted once they are all gone. (`ws` 8 leaves open connections alone instead.)
   */
  close(cb?: (error?: Error) => void): void {
    if (cb) this.once('close', cb);
    if (this._state === CLOSED) {
      process.nextTick(() => this.emitClose());
      return;
    }
    if (this._state === CLOSING) return;
    this._state = CLOSING;
    this._removeListeners?.();
    this._removeListeners = null;
    this._server = null;
    for (const ws of this._open) if (ws.readyState === WebSocket.OPEN) ws.close(1001, 'Server shutting down');
    const internal = this._internal;
    if (internal !== null) {
      // 'close' once the listener is closed and every connection has emitted its own 'close'.
      internal.close(() => this.emitCloseWhenEmpty());
      return;
    }
    this.emitCloseWhenEmpty();
  }

  /**
   * Sends one message to every open connection (optionally all but `except`, or those
   * `filter` accepts), framing it once: each connection writes the same bytes.
   */
  broadcast(
    data: string | Buffer | ArrayBuffer | ArrayBufferView | PreparedMessage,
    options: { binary?: boolean; except?: WebSocket; filter?: (ws: WebSocket) => boolean } = {},
  ): void {
    const message = data instanceof PreparedMessage ? data : new PreparedMessage(data, options);
    for (const ws of this._open) {
      if (ws.readyState !== WebSocket.OPEN || ws === options.except) continue;
      if (options.filter && !options.filter(ws)) continue;
      ws.send(message);
    }
  }

  /** Whether this server accepts the request (the `path` option). */
  shouldHandle(req: http.IncomingMessage): boolean {
    if (this.options.path !== undefined) {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const pathname = q === -1 ? url : url.slice(0, q);
      if (pathname !== this.options.path) return false;
    }
    return true;
  }

  /**
   * Completes (or refuses) the opening handshake for an HTTP upgrade request, then calls
   * `cb(ws, req)` with the new connection.
   */
  handleUpgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (ws: WebSocket, req: http.IncomingMessage) => void,
  ): void {
    // Until the connection takes over, a socket error just ends it (our own server's
    // sockets have a handler for that already). Never removed: see socket-connection.ts.
    if (!hasSocketHandler(socket)) socket.on('error', onSocketError);
    const check = checkUpgradeRequest(req.method ?? '', req.httpVersion, req.headers);
    if (!check.ok) {
      this.refuse(req, socket, check.status, check.message, check.headers);
      return;
    }
    if (!this.shouldHandle(req)) {
      refuseHandshake(socket, 400);
      return;
    }
    const info = check.info;
    // Counted, not only sized: many tiny headers cost memory too (ws CVE-2024-37890).
    if (req.rawHeaders.length / 2 > (this.options.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT)) {
      refuseHandshake(socket, 431, 'Too many header lines');
      return;
    }
    if (info.origin !== undefined && !this.originAllowed(info.origin, req)) {
      refuseHandshake(socket, 403, 'Origin not allowed');
      return;
    }
    if (this.options.maxConnections !== undefined && this._open.size >= this.options.maxConnections) {
      refuseHandshake(socket, 503, 'Too many connections');
      return;
    }
    const verifyClient = this.options.verifyClient;
    if (verifyClient) {
      const clientInfo: VerifyClientInfo = {
        origin: info.origin,
        secure: Boolean((req.socket as Socket & { encrypted?: boolean }).encrypted),
        req,
      };
      if (verifyClient.length === 2) {
        (verifyClient as (i: VerifyClientInfo, c: VerifyClientCallback) => void)(clientInfo, (verified, code, message, headers) => {
          if (!verified) refuseHandshake(socket, code ?? 401, message, headers);
          else this.completeUpgrade(info.key, info.protocols, info.extensions, req, socket, head, cb);
        });
        return;
      }
      if (!(verifyClient as (i: VerifyClientInfo) => boolean)(clientInfo)) {
        refuseHandshake(socket, 401);
        return;
      }
    }
    this.completeUpgrade(info.key, info.protocols, info.extensions, req, socket, head, cb);
  }

  private completeUpgrade(
    key: string,
    offered: string[],
    extensionOffers: ExtensionOffer[],
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (ws: WebSocket, req: http.IncomingMessage) => void,
  ): void {
    // The client may have gone away while verifyClient was deciding.
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    const marked = socket as Duplex & { [kHandled]?: boolean };
    if (marked[kHandled]) {
      throw new Error(
        'server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration',
      );
    }
    if (this._state > RUNNING) {
      refuseHandshake(socket, 503);
      return;
    }
    let protocol: string | undefined;
    if (offered.length > 0) {
      const chosen = this.options.handleProtocols ? this.options.handleProtocols(new Set(offered), req) : offered[0]!;
      if (typeof chosen === 'string' && chosen !== '') protocol = chosen;
    }
    let extensions: string | undefined;
    let compressor: MessageCompressor | undefined;
    const deflate = this.options.perMessageDeflate;
    if (deflate && extensionOffers.length > 0) {
      const deflateOptions = deflate === true ? {} : deflate;
      const accepted = acceptOffer(extensionOffers, deflateOptions);
      if (accepted !== null) {
        extensions = accepted.response;
        compressor = new DeflateCompressor(accepted.params, 'server', deflateOptions);
      }
    }
    const lines = acceptHeaders(key, protocol, extensions);
    this.emit('headers', lines, req);
    marked[kHandled] = true;
    socket.write(serializeResponse(lines));

    const ws = new this.options.WebSocket!(null);
    ws.setSocket(socket as Socket, head, {
      ...this.options,
      protocol,
      compressor,
      extensions: compressor ? PERMESSAGE_DEFLATE : undefined,
    });
    const open = this._open;
    open.add(ws);
    ws.on('close', () => {
      open.delete(ws);
      if (this._shouldEmitClose && open.size === 0) process.nextTick(() => this.emitClose());
    });
    cb(ws, req);
  }

  /** Refuses a malformed request, or hands it to 'wsClientError' listeners (as ws does). */
  private refuse(
    req: http.IncomingMessage,
    socket: Duplex,
    status: number,
    message: string,
    headers?: Record<string, string>,
  ): void {
    if (this.listenerCount('wsClientError') > 0) {
      const error = new Error(message);
      this.emit('wsClientError', error, socket, req);
      return;
    }
    refuseHandshake(socket, status, message, headers);
  }

  /** RFC 6455 section 10.2: the Origin of a browser's request, checked against the allow list. */
  private originAllowed(origin: string, req: http.IncomingMessage): boolean {
    const allow = this.options.allowOrigins;
    if (allow === '*') return true;
    let host: string;
    try {
      host = new URL(origin).host; // "null" and other opaque origins do not parse
    } catch {
      host = '';
    }
    if (host !== '' && host === (req.headers.host ?? '').toLowerCase()) return true;
    if (typeof allow === 'function') return allow(origin, req);
    if (Array.isArray(allow)) return allow.some((o) => o.toLowerCase() === origin.toLowerCase());
    return false;
  }

  private emitCloseWhenEmpty(): void {
    if (this._open.size > 0) this._shouldEmitClose = true;
    else process.nextTick(() => this.emitClose());
  }

  private emitClose(): void {
    this._state = CLOSED;
    this._shouldEmitClose = false;
    this.emit('close');
  }
}

function onSocketError(this: Duplex): void {
  this.destroy();
}
