/**
 * fullduplex/realtime/client: a Socket.IO v5 client (over Engine.IO v4) with the socket.io-client
 * API, for our server and for the real `socket.io` server.
 *
 *   import { io } from 'fullduplex/realtime/client';
 *   const socket = io('http://localhost:8080/chat', { auth: { token } });
 *   socket.on('connect', () => socket.emit('hello', 'world', (reply) => console.log(reply)));
 */
import { Manager, type ManagerOptions } from './manager.js';
import { Socket, type SocketOptions } from './socket.js';

export { Manager, Backoff, type ManagerOptions } from './manager.js';
export { Socket, type SocketOptions, type DisconnectReason, type ConnectError, type RecoveryFailureReason } from './socket.js';
export { EngineClient, type EngineClientOptions, type TransportName } from './engine.js';

export interface IoOptions extends ManagerOptions, SocketOptions {
  /** A new Manager (a new connection) even when one to the same server exists. */
  forceNew?: boolean;
  /** Share a Manager between namespaces of the same server (default true). */
  multiplex?: boolean;
}

const cache = new Map<string, Manager>();

/** The server URL: `uri` resolved against the page's location in a browser; none means the page's origin. */
function resolveUrl(uri: string | undefined): URL {
  const loc = (globalThis as { location?: { href: string; origin: string } }).location;
  if (uri === undefined) {
    if (!loc) throw new TypeError('io() needs a URL outside a browser');
    return new URL(loc.origin);
  }
  return loc ? new URL(uri, loc.href) : new URL(uri);
}

/** A Socket for the URL's namespace (default '/'), on a shared Manager unless told otherwise. */
export function io(uri?: string | IoOptions, opts: IoOptions = {}): Socket {
  if (typeof uri === 'object') {
    opts = uri;
    uri = undefined;
  }
  const url = resolveUrl(uri);
  const nsp = url.pathname === '' ? '/' : url.pathname;
  const path = opts.path ?? '/socket.io';
  const id = `${url.origin}${path}`;
  const query: Record<string, string> = { ...(opts.query ?? {}) };
  for (const [k, v] of url.searchParams) query[k] = v;
  const base = url.origin;
  const existing = cache.get(id);
  const sameNamespace = existing !== undefined && existing.nsps.has(nsp) && existing.nsps.get(nsp)!.active;
  let manager: Manager;
  if (opts.forceNew || opts.multiplex === false || sameNamespace) {
    manager = new Manager(base, { ...opts, query });
  } else {
    manager = existing ?? new Manager(base, { ...opts, query });
    if (!existing) cache.set(id, manager);
  }
  return manager.socket(nsp, opts);
}

export { io as connect };
export default io;
