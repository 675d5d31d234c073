/**
 * Servers for the realtime client tests: our fullduplex/realtime Server or the real `socket.io`
 * 4.8 server, on 127.0.0.1, with every client made through `client()` and every TCP connection
 * tracked so that `dropAll()` can cut them (a dropped transport) and `stopAll()` closes everything.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { Server as SioServer } from 'socket.io';
import { Server } from '../../src/realtime/index.js';
import { io as ioClient, type IoOptions, type Socket } from '../../src/realtime/client/index.js';
import { within } from './realtime-harness.js';

export type ServerKind = 'fullduplex' | 'socket.io';
export const SERVER_KINDS: ServerKind[] = ['fullduplex', 'socket.io'];

export interface ClientStarted {
  /** The server (both kinds share the API the tests use). */
  io: any;
  http: HttpServer;
  url: string;
  /** Our client for `nsp` (closed after the test); waits for 'connect' unless `wait` is false. */
  client(nsp?: string, opts?: IoOptions, wait?: boolean): Promise<Socket>;
  /** Destroys every TCP connection the server holds: the client's transport drops. */
  dropAll(): void;
}

interface Open {
  io: any;
  clients: Socket[];
  conns: Set<NetSocket>;
}
const open: Open[] = [];

export async function startServer(kind: ServerKind, options: Record<string, unknown> = {}): Promise<ClientStarted> {
  const http = createServer();
  const conns = new Set<NetSocket>();
  http.on('connection', (c: NetSocket) => {
    conns.add(c);
    c.on('close', () => conns.delete(c));
  });
  const opts = { pingInterval: 10000, pingTimeout: 5000, ...options };
  const io: any = kind === 'fullduplex' ? new Server(http, opts) : new SioServer(http, opts);
  await within(new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve)), 'listening');
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const entry: Open = { io, clients: [], conns };
  open.push(entry);
  return {
    io,
    http,
    url,
    async client(nsp = '/', copts = {}, wait = true) {
      const c = ioClient(url + nsp, { reconnection: false, forceNew: true, ...copts });
      entry.clients.push(c);
      if (wait) {
        await within(
          new Promise<void>((resolve, reject) => {
            c.once('connect', () => resolve());
            c.once('connect_error', (err: Error) => reject(err));
          }),
          `connect to ${nsp}`,
        );
      }
      return c;
    },
    dropAll() {
      for (const c of conns) c.destroy();
    },
  };
}

/** Closes every client and server started by the test. */
export async function stopAll(): Promise<void> {
  for (const { io, clients, conns } of open.splice(0)) {
    for (const c of clients) {
      c.io.reconnection(false);
      c.disconnect();
      c.io.disconnect();
    }
    const closed = new Promise<void>((resolve) => io.close(() => resolve()));
    for (const c of conns) c.destroy();
    await within(closed, 'the server to close');
  }
}
