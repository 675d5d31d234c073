/**
 * The browser-style `addEventListener` / `on*` surface the `ws` package offers on its
 * EventEmitter-based WebSocket: listeners get small event objects instead of arguments.
 */
export class WsEvent {
  readonly type: string;
  readonly target: unknown;
  constructor(type: string, target: unknown) {
    this.type = type;
    this.target = target;
  }
}

export class WsMessageEvent extends WsEvent {
  readonly data: unknown;
  constructor(data: unknown, target: unknown) {
    super('message', target);
    this.data = data;
  }
}

export class WsCloseEvent extends WsEvent {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(code: number, reason: string, wasClean: boolean, target: unknown) {
    super('close', target);
    this.code = code;
    this.reason = reason;
    this.wasClean = wasClean;
  }
}

export class WsErrorEvent extends WsEvent {
  readonly error: unknown;
  readonly message: string;
  constructor(error: unknown, target: unknown) {
    super('error', target);
    this.error = error;
    this.message = error instanceof Error ? error.message : String(error);
  }
}

export type EventHandler = ((event: any) => void) | { handleEvent(event: any): void };

interface Emitter {
  on(type: string, listener: (...args: any[]) => void): unknown;
  once(type: string, listener: (...args: any[]) => void): unknown;
  removeListener(type: string, listener: (...args: any[]) => void): unknown;
  listeners(type: string): Function[];
}

const kHandler = Symbol('fullduplex.handler');
const kOnAttribute = Symbol('fullduplex.onAttribute');

type Wrapped = ((...args: any[]) => void) & { [kHandler]?: EventHandler; [kOnAttribute]?: boolean };

function wrap(target: Emitter, type: string, handler: EventHandler): Wrapped | null {
  const call = (event: WsEvent): void => {
    if (typeof handler === 'function') handler.call(target, event);
    else handler.handleEvent(event);
  };
  switch (type) {
    case 'message':
      return (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) =>
        call(new WsMessageEvent(isBinary ? data : String(data), target));
    case 'close':
      return (code: number, reason: Buffer) => {
        const wasClean = (target as { cleanClose?: boolean }).cleanClose === true;
        call(new WsCloseEvent(code, reason.toString(), wasClean, target));
      };
    case 'error':
      return (error: unknown) => call(new WsErrorEvent(error, target));
    case 'open':
      return () => call(new WsEvent('open', target));
    default:
      return null;
  }
}

/** `addEventListener(type, handler, { once })` for 'open', 'message', 'close' and 'error'. */
export function addEventListener(
  this: Emitter,
  type: string,
  handler: EventHandler,
  options: { once?: boolean; [kOnAttribute]?: boolean } = {},
): void {
  for (const listener of this.listeners(type) as Wrapped[]) {
    if (!options[kOnAttribute] && listener[kHandler] === handler && !listener[kOnAttribute]) return;
  }
  const wrapped = wrap(this, type, handler);
  if (wrapped === null) return;
  wrapped[kHandler] = handler;
  wrapped[kOnAttribute] = options[kOnAttribute] === true;
  if (options.once) this.once(type, wrapped);
  else this.on(type, wrapped);
}

export function removeEventListener(this: Emitter, type: string, handler: EventHandler): void {
  for (const listener of this.listeners(type) as Wrapped[]) {
    if (listener[kHandler] === handler && !listener[kOnAttribute]) {
      this.removeListener(type, listener);
      return;
    }
  }
}

/** Defines `onopen`, `onmessage`, `onclose` and `onerror` accessors on a prototype. */
export function defineOnAttributes(proto: object): void {
  for (const type of ['open', 'error', 'close', 'message']) {
    Object.defineProperty(proto, `on${type}`, {
      enumerable: true,
      configurable: true,
      get(this: Emitter) {
        for (const listener of this.listeners(type) as Wrapped[]) {
          if (listener[kOnAttribute]) return listener[kHandler] ?? null;
        }
        return null;
      },
      set(this: Emitter, handler: unknown) {
        for (const listener of this.listeners(type) as Wrapped[]) {
          if (listener[kOnAttribute]) {
            this.removeListener(type, listener);
            break;
          }
        }
        if (typeof handler !== 'function') return;
        addEventListener.call(this, type, handler as EventHandler, { [kOnAttribute]: true });
      },
    });
  }
}
