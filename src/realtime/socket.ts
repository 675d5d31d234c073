/**
 * The server-side Socket: one client connected to one namespace. `emit` sends to the client;
 * events the client sends reach `socket.on(...)` listeners (with an ack function last when the
 * client asked for one). Local events: 'disconnecting' and 'disconnect' (reason, description),
 * 'error' (an error from a `socket.use` middleware, or a RateLimitError).
 *
 * Connection state recovery (socket.io docs, "Connection state recovery"): the CONNECT reply
 * carries a private session id `pid`; emits without ack go through the adapter, which records
 * them with an offset appended to their data; a socket that goes away for a recoverable reason
 * is persisted (id, pid, rooms, data) and a new Socket takes it back (`recovered`), the missed
 * packets following its CONNECT reply. With our client it also runs the lossless extension
 * (lossless.ts): the client's events carry sequence numbers, duplicates are dropped, processing
 * is confirmed, and replies are recorded like events.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Adapter, AdapterSocket, BroadcastFlags, Room } from './adapter.js';
import { BroadcastOperator, checkEventName } from './broadcast.js';
import type { Connection } from './connection.js';
import { AnyEmitter } from './any-emitter.js';
import type { EngineSocket } from './engine/index.js';
import type { EngineSocketLike } from './engine-types.js';
import { runChain } from './middleware.js';
import type { Namespace } from './namespace.js';
import { CONTROL_EVENT, EXTENSION_KEY, EXTENSION_VERSION, isSeq, type ExtensionReply, type RecoveryFailureReason } from './lossless.js';
import { encode, PacketType, type EncodedPacket, type Packet } from './parser.js';
import { encodedSize, UNKNOWN_OFFSET, type PersistedSession, type RestoreResult } from './session-store.js';

export interface Handshake {
  headers: IncomingHttpHeaders;
  /** When the socket was created, as `Date#toString()`. */
  time: string;
  address: string;
  /** Whether the request was cross-origin (it carried an Origin header). */
  xdomain: boolean;
  secure: boolean;
  /** When the socket was created, in ms since the epoch. */
  issued: number;
  url: string;
  query: Record<string, string>;
  /** The CONNECT packet's payload. */
  auth: Record<string, unknown>;
}

/** The reasons a socket is disconnected for. */
export type DisconnectReason =
  | 'server namespace disconnect'
  | 'client namespace disconnect'
  | 'server shutting down'
  | 'ping timeout'
  | 'transport close'
  | 'transport error'
  | 'parse error'
  | 'forced close'
  | 'forced server close'
  | 'rate limit exceeded'
  | (string & {});

export type PacketMiddleware = (event: unknown[], next: (err?: Error) => void) => void;

/** Reasons the client may come back from: the session is kept (socket.io's list). */
const RECOVERABLE_REASONS: ReadonlySet<string> = new Set([
  'transport error',
  'transport close',
  'forced close',
  'ping timeout',
  'server shutting down',
  'forced server close',
]);

interface AckEntry {
  fn: (...args: unknown[]) => void;
  /** Set for emits with a timeout: called with an Error if the socket goes away first. */
  timer?: ReturnType<typeof setTimeout>;
  onLost?: (err: Error) => void;
}

/** Marks the rejecter of an emitWithAck() callback, called if the socket goes away first. */
const ON_LOST = Symbol('onLost');
type AckFn = ((...args: unknown[]) => void) & { [ON_LOST]?: (err: Error) => void };

interface EmitFlags {
  volatile?: boolean;
  compress?: boolean;
  timeout?: number;
}

