import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Packet, PacketType } from './packet.js';
import { SharedMessage } from './shared-message.js';
import { DETACHED, type OutPacket, type Transport, type TransportHost } from './transport.js';

/** The server settings a session needs. */
export interface SessionSettings {
  pingInterval: number;
  pingTimeout: number;
  maxHttpBufferSize: number;
  /** Bytes queued for the client beyond which the session ends (see EngineOptions). */
  maxBufferedAmount: number;
  upgradeTimeout: number;
  /** Transports this session may upgrade to (sent in the handshake). */
  upgrades: string[];
}

export type ReadyState = 'opening' | 'open' | 'closing' | 'closed';

/** Why a session ended, as engine.io names it (Socket.IO passes these on as disconnect reasons). */
export type CloseReason = 'transport close' | 'transport error' | 'parse error' | 'ping timeout' | 'forced close';

/**
 * One Engine.IO session: a sid, its current transport, the packets queued for it, the
 * heartbeat ("Protocol" > "Heartbeat") and the upgrade from polling to WebSocket
 * ("Protocol" > "Upgrade").
 *
 * Events: 'message' (data: string | Buffer), 'close' (reason, description), 'upgrading',
 * 'upgrade', 'drain', 'heartbeat', 'packet' (packet received), 'packetCreate' (packet queued).
 */
