/**
 * A client Socket: one namespace over a Manager's connection. `emit` sends (buffered while
 * disconnected, flushed on connect); received events go to `on` listeners. Local events:
 * 'connect', 'disconnect' (reason, description), 'connect_error' (err), and ours,
 * 'recovery_failed' (reason, unconfirmed): the Socket asked for its session back and got a new
 * one instead; `reason` is a RecoveryFailureReason ('expired', 'unknown session', 'packets lost',
 * 'adapter error' from our server; 'not recovered' when the server does not say), `unconfirmed`
 * the emits ([event, ...args]) written before that the server may or may not have handled.
 * It comes before 'connect'.
 *
 * As socket.io-client 4.6+: `retries` / `ackTimeout` (each emit queued, sent one at a time in
 * order with an ack, tried again after `ackTimeout`, the callback gets an Error after the last
 * try), and connection state recovery (the server's `pid` and the offset of the last recorded
 * packet received go into the next CONNECT; `recovered` tells whether it worked). With our server
 * the lossless extension also runs (../lossless.ts): every EVENT written carries a sequence number
 * and stays in `unconfirmed` until the server confirms it; after a recovery the ones it has not
 * processed are written again, and the server drops the ones it already has.
 */
import { AnyEmitter } from '../any-emitter.js';
import { CONTROL_EVENT, EXTENSION_KEY, EXTENSION_VERSION, type ExtensionReply, type RecoveryFailureReason } from '../lossless.js';
import { hasBinary, PacketType, RESERVED_EVENTS, type Packet } from '../parser.js';
import { _sub as sub, type Manager } from './manager.js';

/** The local event of a failed recovery; a server event of that name is not passed on. */
const RECOVERY_FAILED = 'recovery_failed';

export interface SocketOptions {
  /** CONNECT payload: an object, or a function that calls back with one (called on every connect). */
  auth?: Record<string, unknown> | ((cb: (data: Record<string, unknown>) => void) => void);
  /** Tries after the first for each emit (at-least-once delivery; default 0: emits are not queued). */
  retries?: number;
  /** Default acknowledgement timeout in ms, for every emit with an ack and every try of a queued one. */
  ackTimeout?: number;
  /** Offer the lossless extension in the CONNECT payload (default true; only our server accepts it). */
  lossless?: boolean;
}

export type DisconnectReason =
  | 'io server disconnect'
  | 'io client disconnect'
  | 'ping timeout'
  | 'transport close'
  | 'transport error'
  | 'parse error'
  | 'forced close';

export type { RecoveryFailureReason };

/** A connect_error from the server's middleware carries its `data`. */
export interface ConnectError extends Error {
  data?: unknown;
}

/** An ack callback; `withError` ones are called `(err, ...reply)`, with `null` for a reply. */
type Ack = ((...args: any[]) => void) & { withError?: boolean };

interface Flags {
  volatile?: boolean;
  timeout?: number;
}

/** An emit of the retries queue. */
interface Queued {
  packet: Packet;
  ack: Ack | undefined;
  timeout: number | undefined;
  tries: number;
  /** Sent, its reply or timeout not come yet. */
  pending: boolean;
  timer?: ReturnType<typeof setTimeout>;
  /** Registered as the packet's ack: `(null, ...reply)` or `(err)`. */
  onReply: Ack;
}

/** An EVENT written with a sequence number, kept until the server confirms it. */
interface Unconfirmed {
  seq: number;
  packet: Packet;
}

