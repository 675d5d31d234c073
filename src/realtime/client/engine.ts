/**
 * An Engine.IO v4 client (the engine.io-protocol document, 4th version): the handshake over HTTP
 * long-polling or straight over WebSocket, the upgrade from polling to WebSocket (PING "probe",
 * PONG "probe", UPGRADE), heartbeat (the server pings, we answer; no PING within pingInterval +
 * pingTimeout closes with "ping timeout"), text and binary MESSAGE packets.
 *
 * I/O uses only `fetch`, `AbortController` and the WHATWG `WebSocket` (ours in Node, the
 * browser's own in the bundle: ../platform.ts), so the same code runs in both. Events: 'open',
 * 'message' (string or the platform's binary data), 'upgrade' (transport name), 'error' (Error),
 * 'close' (reason, description).
 */
import { Emitter } from '../emitter.js';
import { toBinary, WebSocket } from '../platform.js';
import { decodePacket, decodePayload, encodePacket, SEPARATOR, type Packet } from '../engine/packet.js';

export type TransportName = 'polling' | 'websocket';

export type EngineCloseReason = 'transport close' | 'transport error' | 'ping timeout' | 'parse error' | 'forced close';

export interface EngineClientOptions {
  /** Engine.IO path, default '/socket.io'. */
  path?: string;
  /** Transports to try, in order; default ['polling', 'websocket']. */
  transports?: TransportName[];
  /** Whether to upgrade from polling to WebSocket (default true). */
  upgrade?: boolean;
  /** Extra query parameters of every request. */
  query?: Record<string, string>;
  /** Extra HTTP headers of polling requests (Node only; browsers refuse some). */
  extraHeaders?: Record<string, string>;
}

interface Handshake {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload?: number;
}

/** What a transport reports to the engine. */
interface TransportHost {
  onPacket(packet: Packet): void;
  onError(description: string, cause?: unknown): void;
  onClose(): void;
  onDrain(): void;
}

interface ClientTransport {
  readonly name: TransportName;
  host: TransportHost;
  /** Whether send() may be called now. */
  readonly writable: boolean;
  open(): void;
  send(packets: Packet[]): void;
  /**
   * Closes without reporting onClose; with `notify`, `pending` packets then a CLOSE packet are
   * sent first (best effort).
   */
  close(notify?: boolean, pending?: Packet[]): void;
}

const NOOP_HOST: TransportHost = { onPacket() {}, onError() {}, onClose() {}, onDrain() {} };

function buildUrl(base: URL, path: string, query: Record<string, string>, ws: boolean): string {
  const u = new URL(base.href);
  if (ws) u.protocol = u.protocol === 'https:' || u.protocol === 'wss:' ? 'wss:' : 'ws:';
  else u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  u.pathname = path.endsWith('/') ? path : path + '/';
  u.search = '';
  u.hash = '';
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u.href;
}

let cacheBuster = 0;

/** The length of `s` in UTF-8, as fetch sends it (a lone surrogate becomes U+FFFD: 3 bytes). */
function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4; // a surrogate pair
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Encodes packets as polling payloads of at most `maxPayload` bytes each ("Packet encoding" >
 * "HTTP long-polling"; the server answers a larger POST body with 413 and ends the session), as
 * engine.io-client does: packets are taken in order while the payload fits. A packet larger
 * than maxPayload on its own still goes alone, and the server refuses it.
 */
function encodePayloads(packets: readonly Packet[], maxPayload: number): string[] {
  const payloads: string[] = [];
  let payload = '';
  let size = 0;
  for (const packet of packets) {
    const encoded = encodePacket(packet, false) as string;
    const bytes = utf8Length(encoded);
    // Every packet but the first of a payload costs one more byte: the separator before it.
    if (size > 0 && size + 1 + bytes > maxPayload) {
      payloads.push(payload);
      size = 0;
    }
    if (size === 0) {
      payload = encoded;
      size = bytes;
    } else {
      payload += SEPARATOR + encoded;
      size += 1 + bytes;
    }
  }
  if (size > 0) payloads.push(payload);
  return payloads;
}