export class EngineSocket extends EventEmitter implements TransportHost {
  readonly protocol = 4 as const;
  private _transport: Transport;
  private _state: ReadyState = 'opening';
  private _buffer: OutPacket[] = [];
  /** What `_buffer` holds, counting at least PACKET_COST bytes a packet. */
  private _bufferedBytes = 0;
  private _callbacks: Array<() => void> = [];
  private _pingTimer: NodeJS.Timeout | null = null;
  private _pongTimer: NodeJS.Timeout | null = null;
  /** The WebSocket transport being probed, during an upgrade. */
  private _probe: Transport | null = null;
  private _probed = false;
  private _upgradeTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: string,
    readonly request: IncomingMessage,
    transport: Transport,
    private readonly _settings: SessionSettings,
  ) {
    super();
    this._transport = transport;
    transport.host = this;
    this._state = 'open';
    // "Protocol" > "Handshake": the OPEN packet, then the heartbeat starts.
    this.sendPacket(
      'open',
      JSON.stringify({
        sid: id,
        upgrades: _settings.upgrades,
        pingInterval: _settings.pingInterval,
        pingTimeout: _settings.pingTimeout,
        maxPayload: _settings.maxHttpBufferSize,
      }),
    );
    this.schedulePing();
  }

  get transportName(): 'polling' | 'websocket' {
    return this._transport.name;
  }

  get readyState(): ReadyState {
    return this._state;
  }

  /** Whether the current transport can write now (a volatile message would go out at once). */
  get writable(): boolean {
    return this._state === 'open' && this._transport.writable;
  }

  /** The current transport (for the server's routing). @internal */
  get transportRef(): Transport {
    return this._transport;
  }

  /** Whether an upgrade to WebSocket has started and not finished. */
  get upgrading(): boolean {
    return this._probe !== null;
  }

  /**
   * Sends a MESSAGE packet (binary data as a binary frame, or base64 on polling). `cb` runs
   * once it is handed to the network. Dropped after close().
   */
  send(data: string | Buffer | ArrayBuffer | ArrayBufferView | SharedMessage, options?: { compress?: boolean }, cb?: () => void): void {
    if (data instanceof SharedMessage) this.sendPacket('message', data.data, options, cb, data);
    else this.sendPacket('message', toMessageData(data), options, cb);
  }

  /** Alias of send(), as engine.io has it. */
  write(data: string | Buffer | ArrayBuffer | ArrayBufferView, options?: { compress?: boolean }, cb?: () => void): void {
    this.send(data, options, cb);
  }

  /**
   * Closes the session: queued packets are sent first, then the client gets a CLOSE packet.
   * 'close' follows with "forced close".
   */
  close(): void {
    if (this._state !== 'open') return;
    this._state = 'closing';
    if (this._buffer.length > 0) this.once('drain', () => this.closeTransport());
    else this.closeTransport();
  }

  /** Ends the session at once (server shutdown): no waiting for the client's next poll. */
  closeNow(): void {
    this.onClose('forced close');
  }

  // TransportHost: reports from the current transport

  /** @internal */
  onPacket(packet: Packet): void {
    if (this._state !== 'open') return;
    this.emit('packet', packet);
    switch (packet.type) {
      case 'pong':
        // "Protocol" > "Heartbeat": the client answered; the next PING after pingInterval.
        this.clearTimer('_pongTimer');
        this.schedulePing();
        this.emit('heartbeat');
        break;
      case 'message':
        this.emit('message', packet.data ?? '');
        break;
      case 'ping':
        // "Protocol" > "Heartbeat": in v4 the server pings and the client answers. Answering
        // client PINGs would let one POST of "2\x1e2\x1e..." queue a PONG per 2 bytes for a
        // client that never polls them; engine.io 6 ends the session too.
        this.onClose('transport error', new Error('invalid heartbeat direction'));
        break;
      case 'close':
        this.onClose('transport close');
        break;
      case 'open':
        this.onClose('parse error', new Error('OPEN packet from the client'));
        break;
      default:
        // upgrade / noop outside an upgrade: nothing to do.
        break;
    }
  }

  /** @internal */
  onTransportError(reason: 'transport error' | 'parse error', description: string): void {
    this.onClose(reason, new Error(description));
  }

  /** @internal */
  onTransportClose(): void {
    this.onClose(this._state === 'closing' ? 'forced close' : 'transport close');
  }

  /** @internal */
  onDrain(): void {
    this.flush();
    // "Protocol" > "Upgrade": once the probe succeeded, a waiting poll is ended with a NOOP.
    if (this._probed && this._transport.writable) this._transport.send([{ type: 'noop' }]);
  }

  /**
   * A WebSocket connection for this sid ("Protocol" > "Upgrade"): the client probes it with
   * PING "probe", we answer PONG "probe" and end the waiting poll, the client sends UPGRADE,
   * and from then on the WebSocket carries everything.
   * @internal
   */
  maybeUpgrade(probe: Transport): void {
    if (this._state !== 'open' || this._probe !== null || this._transport.name === probe.name) {
      probe.discard();
      return;
    }
    this._probe = probe;
    this._probed = false;
    this._upgradeTimer = setTimeout(() => this.abandonUpgrade(), this._settings.upgradeTimeout);
    probe.host = {
      onPacket: (packet) => {
        if (packet.type === 'ping' && packet.data === 'probe') {
          probe.send([{ type: 'pong', data: 'probe' }]);
          this._probed = true;
          this.emit('upgrading', probe.name);
          if (this._transport.writable) this.onDrain();
        } else if (packet.type === 'upgrade' && this._state !== 'closed') {
          this.completeUpgrade(probe);
        } else {
          this.abandonUpgrade();
        }
      },
      onTransportError: () => this.abandonUpgrade(),
      onTransportClose: () => this.abandonUpgrade(),
      onDrain: () => {},
    };
  }

  private completeUpgrade(probe: Transport): void {
    this.endUpgrade();
    const old = this._transport;
    old.host = DETACHED;
    old.discard();
    this._transport = probe;
    probe.host = this;
    this.emit('upgrade', probe.name);
    this.flush();
    if (this._state === 'closing') this.closeTransport();
  }

  private abandonUpgrade(): void {
    const probe = this._probe;
    this.endUpgrade();
    if (probe !== null) {
      probe.host = DETACHED;
      probe.discard();
    }
  }

  private endUpgrade(): void {
    this.clearTimer('_upgradeTimer');
    this._probe = null;
    this._probed = false;
  }

  // Internals

  private sendPacket(
    type: PacketType,
    data?: string | Buffer,
    options?: { compress?: boolean },
    cb?: () => void,
    shared?: SharedMessage,
  ): void {
    if (this._state === 'closing' || this._state === 'closed') return;
    this._bufferedBytes += Math.max(PACKET_COST, data === undefined ? 0 : typeof data === 'string' ? data.length : data.byteLength);
    if (this._bufferedBytes > this._settings.maxBufferedAmount) {
      // A client that does not take what is sent (no poll, or a stalled WebSocket) cannot make
      // the server hold more. The session ends after the caller's emit has returned.
      this._state = 'closing';
      process.nextTick(() => this.onClose('transport error', new Error(`more than ${this._settings.maxBufferedAmount} bytes queued for the client`)));
      return;
    }
    const packet: OutPacket = data === undefined ? { type } : { type, data };
    if (options?.compress === false) packet.compress = false;
    if (shared !== undefined) packet.shared = shared;
    this.emit('packetCreate', packet);
    this._buffer.push(packet);
    if (cb) this._callbacks.push(cb);
    this.flush();
  }

  private flush(): void {
    if (this._state === 'closed' || !this._transport.writable || this._buffer.length === 0) return;
    const packets = this._buffer;
    const callbacks = this._callbacks;
    this._buffer = [];
    this._callbacks = [];
    this._bufferedBytes = 0;
    this._transport.send(
      packets,
      callbacks.length === 0
        ? undefined
        : () => {
            for (const cb of callbacks) cb();
          },
    );
    if (this._buffer.length === 0) this.emit('drain');
  }

  private closeTransport(): void {
    this._transport.close(() => this.onClose('forced close'), true);
  }

  private schedulePing(): void {
    this.clearTimer('_pingTimer');
    this._pingTimer = setTimeout(() => {
      this._pingTimer = null;
      this.sendPacket('ping');
      this.clearTimer('_pongTimer');
      this._pongTimer = setTimeout(() => this.onClose('ping timeout'), this._settings.pingTimeout);
    }, this._settings.pingInterval);
  }

  private clearTimer(name: '_pingTimer' | '_pongTimer' | '_upgradeTimer'): void {
    const timer = this[name];
    if (timer !== null) clearTimeout(timer);
    this[name] = null;
  }

  /** The session is over: timers stopped, transports ended, 'close' emitted once. */
  private onClose(reason: CloseReason, description?: unknown): void {
    if (this._state === 'closed') return;
    this._state = 'closed';
    this.clearTimer('_pingTimer');
    this.clearTimer('_pongTimer');
    this.abandonUpgrade();
    const transport = this._transport;
    transport.host = DETACHED;
    transport.close(undefined, false);
    this._buffer = [];
    this._callbacks = [];
    this._bufferedBytes = 0;
    this.emit('close', reason, description);
  }
}

/** The least a queued packet counts for maxBufferedAmount (its object and framing). */
const PACKET_COST = 64;

/** Binary data of any kind as a Buffer over the same memory (no copy). */
function toMessageData(data: string | Buffer | ArrayBuffer | ArrayBufferView): string | Buffer {
  if (typeof data === 'string' || Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  throw new TypeError('EngineSocket.send() takes a string, a Buffer, an ArrayBuffer or an ArrayBufferView');
}
