import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from '../../node/index.js';
import { DEFAULT_MAX_BUFFERED_AMOUNT } from '../../node/websocket.js';
import { applyCors, type CorsOptions, normalizeCors, websocketOriginAllowed } from './cors.js';
import { abortRequest, abortUpgrade, ERROR_CODES, ERROR_MESSAGES, type ErrorCode } from './errors.js';
import { PollingTransport } from './polling.js';
import { EngineSocket, type SessionSettings } from './socket.js';
import type { Transport } from './transport.js';
import { WebSocketTransport } from './websocket-transport.js';

export type TransportName = 'polling' | 'websocket';

export interface EngineOptions {
  /** Where the server answers (default '/socket.io/'); with or without the trailing slash. */
  path?: string;
  /** Milliseconds between the server's PINGs (default 25000). */
  pingInterval?: number;
  /** Milliseconds the client has to answer a PING with a PONG (default 20000). */
  pingTimeout?: number;
  /** Largest POST body and WebSocket message in bytes (default 1e6). */
  maxHttpBufferSize?: number;
  transports?: TransportName[];
  allowUpgrades?: boolean;
  /** Milliseconds an upgrade may take from the WebSocket connection to the UPGRADE packet (default 10000). */
  upgradeTimeout?: number;
  cors?: boolean | CorsOptions;
  /** Decides on each new session (handshake); `success` false refuses it with 403, code 4. */
  allowRequest?: (req: IncomingMessage, cb: (err: string | null | undefined, success: boolean) => void) => void;
  /** permessage-deflate for the WebSocket transport (default false). */
  perMessageDeflate?: boolean | object;
  /**
   * Most open sessions (both transports); a handshake beyond it gets HTTP 503 with code 4,
   * "Too many sessions" (default 100000). Unlike a WebSocket connection, a polling session
   * holds no TCP connection, so the OS's descriptor limit does not bound how many one client
   * can open: this does, at a few KiB each.
   */
  maxSessions?: number;
  /**
   * Most bytes queued for one session and not yet taken by the client: a polling client that
   * stops polling, or a WebSocket that does not read (default 64 MiB, as the WebSocket layer's
   * `maxBufferedAmount`). Beyond it the session ends with 'transport error'. Each packet counts
   * at least 64 bytes, so a flood of tiny packets is bounded too.
   */
  maxBufferedAmount?: number;
}

/** What a 'connection_error' listener receives (as engine.io emits it). */
export interface ConnectionError {
  req: IncomingMessage;
  code: ErrorCode;
  message: string;
}

const TRANSPORTS: readonly TransportName[] = ['polling', 'websocket'];

function positive(name: string, value: number | undefined, fallback: number, unit = 'milliseconds'): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`The "${name}" option must be a positive number of ${unit}, got ${String(value)}`);
  }
  return value;
}

/** Default of `maxSessions`: about 350 MiB of idle Socket.IO sessions (~3.5 KiB each, measured). */
export const DEFAULT_MAX_SESSIONS = 100_000;

/** The answer to a handshake beyond `maxSessions`: try again later. */
const TOO_MANY_SESSIONS = { code: ERROR_CODES.FORBIDDEN, message: 'Too many sessions', status: 503 } as const;

function normalizePath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return `${trimmed.startsWith('/') ? '' : '/'}${trimmed}/`;
}

/** A session id: 15 random bytes, base64url (20 characters). */
function generateId(): string {
  return randomBytes(15).toString('base64url');
}

interface Query {
  transport: string | null;
  eio: string | null;
  sid: string | null;
}

function parseQuery(url: string | undefined): Query | null {
  try {
    const params = new URL(url ?? '/', 'http://localhost').searchParams;
    return { transport: params.get('transport'), eio: params.get('EIO'), sid: params.get('sid') };
  } catch {
    return null;
  }
}

/**
 * An Engine.IO v4 server: the HTTP long-polling and WebSocket transports, the handshake,
 * heartbeat and upgrade, as the protocol document (https://github.com/socketio/engine.io-protocol)
 * describes them. Emits 'connection' (socket: EngineSocket) and 'connection_error' (ConnectionError).
 */
export class EngineServer extends EventEmitter {
  readonly clients = new Map<string, EngineSocket>();
  readonly path: string;
  private readonly _transports: readonly TransportName[];
  private readonly _settings: Omit<SessionSettings, 'upgrades'>;
  private readonly _allowUpgrades: boolean;
  private readonly _cors: CorsOptions | null;
  private readonly _allowRequest: EngineOptions['allowRequest'];
  private readonly _maxSessions: number;
  private readonly _wss: WebSocketServer;
  private _detach: (() => void) | null = null;

