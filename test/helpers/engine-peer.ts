/**
 * Helpers for the Engine.IO server tests: an http server on loopback with an EngineServer
 * attached, bounded waits, and raw HTTP requests (the polling transport spoken by hand).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EngineServer, type EngineOptions, type EngineSocket } from '../../src/realtime/engine/index.ts';

/** Longest wait for any single event; a test that hits it fails instead of hanging. */
export const WAIT_MS = 5000;

export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Node's EventEmitter or the component-emitter of engine.io-client. */
type Listener = (...args: any[]) => void;
interface Emitter {
  once(event: string, fn: Listener): unknown;
  on(event: string, fn: Listener): unknown;
}

/** The next `event` of an emitter, bounded. */
export function next<T extends unknown[] = unknown[]>(
  emitter: Emitter,
  event: string,
  what = event,
): Promise<T> {
  return within(
    new Promise<T>((resolve) => {
      emitter.once(event, (...args: T) => resolve(args));
    }),
    WAIT_MS,
    what,
  );
}

/** Collects `count` events, bounded. */
export function collect<T = unknown>(emitter: Emitter, event: string, count: number): Promise<T[]> {
  const seen: T[] = [];
  return within(
    new Promise<T[]>((resolve) => {
      emitter.on(event, (arg: T) => {
        seen.push(arg);
        if (seen.length === count) resolve(seen);
      });
    }),
    WAIT_MS,
    `${count} '${event}' events`,
  );
}

export interface EngineTestServer {
  engine: EngineServer;
  http: http.Server;
  /** http://127.0.0.1:port */
  origin: string;
  /** origin + engine path, e.g. http://127.0.0.1:port/socket.io/ */
  base: string;
  /** The next session the engine accepts. */
  nextSession(): Promise<EngineSocket>;
  close(): Promise<void>;
}

export async function startEngine(options: EngineOptions = {}): Promise<EngineTestServer> {
  const server = http.createServer((_req, res) => {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not engine');
  });
  const engine = new EngineServer(options);
  engine.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    engine,
    http: server,
    origin,
    base: `${origin}${engine.path}`,
    nextSession: () => next<[EngineSocket]>(engine, 'connection', 'a new session').then(([s]) => s),
    close: async () => {
      engine.close();
      server.closeAllConnections();
      await within(new Promise<void>((resolve) => server.close(() => resolve())), WAIT_MS, 'the http server to close');
    },
  };
}

/** Runs `fn` with a fresh server, closed afterwards whatever happens. */
export async function withEngine(options: EngineOptions, fn: (s: EngineTestServer) => Promise<void>): Promise<void> {
  const s = await startEngine(options);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP request over a connection of its own (no keep-alive pool to leak between tests).
 * Resolves with the response, or rejects when the connection fails; bounded by WAIT_MS.
 */
export function request(
  url: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; chunks?: Buffer[] } = {},
): Promise<RawResponse> {
  return within(
    new Promise<RawResponse>((resolve, reject) => {
      const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (options.chunks) {
        for (const chunk of options.chunks) req.write(chunk);
        req.end();
      } else {
        req.end(options.body);
      }
    }),
    WAIT_MS,
    `${options.method ?? 'GET'} ${url}`,
  );
}

/** The parsed JSON body of an error answer. */
export function errorOf(res: RawResponse): { code: number; message: string } {
  return JSON.parse(res.body) as { code: number; message: string };
}

/** A polling handshake by hand: returns the sid and the parsed OPEN packet. */
export async function handshake(base: string): Promise<{ sid: string; open: Record<string, unknown> }> {
  const res = await request(`${base}?EIO=4&transport=polling`);
  if (res.status !== 200 || !res.body.startsWith('0')) throw new Error(`handshake failed: ${res.status} ${res.body}`);
  const open = JSON.parse(res.body.slice(1)) as Record<string, unknown>;
  return { sid: String(open.sid), open };
}

export function pollUrl(base: string, sid: string): string {
  return `${base}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
}
