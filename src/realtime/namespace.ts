/**
 * A namespace: its sockets, its middlewares (`use`), its adapter (rooms), and broadcast
 * shortcuts (`nsp.emit`, `nsp.to(room)`, ...). Local events: 'connection' / 'connect' (socket).
 */
import type { Adapter, AdapterConstructor, Room, SocketId } from './adapter.js';
import { BroadcastOperator } from './broadcast.js';
import type { Connection } from './connection.js';
import { Emitter } from './emitter.js';
import type { Server } from './server.js';
import { runChain } from './middleware.js';
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
  private ids = 0;

  constructor(server: Server, name: string, AdapterClass: AdapterConstructor) {
    super();
    this.server = server;
    this.name = name;
    this.adapter = new AdapterClass(this);
    void this.adapter.init();
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

  /** @internal A CONNECT from `client`: runs the middlewares, then connects or refuses. */
  _add(client: Connection, auth: Record<string, unknown>, done: (socket: Socket | undefined) => void): void {
    const socket = new Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>(this, client, auth);
    const fns = this.parent ? [...this.parent._fns, ...this._fns] : this._fns.slice();
    runChain(fns, socket, (err?: Error & { data?: unknown }) => {
      if (client.closed) {
        this.adapter.delAll(socket.id);
        return done(undefined);
      }
      if (err) {
        socket._refuse(err);
        return done(undefined);
      }
      this.sockets.set(socket.id, socket);
      socket._onconnect();
      done(socket);
      this.emitReserved('connect', socket);
      this.emitReserved('connection', socket);
      if (this.parent) {
        this.parent.emitReserved('connect', socket);
        this.parent.emitReserved('connection', socket);
      }
      if (this.name === '/') this.server._onMainConnection(socket);
    });
  }

  /** @internal */
  _remove(socket: Socket): void {
    this.sockets.delete(socket.id);
    if (this.sockets.size === 0 && this.parent) this.server._onEmptyChild(this);
  }
}
