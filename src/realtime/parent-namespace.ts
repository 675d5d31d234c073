/**
 * Dynamic namespaces: `io.of(/^\/room-\d+$/)` or `io.of((name, auth, next) => next(null, ok))`
 * returns a ParentNamespace. When a client asks for a namespace that does not exist yet and a
 * parent matches its name, a child namespace of that name is created: it runs the parent's
 * middlewares (then its own), and its connections are also emitted on the parent. The parent's
 * broadcast operations (emit, to, fetchSockets, ...) span all its children.
 *
 * Local events besides 'connection' / 'connect': 'connection_error' (ChildNamespaceError) when a
 * CONNECT is refused because the parent has `maxChildNamespaces` children (see ServerOptions).
 */
import type { IncomingMessage } from 'node:http';
import { Adapter, type AdapterConstructor, type AdapterSocket, type BroadcastOptions, type Room } from './adapter.js';
import { Namespace } from './namespace.js';
import type { Packet } from './parser.js';
import type { Server } from './server.js';

export type NamespaceMatcher =
  | RegExp
  | ((name: string, auth: Record<string, unknown>, next: (err: Error | null, matches: boolean) => void) => void);

/** What a parent's 'connection_error' listener receives (shaped like the Engine.IO server's). */
export interface ChildNamespaceError {
  /** The HTTP request of the connection that sent the CONNECT. */
  req: IncomingMessage;
  /** The namespace it asked for. */
  nsp: string;
  message: string;
}

let count = 0;

export class ParentNamespace extends Namespace {
  /** The namespaces created from this parent. */
  readonly children = new Set<Namespace>();
  private readonly matcher: NamespaceMatcher;

  constructor(server: Server, matcher: NamespaceMatcher) {
    super(server, `/_${count++}`, ParentAdapter as unknown as AdapterConstructor);
    this.matcher = matcher;
  }

  /** @internal Calls back with whether `name` belongs to this parent. */
  _matches(name: string, auth: Record<string, unknown>, cb: (matches: boolean) => void): void {
    const m = this.matcher;
    if (m instanceof RegExp) {
      m.lastIndex = 0;
      return cb(m.test(name));
    }
    let done = false;
    try {
      m(name, auth, (err, ok) => {
        if (done) return;
        done = true;
        cb(!err && ok === true);
      });
    } catch {
      if (!done) {
        done = true;
        cb(false);
      }
    }
  }
}

/** Broadcasts and remote operations of a parent go to every child's adapter. */
class ParentAdapter extends Adapter {
  private get children(): Set<Namespace> {
    return (this.nsp as unknown as ParentNamespace).children;
  }

  override broadcast(packet: Packet, opts: BroadcastOptions): void {
    for (const child of this.children) child.adapter.broadcast({ ...packet, nsp: child.name }, opts);
  }

  override broadcastWithAck(
    packet: Packet,
    opts: BroadcastOptions,
    clientCountCallback: (count: number) => void,
    ack: (...args: unknown[]) => void,
  ): void {
    let total = 0;
    for (const child of this.children) {
      child.adapter.broadcastWithAck({ ...packet, nsp: child.name }, opts, (n) => (total += n), ack);
    }
    clientCountCallback(total);
  }

  override async sockets(rooms: Set<Room>): Promise<Set<string>> {
    const ids = new Set<string>();
    for (const child of this.children) for (const id of await child.adapter.sockets(rooms)) ids.add(id);
    return ids;
  }

  override async fetchSockets(opts: BroadcastOptions): Promise<AdapterSocket[]> {
    const all: AdapterSocket[] = [];
    for (const child of this.children) all.push(...(await child.adapter.fetchSockets(opts)));
    return all;
  }

  override addSockets(opts: BroadcastOptions, rooms: Room[]): void {
    for (const child of this.children) child.adapter.addSockets(opts, rooms);
  }

  override delSockets(opts: BroadcastOptions, rooms: Room[]): void {
    for (const child of this.children) child.adapter.delSockets(opts, rooms);
  }

  override disconnectSockets(opts: BroadcastOptions, close: boolean): void {
    for (const child of this.children) child.adapter.disconnectSockets(opts, close);
  }
}
