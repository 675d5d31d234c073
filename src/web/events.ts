/**
 * Event classes for the WHATWG `WebSocket` (https://websockets.spec.whatwg.org/), plus the
 * few Web IDL conversions that the web layer needs.
 *
 * Node 20 already has global `Event`, `EventTarget`, `MessageEvent` and `DOMException`; it lacks
 * `CloseEvent`, which is defined here. The standard fires a plain `Event` for 'error' (not an
 * `ErrorEvent`), so no `ErrorEvent` is needed.
 */

// ---------------------------------------------------------------------------------------------
// Web IDL conversions (https://webidl.spec.whatwg.org/#es-type-mapping)
// ---------------------------------------------------------------------------------------------

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Web IDL DOMString: ES ToString, which throws a TypeError for a Symbol. */
export function toDOMString(value: unknown): string {
  return typeof value === 'string' ? value : `${value as string}`;
}

/** Web IDL USVString: DOMString, then every lone surrogate replaced with U+FFFD. */
export function toUSVString(value: unknown): string {
  return toDOMString(value).replace(LONE_SURROGATE, '\uFFFD');
}

/** Web IDL unsigned short (no extended attribute): ToNumber, truncate, modulo 2^16. */
export function toUnsignedShort(value: unknown): number {
  const x = +(value as number); // ToNumber: throws a TypeError for a Symbol or a BigInt
  if (!Number.isFinite(x) || x === 0) return 0;
  const n = Math.trunc(x) % 65536;
  return n < 0 ? n + 65536 : n;
}

/** Web IDL [Clamp] unsigned short: ToNumber, clamp to 0..65535, round half to even. */
export function toClampedUnsignedShort(value: unknown): number {
  const x = +(value as number);
  if (Number.isNaN(x)) return 0;
  const c = Math.min(Math.max(x, 0), 65535);
  const f = Math.floor(c);
  const diff = c - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Web IDL dictionary: undefined or null is an empty dictionary; any other non-object throws. */
function toDictionary(value: unknown, name: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' && typeof value !== 'function') {
    throw new TypeError(`The provided value is not of type '${name}': expected an object.`);
  }
  return value as Record<string, unknown>;
}

/**
 * Make accessors and methods of a Web IDL interface prototype enumerable, as Web IDL defines
 * them (class syntax makes them non-enumerable), and set its `Symbol.toStringTag`.
 */
export function defineInterface(ctor: { prototype: object }, name: string, members: string[]): void {
  const proto = ctor.prototype;
  for (const key of members) {
    const desc = Object.getOwnPropertyDescriptor(proto, key);
    if (desc) Object.defineProperty(proto, key, { ...desc, enumerable: true });
  }
  Object.defineProperty(proto, Symbol.toStringTag, {
    value: name,
    writable: false,
    enumerable: false,
    configurable: true,
  });
}

// ---------------------------------------------------------------------------------------------
// CloseEvent (WebSockets Standard § "The CloseEvent interface")
// ---------------------------------------------------------------------------------------------

/** DOM `EventInit` (not exported as a global type by @types/node). */
export interface EventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
}

/** `CloseEventInit : EventInit { boolean wasClean = false; unsigned short code = 0; USVString reason = ""; }` */
export interface CloseEventInit extends EventInit {
  wasClean?: boolean;
  code?: number;
  reason?: string;
}

/** The event fired at a `WebSocket` when its connection is closed. */
class CloseEventImpl extends Event {
  readonly #wasClean: boolean;
  readonly #code: number;
  readonly #reason: string;

  /** `constructor(DOMString type, optional CloseEventInit eventInitDict = {})` */
  constructor(type: string, eventInitDict?: CloseEventInit) {
    if (arguments.length === 0) {
      throw new TypeError("Failed to construct 'CloseEvent': 1 argument required, but only 0 present.");
    }
    const typeString = toDOMString(type);
    const dict = toDictionary(eventInitDict, 'CloseEventInit');
    // The inherited EventInit members (bubbles, cancelable, composed) are read by Event.
    super(typeString, dict as EventInit | undefined);
    // Own members, read in lexicographic order as Web IDL requires: code, reason, wasClean.
    const code = dict?.code;
    const reason = dict?.reason;
    const wasClean = dict?.wasClean;
    this.#code = code === undefined ? 0 : toUnsignedShort(code);
    this.#reason = reason === undefined ? '' : toUSVString(reason);
    this.#wasClean = wasClean === undefined ? false : Boolean(wasClean);
  }

  /** True if the connection closed cleanly (the closing handshake completed). */
  get wasClean(): boolean {
    return this.#wasClean;
  }

  /** The WebSocket connection close code. */
  get code(): number {
    return this.#code;
  }

  /** The WebSocket connection close reason. */
  get reason(): string {
    return this.#reason;
  }
}

defineInterface(CloseEventImpl, 'CloseEvent', ['wasClean', 'code', 'reason']);
Object.defineProperty(CloseEventImpl, 'name', { value: 'CloseEvent' });
Object.defineProperty(CloseEventImpl, 'length', { value: 1 }); // Web IDL: one required argument

/** The type of a `CloseEvent` instance. */
export type CloseEvent = CloseEventImpl;

/**
 * `CloseEvent`. Where the runtime already has a global `CloseEvent` (Node >= 23), that one is
 * used, so that `event instanceof CloseEvent` holds in isomorphic code written against the global.
 */
export const CloseEvent: typeof CloseEventImpl =
  ((globalThis as { CloseEvent?: typeof CloseEventImpl }).CloseEvent as typeof CloseEventImpl | undefined) ??
  CloseEventImpl;
