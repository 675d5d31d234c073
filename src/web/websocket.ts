/**
 * The WHATWG `WebSocket` interface (https://websockets.spec.whatwg.org/), as in a browser, over
 * the ws-compatible client of `src/node/`. Comments cite the standard's algorithm steps.
 */
import { types } from 'node:util';
import { WebSocket as NodeWebSocket } from '../node/index.js';
import { isToken, isValidWebCloseCode } from '../protocol/index.js';
import {
  CloseEvent,
  defineInterface,
  toClampedUnsignedShort,
  toDOMString,
  toUSVString,
} from './events.js';

/** `enum BinaryType { "blob", "arraybuffer" };` */
export type BinaryType = 'blob' | 'arraybuffer';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

const EMPTY = Buffer.alloc(0);

/** A message handed to send() and not yet passed to the Node layer. */
interface PendingMessage {
  kind: 'message';
  /** The bytes to send; null while a Blob is being read. */
  bytes: Buffer | null;
  binary: boolean;
  size: number;
}

/** A close() whose Close frame must wait for the messages queued before it. */
interface PendingClose {
  kind: 'close';
  code: number | undefined;
  reason: Buffer | undefined;
}

type Pending = PendingMessage | PendingClose;

interface EventHandlerSlot {
  value: object;
  listener: (event: Event) => void;
}

type Handler<E extends Event> = ((this: WebSocket, event: E) => unknown) | null;

/** A copy of the bytes of an ArrayBuffer or of the section of it that a view describes. */
function copyBytes(buffer: ArrayBufferLike, byteOffset: number, byteLength: number): Buffer {
  // A detached buffer has no bytes (and cannot be viewed at all).
  if (byteLength === 0) return Buffer.alloc(0);
  return Buffer.from(new Uint8Array(buffer, byteOffset, byteLength)); // Buffer.from(view) copies
}

/** The bytes of a message as the Node layer hands them over (Buffer, ArrayBuffer or fragments). */
function messageBytes(data: unknown): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data as Uint8Array[]);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data as Uint8Array;
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** UTF-8 decode without BOM (the BOM, if any, is kept), replacing invalid sequences. */
function decodeUtf8(bytes: Uint8Array): string {
  return Buffer.isBuffer(bytes) ? bytes.toString('utf8') : utf8.decode(bytes);
}

/** A fresh ArrayBuffer holding exactly the given bytes. */
function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const { buffer, byteOffset, byteLength } = bytes;
  if (byteOffset === 0 && byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) {
    return buffer; // the message owns its whole buffer: no copy needed
  }
  return buffer.slice(byteOffset, byteOffset + byteLength) as ArrayBuffer;
}

/**
 * A WebSocket client with the browser API: EventTarget events ('open', 'message', 'error',
 * 'close') and on* handlers, binaryType, bufferedAmount, send() and close().
 */
