/**
 * A small listener registry for the Socket.IO-style classes, whose `emit` SENDS to peers: local
 * events (connection, disconnect, received events) go through `emitReserved`, so `emit` is free
 * to mean "send" (as in socket.io).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Listener = (...args: any[]) => void;

export class Emitter {
  private listenerMap = new Map<string, Listener[]>();

  /** Adds a listener for a local event. */
  on(event: string, listener: Listener): this {
    const list = this.listenerMap.get(event);
    if (list) list.push(listener);
    else this.listenerMap.set(event, [listener]);
    return this;
  }

  addListener(event: string, listener: Listener): this {
    return this.on(event, listener);
  }

  /** Adds a listener that is removed after its first call. */
  once(event: string, listener: Listener): this {
    const wrapper: Listener & { listener?: Listener } = (...args) => {
      this.off(event, wrapper);
      listener.apply(this, args);
    };
    wrapper.listener = listener;
    return this.on(event, wrapper);
  }

  /** Removes one listener (the last one added that matches), or all of an event, or all. */
  off(event?: string, listener?: Listener): this {
    if (event === undefined) {
      this.listenerMap.clear();
      return this;
    }
    const list = this.listenerMap.get(event);
    if (!list) return this;
    if (listener === undefined) {
      this.listenerMap.delete(event);
      return this;
    }
    for (let i = list.length - 1; i >= 0; i--) {
      const l = list[i] as Listener & { listener?: Listener };
      if (l === listener || l.listener === listener) {
        list.splice(i, 1);
        break;
      }
    }
    if (list.length === 0) this.listenerMap.delete(event);
    return this;
  }

  removeListener(event: string, listener: Listener): this {
    return this.off(event, listener);
  }

  removeAllListeners(event?: string): this {
    return this.off(event);
  }

  listeners(event: string): Listener[] {
    return (this.listenerMap.get(event) ?? []).slice();
  }

  listenerCount(event: string): number {
    return this.listenerMap.get(event)?.length ?? 0;
  }

  /** Calls the local listeners of `event`. Returns whether there were any. */
  emitReserved(event: string, ...args: unknown[]): boolean {
    const list = this.listenerMap.get(event);
    if (!list) return false;
    for (const l of list.slice()) l.apply(this, args);
    return true;
  }
}