/** HTTP long-polling: a GET loop reads payloads, one POST at a time writes them. */
class PollingTransport implements ClientTransport {
  readonly name = 'polling' as const;
  host: TransportHost = NOOP_HOST;
  private _writing = false;
  private _polling = false;
  private _paused = false;
  private _closed = false;
  private _onPaused: (() => void) | null = null;
  /** Aborts the waiting poll (POSTs are left to finish). */
  private readonly _abort = new AbortController();
  /** Settles once the current POSTs are done. */
  private _lastWrite: Promise<unknown> = Promise.resolve();
  /** The handshake's maxPayload: the most bytes one POST body may carry. */
  maxPayload = Infinity;
  /**
   * How long close() waits for its CLOSE POST: the handshake's pingTimeout, the time the server
   * itself gives a peer to answer ("Protocol" > "Heartbeat").
   */
  closeTimeout = 20_000;

  constructor(
    private readonly url: () => string,
    private readonly headers: Record<string, string>,
  ) {}

  get writable(): boolean {
    return !this._writing && !this._closed;
  }

  open(): void {
    this.poll();
  }

  private requestUrl(): string {
    const u = new URL(this.url());
    u.searchParams.set('t', `${Date.now().toString(36)}.${(cacheBuster++).toString(36)}`);
    return u.href;
  }

  private poll(): void {
    if (this._closed || this._polling) return;
    if (this._paused) return this.checkPaused();
    this._polling = true;
    fetch(this.requestUrl(), { headers: this.headers, signal: this._abort.signal })
      .then(async (res) => {
        const body = await res.text();
        if (!res.ok) throw new Error(`HTTP ${res.status}: ${body}`);
        return body;
      })
      .then(
        (body) => {
          this._polling = false;
          if (this._closed) return;
          const packets = decodePayload(body);
          if (packets === null) return this.host.onError('malformed polling payload');
          for (const p of packets) {
            if (this._closed) return;
            this.host.onPacket(p);
          }
          if (this._closed) return;
          if (this._paused) this.checkPaused();
          else this.poll();
        },
        (err: unknown) => {
          this._polling = false;
          if (!this._closed) this.host.onError('xhr poll error', err);
        },
      );
  }

  send(packets: Packet[]): void {
    if (this._closed) return;
    this._writing = true;
    this._lastWrite = this.post(packets).then(
        () => {
          this._writing = false;
          if (this._closed) return;
          if (this._paused) this.checkPaused();
          this.host.onDrain();
        },
        (err: unknown) => {
          this._writing = false;
          if (!this._closed) this.host.onError('xhr post error', err);
        },
      );
  }

