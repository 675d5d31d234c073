/**
 * Connection state recovery (Socket.IO 4.6+, "Connection state recovery" in the socket.io docs):
 * its options, what is kept of a socket that went away without saying so, and the in-memory store
 * the default adapter keeps it in together with the packets sent meanwhile.
 *
 * The store is bounded: a session lives `maxDisconnectionDuration` after its disconnection, a
 * packet as long after it was sent, at most `maxBufferedPackets` packets of `maxBufferedBytes`
 * bytes encoded in all are kept, and at most EXPIRED_MAX expired pids are remembered. One sweep
 * timer per store (unref'd) drops what expired; lookups check expiry themselves, so the timer only
 * frees memory (and calls `onEmpty` once the last session expired). Offsets are `<store
 * prefix>.<counter in base 36>`: the prefix (random per store) makes an offset of another process
 * or namespace unknown here, the counter finds the packet in O(1).
 *
 * A session also keeps the offset of the last recorded packet written to its socket and the
 * store's offset at its disconnection: a client that has seen every packet written to it only
 * needs those recorded since, so packets evicted before (for other rooms, or that it has) do not
 * make its recovery fail (see `restore`; socket.io has no such rule).
 */
import { randomBytes } from 'node:crypto';
import type { BroadcastOptions, Room, SocketId } from './adapter.js';
import type { RecoveryFailureReason } from './lossless.js';
import { encode, type EncodedPacket, type Packet } from './parser.js';

export interface RecoveryOptions {
  /** How long a disconnected session, and a sent packet, is kept, in ms (default 120000). */
  maxDisconnectionDuration?: number;
  /** Skip the namespace middlewares when a session is recovered (default true). */
  skipMiddlewares?: boolean;
  /** Most packets kept for replay per namespace (default 10000; ours, socket.io has no such bound). */
  maxBufferedPackets?: number;
  /** Most bytes (of the encoded packets) kept for replay per namespace (default 16 MiB; ours too). */
  maxBufferedBytes?: number;
}

export type ResolvedRecoveryOptions = Readonly<Required<RecoveryOptions>>;

export const DEFAULT_RECOVERY: ResolvedRecoveryOptions = Object.freeze({
  maxDisconnectionDuration: 2 * 60 * 1000,
  skipMiddlewares: true,
  maxBufferedPackets: 10000,
  maxBufferedBytes: 16 * 1024 * 1024,
});

/** The `connectionStateRecovery` server option with its defaults, checked; undefined when off. */
export function resolveRecoveryOptions(options: RecoveryOptions | undefined): ResolvedRecoveryOptions | undefined {
  if (options === undefined) return undefined;
  const o = { ...DEFAULT_RECOVERY, ...options };
  if (!Number.isFinite(o.maxDisconnectionDuration) || o.maxDisconnectionDuration <= 0) {
    throw new RangeError(`connectionStateRecovery.maxDisconnectionDuration must be a positive number of ms, got ${o.maxDisconnectionDuration}`);
  }
  if (!Number.isSafeInteger(o.maxBufferedPackets) || o.maxBufferedPackets < 1) {
    throw new RangeError(`connectionStateRecovery.maxBufferedPackets must be a positive integer, got ${o.maxBufferedPackets}`);
  }
  if (!Number.isSafeInteger(o.maxBufferedBytes) || o.maxBufferedBytes < 1) {
    throw new RangeError(`connectionStateRecovery.maxBufferedBytes must be a positive integer, got ${o.maxBufferedBytes}`);
  }
  return Object.freeze(o);
}

/** What is kept of a socket that went away for a reason it may come back from. */
export interface PersistedSession {
  sid: SocketId;
  /** The private session id, known only to the client. */
  pid: string;
  rooms: Room[];
  data: unknown;
  /** Where to replay from when the client names no offset (it received no recorded packet). */
  offset?: string;
  /** Lossless extension: the last client sequence number processed. */
  seq?: number;
  /**
   * The offset of the last recorded packet written to the socket (none was when undefined;
   * UNKNOWN_OFFSET when it was written without its offset: socket.io's rule alone then).
   */
  lastSent?: string;
  /** The adapter's `currentOffset()` when the socket went away (today's rule alone when undefined). */
  disconnectOffset?: string;
}

export interface RestoredSession extends PersistedSession {
  /** The packets sent to the session's rooms after the client's offset, in order, offsets included. */
  missedPackets: Packet[];
}

