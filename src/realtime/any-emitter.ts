import { Emitter, type Listener } from './emitter.js';

/**
 * An Emitter with socket.io's catch-all listeners, shared by the server-side and client-side
 * Socket: `onAny(fn)` sees every incoming event as `fn(event, ...args)`, `onAnyOutgoing(fn)`
 * every event sent.
 */
export class AnyEmitter extends Emitter {
  private anyListeners: Listener[] | undefined;
  private anyOutgoingListeners: Listener[] | undefined;

  /** Listens to every incoming event: `fn(event, ...args)`. */
  onAny(fn: Listener): this {
    (this.anyListeners ??= []).push(fn);
    return this;
  }

  prependAny(fn: Listener): this {
    (this.anyListeners ??= []).unshift(fn);
    return this;
  }

  /** Removes `fn`, or every catch-all listener when called without one. */
  offAny(fn?: Listener): this {
    this.anyListeners = fn && this.anyListeners ? this.anyListeners.filter((l) => l !== fn) : undefined;
    return this;
  }

  listenersAny(): Listener[] {
    return this.anyListeners?.slice() ?? [];
  }

  /** Listens to every outgoing event: `fn(event, ...args)`. */
  onAnyOutgoing(fn: Listener): this {
    (this.anyOutgoingListeners ??= []).push(fn);
    return this;
  }

  prependAnyOutgoing(fn: Listener): this {
    (this.anyOutgoingListeners ??= []).unshift(fn);
    return this;
  }

  offAnyOutgoing(fn?: Listener): this {
    this.anyOutgoingListeners = fn && this.anyOutgoingListeners ? this.anyOutgoingListeners.filter((l) => l !== fn) : undefined;
    return this;
  }

  listenersAnyOutgoing(): Listener[] {
    return this.anyOutgoingListeners?.slice() ?? [];
  }

  /** Calls the onAny listeners with `[event, ...args]`. */
  protected notifyAny(args: unknown[]): void {
    if (this.anyListeners) for (const l of this.anyListeners.slice()) l.apply(this, args);
  }

  /** Calls the onAnyOutgoing listeners with `[event, ...args]`. */
  protected notifyAnyOutgoing(args: unknown[]): void {
    if (this.anyOutgoingListeners) for (const l of this.anyOutgoingListeners.slice()) l.apply(this, args);
  }
}
