/**
 * A namespace: its sockets, its middlewares (`use`), its adapter (rooms), and broadcast
 * shortcuts (`nsp.emit`, `nsp.to(room)`, ...). Local events: 'connection' / 'connect' (socket).
 *
 * With connection state recovery on, a CONNECT carrying `pid` (and `offset`) asks for the session
 * back (socket.io docs, "Connection state recovery"): the adapter restores it, the socket gets its
 * id, rooms and data again, the middlewares are skipped if `skipMiddlewares`, and the packets
 * missed are sent after the CONNECT reply.
 */
import type { Adapter, AdapterConstructor, Room, SocketId } from './adapter.js';
import { BroadcastOperator } from './broadcast.js';
import type { Connection } from './connection.js';
import { Emitter } from './emitter.js';
import type { Server } from './server.js';
import { runChain } from './middleware.js';
import type { ResolvedRecoveryOptions, RestoreResult } from './session-store.js';
import { Socket } from './socket.js';

export type NamespaceMiddleware = (socket: Socket, next: (err?: Error) => void) => void;

// eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unused-vars
export class Namespace<ListenEvents = any, EmitEvents = any, ServerSideEvents = any, SocketData = any> extends Emitter {
  readonly name: string;
  readonly server: Server;
  readonly sockets = new Map<SocketId, Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>();
  readonly adapter: Adapter;
  /** The dynamic namespace this one was created from, if any. */
  parent: Namespace | undefined;
  /** @internal */
  readonly _fns: NamespaceMiddleware[] = [];
  /** @internal Recovered sockets whose middlewares still run (broadcasts reach them, see Adapter). */
  readonly _recovering = new Map<SocketId, Socket>();
  /**
   * @internal CONNECTs being admitted (from `_add` until the socket is connected, refused or
   * abandoned): the server does not delete a dynamic child namespace meanwhile (see Server._onEmptyChild).
   */
  _admissions = 0;
  /** @internal Whether a socket was ever connected (with cleanup off, a child that had one is kept). */
  _hadSockets = false;
  private ids = 0;

  constructor(server: Server, name: string, AdapterClass: AdapterConstructor) {
    super();
    this.server = server;
    this.name = name;
    this.adapter = new AdapterClass(this);
    void this.adapter.init();
  }

  /** The server's connection state recovery settings (undefined when off). */
  get recovery(): ResolvedRecoveryOptions | undefined {
    return this.server.connectionStateRecovery;
  }

  /** Adds a connection middleware: `fn(socket, next)`; `next(err)` refuses with CONNECT_ERROR. */
  use(fn: NamespaceMiddleware): this {
    this._fns.push(fn);
    return this;
  }

  to(room: Room | Room[]): BroadcastOperator {
    return new BroadcastOperator(this.adapter).to(room);
  }

  in(room: Room | Room[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: Room | Room[]): BroadcastOperator {
    return new BroadcastOperator(this.adapter).except(room);
  }

  /** Emits to every socket of the namespace. */
  emit(event: string, ...args: unknown[]): boolean {
    return new BroadcastOperator(this.adapter).emit(event, ...args);
  }

  emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    return new BroadcastOperator(this.adapter).emitWithAck(event, ...args);
  }

  send(...args: unknown[]): this {
    this.emit('message', ...args);
    return this;
  }

  write(...args: unknown[]): this {
    return this.send(...args);
  }

  compress(compress: boolean): BroadcastOperator {
    return new BroadcastOperator(this.adapter).compress(compress);
  }

  get volatile(): BroadcastOperator {
    return new BroadcastOperator(this.adapter).volatile;
  }

  get local(): BroadcastOperator {
    return new BroadcastOperator(this.adapter).local;
  }

  timeout(ms: number): BroadcastOperator {
    return new BroadcastOperator(this.adapter).timeout(ms);
  }

  allSockets(): Promise<Set<SocketId>> {
    return new BroadcastOperator(this.adapter).allSockets();
  }

