/**
 * The Socket.IO-compatible server: `new Server(httpServer?, options?)`, namespaces (`io.of`),
 * and the main namespace's API on the server itself (`io.on('connection')`, `io.emit`, `io.to`,
 * `io.use`, ...). Speaks Socket.IO v5 over the Engine.IO v4 server it creates (or is given).
 *
 * Local events: 'connection' / 'connect' (socket of the main namespace), 'new_namespace' (nsp).
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { Adapter, type AdapterConstructor, type Room, type SocketId } from './adapter.js';
import type { BroadcastOperator } from './broadcast.js';
import { Connection } from './connection.js';
import { Emitter } from './emitter.js';
import { EngineServer, type EngineOptions } from './engine/index.js';
import type { EngineServerLike, EngineSocketLike } from './engine-types.js';
import { Namespace, type NamespaceMiddleware } from './namespace.js';
import { ParentNamespace, type ChildNamespaceError, type NamespaceMatcher } from './parent-namespace.js';
import { DEFAULT_MAX_ATTACHMENTS } from './parser.js';
import { checkRateLimitOptions, DEFAULT_RATE_LIMIT, type RateLimitOptions } from './rate-limit.js';
import { resolveRecoveryOptions, type RecoveryOptions, type ResolvedRecoveryOptions } from './session-store.js';
import { attachServeClient } from './serve-client.js';
import type { Socket } from './socket.js';

export interface ServerOptions {
  /** Path the Engine.IO server answers on (default '/socket.io'). */
  path?: string;
  /** Ms a new connection has to join a namespace before it is closed (default 45000). */
  connectTimeout?: number;
  /** Binary attachments allowed per packet (default 10). */
  maxAttachments?: number;
  /** Incoming packets per connection and window; `false` turns it off. See rate-limit.ts. */
  rateLimit?: RateLimitOptions | false;
  /** Adapter class, one instance per namespace (default the in-memory Adapter). */
  adapter?: AdapterConstructor;
  /** An Engine.IO server to use instead of creating one (it must not be attached yet; tests pass fakes). */
  engine?: EngineServerLike;
  /** Remove a dynamic namespace's child once its last socket has left (default false). */
  cleanupEmptyChildNamespaces?: boolean;
  /**
   * Most children a dynamic namespace (`io.of(RegExp | function)`) has at once (default 10000): a
   * CONNECT that would create one more gets CONNECT_ERROR "Invalid namespace", and the parent emits
   * 'connection_error' (see parent-namespace.ts). Clients choose the names, so without a cap they
   * could create namespaces until memory runs out. A child created for a CONNECT that is refused
   * or abandoned is deleted again (unless another socket is in it, or being admitted), so refused
   * clients cannot use up the cap; but with `cleanupEmptyChildNamespaces` off, a child that has had
   * a socket is kept, so once connected clients have reached the cap it stays reached until the
   * server restarts: turn cleanup on when clients choose the names.
   */
  maxChildNamespaces?: number;
  /** Connection state recovery (off unless given): see session-store.ts and docs/connection-state-recovery.md. */
  connectionStateRecovery?: RecoveryOptions;
  /** Serve the browser client at `<path>/socket.io.js` on the attached HTTP server (default true; see serve-client.ts). */
  serveClient?: boolean;
  /** Every other option (pingInterval, pingTimeout, maxHttpBufferSize, cors, transports, ...) goes to the Engine.IO server. */
  [engineOption: string]: unknown;
}

