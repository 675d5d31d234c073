import { WebSocket } from '../../node/index.js';
import { decodePacket, encodePacket } from './packet.js';
import { DETACHED, type OutPacket, type Transport, type TransportHost } from './transport.js';

const NOOP = (): void => {};
const COMPRESS = Object.freeze({ compress: true });
const NO_COMPRESS = Object.freeze({ compress: false });

/**
 * The WebSocket transport ("Transports" > "WebSocket"): one packet per WebSocket message,
 * text packets in text frames, binary MESSAGE data as binary frames ("Packet encoding" >
 * "WebSocket"). maxHttpBufferSize is the WebSocketServer's maxPayload.
 */
export class WebSocketTransport implements Transport {
  readonly name = 'websocket' as const;
  host: TransportHost = DETACHED;
  private _onClosed: (() => void) | null = null;
  private _ended = false;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this._ended) return;
      const packet = decodePacket(isBinary ? data : data.toString('utf8'));
      if (packet === null) this.host.onTransportError('parse error', 'malformed packet');
      else this.host.onPacket(packet);
    });
    // A transport error (or maxPayload exceeded): 'close' follows.
    ws.on('error', NOOP);
    ws.on('close', () => {
      const wasEnded = this._ended;
      this._ended = true;
      const done = this._onClosed;
      this._onClosed = null;
      if (done !== null) done();
      else if (!wasEnded) this.host.onTransportClose();
    });
  }

  get writable(): boolean {
    return !this._ended && this.ws.readyState === WebSocket.OPEN;
  }

  send(packets: readonly OutPacket[], done?: () => void): void {
    const last = packets.length - 1;
    for (let i = 0; i <= last; i++) {
      const packet = packets[i]!;
      const message = packet.shared !== undefined ? packet.shared.websocket : encodePacket(packet, true);
      // The callback gets an error if the connection is gone; the packet is lost either way.
      this.ws.send(message, packet.compress === false ? NO_COMPRESS : COMPRESS, i === last && done ? () => done() : undefined);
    }
  }

  close(done: () => void = NOOP): void {
    if (this.ws.readyState === WebSocket.CLOSED) {
      this._ended = true;
      done();
      return;
    }
    this._onClosed = done;
    this.ws.close();
  }

  discard(): void {
    this._ended = true;
    this.ws.close();
  }
}