export function buildHandshake(conn: EngineSocketLike, auth: Record<string, unknown>): Handshake {
  const req = conn.request;
  const url = req.url ?? '/';
  const query: Record<string, string> = {};
  try {
    for (const [k, v] of new URL(url, 'http://localhost').searchParams) query[k] = v;
  } catch {
    // an unparsable URL leaves the query empty
  }
  return {
    headers: req.headers,
    time: new Date().toString(),
    address: req.socket?.remoteAddress ?? '',
    xdomain: req.headers.origin !== undefined,
    secure: Boolean((req.socket as TLSSocket | undefined)?.encrypted),
    issued: Date.now(),
    url,
    query,
    auth,
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unused-vars
export class Socket<ListenEvents = any, EmitEvents = any, ServerSideEvents = any, SocketData = any> extends AnyEmitter implements AdapterSocket {
  /** This socket's own id (not the Engine.IO session id). */
  readonly id: string;
  readonly nsp: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  readonly client: Connection;
  readonly handshake: Handshake;
  /** Free-form data shared with fetchSockets() results (restored on recovery). */
  data: SocketData = {} as SocketData;
  connected = false;
  /** Whether this socket took back a session (id, rooms, data; the missed packets follow the CONNECT reply). */
  readonly recovered: boolean;
  /** The private session id (recovery on): only the client knows it besides the server. */
  readonly pid: string | undefined;
  /** Why the session the client asked for was not recovered, if it asked for one. */
  readonly recoveryFailure: RecoveryFailureReason | undefined;
  /** Whether the lossless extension runs on this socket (our client, recovery on). */
  readonly lossless: boolean;

  private readonly acks = new Map<number, AckEntry>();
  private flags: EmitFlags = {};
  private readonly fns: PacketMiddleware[] = [];
  /** Rooms may be joined by middlewares before the socket is connected, not after it is gone. */
  private joinable = true;
  /** Where this session's replay starts when the client names no offset. */
  private startOffset: string | undefined;
  /**
   * Kept in the session (see SessionStore.restore): the offset of the last recorded packet
   * written to the client (set before the write, which may end the socket), and the adapter's
   * current offset when the socket went away.
   */
  private lastSent: string | undefined;
  private disconnectOffset: string | undefined;
  /** Recovered: the packets missed, sent after the CONNECT reply; then those broadcast meanwhile (with their offsets). */
  private missed: Packet[] = [];
  private held: [EncodedPacket, BroadcastFlags, string | null | undefined][] = [];
  private heldBytes = 0;
  /** Lossless: the last client sequence number processed, and the pending confirmation. */
  private lastSeq = 0;
  private confirmTimer: ReturnType<typeof setImmediate> | undefined;

  constructor(
    nsp: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>,
    client: Connection,
    auth: Record<string, unknown>,
    restored?: RestoreResult,
  ) {
    super();
    this.nsp = nsp;
    this.client = client;
    const { [EXTENSION_KEY]: offer, ...userAuth } = auth;
    this.handshake = buildHandshake(client.conn, userAuth);
    const recovery = nsp.recovery !== undefined;
    this.lossless = recovery && offer === EXTENSION_VERSION;
    if (restored?.ok) {
      const session = restored.session;
      this.id = session.sid;
      this.pid = session.pid;
      this.data = session.data as SocketData;
      this.startOffset = session.offset;
      this.lastSent = session.lastSent;
      this.disconnectOffset = session.disconnectOffset;
      this.lastSeq = session.seq ?? 0;
      this.missed = session.missedPackets;
      this.recovered = true;
      this.recoveryFailure = undefined;
      void this.join(session.rooms);
    } else {
      this.id = randomBytes(15).toString('base64url');
      this.pid = recovery ? randomBytes(15).toString('base64url') : undefined;
      this.recovered = false;
      this.recoveryFailure = restored?.ok === false ? restored.reason : undefined;
    }
  }

  get disconnected(): boolean {
    return !this.connected;
  }

  /** The underlying Engine.IO connection (typed as ours; a fake engine in tests puts its own here). */
  get conn(): EngineSocket {
    return this.client.conn as EngineSocket;
  }

  get request() {
    return this.client.conn.request;
  }

  get adapter(): Adapter {
    return this.nsp.adapter;
  }

  /** Rooms this socket is in (its own id among them). */
  get rooms(): Set<Room> {
    return new Set(this.nsp.adapter.socketRooms(this.id) ?? []);
  }

  /**
   * Sends an event to the client. A function as the last argument is called with the client's
   * reply (after `timeout(ms)`: `(err, ...reply)`).
   */
  emit(event: string, ...args: unknown[]): boolean {
    checkEventName(event);
    const flags = this.flags;
    this.flags = {};
    const data: unknown[] = [event, ...args];
    const packet: Packet = { type: PacketType.EVENT, nsp: this.nsp.name, data };
    const last = args[args.length - 1];
    if (this.pid !== undefined && typeof last !== 'function' && !flags.volatile) {
      // recovery on: through the adapter, which records it for a replay (socket.io does the same);
      // an emit while disconnected reaches the client if it recovers the session
      this.notifyAnyOutgoing(data);
      this.nsp.adapter.broadcast(packet, { rooms: new Set([this.id]), except: new Set(), flags });
      return true;
    }
    if (!this.connected) {
      // nothing is sent; an ack that can take an error gets one now rather than never
      if (typeof last === 'function') {
        const onLost = (last as AckFn)[ON_LOST] ?? (flags.timeout !== undefined ? (last as AckFn) : undefined);
        if (onLost) queueMicrotask(() => onLost(new Error('socket has been disconnected')));
      }
      return true;
    }
    if (typeof last === 'function') {
      data.pop();
      const id = this.nsp._nextAckId();
      packet.id = id;
      this.addAck(id, last as AckFn, flags.timeout);
    }
    this.notifyAnyOutgoing(data);
    this.sendPacket(packet, flags);
    return true;
  }

  /** Emits and resolves with the client's first reply argument (rejects on timeout). */
  emitWithAck(event: string, ...args: unknown[]): Promise<unknown> {
    const withErr = this.flags.timeout !== undefined;
    return new Promise((resolve, reject) => {
      const cb: ((...a: any[]) => void) & { [ON_LOST]?: (err: Error) => void } = withErr
        ? (err: Error | null, arg?: unknown) => (err ? reject(err) : resolve(arg))
        : (arg?: unknown) => resolve(arg);
      // without a timeout too, the promise is rejected if the socket goes away first
      cb[ON_LOST] = reject;
      this.emit(event, ...args, cb);
    });
  }

  /** `emit('message', ...args)`. */
  send(...args: unknown[]): this {
    this.emit('message', ...args);
    return this;
  }

  write(...args: unknown[]): this {
    return this.send(...args);
  }

  /** The next emit's ack must come within `ms`, else its callback gets an Error first. */
  timeout(ms: number): this {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`timeout must be a non-negative number of ms, got ${ms}`);
    this.flags.timeout = ms;
    return this;
  }

  /** The next emit may be dropped if the transport cannot take it right now. */
  get volatile(): this {
    this.flags.volatile = true;
    return this;
  }

  compress(compress: boolean): this {
    this.flags.compress = compress;
    return this;
  }

  /** Everyone in the namespace but this socket. */
  get broadcast(): BroadcastOperator {
    return this.newBroadcast();
  }

  /** Everyone in `room` but this socket. */
  to(room: Room | Room[]): BroadcastOperator {
    return this.newBroadcast().to(room);
  }

  in(room: Room | Room[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: Room | Room[]): BroadcastOperator {
    return this.newBroadcast().except(room);
  }

  private newBroadcast(): BroadcastOperator {
    const flags: BroadcastFlags = { ...this.flags };
    this.flags = {};
    return new BroadcastOperator(this.nsp.adapter, new Set(), new Set([this.id]), flags);
  }

  /** Joins rooms. */
  join(rooms: Room | Room[]): Promise<void> | void {
    if (!this.connected && !this.joinable) return;
    return this.nsp.adapter.addAll(this.id, new Set(Array.isArray(rooms) ? rooms : [rooms]));
  }

  /** Leaves a room. */
  leave(room: Room): Promise<void> | void {
    return this.nsp.adapter.del(this.id, room);
  }

  /** Adds a packet middleware: `fn([event, ...args], next)`; `next(err)` drops the packet and emits 'error'. */
  use(fn: PacketMiddleware): this {
    this.fns.push(fn);
    return this;
  }

  /**
   * Disconnects from this namespace (the client gets 'io server disconnect'). With `close`, the
   * whole connection is closed, with every namespace on it.
   */
  disconnect(close = false): this {
    if (!this.connected) return this;
    if (close) {
      this.client.disconnectAll();
      this.client.close();
    } else {
      this.sendPacket({ type: PacketType.DISCONNECT, nsp: this.nsp.name }, {});
      this._onclose('server namespace disconnect');
    }
    return this;
  }

  // ---- internals used by Namespace, Connection and Adapter ----

  /**
   * @internal Called by the namespace once middlewares have passed (or were skipped): the CONNECT
   * reply (with `pid` when recovery is on, socket.io-protocol v5 "Connection to a namespace" as
   * socket.io 4.6+ extends it; with the lossless confirmation), then the packets missed.
   */
  _onconnect(): void {
    this.connected = true;
    void this.join(this.id);
    const data: Record<string, unknown> = { sid: this.id };
    if (this.pid !== undefined) {
      data.pid = this.pid;
      if (!this.recovered) this.startOffset = this.nsp.adapter.currentOffset();
    }
    if (this.lossless) {
      const reply: ExtensionReply = { seq: this.lastSeq };
      if (this.recoveryFailure !== undefined) reply.fail = this.recoveryFailure;
      data[EXTENSION_KEY] = reply;
    }
    this.sendPacket({ type: PacketType.CONNECT, nsp: this.nsp.name, data }, {});
    for (const packet of this.missed.splice(0)) {
      const data = packet.data as unknown[];
      this.lastSent = data[data.length - 1] as string; // a recorded packet's data ends with its offset
      this.client.writeEncoded(encode({ ...packet, nsp: this.nsp.name }));
    }
    for (const [encoded, flags, offset] of this.held.splice(0)) this._sendEncoded(encoded, flags, false, offset);
  }

  /**
   * @internal The connection closed before the socket was connected (its namespace middlewares
   * were running): a recovered one keeps its session for another try. Done once: the connection
   * abandons it when it closes, the namespace again when the middlewares end. The session keeps its
   * disconnection offset: the packets missed or held were not written to the client.
   */
  _abandon(): void {
    if (!this.joinable) return;
    this.joinable = false;
    if (this.nsp._recovering.get(this.id) === this) this.nsp._recovering.delete(this.id);
    this.held = [];
    if (this.recovered) this.persist();
    this.nsp.adapter.delAll(this.id);
  }

  /** @internal Refuses the connection (CONNECT_ERROR) and forgets the socket. */
  _refuse(err: Error & { data?: unknown }): void {
    this.joinable = false;
    this.nsp.adapter.delAll(this.id);
    const data: Record<string, unknown> = { message: err.message };
    if (err.data !== undefined) data.data = err.data;
    this.sendPacket({ type: PacketType.CONNECT_ERROR, nsp: this.nsp.name, data }, {});
  }

  /** @internal A packet from the client for this namespace. */
  _onpacket(packet: Packet): void {
    if (!this.connected) return;
    switch (packet.type) {
      case PacketType.EVENT:
      case PacketType.BINARY_EVENT:
        this.onevent(packet);
        break;
      case PacketType.ACK:
      case PacketType.BINARY_ACK:
        this.onack(packet);
        break;
      case PacketType.DISCONNECT:
        this._onclose('client namespace disconnect');
        break;
    }
  }

  /** @internal Reports an error on this socket's 'error' event, if anyone listens. */
  _onerror(err: Error): void {
    if (this.listenerCount('error') > 0) this.emitReserved('error', err);
  }

  /** @internal Ends this socket: 'disconnecting', rooms left, 'disconnect'. */
  _onclose(reason: DisconnectReason, description?: unknown): void {
    if (!this.connected) return;
    this.emitReserved('disconnecting', reason, description);
    this.connected = false;
    this.joinable = false;
    if (this.confirmTimer !== undefined) clearImmediate(this.confirmTimer);
    this.confirmTimer = undefined;
    if (this.pid !== undefined && RECOVERABLE_REASONS.has(reason)) {
      this.disconnectOffset = this.nsp.adapter.currentOffset();
      this.persist();
    }
    this.nsp.adapter.delAll(this.id);
    this.nsp._remove(this);
    this.client._remove(this);
    const lost = new Error('socket has been disconnected');
    for (const [id, entry] of this.acks) {
      this.acks.delete(id);
      if (entry.timer) clearTimeout(entry.timer);
      entry.onLost?.(lost);
    }
    this.emitReserved('disconnect', reason, description);
  }

  /**
   * @internal Writes an encoded packet (broadcasts share one encoding). A recovered socket whose
   * middlewares run holds the packets until it is connected, as many as the session store keeps
   * (`maxBufferedPackets`, `maxBufferedBytes`): one more closes its connection, the session is
   * kept, and the client's next try is replayed what the store still has (or hears 'packets lost').
   */
  _sendEncoded(encoded: EncodedPacket, flags: BroadcastFlags, shared = true, offset?: string | null): void {
    if (!this.connected) {
      if (!this.recovered || !this.joinable || flags.volatile) return;
      const size = encodedSize(encoded);
      const { maxBufferedPackets, maxBufferedBytes } = this.nsp.recovery!;
      if (this.held.length >= maxBufferedPackets || this.heldBytes + size > maxBufferedBytes) {
        this.client.close();
        return;
      }
      this.held.push([encoded, flags, offset]);
      this.heldBytes += size;
      return;
    }
    if (flags.volatile && !this.client.writable) return;
    if (offset !== null) this.lastSent = offset ?? UNKNOWN_OFFSET;
    this.client.writeEncoded(encoded, flags.compress, shared);
  }

  /** @internal Registers a broadcast ack handler. */
  _registerAck(id: number, ack: (...args: unknown[]) => void): void {
    this.acks.set(id, { fn: ack });
  }

  /** Hands the session to the adapter; a failing asynchronous store loses it (the client then starts anew). */
  private persist(): void {
    const session: PersistedSession = { sid: this.id, pid: this.pid!, rooms: [...this.rooms], data: this.data };
    if (this.startOffset !== undefined) session.offset = this.startOffset;
    if (this.lossless) session.seq = this.lastSeq;
    if (this.lastSent !== undefined) session.lastSent = this.lastSent;
    if (this.disconnectOffset !== undefined) session.disconnectOffset = this.disconnectOffset;
    const done = this.nsp.adapter.persistSession(session);
    if (done instanceof Promise) done.catch(() => {});
  }

  private sendPacket(packet: Packet, flags: EmitFlags): void {
    if (!this.connected && packet.type !== PacketType.CONNECT_ERROR) return;
    if (flags.volatile && !this.client.writable) return;
    this.client.writeEncoded(encode(packet), flags.compress);
  }

  private addAck(id: number, fn: AckFn, timeout: number | undefined): void {
    if (timeout === undefined) {
      this.acks.set(id, { fn, onLost: fn[ON_LOST] });
      return;
    }
    const timer = setTimeout(() => {
      this.acks.delete(id);
      fn(new Error('operation has timed out'));
    }, timeout);
    this.acks.set(id, { fn: (...args) => fn(null, ...args), timer, onLost: (err) => fn(err) });
  }

  private onack(packet: Packet): void {
    const entry = this.acks.get(packet.id!);
    if (!entry) return;
    this.acks.delete(packet.id!);
    if (entry.timer) clearTimeout(entry.timer);
    entry.fn(...(packet.data as unknown[]));
  }

  private onevent(packet: Packet): void {
    const args = (packet.data as unknown[]).slice();
    if (this.lossless && !this.accept(args.pop())) return;
    if (packet.id !== undefined) args.push(this.ackFor(packet.id));
    this.notifyAny(args);
    if (this.fns.length === 0) {
      this.dispatch(args);
      return;
    }
    runChain(this.fns.slice(), args, (err) => {
      if (err) this._onerror(err);
      // lossless: the event's seq is already counted as processed (and maybe confirmed), so it is
      // dispatched even if the connection dropped meanwhile: on this disconnected Socket, whose
      // emits and replies go through the adapter and so reach the recovered socket
      else if (this.connected || this.lossless) this.dispatch(args);
    });
  }

  private dispatch(args: unknown[]): void {
    this.emitReserved(args[0] as string, ...args.slice(1));
  }

  /**
   * Lossless: whether an EVENT carrying `seq` is new. A resend or a retry of one already
   * processed is dropped; a new one is confirmed on the next turn of the event loop (one
   * confirmation for a burst).
   */
  private accept(seq: unknown): boolean {
    if (!isSeq(seq)) {
      this._onerror(new Error('lossless extension: an EVENT without its sequence number was dropped'));
      return false;
    }
    if (seq <= this.lastSeq) return false;
    this.lastSeq = seq;
    this.confirmTimer ??= setImmediate(() => {
      this.confirmTimer = undefined;
      this.sendPacket({ type: PacketType.EVENT, nsp: this.nsp.name, data: [CONTROL_EVENT, this.lastSeq] }, {});
    });
    return true;
  }

  private ackFor(id: number): (...args: unknown[]) => void {
    let sent = false;
    return (...args: unknown[]) => {
      if (sent) return;
      sent = true;
      const packet: Packet = { type: PacketType.ACK, nsp: this.nsp.name, id, data: args };
      // lossless: the reply is recorded like an event, so it reaches the client after a recovery too
      if (this.lossless) this.nsp.adapter.broadcast(packet, { rooms: new Set([this.id]), except: new Set(), flags: {} });
      else if (this.connected) this.sendPacket(packet, {});
    };
  }
}