/**
 * The type parameters are socket.io's (ListenEvents, EmitEvents, ServerSideEvents, SocketData), so
 * code written for socket.io's typed server compiles; only SocketData is checked (`socket.data`).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unused-vars
export class Server<ListenEvents = any, EmitEvents = any, ServerSideEvents = any, SocketData = any> extends Emitter {
  /** The Engine.IO server (typed as ours; `options.engine` may put another of the same shape here). */
  readonly engine: EngineServer;
  /** The main namespace '/'. */
  readonly sockets: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  readonly connectTimeout: number;
  readonly maxAttachments: number;
  readonly rateLimit: Readonly<RateLimitOptions> | undefined;
  /** The connection state recovery settings with their defaults (undefined when off). */
  readonly connectionStateRecovery: ResolvedRecoveryOptions | undefined;
  readonly path: string;
  httpServer: HttpServer | undefined;
  /** @internal */
  readonly _nsps = new Map<string, Namespace>();
  /** @internal */
  readonly _connections = new Set<Connection>();
  private readonly parents: ParentNamespace[] = [];
  private readonly cleanupEmptyChildNamespaces: boolean;
  private readonly maxChildNamespaces: number;
  private readonly AdapterClass: AdapterConstructor;
  private _serveClient: boolean;

  constructor(srv?: HttpServer | number | ServerOptions, options: ServerOptions = {}) {
    super();
    if (srv !== undefined && typeof srv === 'object' && !isHttpServer(srv)) {
      options = srv;
      srv = undefined;
    }
    this.path = (options.path ?? '/socket.io').replace(/\/$/, '');
    this._serveClient = options.serveClient !== false;
    this.connectTimeout = checkMs(options.connectTimeout ?? 45000, 'connectTimeout');
    const maxAttachments = options.maxAttachments ?? DEFAULT_MAX_ATTACHMENTS;
    if (!Number.isSafeInteger(maxAttachments) || maxAttachments < 0) {
      throw new RangeError(`maxAttachments must be a non-negative integer, got ${maxAttachments}`);
    }
    this.maxAttachments = maxAttachments;
    if (options.rateLimit === false) this.rateLimit = undefined;
    else {
      const rl = { ...DEFAULT_RATE_LIMIT, ...(options.rateLimit ?? {}) };
      checkRateLimitOptions(rl);
      this.rateLimit = Object.freeze(rl);
    }
    this.AdapterClass = options.adapter ?? Adapter;
    this.cleanupEmptyChildNamespaces = options.cleanupEmptyChildNamespaces === true;
    const maxChildNamespaces = options.maxChildNamespaces ?? 10_000;
    if (!Number.isSafeInteger(maxChildNamespaces) || maxChildNamespaces < 0) {
      throw new RangeError(`maxChildNamespaces must be a non-negative integer, got ${maxChildNamespaces}`);
    }
    this.maxChildNamespaces = maxChildNamespaces;
    this.connectionStateRecovery = resolveRecoveryOptions(options.connectionStateRecovery);
    const { engine, adapter: _a, rateLimit: _r, maxAttachments: _m, connectTimeout: _c, cleanupEmptyChildNamespaces: _e, maxChildNamespaces: _n, serveClient: _s, connectionStateRecovery: _csr, ...engineOptions } =
      options;
    this.engine = (engine as EngineServer | undefined) ?? new EngineServer({ ...(engineOptions as EngineOptions), path: this.path });
    this.engine.on('connection', (conn: EngineSocketLike) => this.onconnection(conn));
    this.sockets = this.of('/');
    if (typeof srv === 'number') this.listen(srv);
    else if (srv) this.attach(srv);
  }

  /** Attaches the Engine.IO server to an HTTP server (or creates one listening on a port). */
  attach(srv: HttpServer | number): this {
    if (typeof srv === 'number') return this.listen(srv);
    this.httpServer = srv;
    if (this._serveClient) attachServeClient(srv, this.path);
    this.engine.attach(srv);
    return this;
  }

  /** socket.io's `serveClient()`: whether attach() serves the browser client (set it before attaching). */
  serveClient(): boolean;
  serveClient(v: boolean): this;
  serveClient(v?: boolean): boolean | this {
    if (v === undefined) return this._serveClient;
    this._serveClient = v;
    return this;
  }

  /** Creates an HTTP server, attaches to it and listens on `port`. */
  listen(port: number, host?: string): this {
    const srv = createServer();
    this.attach(srv);
    srv.listen(port, host);
    return this;
  }

  /**
   * The namespace named `name` (created on first use), or, for a RegExp or a function, a parent of
   * dynamic namespaces (see parent-namespace.ts). `fn` is added as a 'connection' listener.
   */
  of(name: string | NamespaceMatcher, fn?: (socket: Socket) => void): Namespace {
    if (name instanceof RegExp || typeof name === 'function') {
      const parent = new ParentNamespace(this, name);
      this.parents.push(parent);
      if (fn) parent.on('connection', fn);
      return parent;
    }
    if (typeof name !== 'string') throw new TypeError('namespace name must be a string, a RegExp or a function');
    if (name[0] !== '/') name = '/' + name;
    if (name.includes(',')) throw new TypeError(`namespace name must not contain ",": ${JSON.stringify(name)}`);
    let nsp = this._nsps.get(name);
    if (!nsp) {
      nsp = new Namespace(this, name, this.AdapterClass);
      this._nsps.set(name, nsp);
      if (name !== '/') this.emitReserved('new_namespace', nsp);
    }
    if (fn) nsp.on('connection', fn);
    return nsp;
  }

  /** @internal Finds the namespace a CONNECT asks for, creating a dynamic child if a parent matches. */
  _lookup(name: string, auth: Record<string, unknown>, req: IncomingMessage, cb: (nsp: Namespace | undefined) => void): void {
    const existing = this._nsps.get(name);
    if (existing) return cb(existing);
    const parents = this.parents.slice();
    const step = (i: number): void => {
      if (i === parents.length) return cb(undefined);
      const parent = parents[i]!;
      parent._matches(name, auth, (ok) => {
        if (!ok) return step(i + 1);
        const known = this._nsps.get(name); // created meanwhile by another connection
        if (known) return cb(known);
        if (parent.children.size >= this.maxChildNamespaces) {
          parent.emitReserved('connection_error', { req, nsp: name, message: 'maxChildNamespaces reached' } satisfies ChildNamespaceError);
          return cb(undefined);
        }
        const child = this.of(name);
        child.parent = parent;
        parent.children.add(child);
        cb(child);
      });
    };
    step(0);
  }

  /**
   * @internal A dynamic child namespace may be unused now: its last socket left, an admission to
   * it failed (refused, or its connection closed), or its store's last session expired. It is
   * deleted when no socket is in it or being admitted to it, and either `cleanupEmptyChildNamespaces`
   * is on or it never had a socket (created for a CONNECT that failed: recreating it is harmless).
   * Not while its session store still holds sessions, which deleting it would lose (the client
   * comes back to a new namespace with a new store); the sweep that expires the last one calls
   * this again.
   */
  _onEmptyChild(nsp: Namespace): void {
    const parent = nsp.parent as ParentNamespace | undefined;
    if (!parent || this._nsps.get(nsp.name) !== nsp || nsp.sockets.size > 0 || nsp._admissions > 0) return;
    if (nsp._hadSockets && !this.cleanupEmptyChildNamespaces) return;
    const store = nsp.adapter.sessions;
    if (store !== undefined && store.size > 0) {
      store.onEmpty = () => this._onEmptyChild(nsp);
      return;
    }
    parent.children.delete(nsp);
    this._nsps.delete(nsp.name);
    void nsp.adapter.close();
  }

  /** The adapter class (socket.io's `io.adapter()`). */
  adapter(): AdapterConstructor {
    return this.AdapterClass;
  }

  use(fn: NamespaceMiddleware): this {
    this.sockets.use(fn);
    return this;
  }

  to(room: Room | Room[]): BroadcastOperator {
    return this.sockets.to(room);
  }

  in(room: Room | Room[]): BroadcastOperator {
    return this.sockets.in(room);
  }

  except(room: Room | Room[]): BroadcastOperator {
    return this.sockets.except(room);
  }

  emit(event: string, ...args: unknown[]): boolean {
    return this.sockets.emit(event, ...args);
  }

  emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    return this.sockets.emitWithAck(event, ...args);
  }

  send(...args: unknown[]): this {
    this.sockets.send(...args);
    return this;
  }

  write(...args: unknown[]): this {
    return this.send(...args);
  }

  compress(compress: boolean): BroadcastOperator {
    return this.sockets.compress(compress);
  }

  get volatile(): BroadcastOperator {
    return this.sockets.volatile;
  }

  get local(): BroadcastOperator {
    return this.sockets.local;
  }

  timeout(ms: number): BroadcastOperator {
    return this.sockets.timeout(ms);
  }

  allSockets(): Promise<Set<SocketId>> {
    return this.sockets.allSockets();
  }

  fetchSockets(): Promise<Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[]> {
    return this.sockets.fetchSockets();
  }

  socketsJoin(room: Room | Room[]): void {
    this.sockets.socketsJoin(room);
  }

  socketsLeave(room: Room | Room[]): void {
    this.sockets.socketsLeave(room);
  }

  disconnectSockets(close = false): void {
    this.sockets.disconnectSockets(close);
  }

  serverSideEmit(event: string, ...args: unknown[]): boolean {
    return this.sockets.serverSideEmit(event, ...args);
  }

  /**
   * Disconnects every socket ('server shutting down'), closes the Engine.IO server, the adapters
   * and the HTTP server this server is attached to.
   */
  async close(fn?: (err?: Error) => void): Promise<void> {
    for (const connection of [...this._connections]) connection.closeWith('server shutting down');
    this.engine.close();
    for (const nsp of this._nsps.values()) await nsp.adapter.close();
    const srv = this.httpServer;
    if (!srv || !srv.listening) {
      fn?.();
      return;
    }
    await new Promise<void>((resolve) => {
      srv.close((err) => {
        fn?.(err);
        resolve();
      });
      srv.closeIdleConnections?.();
    });
  }

  /** @internal */
  _onMainConnection(socket: Socket): void {
    this.emitReserved('connect', socket);
    this.emitReserved('connection', socket);
  }

  private onconnection(conn: EngineSocketLike): void {
    this._connections.add(new Connection(this, conn));
  }
}

function isHttpServer(v: object): v is HttpServer {
  return typeof (v as HttpServer).listen === 'function' && typeof (v as HttpServer).on === 'function';
}

function checkMs(v: number, name: string): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a non-negative number of ms, got ${v}`);
  return v;
}
