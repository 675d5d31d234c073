/**
 * The Manager: one Engine.IO connection shared by the Sockets of several namespaces, with
 * reconnection (exponential backoff with jitter). Events (listen with `socket.io.on(...)`):
 * 'open', 'close' (reason, description), 'error' (err), 'packet' (Socket.IO packet),
 * 'reconnect_attempt' (n), 'reconnect' (n), 'reconnect_error' (err), 'reconnect_failed'.
 */
import { Emitter } from '../emitter.js';
import { Decoder, encode, type Packet } from '../parser.js';
import type { BinaryData } from '../platform.js';
import { EngineClient, type TransportName } from './engine.js';
import { Socket, type SocketOptions } from './socket.js';

export interface ManagerOptions {
  /** Engine.IO path, default '/socket.io'. */
  path?: string;
  /** Default ['polling', 'websocket']. */
  transports?: TransportName[];
  /** Upgrade from polling to WebSocket (default true). */
  upgrade?: boolean;
  query?: Record<string, string>;
  extraHeaders?: Record<string, string>;
  /** Reconnect after a lost connection (default true). */
  reconnection?: boolean;
  /** Attempts before 'reconnect_failed' (default Infinity). */
  reconnectionAttempts?: number;
  /** First delay in ms (default 1000), doubled on each attempt. */
  reconnectionDelay?: number;
  /** Longest delay in ms (default 5000). */
  reconnectionDelayMax?: number;
  /** Jitter: each delay is moved by up to this fraction either way (default 0.5, 0..1). */
  randomizationFactor?: number;
  /** Connection timeout in ms (default 20000). */
  timeout?: number;
  /** Connect at once (default true). */
  autoConnect?: boolean;
  /** Most binary attachments a received packet may announce (default 10). */
  maxAttachments?: number;
}

/** Exponential backoff with jitter: min * 2^n, moved by up to ±factor, capped at max. */
export class Backoff {
  attempts = 0;
  constructor(
    public min: number,
    public max: number,
    public factor: number,
  ) {}

  duration(): number {
    const base = Math.min(this.min * 2 ** this.attempts++, this.max);
    const jitter = this.factor > 0 ? base * this.factor * (2 * Math.random() - 1) : 0;
    return Math.max(0, Math.floor(Math.min(base + jitter, this.max)));
  }

  reset(): void {
    this.attempts = 0;
  }
}

type ManagerState = 'closed' | 'opening' | 'open';

export class Manager extends Emitter {
  readonly uri: string;
  readonly opts: ManagerOptions & Required<Pick<ManagerOptions, 'path' | 'reconnection' | 'reconnectionAttempts' | 'timeout' | 'autoConnect'>>;
  engine: EngineClient | null = null;
  _readyState: ManagerState = 'closed';
  /** @internal */ _reconnecting = false;
  /** @internal */ readonly nsps = new Map<string, Socket>();
  private readonly backoff: Backoff;
  private _skipReconnect = false;
  private _decoder: Decoder | null = null;
  private _reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private _openTimer: ReturnType<typeof setTimeout> | null = null;
  private _engineSubs: (() => void)[] = [];

  constructor(uri: string, opts: ManagerOptions = {}) {
    super();
    this.uri = uri;
    this.opts = {
      ...opts,
      path: opts.path ?? '/socket.io',
      reconnection: opts.reconnection ?? true,
      reconnectionAttempts: opts.reconnectionAttempts ?? Infinity,
      timeout: opts.timeout ?? 20000,
      autoConnect: opts.autoConnect ?? true,
    };
    this.backoff = new Backoff(opts.reconnectionDelay ?? 1000, opts.reconnectionDelayMax ?? 5000, Math.min(1, Math.max(0, opts.randomizationFactor ?? 0.5)));
    if (this.opts.autoConnect) this.open();
  }

  reconnection(value?: boolean): boolean {
    if (value !== undefined) {
      this.opts.reconnection = value;
      if (!value) this._skipReconnect = true;
    }
    return this.opts.reconnection;
  }

