/**
 * The shape of the Engine.IO server this layer stands on (src/realtime/engine), written as
 * structural interfaces so the Socket.IO layer can be tested with any object of that shape.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';

/** One Engine.IO connection. Emits 'message' (data) and 'close' (reason, description?). */
export interface EngineSocketLike {
  readonly id: string;
  readonly request: IncomingMessage;
  readonly readyState: string;
  /** False while the transport cannot take a packet right now (used by volatile emits), if known. */
  readonly writable?: boolean;
  send(data: string | Buffer, options?: { compress?: boolean }, cb?: () => void): void;
  close(): void;
  on(event: 'message', listener: (data: string | Buffer) => void): unknown;
  on(event: 'close', listener: (reason: string, description?: unknown) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** The Engine.IO server. Emits 'connection' (socket). */
export interface EngineServerLike {
  on(event: 'connection', listener: (socket: EngineSocketLike) => void): unknown;
  attach(server: HttpServer): void;
  close(): void;
}
