/**
 * BroadcastOperator: an immutable selection of sockets (rooms, exceptions, flags) with the
 * operations socket.io offers on it: emit (with acks), fetchSockets, socketsJoin/Leave,
 * disconnectSockets. `io.to(room)`, `socket.broadcast`, `nsp.except(room)` all return one.
 */
import type { Adapter, BroadcastFlags, Room, SocketId } from './adapter.js';
import { CONTROL_EVENT } from './lossless.js';
import { PacketType, RESERVED_EVENTS } from './parser.js';
import type { Socket } from './socket.js';

export class BroadcastOperator {
  constructor(
    private readonly adapter: Adapter,
    private readonly rooms: ReadonlySet<Room> = new Set(),
    private readonly exceptRooms: ReadonlySet<Room> = new Set(),
    private readonly flags: Readonly<BroadcastFlags> = {},
  ) {}

  /** Targets the sockets in `room` (added to the rooms already targeted). */
  to(room: Room | Room[]): BroadcastOperator {
    const rooms = new Set(this.rooms);
    for (const r of Array.isArray(room) ? room : [room]) rooms.add(r);
    return new BroadcastOperator(this.adapter, rooms, this.exceptRooms, this.flags);
  }

  /** Same as `to`. */
  in(room: Room | Room[]): BroadcastOperator {
    return this.to(room);
  }

  /** Leaves out the sockets in `room`. */
  except(room: Room | Room[]): BroadcastOperator {
    const except = new Set(this.exceptRooms);
    for (const r of Array.isArray(room) ? room : [room]) except.add(r);
    return new BroadcastOperator(this.adapter, this.rooms, except, this.flags);
  }

  compress(compress: boolean): BroadcastOperator {
    return new BroadcastOperator(this.adapter, this.rooms, this.exceptRooms, { ...this.flags, compress });
  }

  /** The packet may be dropped for clients that cannot take it right now. */
  get volatile(): BroadcastOperator {
    return new BroadcastOperator(this.adapter, this.rooms, this.exceptRooms, { ...this.flags, volatile: true });
  }

  /** Only the sockets of this server (for cluster adapters). */
  get local(): BroadcastOperator {
    return new BroadcastOperator(this.adapter, this.rooms, this.exceptRooms, { ...this.flags, local: true });
  }

  /** Acks must all arrive within `ms`, else the callback gets an error and the replies so far. */
  timeout(ms: number): BroadcastOperator {
    return new BroadcastOperator(this.adapter, this.rooms, this.exceptRooms, { ...this.flags, timeout: ms });
  }

  /**
   * Emits to every selected socket. A function as last argument collects one reply per client:
   * `(err, responses) => ...`, err set when the timeout passed first.
   */
  emit(event: string, ...args: unknown[]): boolean {
    checkEventName(event);
    const data: unknown[] = [event, ...args];
    const packet = { type: PacketType.EVENT, nsp: this.adapter.nsp.name, data } as const;
    const last = args[args.length - 1];
    if (typeof last !== 'function') {
      this.adapter.broadcast({ ...packet }, this.options());
      return true;
    }
    data.pop();
    const ack = last as (err: Error | null, responses: unknown[]) => void;
    const responses: unknown[] = [];
    let expected = -1;
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      ack(err, responses);
    };
    const timer = this.flags.timeout === undefined ? undefined : setTimeout(() => finish(new Error('operation has timed out')), this.flags.timeout);
    this.adapter.broadcastWithAck(
      { ...packet },
      this.options(),
      (count) => {
        expected = expected === -1 ? count : expected + count;
        if (responses.length >= expected) finish(null);
      },
      (response) => {
        if (done) return;
        responses.push(response);
        if (expected !== -1 && responses.length >= expected) finish(null);
      },
    );
    return true;
  }

  /** Emits and resolves with the replies of every client (rejects on timeout). */
  emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.emit(event, ...args, (err: Error | null, responses: unknown[]) => (err ? reject(err) : resolve(responses)));
    });
  }

  /** Ids of the selected sockets. */
  allSockets(): Promise<Set<SocketId>> {
    if (this.exceptRooms.size === 0) return this.adapter.sockets(new Set(this.rooms));
    return this.adapter.fetchSockets(this.options()).then((s) => new Set(s.map((x) => x.id)));
  }

  /** The selected sockets (a cluster adapter returns look-alikes for the other servers' sockets). */
  fetchSockets(): Promise<Socket[]> {
    return this.adapter.fetchSockets(this.options()) as Promise<Socket[]>;
  }

  /** Makes the selected sockets join `room`. */
  socketsJoin(room: Room | Room[]): void {
    this.adapter.addSockets(this.options(), Array.isArray(room) ? room : [room]);
  }

  /** Makes the selected sockets leave `room`. */
  socketsLeave(room: Room | Room[]): void {
    this.adapter.delSockets(this.options(), Array.isArray(room) ? room : [room]);
  }

  /** Disconnects the selected sockets; `close` also closes their underlying connections. */
  disconnectSockets(close = false): void {
    this.adapter.disconnectSockets(this.options(), close);
  }

  private options() {
    return { rooms: new Set(this.rooms), except: new Set(this.exceptRooms), flags: { ...this.flags } };
  }
}

/** Throws a clear error for event names the library reserves. */
export function checkEventName(event: unknown): asserts event is string {
  if (typeof event !== 'string') throw new TypeError(`event name must be a string, got ${typeof event}`);
  if (RESERVED_EVENTS.has(event)) throw new Error(`"${event}" is a reserved event name`);
  if (event === CONTROL_EVENT) throw new Error(`"${event}" is reserved for the lossless extension (lossless.ts)`);
}