  constructor(options: EngineOptions = {}) {
    super();
    this.path = normalizePath(options.path ?? '/socket.io/');
    const transports = options.transports ?? ['polling', 'websocket'];
    if (!Array.isArray(transports) || transports.length === 0 || transports.some((t) => !TRANSPORTS.includes(t))) {
      throw new TypeError(`The "transports" option must list one or both of "polling" and "websocket", got ${JSON.stringify(transports)}`);
    }
    this._transports = [...transports];
    const maxHttpBufferSize = positive('maxHttpBufferSize', options.maxHttpBufferSize, 1e6, 'bytes');
    this._maxSessions = positive('maxSessions', options.maxSessions, DEFAULT_MAX_SESSIONS, 'sessions');
    this._settings = {
      pingInterval: positive('pingInterval', options.pingInterval, 25_000),
      pingTimeout: positive('pingTimeout', options.pingTimeout, 20_000),
      upgradeTimeout: positive('upgradeTimeout', options.upgradeTimeout, 10_000),
      maxHttpBufferSize,
      maxBufferedAmount: positive('maxBufferedAmount', options.maxBufferedAmount, DEFAULT_MAX_BUFFERED_AMOUNT, 'bytes'),
    };
    this._allowUpgrades = options.allowUpgrades ?? true;
    this._cors = normalizeCors(options.cors);
    this._allowRequest = options.allowRequest;
    this._wss = new WebSocketServer({
      noServer: true,
      maxPayload: maxHttpBufferSize,
      perMessageDeflate: (options.perMessageDeflate ?? false) as boolean,
      // Engine.IO decides on origins with `cors` / `allowRequest`, not the WebSocket layer.
      allowOrigins: '*',
      clientTracking: false,
      maxBufferedAmount: this._settings.maxBufferedAmount,
    });
  }

  /** How many sessions are open. */
  get clientsCount(): number {
    return this.clients.size;
  }

  /** Whether a request is for this server (its path is `path`, with or without the trailing slash). */
  matches(req: IncomingMessage): boolean {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    return pathname === this.path || pathname === this.path.slice(0, -1);
  }

