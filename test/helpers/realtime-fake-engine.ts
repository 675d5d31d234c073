/**
 * A fake Engine.IO server and socket with the shape of src/realtime/engine's, for testing the
 * Socket.IO layer without a network: `connect()` makes a session, `sent` records what the server
 * wrote to it, `receive()` feeds it client messages, `drop(reason)` closes it from the engine's side.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { EngineServerLike, EngineSocketLike } from '../../src/realtime/engine-types.js';

let counter = 0;

export class FakeEngineSocket extends EventEmitter implements EngineSocketLike {
  readonly id = `fake-sid-${++counter}`;
  readonly request: IncomingMessage;
  readyState = 'open';
  writable = true;
  readonly sent: (string | Buffer)[] = [];
  closeCalls = 0;

  constructor(headers: Record<string, string> = {}, url = '/socket.io/?EIO=4&transport=websocket') {
    super();
    this.request = { headers: { host: 'localhost', ...headers }, url, socket: { remoteAddress: '10.0.0.1' } } as unknown as IncomingMessage;
  }

  get transportName(): 'websocket' {
    return 'websocket';
  }

  send(data: string | Buffer): void {
    if (this.readyState !== 'open') throw new Error('send on a closed fake socket');
    this.sent.push(data);
  }

  close(): void {
    this.closeCalls++;
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.emit('close', 'forced close');
  }

  /** A message from the client. */
  receive(data: string | Buffer): void {
    this.emit('message', data);
  }

  /** The engine loses the connection. */
  drop(reason: string, description?: unknown): void {
    this.readyState = 'closed';
    this.emit('close', reason, description);
  }

  /** Sent text messages, and clears the record. */
  take(): (string | Buffer)[] {
    return this.sent.splice(0);
  }
}

export class FakeEngine extends EventEmitter implements EngineServerLike {
  readonly clients = new Map<string, FakeEngineSocket>();
  attached: HttpServer | undefined;
  closed = false;

  attach(server: HttpServer): void {
    this.attached = server;
  }

  close(): void {
    this.closed = true;
    for (const s of this.clients.values()) s.close();
  }

  /** A new session, announced to the Socket.IO layer. */
  connect(headers?: Record<string, string>, url?: string): FakeEngineSocket {
    const s = new FakeEngineSocket(headers, url);
    this.clients.set(s.id, s);
    s.on('close', () => this.clients.delete(s.id));
    this.emit('connection', s);
    return s;
  }
}
