import { frameMessage } from '../protocol/index.js';
import { toBuffer } from './to-buffer.js';

/**
 * A message framed once and sent to many connections (a broadcast): each server-side
 * connection writes the same frame bytes. Connections that cannot (clients, which must mask;
 * connections compressing the message) send its payload the usual way.
 *
 *   const message = new PreparedMessage(JSON.stringify(update));
 *   for (const ws of wss.clients) ws.send(message);
 */
export class PreparedMessage {
  readonly data: Buffer;
  readonly binary: boolean;
  private _frame: Buffer | null = null;

  constructor(data: string | Buffer | ArrayBuffer | ArrayBufferView, options: { binary?: boolean } = {}) {
    this.binary = options.binary ?? typeof data !== 'string';
    this.data = toBuffer(data);
  }

  /** The complete frame (RFC 6455 section 5.2: FIN, opcode, length, unmasked payload). */
  get frame(): Buffer {
    return (this._frame ??= frameMessage(this.data, this.binary));
  }
}
