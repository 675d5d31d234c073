/**
 * A client Socket: one namespace over a Manager's connection. `emit` sends (buffered while
 * disconnected, flushed on connect); received events go to `on` listeners. Local events:
 * 'connect', 'disconnect' (reason, description), 'connect_error' (err).
 */
import { Emitter } from '../emitter.js';
import { PacketType, RESERVED_EVENTS, type Packet } from '../parser.js';
import { _sub as sub, type Manager } from './manager.js';

export interface SocketOptions {
  /** CONNECT payload: an object, or a function that calls back with one (called on every connect). */
  auth?: Record<string, unknown> | ((cb: (data: Record<string, unknown>) => void) => void);
}

export type DisconnectReason =
  | 'io server disconnect'
  | 'io client disconnect'
  | 'ping timeout'
  | 'transport close'
  | 'transport error'
  | 'parse error'
  | 'forced close';

/** A connect_error from the server's middleware carries its `data`. */
export interface ConnectError extends Error {
  data?: unknown;
}

type Ack = ((...args: any[]) => void) & { withError?: boolean };

interface Flags {
  volatile?: boolean;
  timeout?: number;
}

export class Socket extends Emitter {
  readonly io: Manager;
  readonly nsp: string;
  id: string | undefined;
  connected = false;
  auth: SocketOptions['auth'];
  /** Packets emitted while disconnected, sent on the next connect. */
  sendBuffer: Packet[] = [];
  /** Events received before 'connect' was handled. */
  receiveBuffer: unknown[][] = [];
  private ids = 0;
  private readonly acks = new Map<number, Ack>();
  private flags: Flags = {};
  private subs: (() => void)[] | null = null;

  constructor(io: Manager, nsp: string, opts: SocketOptions = {}) {
    super();
    this.io = io;
    this.nsp = nsp;
    this.auth = opts.auth;
    if (io.opts.autoConnect) this.open();
  }

  get disconnected(): boolean {
    return !this.connected;
  }

  /** Whether the Socket is trying to be connected (it follows the Manager's reconnections). */
  get active(): boolean {
    return this.subs !== null;
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
    if (RESERVED_EVENTS.has(ev)) throw new Error(`"${ev}" is a reserved event name`);
    const flags = this.flags;
    this.flags = {};
    const data: unknown[] = [ev, ...args];
    const packet: Packet = { type: PacketType.EVENT, nsp: this.nsp, data };
    if (typeof args[args.length - 1] === 'function') {
      const id = this.ids++;
      const ack = data.pop() as Ack;
      this.registerAck(id, ack, flags.timeout);
      packet.id = id;
    }
    if (this.connected && this.io.engine?.readyState === 'open') this.packet(packet);
    else if (!flags.volatile) this.sendBuffer.push(packet);
    return this;
  }

  /** Same as emit(), with the acknowledgement as a promise (rejected on a timeout() expiry). */
  emitWithAck(ev: string, ...args: unknown[]): Promise<any> {
    const withErr = this.flags.timeout !== undefined;
    return new Promise((resolve, reject) => {
      const fn: Ack = (...res: unknown[]) => {
        if (withErr) {
          const [err, value] = res;
          return err ? reject(err) : resolve(value);
        }
        resolve(res[0]);
      };
      fn.withError = withErr;
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
      ack(null, ...args);
    };
    wrapped.withError = true;
    this.acks.set(id, wrapped);
  }

  private packet(packet: Packet): void {
    this.io._packet(packet);
  }

  private onopen(): void {
    const auth = this.auth;
    if (typeof auth === 'function') auth((data) => this.sendConnectPacket(data));
    else this.sendConnectPacket(auth);
  }

  private sendConnectPacket(data: Record<string, unknown> | undefined): void {
    this.packet(data === undefined ? { type: PacketType.CONNECT, nsp: this.nsp } : { type: PacketType.CONNECT, nsp: this.nsp, data });
  }

  private onpacket(packet: Packet): void {
    if (packet.nsp !== this.nsp) return;
    switch (packet.type) {
      case PacketType.CONNECT: {
        const sid = (packet.data as { sid?: unknown } | undefined)?.sid;
        if (typeof sid === 'string') this.onconnect(sid);
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
    if (packet.id !== undefined) args.push(this.ack(packet.id));
    if (this.connected) this.emitEvent(args);
    else this.receiveBuffer.push(args);
  }

  private emitEvent(args: unknown[]): void {
    const [ev, ...rest] = args as [string, ...unknown[]];
    this.emitReserved(ev, ...rest);
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
    const ack = this.acks.get(packet.id!);
    if (typeof ack !== 'function') return;
    this.acks.delete(packet.id!);
    ack(...(packet.data as unknown[]));
  }

  private onconnect(id: string): void {
    this.id = id;
    this.connected = true;
    for (const args of this.receiveBuffer.splice(0)) this.emitEvent(args);
    for (const p of this.sendBuffer.splice(0)) this.packet(p);
    this.emitReserved('connect');
  }

  private onclose(reason: DisconnectReason | string, description?: unknown): void {
    const wasConnected = this.connected;
    this.connected = false;
    this.id = undefined;
    this.clearAcks();
    if (wasConnected) this.emitReserved('disconnect', reason, description);
  }

  /** Acks of packets already sent will never come: the ones with an error callback hear of it. */
  private clearAcks(): void {
    for (const [id, ack] of this.acks) {
      if (this.sendBuffer.some((p) => p.id === id)) continue;
      this.acks.delete(id);
      if (ack.withError) ack(new Error('socket has been disconnected'));
    }
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
    this.destroy();
    if (wasConnected) this.onclose('io client disconnect');
    return this;
  }

  close(): this {
    return this.disconnect();
  }
}
