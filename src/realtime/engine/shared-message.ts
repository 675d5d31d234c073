import { PreparedMessage } from '../../node/index.js';

/**
 * A MESSAGE packet written to many sessions (a Socket.IO broadcast). Polling sessions encode its
 * data as usual; WebSocket sessions all write the same frame, built once on first use
 * ("Packet encoding" > "WebSocket": `4<text>` in a text frame, binary data in a binary frame).
 */
export class SharedMessage {
  private _websocket: PreparedMessage | null = null;

  constructor(readonly data: string | Buffer) {}

  /** The WebSocket message of this packet, framed once. */
  get websocket(): PreparedMessage {
    const data = this.data;
    return (this._websocket ??= typeof data === 'string' ? new PreparedMessage('4' + data) : new PreparedMessage(data, { binary: true }));
  }
}
