/**
 * Helpers for the realtime tests: bounded waits, an Engine.IO server for the Socket.IO layer,
 * a started Server on 127.0.0.1, and socket.io-client connections that are all closed after
 * each test.
 *
 * Engine: our own src/realtime/engine (what `new Server()` creates by default). With
 * REALTIME_ENGINE=engine.io the `engine.io` dev dependency (the reference Engine.IO v4 server, same
 * shape) is used instead, to tell a Socket.IO-layer bug from an Engine.IO-layer one.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { io as ioc, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import { Server, type ServerOptions } from '../../src/realtime/index.js';
import type { EngineServerLike } from '../../src/realtime/engine-types.js';

export const REFERENCE_ENGINE = process.env.REALTIME_ENGINE === 'engine.io';

/** Resolves with `p`, or rejects naming `what` after `ms`. */
export function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The next `event` on an emitter-like object, as an array of its arguments. */
export function next(
  target: { once(event: string, fn: (...args: any[]) => void): unknown },
  event: string,
  ms = 5000,
): Promise<any[]> {
  return within(new Promise<any[]>((resolve) => target.once(event, (...args: any[]) => resolve(args))), `"${event}"`, ms);
}

/** The reference engine.io server, for REALTIME_ENGINE=engine.io (undefined otherwise: the Server makes its own). */
export async function makeEngine(options: Record<string, unknown> = {}): Promise<EngineServerLike | undefined> {
  if (!REFERENCE_ENGINE) return undefined;
  const path = (options.path as string | undefined) ?? '/socket.io';
  const eio = (await import('engine.io')) as unknown as {
    Server: new (o: Record<string, unknown>) => EngineServerLike & { attach(s: HttpServer, o: Record<string, unknown>): void };
  };
  const engine = new eio.Server(options);
  return {
    on: (event: 'connection', fn: (s: any) => void) => engine.on(event, fn),
    attach: (srv: HttpServer) => engine.attach(srv, { path }),
    close: () => engine.close(),
  };
}

export interface Started {
  io: Server;
  http: HttpServer;
  url: string;
  /** A socket.io-client socket (closed after the test); waits for 'connect' unless `wait` is false. */
  client(nsp?: string, opts?: Partial<ManagerOptions & SocketOptions>, wait?: boolean): Promise<ClientSocket>;
}

const open: { io: Server; clients: ClientSocket[] }[] = [];

/** Starts a Server on 127.0.0.1 (websocket-only clients unless told otherwise). */
export async function start(options: ServerOptions = {}): Promise<Started> {
  const http = createServer();
  const engine = await makeEngine({ pingInterval: 10000, pingTimeout: 5000, ...options });
  const io = engine ? new Server(http, { ...options, engine }) : new Server(http, { pingInterval: 10000, pingTimeout: 5000, ...options });
  await within(new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve)), 'listening');
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const entry = { io, clients: [] as ClientSocket[] };
  open.push(entry);
  return {
    io,
    http,
    url,
    async client(nsp = '/', opts = {}, wait = true) {
      const c = ioc(url + nsp, { transports: ['websocket'], reconnection: false, forceNew: true, ...opts });
      entry.clients.push(c);
      if (wait) await next(c, 'connect');
      return c;
    },
  };
}

/** Closes every client and server started by the test. */
export async function stopAll(): Promise<void> {
  for (const { io, clients } of open.splice(0)) {
    for (const c of clients) {
      c.io.opts.reconnection = false;
      c.disconnect();
      c.io.engine?.close();
    }
    await within(io.close(), 'the server to close');
  }
}