export type RestoreResult = { ok: true; session: RestoredSession } | { ok: false; reason: Exclude<RecoveryFailureReason, 'not recovered'> };

/** The `lastSent` of a socket whose last recorded packet was written without its offset (no store's offset). */
export const UNKNOWN_OFFSET = 'unknown';

/** How many windows the pid of an expired session is remembered (a pid and a number each)... */
const EXPIRED_KEPT = 10;
/** ...and how many such pids at most (the oldest are forgotten first: they answer 'unknown session'). */
const EXPIRED_MAX = 10_000;

/** The bytes an encoded packet takes on the wire (its text part as UTF-8, then its attachments). */
export function encodedSize(encoded: EncodedPacket): number {
  let size = 0;
  for (const part of encoded) size += typeof part === 'string' ? Buffer.byteLength(part) : part.byteLength;
  return size;
}

interface Held {
  session: PersistedSession;
  at: number;
}

interface Recorded {
  packet: Packet;
  rooms: ReadonlySet<Room>;
  except: ReadonlySet<Room>;
  at: number;
  /** Its encodedSize. */
  size: number;
}

/** The in-memory session store of one adapter (one namespace). */
export class SessionStore {
  /** Sessions by pid, oldest disconnection first. */
  private readonly sessions = new Map<string, Held>();
  /** Pids of sessions that expired, with when, so a late client hears 'expired' (for EXPIRED_KEPT windows, EXPIRED_MAX at most), oldest first. */
  private readonly expired = new Map<string, number>();
  private readonly prefix = randomBytes(6).toString('base64url');
  /** Recorded packets, oldest first, from `head` on; packet `i` (from head) has counter `first + i`. */
  private packets: (Recorded | undefined)[] = [];
  private head = 0;
  private first = 0;
  private next = 0;
  /** The sum of the sizes of the packets held. */
  private bytes = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Called when a sweep expired the last session held (the server may then delete an empty child namespace). */
  onEmpty: (() => void) | undefined;

  constructor(private readonly options: ResolvedRecoveryOptions) {}

  /** Sessions held now. */
  get size(): number {
    return this.sessions.size;
  }

  /** Packets held now. */
  get bufferedPackets(): number {
    return this.packets.length - this.head;
  }

  /** Bytes of the packets held now (their encodedSize). */
  get bufferedBytes(): number {
    return this.bytes;
  }

  /** The offset of the last packet recorded (a client connecting now has missed nothing before it). */
  get currentOffset(): string {
    return this.offsetOf(this.next - 1);
  }

  persist(session: PersistedSession, now = Date.now()): void {
    this.sessions.delete(session.pid); // re-inserted last: the map stays in disconnection order
    this.sessions.set(session.pid, { session, at: now });
    this.expired.delete(session.pid);
    this.startSweeping();
  }

  /**
   * Takes the session of `pid` out of the store with the packets it missed since `offset` (or
   * since the session's own offset). A session is restored once; the socket persists it again
   * when it goes away again.
   */
  restore(pid: string, offset: string | undefined, now = Date.now()): RestoreResult {
    this.expire(now);
    const held = this.sessions.get(pid);
    if (!held) return { ok: false, reason: this.expired.has(pid) ? 'expired' : 'unknown session' };
    this.sessions.delete(pid);
    const session = held.session;
    const from = this.counterOf(offset ?? session.offset);
    if (from === undefined || from >= this.next) return { ok: false, reason: 'packets lost' };
    const after = this.replayAfter(session, from);
    // every packet recorded after counter `after` must still be here
    if (after < this.first - 1) return { ok: false, reason: 'packets lost' };
    const missedPackets: Packet[] = [];
    for (let i = this.head + (after + 1 - this.first); i < this.packets.length; i++) {
      const r = this.packets[i]!;
      if (includes(r, session.rooms)) missedPackets.push(r.packet);
    }
    return { ok: true, session: { ...session, offset: this.offsetOf(after), missedPackets } };
  }

