/**
 * A Socket.IO client spoken by hand over a raw Engine.IO WebSocket (our `WebSocket`), for the
 * bad-input and fuzz tests: it sends exactly the frames it is given. Engine.IO PINGs are
 * answered; every wait is bounded.
 */
import { WebSocket } from '../../src/index.ts';
import type { Socket } from '../../src/realtime/index.js';
import { within } from './engine-peer.ts';
import { start } from './realtime-harness.js';

const WAIT_MS = 5000;

export class RawSocketIo {
  /** Every message from the server after the OPEN packet, as Engine.IO packets (text) or binary data. */
  readonly received: Array<string | Buffer> = [];
  /** Resolves with the close code once the WebSocket is closed. */
  readonly closed: Promise<number>;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const message = isBinary ? data : data.toString();
      if (message === '2') ws.send('3');
      else this.received.push(message);
      this.wake();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number) => {
        resolve(code);
        this.wake();
      }),
    );
  }

  /** Opens an Engine.IO WebSocket session at `url` (http://host:port) and waits for its OPEN packet. */
  static async open(url: string, path = '/socket.io/'): Promise<RawSocketIo> {
    const client = new RawSocketIo(new WebSocket(`${url.replace('http', 'ws')}${path}?EIO=4&transport=websocket`));
    const open = await client.next((m) => typeof m === 'string' && m.startsWith('0'), 'the OPEN packet');
    client.received.splice(client.received.indexOf(open), 1);
    return client;
  }

  /** Sends Engine.IO frames as they are (strings as text frames, Buffers as binary frames). */
  send(...frames: Array<string | Buffer>): void {
    for (const frame of frames) this.ws.send(frame);
  }

  /** The first received message (already seen or yet to come) that matches, removed from `received`. */
  next(match: (m: string | Buffer) => boolean, what: string): Promise<string | Buffer> {
    return within(
      new Promise<string | Buffer>((resolve, reject) => {
        const check = (): void => {
          const i = this.received.findIndex(match);
          if (i !== -1) {
            this.waiters.delete(check);
            resolve(this.received.splice(i, 1)[0]!);
          } else if (this.ws.readyState === WebSocket.CLOSED) {
            this.waiters.delete(check);
            reject(new Error(`the connection closed while waiting for ${what}`));
          }
        };
        this.waiters.add(check);
        check();
      }),
      WAIT_MS,
      what,
    );
  }

  /** Sends a CONNECT for `nsp` and returns the socket id of the CONNECT answer. */
  async connect(nsp = '/', auth?: unknown): Promise<string> {
    const prefix = nsp === '/' ? '' : `${nsp},`;
    this.send(`40${prefix}${auth === undefined ? '' : JSON.stringify(auth)}`);
    const answer = (await this.next((m) => typeof m === 'string' && m.startsWith(`40${prefix}{`), `CONNECT ${nsp}`)) as string;
    return (JSON.parse(answer.slice(2 + prefix.length)) as { sid: string }).sid;
  }

  /**
   * Emits "echo" with an ack id on the main namespace and waits for the ACK: proof that the
   * server handled every packet sent before it and kept the connection (the server must answer
   * "echo" by calling the ack with its arguments).
   */
  async roundTrip(id: number): Promise<void> {
    this.send(`42${id}["echo",${id}]`);
    await this.next((m) => m === `43${id}[${id}]`, `the ACK of echo ${id}`);
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  close(): Promise<number> {
    this.ws.close();
    return within(this.closed, WAIT_MS, 'the raw client to close');
  }
}

/**
 * A started Socket.IO server (see realtime-harness.ts; stopped by its stopAll) whose sockets answer
 * "echo" by calling the ack, if any, with their arguments; `events` lists every event name received.
 */
export async function echoServer() {
  const started = await start({ transports: ['websocket', 'polling'] });
  const events: string[] = [];
  started.io.on('connection', (s: Socket) => {
    s.onAny((name: string) => events.push(name));
    s.on('echo', (...args: unknown[]) => {
      const ack = args.at(-1);
      if (typeof ack === 'function') ack(...args.slice(0, -1));
    });
  });
  return { ...started, events };
}
