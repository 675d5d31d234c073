/**
 * Adapters keep the rooms of a namespace and deliver broadcasts. The in-memory `Adapter` serves
 * one process; a cluster adapter (Redis) subclasses it and overrides the async-capable methods
 * (the same names and arguments as socket.io-adapter, so the semantics carry over): it forwards
 * broadcasts and remote operations to the other servers and calls `super` for the local part.
 *
 * Connection state recovery lives behind `persistSession` / `restoreSession` (socket.io-adapter's
 * names; async-capable, so a cluster adapter can keep sessions and packets in Redis): the in-memory
 * adapter keeps them in a SessionStore (session-store.ts) and records the replayable packets
 * `broadcast` sends.
 *
 * Events: 'create-room' (room), 'delete-room' (room), 'join-room' (room, id), 'leave-room' (room, id).
 */
import { Emitter } from './emitter.js';
import { encode, PacketType, type EncodedPacket, type Packet } from './parser.js';
import { SessionStore, type PersistedSession, type ResolvedRecoveryOptions, type RestoreResult } from './session-store.js';

export type Room = string;
export type SocketId = string;

export interface BroadcastFlags {
  /** Drop the packet for targets whose transport cannot take it right now. */
  volatile?: boolean;
  compress?: boolean;
  /** Only this server (meaningful for cluster adapters). */
  local?: boolean;
  /** Milliseconds to wait for acknowledgements (broadcast with ack). */
  timeout?: number;
}

export interface BroadcastOptions {
  /** Target rooms; empty means every socket of the namespace. */
  rooms: Set<Room>;
  /** Sockets in any of these rooms are left out. */
  except?: Set<Room>;
  flags?: BroadcastFlags;
}

/** What the adapter needs of a socket. */
export interface AdapterSocket {
  readonly id: SocketId;
  /**
   * Writes an already encoded packet (the same array for every target of a broadcast). `shared`
   * (default true): other sockets get the same array, so their frames can be built once for all.
   * `offset`: a recorded packet's, or null for a packet that is not recorded; the socket keeps the
   * last one written for its session (`lastSent`). Left out, the socket cannot tell whether its
   * client missed a recorded packet, and its session is recovered by socket.io's rule (see SessionStore).
   */
  _sendEncoded(encoded: EncodedPacket, flags: BroadcastFlags, shared?: boolean, offset?: string | null): void;
  /** Registers the handler of the ACK carrying `id` (broadcast with ack). */
  _registerAck(id: number, ack: (...args: unknown[]) => void): void;
  join(rooms: Room | Room[]): Promise<void> | void;
  leave(room: Room): Promise<void> | void;
  disconnect(close?: boolean): unknown;
}

/** What the adapter needs of its namespace. */
export interface AdapterNamespace {
  readonly name: string;
  readonly sockets: ReadonlyMap<SocketId, AdapterSocket>;
  /** Recovered sockets whose middlewares still run: broadcasts reach them (they hold the packets until connected). */
  readonly _recovering?: ReadonlyMap<SocketId, AdapterSocket>;
  /** The connection state recovery settings, when it is on. */
  readonly recovery?: ResolvedRecoveryOptions;
  /** A fresh acknowledgement id, unique in the namespace. */
  _nextAckId(): number;
}

export type AdapterConstructor = new (nsp: AdapterNamespace) => Adapter;

/** The in-memory adapter (and the base class of cluster adapters). */
export class Adapter extends Emitter {
  readonly nsp: AdapterNamespace;
  /** room -> socket ids */
  readonly rooms = new Map<Room, Set<SocketId>>();
  /** socket id -> rooms */
  readonly sids = new Map<SocketId, Set<Room>>();

  private store: SessionStore | undefined;

  constructor(nsp: AdapterNamespace) {
    super();
    this.nsp = nsp;
  }

  /** Called once when the namespace is created. */
  init(): Promise<void> | void {}

  /** Called when the server closes (subclasses call `super.close()`). */
  close(): Promise<void> | void {
    this.store?.close();
  }

  /** The in-memory session store (made on first use), or undefined while recovery is off. */
  get sessions(): SessionStore | undefined {
    if (this.store === undefined && this.nsp.recovery !== undefined) this.store = new SessionStore(this.nsp.recovery);
    return this.store;
  }

  /** Keeps the state of a socket that went away for a recoverable reason, for `maxDisconnectionDuration`. */
  persistSession(session: PersistedSession): Promise<void> | void {
    this.sessions?.persist(session);
  }

  /**
   * Takes back the session of `pid` with the packets its rooms were sent after `offset` (the
   * session's own start when undefined), or the reason it cannot.
   */
  restoreSession(pid: string, offset: string | undefined): Promise<RestoreResult> | RestoreResult {
    return this.sessions?.restore(pid, offset) ?? { ok: false, reason: 'unknown session' };
  }

  /** The offset of the last recorded packet: where a socket connecting now starts. */
  currentOffset(): string | undefined {
    return this.sessions?.currentOffset;
  }

  /** Number of servers in the cluster. */
  async serverCount(): Promise<number> {
    return 1;
  }

  /** Adds a socket to rooms. */
  addAll(id: SocketId, rooms: Set<Room>): Promise<void> | void {
    let own = this.sids.get(id);
    if (!own) {
      own = new Set();
      this.sids.set(id, own);
    }
    for (const room of rooms) {
      own.add(room);
      let members = this.rooms.get(room);
      if (!members) {
        members = new Set();
        this.rooms.set(room, members);
        this.emitReserved('create-room', room);
      }
      if (!members.has(id)) {
        members.add(id);
        this.emitReserved('join-room', room, id);
      }
    }
  }

  /** Removes a socket from a room. */
  del(id: SocketId, room: Room): Promise<void> | void {
    this.sids.get(id)?.delete(room);
    this.delFromRoom(room, id);
  }