  /**
   * Records a packet for replay: its data gets the new offset as last element (a new array, so
   * the parent of dynamic namespaces can hand the same data to several adapters). Returns the
   * packet encoded (the adapter sends that): its size counts against `maxBufferedBytes`, and the
   * oldest packets are dropped to stay within both bounds.
   */
  record(packet: Packet, opts: BroadcastOptions, now = Date.now()): EncodedPacket {
    const offset = this.offsetOf(this.next++);
    packet.data = [...(packet.data as unknown[]), offset];
    const encoded = encode(packet);
    const size = encodedSize(encoded);
    this.packets.push({ packet, rooms: opts.rooms, except: opts.except ?? new Set(), at: now, size });
    this.bytes += size;
    // ends at the latest with nothing held (a packet larger than maxBufferedBytes is not kept)
    while (this.bufferedPackets > this.options.maxBufferedPackets || this.bytes > this.options.maxBufferedBytes) this.dropPackets(1);
    this.dropExpiredPackets(now);
    this.startSweeping();
    return encoded;
  }

  /** Drops expired sessions and packets (the sweep timer calls it), then calls `onEmpty` if it expired the last session. */
  sweep(now = Date.now()): void {
    const held = this.sessions.size;
    this.expire(now);
    if (held > 0 && this.sessions.size === 0) this.onEmpty?.();
  }

  /** Stops the sweep timer (the adapter closes). */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * The counter after which the client of `session`, which has seen counter `from`, may have
   * missed packets. If it has seen every recorded packet written to its socket (none was, or
   * `from` is at or after the last one), it can only miss those recorded since the disconnection
   * (never before its own offset, so none twice); otherwise, every one after `from`.
   */
  private replayAfter(session: PersistedSession, from: number): number {
    const disconnected = this.counterOf(session.disconnectOffset);
    if (disconnected === undefined) return from;
    const lastSent = session.lastSent === undefined ? from : this.counterOf(session.lastSent);
    return lastSent !== undefined && from >= lastSent ? Math.max(from, disconnected) : from;
  }

  /**
   * Drops expired sessions and packets. Lookups call it rather than `sweep`: `onEmpty` must not
   * delete the namespace while a client is being admitted to it.
   */
  private expire(now: number): void {
    const max = this.options.maxDisconnectionDuration;
    for (const [pid, held] of this.sessions) {
      if (held.at + max > now) break;
      this.sessions.delete(pid);
      this.expired.set(pid, held.at + max);
      if (this.expired.size > EXPIRED_MAX) this.expired.delete(this.expired.keys().next().value!);
    }
    for (const [pid, at] of this.expired) {
      if (at + max * EXPIRED_KEPT > now) break;
      this.expired.delete(pid);
    }
    this.dropExpiredPackets(now);
    if (this.sessions.size === 0 && this.expired.size === 0 && this.bufferedPackets === 0) this.close();
  }

  private startSweeping(): void {
    if (this.timer !== undefined) return;
    const every = Math.min(60_000, Math.max(1000, this.options.maxDisconnectionDuration));
    this.timer = setInterval(() => this.sweep(), every);
    this.timer.unref();
  }

  private dropExpiredPackets(now: number): void {
    const oldest = now - this.options.maxDisconnectionDuration;
    let n = 0;
    while (this.head + n < this.packets.length && this.packets[this.head + n]!.at < oldest) n++;
    if (n > 0) this.dropPackets(n);
  }

  private dropPackets(n: number): void {
    for (let i = this.head; i < this.head + n; i++) this.bytes -= this.packets[i]!.size;
    this.packets.fill(undefined, this.head, this.head + n);
    this.head += n;
    this.first += n;
    // compact once the dropped part is the larger one: O(1) amortized per packet
    if (this.head > 1024 && this.head * 2 > this.packets.length) {
      this.packets = this.packets.slice(this.head);
      this.head = 0;
    }
  }

  private offsetOf(counter: number): string {
    return `${this.prefix}.${counter.toString(36)}`;
  }

  private counterOf(offset: string | undefined): number | undefined {
    if (offset === undefined || !offset.startsWith(this.prefix + '.')) return undefined;
    const digits = offset.slice(this.prefix.length + 1);
    if (!/^-?[0-9a-z]{1,11}$/.test(digits)) return undefined;
    const n = parseInt(digits, 36);
    return Number.isSafeInteger(n) ? n : undefined;
  }
}

/** Whether a packet sent to `r.rooms` except `r.except` reached a socket in `rooms` (socket.io's rule). */
function includes(r: Recorded, rooms: Room[]): boolean {
  const included = r.rooms.size === 0 || rooms.some((room) => r.rooms.has(room));
  return included && rooms.every((room) => !r.except.has(room));
}