  fetchSockets(): Promise<Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[]> {
    return new BroadcastOperator(this.adapter).fetchSockets() as Promise<Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[]>;
  }

  socketsJoin(room: Room | Room[]): void {
    new BroadcastOperator(this.adapter).socketsJoin(room);
  }

  socketsLeave(room: Room | Room[]): void {
    new BroadcastOperator(this.adapter).socketsLeave(room);
  }

  disconnectSockets(close = false): void {
    new BroadcastOperator(this.adapter).disconnectSockets(close);
  }

  /** Sends to the other servers of a cluster (nothing with the in-memory adapter). */
  serverSideEmit(event: string, ...args: unknown[]): boolean {
    this.adapter.serverSideEmit([event, ...args]);
    return true;
  }

  /** @internal */
  _nextAckId(): number {
    return this.ids++;
  }

  /**
   * @internal A CONNECT from `client`: restores the session it asks for (recovery on, `auth.pid`
   * a string), runs the middlewares (unless recovered with `skipMiddlewares`), then connects or refuses.
   * The admission ends once (`done`); a failed one lets the server delete a child created for it.
   */
  _add(client: Connection, auth: Record<string, unknown>, done: (socket: Socket | undefined) => void): void {
    this._admissions++;
    let ended = false;
    const end = (socket: Socket | undefined): void => {
      if (ended) return;
      ended = true;
      this._admissions--;
      done(socket);
      if (!socket) this.server._onEmptyChild(this);
    };
    if (client.closed) return end(undefined);
    const pid = auth.pid;
    if (this.recovery === undefined || typeof pid !== 'string') return this.admit(client, auth, undefined, end);
    const offset = typeof auth.offset === 'string' ? auth.offset : undefined;
    const failed: RestoreResult = { ok: false, reason: 'adapter error' };
    let result: ReturnType<Adapter['restoreSession']>;
    try {
      result = this.adapter.restoreSession(pid, offset);
    } catch {
      result = failed;
    }
    if (result instanceof Promise) {
      result.then(
        (r) => this.admit(client, auth, r, end),
        () => this.admit(client, auth, failed, end),
      );
    } else {
      // synchronous (the in-memory store): nothing can be broadcast between the restore and the admission
      this.admit(client, auth, result, end);
    }
  }

  private admit(client: Connection, auth: Record<string, unknown>, restored: RestoreResult | undefined, done: (socket: Socket | undefined) => void): void {
    const socket = new Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>(this, client, auth, restored);
    if (client.closed) {
      socket._abandon();
      return done(undefined);
    }
    if (socket.recovered) {
      if (this.recovery?.skipMiddlewares) return this.connect(socket, done);
      this._recovering.set(socket.id, socket);
    }
    // a middleware may never call next: the connection abandons the socket (and ends the admission) when it closes
    client._admitting.set(socket, () => {
      socket._abandon();
      done(undefined);
    });
    const fns = this.parent ? [...this.parent._fns, ...this._fns] : this._fns.slice();
    runChain(fns, socket, (err?: Error & { data?: unknown }) => {
      client._admitting.delete(socket);
      if (client.closed) {
        socket._abandon();
        return done(undefined);
      }
      this._recovering.delete(socket.id);
      if (err) {
        socket._refuse(err);
        return done(undefined);
      }
      this.connect(socket, done);
    });
  }

  private connect(socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, done: (socket: Socket | undefined) => void): void {
    this.sockets.set(socket.id, socket);
    this._hadSockets = true;
    socket._onconnect();
    done(socket);
    this.emitReserved('connect', socket);
    this.emitReserved('connection', socket);
    if (this.parent) {
      this.parent.emitReserved('connect', socket);
      this.parent.emitReserved('connection', socket);
    }
    if (this.name === '/') this.server._onMainConnection(socket);
  }

  /** @internal */
  _remove(socket: Socket): void {
    this.sockets.delete(socket.id);
    if (this.sockets.size === 0 && this.parent) this.server._onEmptyChild(this);
  }
}