  /**
   * Handles the requests for `path` on an http/https server; other requests go to the
   * server's other 'request' listeners, other upgrades to its other 'upgrade' listeners
   * (or are refused with 400 when there are none).
   */
  attach(server: http.Server | https.Server): void {
    if (this._detach !== null) throw new Error('This EngineServer is already attached to a server');
    const previous = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
    server.removeAllListeners('request');
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      if (this.matches(req)) this.handleRequest(req, res);
      else for (const listener of previous) listener.call(server, req, res);
    };
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (this.matches(req)) this.handleUpgrade(req, socket, head);
      else if (server.listenerCount('upgrade') === 1) abortUpgrade(socket, ERROR_CODES.BAD_REQUEST);
    };
    server.on('request', onRequest);
    server.on('upgrade', onUpgrade);
    this._detach = () => {
      server.removeListener('request', onRequest);
      server.removeListener('upgrade', onUpgrade);
      for (const listener of previous) server.on('request', listener);
    };
  }

  /** Handles an HTTP request of the polling transport (handshake, GET, POST) or a CORS preflight. */
  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const query = parseQuery(req.url);
    if (query === null) {
      this.refuseRequest(req, res, ERROR_CODES.BAD_REQUEST);
      return;
    }
    const proceed = (): void =>
      this.verify(req, query, false, (code, message, status) => {
        if (code !== undefined) {
          this.refuseRequest(req, res, code, message, status);
          return;
        }
        if (query.sid !== null) {
          const session = this.clients.get(query.sid)!;
          (session.transportRef as PollingTransport).onRequest(req, res);
          return;
        }
        const transport = new PollingTransport(
          this._settings.maxHttpBufferSize,
          this._settings.pingInterval + this._settings.pingTimeout,
        );
        const socket = this.createSession(req, transport);
        transport.onRequest(req, res);
        this.emit('connection', socket);
      });
    if (this._cors === null) proceed();
    else applyCors(this._cors, req, res, (handled) => handled || proceed());
  }

  /** Handles an HTTP upgrade request for the WebSocket transport (a new session, or an upgrade). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const query = parseQuery(req.url);
    if (query === null) {
      this.refuseUpgrade(req, socket, ERROR_CODES.BAD_REQUEST);
      return;
    }
    websocketOriginAllowed(this._cors, req, (allowed) => {
      if (!allowed) {
        this.refuseUpgrade(req, socket, ERROR_CODES.FORBIDDEN, 'Origin not allowed');
        return;
      }
      this.verify(req, query, true, (code, message, status) => {
        if (code !== undefined) this.refuseUpgrade(req, socket, code, message, status);
        else this.acceptUpgrade(req, socket, head, query.sid);
      });
    });
  }

  /** Completes the WebSocket handshake: a new session, or the probe of an upgrade of `sid`. */
  private acceptUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, sid: string | null): void {
    this._wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const transport = new WebSocketTransport(ws);
      if (sid === null) {
        this.emit('connection', this.createSession(req, transport));
        return;
      }
      // The session may have ended while the WebSocket handshake was under way.
      const session = this.clients.get(sid);
      if (session === undefined) transport.discard();
      else session.maybeUpgrade(transport);
    });
  }

  /** Closes every session at once, and refuses WebSocket connections from now on. */
  close(): void {
    for (const socket of [...this.clients.values()]) socket.closeNow();
    this._wss.close();
    this._detach?.();
    this._detach = null;
  }

  private createSession(req: IncomingMessage, transport: Transport): EngineSocket {
    const id = generateId();
    const upgrades =
      this._allowUpgrades && transport.name === 'polling' && this._transports.includes('websocket') ? ['websocket'] : [];
    const socket = new EngineSocket(id, req, transport, { ...this._settings, upgrades });
    this.clients.set(id, socket);
    socket.once('close', () => this.clients.delete(id));
    return socket;
  }

  /**
   * The checks engine.io makes before a request reaches a transport: the transport is
   * enabled, EIO is 4 ("Transports" > "Query parameters"), the sid exists and uses this
   * transport, a handshake is a GET, there is room for a new session (`maxSessions`), and
   * `allowRequest` agrees to it.
   */
  private verify(
    req: IncomingMessage,
    query: Query,
    upgrade: boolean,
    done: (code?: ErrorCode, message?: string, status?: number) => void,
  ): void {
    const transport = query.transport as TransportName | null;
    if (transport === null || !this._transports.includes(transport)) {
      done(ERROR_CODES.UNKNOWN_TRANSPORT);
      return;
    }
    if (query.eio !== '4') {
      done(ERROR_CODES.UNSUPPORTED_PROTOCOL_VERSION);
      return;
    }
    if (upgrade !== (transport === 'websocket')) {
      // A polling request sent as an upgrade, or a websocket request over plain HTTP.
      done(ERROR_CODES.BAD_REQUEST);
      return;
    }
    if (query.sid !== null) {
      const session = this.clients.get(query.sid);
      if (session === undefined) {
        done(ERROR_CODES.UNKNOWN_SID);
        return;
      }
      const current = session.transportName;
      if (!upgrade && current !== transport) {
        done(ERROR_CODES.BAD_REQUEST, 'Transport mismatch');
        return;
      }
      if (upgrade && (current === 'websocket' || session.upgrading || !this._allowUpgrades)) {
        done(ERROR_CODES.BAD_REQUEST, 'Upgrade not possible');
        return;
      }
      done();
      return;
    }
    if (req.method !== 'GET') {
      done(ERROR_CODES.BAD_HANDSHAKE_METHOD);
      return;
    }
    if (this.clients.size >= this._maxSessions) {
      done(TOO_MANY_SESSIONS.code, TOO_MANY_SESSIONS.message, TOO_MANY_SESSIONS.status);
      return;
    }
    const allowRequest = this._allowRequest;
    if (!allowRequest) {
      done();
      return;
    }
    let called = false;
    try {
      allowRequest(req, (err, success) => {
        if (called) return;
        called = true;
        if (!success) done(ERROR_CODES.FORBIDDEN, typeof err === 'string' && err !== '' ? err : undefined);
        else done();
      });
    } catch (error) {
      // A throwing allowRequest refuses the request; errors from further on are not ours.
      if (called) throw error;
      called = true;
      done(ERROR_CODES.FORBIDDEN);
    }
  }

  private refuseRequest(req: IncomingMessage, res: ServerResponse, code: ErrorCode, message?: string, status?: number): void {
    this.emitError(req, code, message);
    abortRequest(res, code, message, status);
  }

  private refuseUpgrade(req: IncomingMessage, socket: Duplex, code: ErrorCode, message?: string, status?: number): void {
    this.emitError(req, code, message);
    abortUpgrade(socket, code, message, status);
  }

  private emitError(req: IncomingMessage, code: ErrorCode, message?: string): void {
    if (this.listenerCount('connection_error') > 0) {
      this.emit('connection_error', { req, code, message: message || ERROR_MESSAGES[code] } satisfies ConnectionError);
    }
  }
}
