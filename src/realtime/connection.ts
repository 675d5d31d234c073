/**
 * One Engine.IO connection seen by the Socket.IO layer (socket.io's "Client"): it decodes the
 * packets, routes them to the namespace sockets multiplexed on it, applies the rate limit, and
 * closes the connection on a bad packet ('parse error') or when no namespace is joined within
 * `connectTimeout`.
 */
import type { EngineSocketLike } from './engine-types.js';
import { EngineSocket, SharedMessage } from './engine/index.js';
import { Decoder, encode, PacketType, type EncodedPacket, type Packet } from './parser.js';
import { RateLimiter, RateLimitError } from './rate-limit.js';
import type { Namespace } from './namespace.js';
import type { Server } from './server.js';
import type { DisconnectReason, Socket } from './socket.js';

const COMPRESS = Object.freeze({ compress: true });
const NO_COMPRESS = Object.freeze({ compress: false });

/**
 * The parts of the packet being broadcast, each a SharedMessage. The targets of one broadcast
 * are written one after the other, so one entry is all the cache needs (it keeps the last
 * broadcast's parts until the next one).
 */
let lastEncoded: EncodedPacket | null = null;
let lastShared: SharedMessage[] = [];
function sharedParts(encoded: EncodedPacket): SharedMessage[] {
  if (encoded !== lastEncoded) {
    lastShared = encoded.map((part) => new SharedMessage(part));
    lastEncoded = encoded;
  }
  return lastShared;
}

export class Connection {
  readonly conn: EngineSocketLike;
  readonly server: Server;
  /** Connected sockets by namespace name. */
  readonly nsps = new Map<string, Socket>();
  closed = false;
  /** @internal Sockets whose namespace middlewares run (see Namespace), each with what abandons it if the connection closes first. */
  readonly _admitting = new Map<Socket, () => void>();
  private readonly pending = new Set<string>();
  private readonly decoder: Decoder;
  private readonly limiter: RateLimiter | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(server: Server, conn: EngineSocketLike) {
    this.server = server;
    this.conn = conn;
    this.decoder = new Decoder({ maxAttachments: server.maxAttachments });
    this.limiter = server.rateLimit ? new RateLimiter(server.rateLimit) : undefined;
    conn.on('message', (data) => this.ondata(data));
    conn.on('close', (reason, description) => this.onclose(reason, description));
    conn.on('error', () => {
      // the engine follows an error with 'close' ('transport error'); nothing to add here
    });
    this.connectTimer = setTimeout(() => {
      this.connectTimer = undefined;
      if (this.nsps.size === 0) this.close();
    }, server.connectTimeout);
  }

  /** Whether a volatile packet can be written now. */
  get writable(): boolean {
    const w = this.conn.writable;
    return this.conn.readyState === 'open' && (w === undefined || w);
  }

  /**
   * Writes every part of an encoded packet as its own Engine.IO message. `shared`: the same
   * parts go to many connections (a broadcast), so on our engine their WebSocket frames are
   * built once for all of them.
   */
  writeEncoded(encoded: EncodedPacket, compress?: boolean, shared = false): void {
    const conn = this.conn;
    const state = conn.readyState;
    if (this.closed || state === 'closing' || state === 'closed') return;
    if (conn instanceof EngineSocket) {
      const opts = compress === false ? NO_COMPRESS : COMPRESS;
      const parts = shared ? sharedParts(encoded) : encoded;
      for (let i = 0; i < parts.length; i++) conn.send(parts[i]!, opts);
      return;
    }
    // a fresh object: other engines may write to it (engine.io does)
    const opts = { compress: compress !== false };
    for (let i = 0; i < encoded.length; i++) conn.send(encoded[i]!, opts);
  }

  /** Disconnects every namespace socket (each gets 'server namespace disconnect'). */
  disconnectAll(): void {
    for (const socket of [...this.nsps.values()]) socket.disconnect();
  }

  /** Closes the Engine.IO connection. */
  close(): void {
    if (this.closed) return;
    this.conn.close();
    this.onclose('forced server close');
  }

  /** Ends every socket with `reason`, then closes the connection. */
  closeWith(reason: DisconnectReason): void {
    for (const socket of [...this.nsps.values()]) socket._onclose(reason);
    this.close();
  }

  /** @internal */
  _remove(socket: Socket): void {
    if (this.nsps.get(socket.nsp.name) === socket) this.nsps.delete(socket.nsp.name);
  }

  private ondata(data: string | Buffer): void {
    if (this.closed) return;
    const result = this.decoder.add(data);
    if (result.kind === 'pending') return;
    if (result.kind === 'error') {
      for (const socket of this.nsps.values()) socket._onerror(result.error);
      this.closeWith('parse error');
      return;
    }
    this.onpacket(result.packet);
  }

  private onpacket(packet: Packet): void {
    if (this.limiter && packet.type !== PacketType.ACK && packet.type !== PacketType.BINARY_ACK) {
      const decision = this.limiter.take();
      if (decision !== 'ok') {
        if (decision === 'exceeded') {
          this.closeWith('rate limit exceeded');
        } else if (decision === 'drop-first') {
          const err = new RateLimitError('rate limit exceeded: packet dropped');
          for (const socket of this.nsps.values()) socket._onerror(err);
        }
        return;
      }
    }
    if (packet.type === PacketType.CONNECT) {
      this.connect(packet.nsp, (packet.data as Record<string, unknown> | undefined) ?? {});
      return;
    }
    this.nsps.get(packet.nsp)?._onpacket(packet);
  }

  private connect(name: string, auth: Record<string, unknown>): void {
    if (this.nsps.has(name) || this.pending.has(name)) return;
    this.pending.add(name);
    this.server._lookup(name, auth, this.conn.request, (nsp) => {
      // also when the connection closed meanwhile: the namespace ends the admission (and deletes a child created for it)
      if (nsp) return this.join(nsp, name, auth);
      this.pending.delete(name);
      this.writeEncoded(encode({ type: PacketType.CONNECT_ERROR, nsp: name, data: { message: 'Invalid namespace' } }));
    });
  }

  private join(nsp: Namespace, name: string, auth: Record<string, unknown>): void {
    nsp._add(this, auth, (socket) => {
      this.pending.delete(name);
      if (!socket) return;
      this.nsps.set(name, socket);
      if (this.connectTimer) {
        clearTimeout(this.connectTimer);
        this.connectTimer = undefined;
      }
    });
  }

  private onclose(reason: string, description?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer) {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    }
    for (const socket of [...this.nsps.values()]) socket._onclose(reason, description);
    for (const abandon of this._admitting.values()) abandon();
    this._admitting.clear();
    this.decoder.destroy();
    this.server._connections.delete(this);
  }
}