export class Socket extends AnyEmitter {
  readonly io: Manager;
  readonly nsp: string;
  id: string | undefined;
  connected = false;
  /** Whether the last connect took back the previous session (socket.io-client's `recovered`). */
  recovered = false;
  auth: SocketOptions['auth'];
  /** Packets emitted while disconnected, sent on the next connect. */
  sendBuffer: Packet[] = [];
  /** Events received before 'connect' was handled. */
  receiveBuffer: unknown[][] = [];
  private ids = 0;
  private readonly acks = new Map<number, Ack>();
  private flags: Flags = {};
  private subs: (() => void)[] | null = null;
  private readonly retries: number;
  private readonly ackTimeout: number | undefined;
  private readonly queue: Queued[] = [];
  /** Recovery: the server's private session id, and the offset of the last recorded packet received. */
  private pid: string | undefined;
  private lastOffset: string | undefined;
  /** The pid the pending CONNECT asked for. */
  private askedPid: string | undefined;
  /** Lossless extension: offered, on for this session, the last number given, the EVENTs not confirmed. */
  private readonly offerLossless: boolean;
  private lossless = false;
  private seq = 0;
  private seqOf = new WeakMap<Packet, number>();
  private unconfirmed: Unconfirmed[] = [];

  constructor(io: Manager, nsp: string, opts: SocketOptions = {}) {
    super();
    this.io = io;
    this.nsp = nsp;
    this.auth = opts.auth;
    const retries = opts.retries ?? 0;
    if (!Number.isSafeInteger(retries) || retries < 0) throw new RangeError(`retries must be a non-negative integer, got ${retries}`);
    if (opts.ackTimeout !== undefined && !(opts.ackTimeout >= 0)) throw new RangeError(`ackTimeout must be a non-negative number of ms, got ${opts.ackTimeout}`);
    this.retries = retries;
    this.ackTimeout = opts.ackTimeout;
    this.offerLossless = opts.lossless !== false;
    if (io.opts.autoConnect) this.open();
  }

  get disconnected(): boolean {
    return !this.connected;
  }

  /** Whether the Socket is trying to be connected (it follows the Manager's reconnections). */
  get active(): boolean {
    return this.subs !== null;
  }

  /** Whether the lossless extension runs on the current session. */
  get isLossless(): boolean {
    return this.lossless;
  }

  /** How many EVENTs written wait for the server's confirmation (lossless extension). */
  get unconfirmedCount(): number {
    return this.unconfirmed.length;
  }

  private subEvents(): void {
    if (this.subs) return;
    const io = this.io;
    this.subs = [
      sub(io, 'open', () => this.onopen()),
      sub(io, 'packet', (p: Packet) => this.onpacket(p)),
      sub(io, 'error', (err: Error) => {
        if (!this.connected) this.emitReserved('connect_error', err);
      }),
      sub(io, 'close', (reason: DisconnectReason, description?: unknown) => this.onclose(reason, description)),
      // the Manager gave up: the acks kept for a recovery (lossless) will not be answered
      sub(io, 'reconnect_failed', () => this._clearAcks()),
    ];
  }

  connect(): this {
    if (this.connected) return this;
    this.subEvents();
    if (!this.io._reconnecting) this.io.open();
    if (this.io._readyState === 'open') this.onopen();
    return this;
  }

  open(): this {
    return this.connect();
  }

  /** Sends `ev` with `args`; a function as the last argument gets the server's acknowledgement. */
  emit(ev: string, ...args: unknown[]): this {
    if (RESERVED_EVENTS.has(ev) || ev === RECOVERY_FAILED) throw new Error(`"${ev}" is a reserved event name`);
    const flags = this.flags;
    this.flags = {};
    if (this.retries > 0 && !flags.volatile) {
      this.enqueue(ev, args, flags);
      return this;
    }
    const data: unknown[] = [ev, ...args];
    const packet: Packet = { type: PacketType.EVENT, nsp: this.nsp, data };
    if (typeof args[args.length - 1] === 'function') {
      const id = this.ids++;
      const ack = data.pop() as Ack;
      this.registerAck(id, ack, flags.timeout ?? this.ackTimeout);
      packet.id = id;
    }
    if (this.connected && this.io.engine?.readyState === 'open') this.sendEvent(packet);
    else if (!flags.volatile) {
      hasBinary(data); // a Blob throws here, in emit(), not later when the buffer is flushed
      this.sendBuffer.push(packet);
    }
    return this;
  }

  /** Same as emit(), with the acknowledgement as a promise (rejected on a timeout or a lost connection). */
  emitWithAck(ev: string, ...args: unknown[]): Promise<any> {
    return new Promise((resolve, reject) => {
      const fn: Ack = (err: unknown, value: unknown) => (err ? reject(err) : resolve(value));
      fn.withError = true;
      this.emit(ev, ...args, fn);
    });
  }