  /** Opens the connection; `fn` gets an error or nothing. */
  open(fn?: (err?: Error) => void): this {
    if (this._readyState !== 'closed') {
      if (this._readyState === 'open') fn?.();
      return this;
    }
    this._skipReconnect = false;
    this._readyState = 'opening';
    const engine = new EngineClient(this.uri, {
      path: this.opts.path,
      ...(this.opts.transports ? { transports: this.opts.transports } : {}),
      ...(this.opts.upgrade !== undefined ? { upgrade: this.opts.upgrade } : {}),
      ...(this.opts.query ? { query: this.opts.query } : {}),
      ...(this.opts.extraHeaders ? { extraHeaders: this.opts.extraHeaders } : {}),
    });
    this.engine = engine;
    let settled = false;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      if (this._openTimer !== null) clearTimeout(this._openTimer);
      this._openTimer = null;
      fn?.(err);
    };
    const onOpen = (): void => {
      this._readyState = 'open';
      this._decoder = new Decoder(this.opts.maxAttachments !== undefined ? { maxAttachments: this.opts.maxAttachments } : {});
      settle();
      this.emitReserved('open');
    };
    const onError = (err: Error): void => {
      if (this._readyState !== 'opening') {
        this.emitReserved('error', err);
        return;
      }
      this.cleanup();
      this._readyState = 'closed';
      this.emitReserved('error', err);
      if (fn) settle(err);
      else this.maybeReconnectOnOpen();
    };
    this._engineSubs = [
      sub(engine, 'open', onOpen),
      sub(engine, 'error', onError),
      sub(engine, 'message', (data: string | BinaryData) => this.ondata(data)),
      sub(engine, 'close', (reason: string, description?: unknown) => this.onclose(reason, description)),
    ];
    if (this.opts.timeout !== Infinity) {
      this._openTimer = setTimeout(() => {
        if (this._readyState !== 'opening' || this.engine !== engine) return;
        onError(new Error('timeout'));
        engine.close();
      }, this.opts.timeout);
    }
    return this;
  }

  connect(fn?: (err?: Error) => void): this {
    return this.open(fn);
  }

  /** A Socket for `nsp` on this connection (the same one while it is active). */
  socket(nsp: string, opts: SocketOptions = {}): Socket {
    let socket = this.nsps.get(nsp);
    if (!socket) {
      socket = new Socket(this, nsp, opts);
      this.nsps.set(nsp, socket);
    } else if (this.opts.autoConnect && !socket.active) {
      socket.connect();
    }
    return socket;
  }

  private ondata(data: string | BinaryData): void {
    const decoder = this._decoder;
    if (decoder === null) return;
    const result = decoder.add(data);
    if (result.kind === 'packet') this.emitReserved('packet', result.packet);
    else if (result.kind === 'error') {
      this.emitReserved('error', result.error);
      this.engine?.close();
    }
  }

  /** @internal Sends a Socket.IO packet. */
  _packet(packet: Packet): void {
    if (this._readyState !== 'open' || this.engine === null) return;
    for (const part of encode(packet)) this.engine.send(part);
  }

  /** @internal A Socket left: close the connection once none is active. */
  _destroy(socket: Socket): void {
    for (const s of this.nsps.values()) if (s !== socket && s.active) return;
    this._close();
  }

  /** @internal Whether the connection is opened again once it closes (reconnection on, not stopped). */
  get _willReconnect(): boolean {
    return this.opts.reconnection && !this._skipReconnect;
  }

  /** @internal */
  _close(): void {
    // not open: no 'close' reaches the Sockets, and the acks they kept for a reconnection (lossless) now wait for nothing
    if (this._readyState !== 'open') for (const socket of this.nsps.values()) socket._clearAcks();
    this._skipReconnect = true;
    this._reconnecting = false;
    if (this._reconnectTimer !== null) clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    this.backoff.reset();
    const engine = this.engine;
    if (engine !== null && engine.readyState !== 'closed') engine.close();
    else this.onclose('forced close');
  }

  disconnect(): void {
    this._close();
  }

  private cleanup(): void {
    for (const off of this._engineSubs) off();
    this._engineSubs = [];
    this._decoder?.destroy();
    this._decoder = null;
    if (this._openTimer !== null) clearTimeout(this._openTimer);
    this._openTimer = null;
  }

  private onclose(reason: string, description?: unknown): void {
    const wasOpen = this._readyState === 'open';
    this.cleanup();
    this.engine = null;
    this._readyState = 'closed';
    if (!wasOpen) return; // an open failure is reported by onError
    this.backoff.reset();
    this.emitReserved('close', reason, description);
    if (this.opts.reconnection && !this._skipReconnect) this.reconnect();
  }

  private maybeReconnectOnOpen(): void {
    if (!this._reconnecting && this.opts.reconnection && this.backoff.attempts === 0 && !this._skipReconnect) this.reconnect();
  }

  private reconnect(): void {
    if (this._reconnecting || this._skipReconnect) return;
    if (this.backoff.attempts >= this.opts.reconnectionAttempts) {
      this.backoff.reset();
      this._reconnecting = false;
      this.emitReserved('reconnect_failed');
      return;
    }
    const delay = this.backoff.duration();
    this._reconnecting = true;
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      if (this._skipReconnect) return;
      this.emitReserved('reconnect_attempt', this.backoff.attempts);
      if (this._skipReconnect) return;
      this.open((err) => {
        if (err) {
          this._reconnecting = false;
          this.emitReserved('reconnect_error', err);
          this.reconnect();
        } else {
          const attempts = this.backoff.attempts;
          this._reconnecting = false;
          this.backoff.reset();
          this.emitReserved('reconnect', attempts);
        }
      });
    }, delay);
  }
}

function sub(target: Emitter, event: string, fn: (...args: any[]) => void): () => void {
  target.on(event, fn);
  return () => target.off(event, fn);
}

export { sub as _sub };