  /** Removes a socket from all its rooms. */
  delAll(id: SocketId): void {
    const own = this.sids.get(id);
    if (!own) return;
    for (const room of own) this.delFromRoom(room, id);
    this.sids.delete(id);
  }

  private delFromRoom(room: Room, id: SocketId): void {
    const members = this.rooms.get(room);
    if (!members || !members.delete(id)) return;
    this.emitReserved('leave-room', room, id);
    if (members.size === 0) {
      this.rooms.delete(room);
      this.emitReserved('delete-room', room);
    }
  }

  /**
   * Sends a packet to every matching socket: encoded once, the same parts written to each. With
   * recovery on, a replayable packet is recorded first (which appends its offset to the data):
   * an EVENT without ack that is not volatile (socket.io's rule), or an ACK, which only the
   * lossless extension broadcasts (a reply to the sender's own room); the store encodes it.
   */
  broadcast(packet: Packet, opts: BroadcastOptions): void {
    const flags = opts.flags ?? {};
    const replayable = (packet.type === PacketType.EVENT && packet.id === undefined && !flags.volatile) || packet.type === PacketType.ACK;
    const store = replayable ? this.sessions : undefined;
    const encoded = store ? store.record(packet, opts) : encode(packet);
    const offset = store ? store.currentOffset : null; // the one just recorded
    const shared = this.fansOut(opts);
    this.apply(opts, (socket) => socket._sendEncoded(encoded, flags, shared, offset), true);
  }

  /**
   * Sends a packet expecting an acknowledgement from every target. `clientCountCallback` gets the
   * number of targets (called once here, again by cluster adapters per server), `ack` each reply.
   */
  broadcastWithAck(
    packet: Packet,
    opts: BroadcastOptions,
    clientCountCallback: (count: number) => void,
    ack: (...args: unknown[]) => void,
  ): void {
    const flags = opts.flags ?? {};
    packet.id = this.nsp._nextAckId();
    const encoded = encode(packet);
    const shared = this.fansOut(opts);
    let count = 0;
    this.apply(opts, (socket) => {
      count++;
      socket._registerAck(packet.id!, ack);
      socket._sendEncoded(encoded, flags, shared, null);
    });
    clientCountCallback(count);
  }

  /** Ids of the sockets in any of `rooms` (all when empty). */
  async sockets(rooms: Set<Room>): Promise<Set<SocketId>> {
    const ids = new Set<SocketId>();
    this.apply({ rooms }, (socket) => ids.add(socket.id));
    return ids;
  }

  /** Rooms a socket is in. */
  socketRooms(id: SocketId): Set<Room> | undefined {
    return this.sids.get(id);
  }

  /** The matching sockets (local ones are the Socket objects themselves). */
  async fetchSockets(opts: BroadcastOptions): Promise<AdapterSocket[]> {
    return this.collect(opts);
  }

  /** Makes the matching sockets join `rooms`. */
  addSockets(opts: BroadcastOptions, rooms: Room[]): void {
    for (const socket of this.collect(opts)) void socket.join(rooms);
  }

  /** Makes the matching sockets leave `rooms`. */
  delSockets(opts: BroadcastOptions, rooms: Room[]): void {
    for (const socket of this.collect(opts)) {
      for (const room of rooms) void socket.leave(room);
    }
  }

  /** Disconnects the matching sockets (and closes their connections when `close`). */
  disconnectSockets(opts: BroadcastOptions, close: boolean): void {
    for (const socket of this.collect(opts)) socket.disconnect(close);
  }

  /** Sends an event to the other servers of the cluster: nothing to do in one process. */
  serverSideEmit(_packet: unknown[]): void {}

  /** The matching sockets, as a list (for operations that change rooms or the socket map). */
  protected collect(opts: BroadcastOptions): AdapterSocket[] {
    const found: AdapterSocket[] = [];
    this.apply(opts, (socket) => found.push(socket));
    return found;
  }

  /** Calls `fn` on every socket matching `opts`, once each (and on recovering ones with `recovering`). */
  protected apply(opts: BroadcastOptions, fn: (socket: AdapterSocket) => void, recovering = false): void {
    const except = this.computeExcept(opts.except);
    const sockets = this.nsp.sockets;
    const pending = recovering ? this.nsp._recovering : undefined;
    if (opts.rooms.size > 0) {
      // A socket in several of the rooms gets the packet once; with one room, no need to track.
      const seen = opts.rooms.size > 1 ? new Set<SocketId>() : null;
      for (const room of opts.rooms) {
        const members = this.rooms.get(room);
        if (!members) continue;
        for (const id of members) {
          if (except.has(id)) continue;
          if (seen !== null) {
            if (seen.has(id)) continue;
            seen.add(id);
          }
          const socket = sockets.get(id) ?? pending?.get(id);
          if (socket) fn(socket);
        }
      }
    } else {
      for (const [id, socket] of sockets) {
        if (!except.has(id)) fn(socket);
      }
      if (pending) for (const [id, socket] of pending) if (!except.has(id)) fn(socket);
    }
  }

  /** Whether a broadcast to `opts` may reach several sockets: not when it targets one room of at most one member (`socket.emit` with recovery on). */
  private fansOut(opts: BroadcastOptions): boolean {
    if (opts.rooms.size !== 1) return true;
    const [room] = opts.rooms;
    return (this.rooms.get(room!)?.size ?? 0) > 1;
  }

  private computeExcept(rooms: Set<Room> | undefined): Set<SocketId> {
    const ids = new Set<SocketId>();
    if (!rooms) return ids;
    for (const room of rooms) {
      const members = this.rooms.get(room);
      if (members) for (const id of members) ids.add(id);
    }
    return ids;
  }
}