  /** The next emit's acknowledgement gets an error first, an Error when none came within `ms`. */
  timeout(ms: number): this {
    this.flags.timeout = ms;
    return this;
  }

  /** The next emit is dropped, not buffered, while disconnected. */
  get volatile(): this {
    this.flags.volatile = true;
    return this;
  }

  private registerAck(id: number, ack: Ack, timeout: number | undefined): void {
    if (timeout === undefined) {
      this.acks.set(id, ack);
      return;
    }
    const timer = setTimeout(() => {
      this.acks.delete(id);
      const i = this.sendBuffer.findIndex((p) => p.id === id);
      if (i !== -1) this.sendBuffer.splice(i, 1);
      ack(new Error('operation has timed out'));
    }, timeout);
    const wrapped: Ack = (...args: unknown[]) => {
      clearTimeout(timer);
      ack(...args);
    };
    wrapped.withError = true;
    this.acks.set(id, wrapped);
  }

  // ---- retries: one emit at a time, in order, each with an ack (socket.io-client 4.6+ semantics) ----

  private enqueue(ev: string, args: unknown[], flags: Flags): void {
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as Ack) : undefined;
    const packet: Packet = { type: PacketType.EVENT, nsp: this.nsp, data: [ev, ...args], id: this.ids++ };
    hasBinary(packet.data); // a Blob throws here, in emit(), not later when the queue is drained
    const entry: Queued = { packet, ack, timeout: flags.timeout ?? this.ackTimeout, tries: 0, pending: false, onReply: () => {} };
    entry.onReply = Object.assign((err: Error | null, ...reply: unknown[]) => (err ? this.tryFailed(entry, err) : this.settle(entry, null, reply)), {
      withError: true,
    });
    this.queue.push(entry);
    this.drainQueue(false);
  }

  /** Sends the head of the queue if it is not on its way already (or again, with `force`). */
  private drainQueue(force: boolean): void {
    const head = this.queue[0];
    if (head === undefined || !this.connected || (head.pending && !force)) return;
    head.pending = true;
    head.tries++;
    // the same packet, ack id and (lossless) sequence number every try: a late reply still counts
    this.acks.set(head.packet.id!, head.onReply);
    if (head.timeout !== undefined) {
      clearTimeout(head.timer);
      head.timer = setTimeout(() => this.tryFailed(head, new Error('operation has timed out')), head.timeout);
    }
    this.sendEvent(head.packet);
  }

  private tryFailed(entry: Queued, err: Error): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.pending = false;
    if (entry.tries > this.retries) this.settle(entry, err, []);
    else this.drainQueue(false);
  }

  private settle(entry: Queued, err: Error | null, reply: unknown[]): void {
    clearTimeout(entry.timer);
    this.acks.delete(entry.packet.id!);
    const i = this.queue.indexOf(entry);
    if (i !== -1) this.queue.splice(i, 1);
    if (entry.ack) {
      if (err) entry.ack(err);
      else entry.ack(null, ...reply);
    }
    this.drainQueue(false);
  }

  // ---- writing ----

  private packet(packet: Packet): void {
    this.io._packet(packet);
  }

  /** Writes an EVENT; lossless, with its sequence number (given on its first write), kept until confirmed. */
  private sendEvent(packet: Packet): void {
    this.notifyAnyOutgoing(packet.data as unknown[]);
    if (!this.lossless) return this.packet(packet);
    let seq = this.seqOf.get(packet);
    if (seq === undefined) {
      seq = ++this.seq;
      this.seqOf.set(packet, seq);
      this.unconfirmed.push({ seq, packet });
    }
    this.packet(withSeq(packet, seq));
  }

  /** The server processed every EVENT up to `n`. */
  private confirm(n: unknown): void {
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) return;
    let i = 0;
    while (i < this.unconfirmed.length && this.unconfirmed[i]!.seq <= n) i++;
    this.unconfirmed.splice(0, i);
  }

  private onopen(): void {
    const auth = this.auth;
    if (typeof auth === 'function') auth((data) => this.sendConnectPacket(data));
    else this.sendConnectPacket(auth);
  }

  /** CONNECT with the user's auth, and our `pid` / `offset` (recovery) and lossless offer. */
  private sendConnectPacket(data: Record<string, unknown> | undefined): void {
    const payload: Record<string, unknown> = {};
    if (this.pid !== undefined) {
      payload.pid = this.pid;
      if (this.lastOffset !== undefined) payload.offset = this.lastOffset;
    }
    Object.assign(payload, data);
    if (this.offerLossless) payload[EXTENSION_KEY] = EXTENSION_VERSION;
    this.askedPid = typeof payload.pid === 'string' ? payload.pid : undefined;
    const empty = Object.keys(payload).length === 0 && data === undefined;
    this.packet(empty ? { type: PacketType.CONNECT, nsp: this.nsp } : { type: PacketType.CONNECT, nsp: this.nsp, data: payload });
  }

  // ---- reading ----

  private onpacket(packet: Packet): void {
    if (packet.nsp !== this.nsp) return;
    switch (packet.type) {
      case PacketType.CONNECT: {
        const data = packet.data as Record<string, unknown> | undefined;
        if (typeof data?.sid === 'string') this.onconnect(data as Record<string, unknown> & { sid: string });
        else this.emitReserved('connect_error', new Error('It seems you are trying to reach a Socket.IO server in v2.x with a v3.x client, but they are not compatible'));
        break;
      }
      case PacketType.EVENT:
      case PacketType.BINARY_EVENT:
        this.onevent(packet);
        break;
      case PacketType.ACK:
      case PacketType.BINARY_ACK:
        this.onack(packet);
        break;
      case PacketType.DISCONNECT:
        this.endSession();
        this.destroy();
        this.onclose('io server disconnect');
        break;
      case PacketType.CONNECT_ERROR: {
        this.destroy();
        const d = packet.data;
        const err: ConnectError = new Error(typeof d === 'string' ? d : String((d as { message?: unknown }).message));
        if (typeof d === 'object' && d !== null && 'data' in d) err.data = (d as { data?: unknown }).data;
        this.emitReserved('connect_error', err);
        break;
      }
    }
  }

  private onevent(packet: Packet): void {
    const args = (packet.data as unknown[]).slice();
    if (this.lossless && args[0] === CONTROL_EVENT) return this.confirm(args[1]);
    // our local event: a server's event of that name (socket.io allows it) is not passed on as one
    if (args[0] === RECOVERY_FAILED) return;
    if (packet.id !== undefined) args.push(this.ack(packet.id));
    if (this.connected) this.emitEvent(args);
    else this.receiveBuffer.push(args);
  }

  private emitEvent(args: unknown[]): void {
    const [ev, ...rest] = args as [string, ...unknown[]];
    this.notifyAny(args);
    this.emitReserved(ev, ...rest);
    // a recorded packet ends with its offset (socket.io 4.6+); one with an ack never is recorded
    const last = args[args.length - 1];
    if (this.pid !== undefined && typeof last === 'string') this.lastOffset = last;
  }

  /** A one-shot function that sends an ACK for `id`. */
  private ack(id: number): (...args: unknown[]) => void {
    let sent = false;
    return (...args: unknown[]) => {
      if (sent) return;
      sent = true;
      this.packet({ type: PacketType.ACK, nsp: this.nsp, id, data: args });
    };
  }

  private onack(packet: Packet): void {
    let data = packet.data as unknown[];
    if (this.lossless && typeof data[data.length - 1] === 'string') {
      // lossless: replies are recorded, so they end with their offset
      this.lastOffset = data[data.length - 1] as string;
      data = data.slice(0, -1);
    }
    const ack = this.acks.get(packet.id!);
    if (typeof ack !== 'function') return;
    this.acks.delete(packet.id!);
    if (ack.withError) ack(null, ...data);
    else ack(...data);
  }

  private onconnect(data: Record<string, unknown> & { sid: string }): void {
    const asked = this.askedPid;
    const pid = typeof data.pid === 'string' ? data.pid : undefined;
    const reply = this.offerLossless ? extensionReply(data[EXTENSION_KEY]) : undefined;
    this.id = data.sid;
    this.recovered = asked !== undefined && pid === asked;
    this.pid = pid;
    this.lossless = reply !== undefined;
    let unconfirmed: unknown[][] = [];
    if (!(this.recovered && this.lossless)) {
      if (!this.recovered) this.lastOffset = undefined;
      unconfirmed = this.forgetUnconfirmed();
      this._clearAcks(); // still disconnected: a failed try of the queue is sent again below, once
    }
    this.connected = true;
    if (this.recovered && this.lossless) {
      // what the server has not processed is written again, in order (it drops what it has)
      this.confirm(reply!.seq);
      for (const { seq, packet } of this.unconfirmed) this.packet(withSeq(packet, seq));
    }
    if (asked !== undefined && !this.recovered) this.emitReserved(RECOVERY_FAILED, reply?.fail ?? 'not recovered', unconfirmed);
    for (const args of this.receiveBuffer.splice(0)) this.emitEvent(args);
    for (const p of this.sendBuffer.splice(0)) this.sendEvent(p);
    this.drainQueue(!(this.recovered && this.lossless));
    this.emitReserved('connect');
  }

  /**
   * A new session: the EVENTs written to the old one and not confirmed are forgotten (their
   * numbers too), and returned as [event, ...args] except those the retries queue sends again.
   */
  private forgetUnconfirmed(): unknown[][] {
    const queued = new Set(this.queue.map((q) => q.packet));
    const lost = this.unconfirmed.filter((u) => !queued.has(u.packet)).map((u) => u.packet.data as unknown[]);
    this.unconfirmed = [];
    this.seqOf = new WeakMap();
    return lost;
  }

  private onclose(reason: DisconnectReason | string, description?: unknown): void {
    const wasConnected = this.connected;
    this.connected = false;
    this.id = undefined;
    // lossless with a session the Manager will come back to: the replies will be replayed, the acks
    // wait; otherwise they fail now (also with `reconnection: false` or after `io.disconnect()`)
    if (!(this.lossless && this.pid !== undefined && this.io._willReconnect)) this._clearAcks();
    if (wasConnected) this.emitReserved('disconnect', reason, description);
  }

  /** @internal Acks of packets already sent will never come: the ones with an error callback hear of it. */
  _clearAcks(): void {
    for (const [id, ack] of [...this.acks]) {
      if (this.sendBuffer.some((p) => p.id === id)) continue;
      this.acks.delete(id);
      if (ack.withError) ack(new Error('socket has been disconnected'));
    }
  }

  /** The session ended on purpose (either side disconnected): nothing to recover. */
  private endSession(): void {
    this.pid = undefined;
    this.lastOffset = undefined;
  }

  private destroy(): void {
    if (this.subs) {
      for (const off of this.subs) off();
      this.subs = null;
    }
    this.io._destroy(this);
  }

  /** Leaves the namespace (the connection closes once no namespace uses it). No reconnection. */
  disconnect(): this {
    const wasConnected = this.connected;
    if (wasConnected) this.packet({ type: PacketType.DISCONNECT, nsp: this.nsp });
    this.endSession();
    this.destroy();
    if (wasConnected) this.onclose('io client disconnect');
    else this._clearAcks(); // kept for a recovery that will not be asked for now
    return this;
  }

  close(): this {
    return this.disconnect();
  }
}

/** The EVENT as written in lossless mode: its sequence number after the arguments. */
function withSeq(packet: Packet, seq: number): Packet {
  return { ...packet, data: [...(packet.data as unknown[]), seq] };
}

/** The server's lossless confirmation from its CONNECT payload, if it sent a valid one. */
function extensionReply(v: unknown): ExtensionReply | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { seq, fail } = v as { seq?: unknown; fail?: unknown };
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return undefined;
  return typeof fail === 'string' ? { seq, fail: fail as RecoveryFailureReason } : { seq };
}