export class WebSocket extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare readonly CONNECTING: typeof CONNECTING;
  declare readonly OPEN: typeof OPEN;
  declare readonly CLOSING: typeof CLOSING;
  declare readonly CLOSED: typeof CLOSED;

  /** The serialized URL record. */
  #url: string;
  /** The serialization of the URL's origin, for MessageEvent.origin. */
  #origin: string;
  #readyState: number = CONNECTING;
  #binaryType: BinaryType = 'blob';
  #bufferedAmount = 0;
  #extensions = '';
  #protocol = '';
  /** Set when the user agent was required to "fail the WebSocket connection". */
  #failed = false;
  /** Set once the Node layer reports the connection established. */
  #established = false;
  #ws: NodeWebSocket | null = null;
  /** The Sec-WebSocket-Extensions value of the handshake response, if the layer reported it. */
  #responseExtensions: string | undefined;
  #sawUpgrade = false;
  /** Queued tasks not yet run (the WebSocket task source). */
  #pendingTasks = 0;
  /** Messages and a close queued behind a Blob that is still being read, in send() order. */
  #outgoing: Pending[] = [];
  /** Bytes written since the last task boundary, subtracted from bufferedAmount at the next one. */
  #transmitted = 0;
  #handlers = new Map<string, EventHandlerSlot>();

  /**
   * `new WebSocket(url, protocols)`: validates the arguments, then establishes the connection
   * in parallel.
   *
   * @param url a ws:, wss:, http: or https: absolute URL without a fragment
   * @param protocols a subprotocol name or a list of them (tokens, no duplicates)
   */
  constructor(url: string | URL, protocols?: string | Iterable<string>) {
    super();
    if (arguments.length === 0) {
      throw new TypeError("Failed to construct 'WebSocket': 1 argument required, but only 0 present.");
    }
    // Web IDL argument conversion: USVString url, (DOMString or sequence<DOMString>) protocols.
    const urlString = toUSVString(url);
    const protocolList = toProtocolList(protocols);

    // WHATWG constructor steps 1-3: parse url (Node has no API base URL, so a relative URL fails).
    let urlRecord: URL;
    try {
      urlRecord = new URL(urlString);
    } catch {
      throw new DOMException(
        `Failed to construct 'WebSocket': The URL '${urlString}' is invalid (an absolute ws:, wss:, http: or https: URL is required).`,
        'SyntaxError',
      );
    }
    // Steps 4-5: http -> ws, https -> wss.
    if (urlRecord.protocol === 'http:') urlRecord.protocol = 'ws:';
    else if (urlRecord.protocol === 'https:') urlRecord.protocol = 'wss:';
    // Step 6: only ws and wss.
    if (urlRecord.protocol !== 'ws:' && urlRecord.protocol !== 'wss:') {
      throw new DOMException(
        `Failed to construct 'WebSocket': The URL's scheme must be 'ws', 'wss', 'http' or 'https'; '${urlRecord.protocol.slice(0, -1)}' is not allowed.`,
        'SyntaxError',
      );
    }
    // Step 7: a non-null fragment (even an empty one: a serialized '#') is an error.
    if (urlRecord.href.includes('#')) {
      throw new DOMException(
        `Failed to construct 'WebSocket': The URL contains a fragment identifier ('${urlRecord.hash || '#'}'). Fragment identifiers are not allowed in WebSocket URLs.`,
        'SyntaxError',
      );
    }
    // Steps 8-9: each protocol must be a token (RFC 6455 § 4.1, RFC 7230 § 3.2.6), no duplicates.
    const seen = new Set<string>();
    for (const p of protocolList) {
      if (!isToken(p)) {
        throw new DOMException(
          `Failed to construct 'WebSocket': The subprotocol '${p}' is invalid (a subprotocol must be a non-empty token of ASCII letters, digits and !#$%&'*+-.^_\`|~).`,
          'SyntaxError',
        );
      }
      if (seen.has(p)) {
        throw new DOMException(
          `Failed to construct 'WebSocket': The subprotocol '${p}' is duplicated.`,
          'SyntaxError',
        );
      }
      seen.add(p);
    }
    // Step 10: set this's url.
    this.#url = urlRecord.href;
    this.#origin = urlRecord.origin;

    // Step 12: establish a WebSocket connection in parallel. Redirects are an error (the request's
    // redirect mode is "error") and a permessage-deflate offer is part of every request.
    try {
      this.#ws = new NodeWebSocket(this.#url, protocolList, {
        perMessageDeflate: true,
        followRedirects: false,
      });
    } catch {
      // The layer refused the request synchronously: fail the connection, asynchronously.
      this.#failed = true;
      this.#queueTask(() => this.#connectionClosed(1006, EMPTY));
      return;
    }
    this.#listen(this.#ws);
  }

  /** The URL the connection was made to, serialized. */
  get url(): string {
    return this.#url;
  }

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): number {
    // WHATWG: "When the WebSocket closing handshake is started, the user agent must queue a task
    // to change the ready state to CLOSING". The Node layer signals no Close frame from the peer,
    // so the handshake is observed here, once every task queued before it has run.
    if (this.#readyState === OPEN && this.#pendingTasks === 0 && this.#ws !== null && this.#ws.readyState >= CLOSING) {
      this.#readyState = CLOSING;
    }
    return this.#readyState;
  }

  /** Bytes of application data queued by send() and not yet transmitted (framing excluded). */
  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  /** The extensions selected by the server (the Sec-WebSocket-Extensions response value). */
  get extensions(): string {
    return this.#extensions;
  }

  /** The subprotocol selected by the server, or the empty string. */
  get protocol(): string {
    return this.#protocol;
  }

  /** How binary messages are exposed: 'blob' (the default) or 'arraybuffer'. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    // Web IDL enumeration attribute: convert to a DOMString, ignore values outside the enum.
    const type = toDOMString(value);
    if (type === 'blob' || type === 'arraybuffer') this.#binaryType = type;
  }

  get onopen(): Handler<Event> {
    return this.#getHandler('open') as Handler<Event>;
  }
  set onopen(value: Handler<Event>) {
    this.#setHandler('open', value);
  }

  get onmessage(): Handler<MessageEvent> {
    return this.#getHandler('message') as Handler<MessageEvent>;
  }
  set onmessage(value: Handler<MessageEvent>) {
    this.#setHandler('message', value);
  }

  get onerror(): Handler<Event> {
    return this.#getHandler('error') as Handler<Event>;
  }
  set onerror(value: Handler<Event>) {
    this.#setHandler('error', value);
  }

  get onclose(): Handler<CloseEvent> {
    return this.#getHandler('close') as Handler<CloseEvent>;
  }
  set onclose(value: Handler<CloseEvent>) {
    this.#setHandler('close', value);
  }

  /**
   * Transmits data: a string (as UTF-8 text), a Blob, an ArrayBuffer or an ArrayBufferView (the
   * bytes of the view only). Throws an InvalidStateError while CONNECTING.
   */
  send(data: string | Blob | ArrayBufferLike | ArrayBufferView): void {
    if (arguments.length === 0) {
      throw new TypeError("Failed to execute 'send' on 'WebSocket': 1 argument required, but only 0 present.");
    }
    // Web IDL conversion of (BufferSource or Blob or USVString), taking a copy of the bytes now.
    let bytes: Buffer | null = null;
    let blob: Blob | null = null;
    let binary = true;
    if (types.isArrayBuffer(data)) {
      bytes = copyBytes(data, 0, data.byteLength);
    } else if (ArrayBuffer.isView(data)) {
      if (types.isSharedArrayBuffer(data.buffer)) {
        throw new TypeError("Failed to execute 'send' on 'WebSocket': The provided ArrayBufferView value must not be shared.");
      }
      bytes = copyBytes(data.buffer, data.byteOffset, data.byteLength);
    } else if (data instanceof Blob) {
      blob = data;
    } else {
      // USVString: Buffer's UTF-8 encoder turns each lone surrogate into U+FFFD (EF BF BD).
      bytes = Buffer.from(toDOMString(data), 'utf8');
      binary = false;
    }
    const size = blob !== null ? blob.size : (bytes as Buffer).byteLength;

    // WHATWG 'send()' step 1.
    if (this.#readyState === CONNECTING) {
      throw new DOMException("Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.", 'InvalidStateError');
    }
    // Step 2: every call that does not throw increases bufferedAmount by the data's size (for a
    // view: the view's byteLength; the standard's "length of data's buffer" is read as that, as
    // browsers do). The data is sent only if the connection is established and the closing
    // handshake has not started; otherwise the bytes stay counted and are never sent.
    this.#bufferedAmount += size;
    const ws = this.#ws;
    if (this.#readyState !== OPEN || ws === null || ws.readyState !== OPEN) return;

    const message: PendingMessage = { kind: 'message', bytes, binary, size };
    if (blob !== null) {
      // Reading a Blob is asynchronous; later sends and close() queue behind it to keep order.
      blob.arrayBuffer().then(
        (buffer) => {
          message.bytes = Buffer.from(buffer);
          this.#flush();
        },
        () => {
          // The Blob's data cannot be read, so the data cannot be sent: close the connection,
          // reporting it as a failure (error event, then close with 1006).
          this.#outgoing = [];
          this.#failed = true;
          ws.terminate();
        },
      );
    }
    if (this.#outgoing.length === 0 && message.bytes !== null) this.#transmit(message);
    else this.#outgoing.push(message);
  }

  /**
   * Starts the closing handshake with an optional code (1000 or 3000-4999) and reason (at most
   * 123 bytes of UTF-8). While CONNECTING, fails the connection instead.
   */
  close(code?: number, reason?: string): void {
    // Web IDL conversion: optional [Clamp] unsigned short code, optional USVString reason.
    const codeValue = code === undefined ? undefined : toClampedUnsignedShort(code);
    const reasonValue = reason === undefined ? undefined : toUSVString(reason);

    // WHATWG 'close()' step 1.
    if (codeValue !== undefined && !isValidWebCloseCode(codeValue)) {
      throw new DOMException(
        `Failed to execute 'close' on 'WebSocket': The close code must be either 1000, or between 3000 and 4999. ${codeValue} is neither.`,
        'InvalidAccessError',
      );
    }
    // Step 2.
    let reasonBytes: Buffer | undefined;
    if (reasonValue !== undefined) {
      reasonBytes = Buffer.from(reasonValue, 'utf8');
      if (reasonBytes.byteLength > 123) {
        throw new DOMException(
          `Failed to execute 'close' on 'WebSocket': The close reason must not be greater than 123 UTF-8 bytes (it is ${reasonBytes.byteLength}).`,
          'SyntaxError',
        );
      }
    }
    // Step 3, first matching case.
    const state = this.readyState;
    if (state === CLOSING || state === CLOSED) return; // do nothing

    this.#readyState = CLOSING;
    const ws = this.#ws;
    if (ws === null) return; // already failed; the close task is queued
    if (ws.readyState === CONNECTING) {
      // Not yet established: fail the WebSocket connection.
      this.#failed = true;
      ws.terminate();
      return;
    }
    if (ws.readyState !== OPEN) return; // the closing handshake has already started

    // Start the WebSocket closing handshake. Without a code the Close frame has no body (a
    // reason can only follow a code); the frame goes after every message sent before it.
    const pending: PendingClose = {
      kind: 'close',
      code: codeValue,
      reason: codeValue === undefined ? undefined : reasonBytes,
    };
    if (this.#outgoing.length === 0) this.#transmit(pending);
    else this.#outgoing.push(pending);
  }

  // -------------------------------------------------------------------------------------------
  // Feedback from the protocol
  // -------------------------------------------------------------------------------------------

  #listen(ws: NodeWebSocket): void {
    ws.on('upgrade', (response: { headers: Record<string, string | string[] | undefined> }) => {
      const value = response.headers['sec-websocket-extensions'];
      this.#sawUpgrade = true;
      this.#responseExtensions = Array.isArray(value) ? value.join(', ') : value;
    });

    // When the WebSocket connection is established, queue a task to run these steps.
    ws.on('open', () => {
      this.#established = true;
      this.#queueTask(() => {
        // A close() that ran before this task already moved on; the connection is closing.
        if (this.#readyState !== CONNECTING) return;
        // Step 1.
        this.#readyState = OPEN;
        // Step 2: the extensions in use (the whole response header value, as RFC 6455 defines).
        const extensions = this.#sawUpgrade ? this.#responseExtensions : ws.extensions;
        if (typeof extensions === 'string') this.#extensions = extensions;
        // Step 3: the subprotocol in use.
        if (typeof ws.protocol === 'string') this.#protocol = ws.protocol;
        // Step 4.
        this.dispatchEvent(new Event('open'));
      });
    });

    // When a WebSocket message has been received, queue a task to follow these steps.
    ws.on('message', (data: unknown, isBinary: boolean) => {
      this.#queueTask(() => {
        // Step 1.
        if (this.#readyState !== OPEN) return;
        // Step 2: the data for the event, by type and by binary type as of now.
        let dataForEvent: string | Blob | ArrayBuffer;
        if (!isBinary) dataForEvent = typeof data === 'string' ? data : decodeUtf8(messageBytes(data));
        else if (this.#binaryType === 'blob') dataForEvent = new Blob([messageBytes(data)]);
        else dataForEvent = toArrayBuffer(messageBytes(data));
        // Step 3.
        this.dispatchEvent(new MessageEvent('message', { data: dataForEvent, origin: this.#origin }));
      });
    });

    // Every 'error' of the layer is a case where RFC 6455 requires the client to fail the
    // WebSocket connection (refused, bad handshake, protocol error); 'close' always follows.
    ws.on('error', () => {
      this.#failed = true;
    });

    // When the WebSocket connection is closed, queue a task to run these substeps. A connection
    // that closes before it was established failed (the handshake did not complete), whether or
    // not the layer said so with 'error'.
    ws.on('close', (code: number, reason: Uint8Array) => {
      if (!this.#established) this.#failed = true;
      this.#queueTask(() => this.#connectionClosed(code, reason));
    });
  }

  /** The "handle connection close" steps. */
  #connectionClosed(code: number, reason: Uint8Array): void {
    this.#outgoing = [];
    // Step 1.
    this.#readyState = CLOSED;
    // Step 2. A failed connection never reveals more than 1006 (see the standard's warning).
    let wasClean = code !== 1006;
    if (this.#failed) {
      this.dispatchEvent(new Event('error'));
      code = 1006;
      reason = EMPTY;
      wasClean = false;
    }
    // Step 3.
    this.dispatchEvent(new CloseEvent('close', { wasClean, code, reason: decodeUtf8(reason) }));
  }

  // -------------------------------------------------------------------------------------------
  // Transmission
  // -------------------------------------------------------------------------------------------

  /** Passes the queued items whose bytes are ready to the Node layer, in order. */
  #flush(): void {
    while (this.#outgoing.length > 0) {
      const head = this.#outgoing[0]!;
      if (head.kind === 'message' && head.bytes === null) return; // a Blob is still being read
      this.#outgoing.shift();
      this.#transmit(head);
    }
  }

  #transmit(item: Pending): void {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== OPEN) return; // never sent: stays in bufferedAmount
    if (item.kind === 'close') {
      ws.close(item.code, item.reason);
      return;
    }
    const { size } = item;
    ws.send(item.bytes as Buffer, { binary: item.binary }, (err?: Error | null) => {
      if (!err) this.#didTransmit(size);
    });
  }

  /**
   * bufferedAmount is the value "as of the last time the event loop reached step 1", so bytes
   * written during a task are subtracted in a later task, never within the current one.
   */
  #didTransmit(size: number): void {
    if (this.#transmitted === 0) {
      setImmediate(() => {
        this.#bufferedAmount -= this.#transmitted;
        this.#transmitted = 0;
      });
    }
    this.#transmitted += size;
  }

  /**
   * Queues a task on the WebSocket task source (tasks run in order, one per macrotask). A task
   * counts as pending until it has finished, so that readyState does not turn CLOSING while a
   * task queued before the peer's Close frame is still running.
   */
  #queueTask(steps: () => void): void {
    this.#pendingTasks++;
    setImmediate(() => {
      try {
        steps();
      } finally {
        this.#pendingTasks--;
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Event handler IDL attributes (HTML § 8.1.8.1)
  // -------------------------------------------------------------------------------------------

  #getHandler(type: string): object | null {
    return this.#handlers.get(type)?.value ?? null;
  }

  #setHandler(type: string, value: unknown): void {
    // EventHandler is [LegacyTreatNonObjectAsNull]: a non-object becomes null; an object that is
    // not callable is kept (and returned by the getter) but does nothing when the event fires.
    const handler = (typeof value === 'object' || typeof value === 'function') && value !== null ? value : null;
    const slot = this.#handlers.get(type);
    if (handler === null) {
      // Deactivate: remove the listener, so a later assignment appends a new one at the end.
      if (slot !== undefined) {
        EventTarget.prototype.removeEventListener.call(this, type, slot.listener);
        this.#handlers.delete(type);
      }
      return;
    }
    if (slot !== undefined) {
      // Already active: the listener keeps its place among the others.
      slot.value = handler;
      return;
    }
    // Activate: one listener whose callback runs the event handler processing algorithm.
    const newSlot: EventHandlerSlot = {
      value: handler,
      listener: (event: Event) => {
        const callback = newSlot.value;
        if (typeof callback !== 'function') return;
        const result: unknown = Reflect.apply(callback, event.currentTarget ?? this, [event]);
        if (result === false) event.preventDefault();
      },
    };
    this.#handlers.set(type, newSlot);
    EventTarget.prototype.addEventListener.call(this, type, newSlot.listener);
  }
}

/** (DOMString or sequence<DOMString>) protocols = [], converted as Web IDL does. */
function toProtocolList(protocols: unknown): string[] {
  if (protocols === undefined) return [];
  if ((typeof protocols === 'object' && protocols !== null) || typeof protocols === 'function') {
    const iteratorMethod = (protocols as { [Symbol.iterator]?: unknown })[Symbol.iterator];
    if (iteratorMethod !== undefined && iteratorMethod !== null) {
      if (typeof iteratorMethod !== 'function') {
        throw new TypeError("Failed to construct 'WebSocket': The provided protocols value is not iterable.");
      }
      const list: string[] = [];
      for (const item of protocols as Iterable<unknown>) list.push(toDOMString(item));
      return list;
    }
  }
  return [toDOMString(protocols)];
}

// Web IDL constants: on the interface object and its prototype, read-only and non-configurable.
for (const [name, value] of [['CONNECTING', CONNECTING], ['OPEN', OPEN], ['CLOSING', CLOSING], ['CLOSED', CLOSED]] as const) {
  const desc = { value, writable: false, enumerable: true, configurable: false };
  Object.defineProperty(WebSocket, name, desc);
  Object.defineProperty(WebSocket.prototype, name, desc);
}

// Web IDL 'length': the number of required arguments.
Object.defineProperty(WebSocket, 'length', { value: 1 });
Object.defineProperty(WebSocket.prototype.close, 'length', { value: 0 });

defineInterface(WebSocket, 'WebSocket', [
  'url',
  'readyState',
  'bufferedAmount',
  'onopen',
  'onerror',
  'onclose',
  'extensions',
  'protocol',
  'close',
  'onmessage',
  'binaryType',
  'send',
]);