  /** POSTs the packets, one payload within maxPayload at a time. */
  private async post(packets: Packet[], signal?: AbortSignal): Promise<void> {
    for (const body of encodePayloads(packets, this.maxPayload)) {
      const res = await fetch(this.requestUrl(), {
        method: 'POST',
        body,
        headers: { 'content-type': 'text/plain;charset=UTF-8', ...this.headers },
        signal: signal ?? null,
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${text}`);
    }
  }

  /** Stops polling; `done` runs once no request is in flight (for the upgrade). */
  pause(done: () => void): void {
    this._paused = true;
    this._onPaused = done;
    this.checkPaused();
  }

  private checkPaused(): void {
    if (!this._paused || this._polling || this._writing || this._onPaused === null) return;
    const done = this._onPaused;
    this._onPaused = null;
    done();
  }

  close(notify = false, pending: Packet[] = []): void {
    if (this._closed) return;
    this._closed = true;
    if (notify && !this._paused) {
      // Tell the server after the current POST (best effort), and only then drop the waiting
      // poll: a poll cut first ends the session at once, and the CLOSE would meet an unknown sid.
      // A server that does not answer within closeTimeout gets the poll and the CLOSE cut.
      const last = [...pending, { type: 'close' } as Packet];
      const timer = setTimeout(() => this._abort.abort(), this.closeTimeout);
      void this._lastWrite
        .then(() => this.post(last, this._abort.signal))
        .catch(() => {})
        .finally(() => {
          clearTimeout(timer);
          this._abort.abort();
        });
    } else this._abort.abort();
  }
}

/** The WebSocket transport: one packet per message, binary MESSAGE data as binary frames. */
class WebSocketTransport implements ClientTransport {
  readonly name = 'websocket' as const;
  host: TransportHost = NOOP_HOST;
  private _ws: WebSocket | null = null;
  private _closed = false;

  constructor(private readonly url: string) {}

  get writable(): boolean {
    return !this._closed && this._ws !== null && this._ws.readyState === WebSocket.OPEN;
  }

  /** Resolves once the WebSocket is open (for the probe); the host hears of failures. */
  onOpen: () => void = () => {};

  open(): void {
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      queueMicrotask(() => this.host.onError('websocket error', err));
      return;
    }
    this._ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      if (!this._closed) this.onOpen();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this._closed) return;
      const data = ev.data as string | ArrayBuffer;
      const packet = decodePacket(typeof data === 'string' ? data : toBinary(data));
      if (packet === null) this.host.onError('malformed packet');
      else this.host.onPacket(packet);
    };
    ws.onerror = () => {
      if (this._closed) return;
      this._closed = true;
      this.host.onError('websocket error');
    };
    ws.onclose = () => {
      if (this._closed) return;
      this._closed = true;
      this.host.onClose();
    };
  }

  send(packets: Packet[]): void {
    if (!this.writable) return;
    for (const p of packets) this._ws!.send(encodePacket(p, true));
    // Handed to the socket: the next batch may follow at once.
    queueMicrotask(() => {
      if (!this._closed) this.host.onDrain();
    });
  }

  close(notify = false, pending: Packet[] = []): void {
    if (this._closed) return;
    if (notify && this.writable) {
      for (const p of pending) this._ws!.send(encodePacket(p, true));
      this._ws!.send('1');
    }
    this._closed = true;
    const ws = this._ws;
    if (ws !== null && ws.readyState <= WebSocket.OPEN) ws.close();
  }
}

/** One Engine.IO session. */
export class EngineClient extends Emitter {
  readyState: 'opening' | 'open' | 'closing' | 'closed' = 'opening';
  id: string | null = null;
  private _transport: ClientTransport | null = null;
  private _buffer: Packet[] = [];
  private _upgrading = false;
  private _probe: WebSocketTransport | null = null;
  private _pingTimer: ReturnType<typeof setTimeout> | null = null;
  private _handshake: Handshake | null = null;
  private readonly _base: URL;
  private readonly _path: string;
  private readonly _transports: TransportName[];
  private readonly _upgrade: boolean;
  private readonly _query: Record<string, string>;
  private readonly _headers: Record<string, string>;

  constructor(uri: string | URL, options: EngineClientOptions = {}) {
    super();
    this._base = new URL(uri);
    this._path = options.path ?? '/socket.io';
    this._transports = options.transports ?? ['polling', 'websocket'];
    if (this._transports.length === 0) throw new TypeError('transports must not be empty');
    this._upgrade = options.upgrade ?? true;
    this._query = { ...(options.query ?? {}) };
    this._headers = { ...(options.extraHeaders ?? {}) };
    queueMicrotask(() => this.openTransport());
  }

  /** The current transport's name. */
  get transport(): TransportName {
    return this._transport?.name ?? this._transports[0]!;
  }

  private url(name: TransportName): string {
    const q: Record<string, string> = { ...this._query, EIO: '4', transport: name };
    if (this.id !== null) q.sid = this.id;
    return buildUrl(this._base, this._path, q, name === 'websocket');
  }

  private openTransport(): void {
    if (this.readyState !== 'opening') return;
    const name = this._transports[0]!;
    const t: ClientTransport =
      name === 'websocket' ? new WebSocketTransport(this.url('websocket')) : new PollingTransport(() => this.url('polling'), this._headers);
    this.setTransport(t);
    t.open();
  }

  private setTransport(t: ClientTransport): void {
    this._transport = t;
    t.host = {
      onPacket: (p) => this.onPacket(p),
      onError: (description, cause) => this.onError(description, cause),
      onClose: () => this.onClose('transport close'),
      onDrain: () => this.flush(),
    };
  }

  private onPacket(packet: Packet): void {
    if (this.readyState === 'closed') return;
    switch (packet.type) {
      case 'open':
        this.onHandshake(packet.data);
        break;
      case 'ping':
        this.resetPingTimer();
        this.sendPacket({ type: 'pong', ...(typeof packet.data === 'string' ? { data: packet.data } : {}) });
        break;
      case 'message':
        if (this.readyState === 'open') this.emitReserved('message', packet.data ?? '');
        break;
      case 'close':
        this.onClose('transport close');
        break;
      default:
        break; // noop, pong, upgrade: nothing to do
    }
  }

  private onHandshake(data: unknown): void {
    if (this.readyState !== 'opening') return;
    let hs: Handshake;
    try {
      hs = JSON.parse(String(data)) as Handshake;
      if (typeof hs.sid !== 'string' || typeof hs.pingInterval !== 'number' || typeof hs.pingTimeout !== 'number') throw new Error('bad handshake');
    } catch {
      this.onClose('parse error', new Error('invalid handshake'));
      return;
    }
    this._handshake = hs;
    this.id = hs.sid;
    if (this._transport instanceof PollingTransport) {
      if (typeof hs.maxPayload === 'number' && hs.maxPayload > 0) this._transport.maxPayload = hs.maxPayload;
      this._transport.closeTimeout = hs.pingTimeout;
    }
    this.readyState = 'open';
    this.resetPingTimer();
    this.emitReserved('open');
    this.flush();
    if (
      this.readyState === 'open' &&
      this._upgrade &&
      this._transport?.name === 'polling' &&
      this._transports.includes('websocket') &&
      Array.isArray(hs.upgrades) &&
      hs.upgrades.includes('websocket')
    ) {
      this.probe();
    }
  }

  /** "Protocol" > "Upgrade": probe a WebSocket for this sid, then switch to it. */
  private probe(): void {
    const probe = new WebSocketTransport(this.url('websocket'));
    this._probe = probe;
    const fail = (): void => {
      if (this._probe !== probe) return;
      this._probe = null;
      this._upgrading = false;
      probe.close();
      this.flush();
    };
    probe.host = {
      onPacket: (p) => {
        if (this._probe !== probe) return;
        if (p.type !== 'pong' || p.data !== 'probe') return fail();
        this._upgrading = true;
        const polling = this._transport as PollingTransport;
        polling.pause(() => {
          if (this._probe !== probe || this.readyState !== 'open') return;
          this._probe = null;
          polling.close();
          this.setTransport(probe);
          probe.send([{ type: 'upgrade' }]);
          this._upgrading = false;
          this.emitReserved('upgrade', 'websocket');
          this.flush();
        });
      },
      onError: fail,
      onClose: fail,
      onDrain: () => {},
    };
    probe.onOpen = () => probe.send([{ type: 'ping', data: 'probe' }]);
    probe.open();
  }

  private resetPingTimer(): void {
    if (this._pingTimer !== null) clearTimeout(this._pingTimer);
    const hs = this._handshake!;
    this._pingTimer = setTimeout(() => this.onClose('ping timeout'), hs.pingInterval + hs.pingTimeout);
  }

  /** Sends a MESSAGE (text, or binary data as a binary frame / base64 on polling). */
  send(data: string | ArrayBuffer | ArrayBufferView): void {
    this.sendPacket({ type: 'message', data: typeof data === 'string' ? data : toBinary(data) });
  }

  private sendPacket(packet: Packet): void {
    if (this.readyState === 'closing' || this.readyState === 'closed') return;
    this._buffer.push(packet);
    this.flush();
  }

  private flush(): void {
    const t = this._transport;
    if (this.readyState !== 'open' || t === null || this._upgrading || !t.writable || this._buffer.length === 0) return;
    const packets = this._buffer;
    this._buffer = [];
    t.send(packets);
  }

  private onError(description: string, cause?: unknown): void {
    const err = new Error(description, cause === undefined ? undefined : { cause });
    if (this.readyState === 'opening') this.emitReserved('error', err);
    this.onClose('transport error', err);
  }

  /** Closes the session (the server is told with a CLOSE packet); 'close' follows with "forced close". */
  close(): void {
    if (this.readyState === 'closed' || this.readyState === 'closing') return;
    this.onClose('forced close');
  }

  private onClose(reason: EngineCloseReason, description?: unknown): void {
    if (this.readyState === 'closed') return;
    const wasOpening = this.readyState === 'opening';
    this.readyState = 'closed';
    if (this._pingTimer !== null) clearTimeout(this._pingTimer);
    this._pingTimer = null;
    const probe = this._probe;
    this._probe = null;
    probe?.close();
    const t = this._transport;
    const pending = this._buffer;
    this._buffer = [];
    if (t !== null) {
      t.host = NOOP_HOST;
      t.close(reason === 'forced close' && !wasOpening, pending);
    }
    if (wasOpening && reason !== 'transport error') this.emitReserved('error', new Error(reason));
    this.emitReserved('close', reason, description);
  }
}
