import type { Packet } from './packet.js';
import type { SharedMessage } from './shared-message.js';

/** A packet on its way out, with the per-message option the WebSocket transport honours. */
export interface OutPacket extends Packet {
  compress?: boolean;
  /** The broadcast this MESSAGE belongs to: the WebSocket transport writes its shared frame. */
  shared?: SharedMessage;
}

/** What a transport reports to the session that owns it. */
export interface TransportHost {
  /** A decoded packet from the client. */
  onPacket(packet: Packet): void;
  /** The client broke the rules of the transport or the protocol; the session ends with `reason`. */
  onTransportError(reason: 'transport error' | 'parse error', description: string): void;
  /** The underlying connection is gone, or the client sent a CLOSE packet. */
  onTransportClose(): void;
  /** The transport can take packets again (polling: a GET arrived). */
  onDrain(): void;
}

/** A host that ignores everything: set on a transport its session no longer listens to. */
export const DETACHED: TransportHost = {
  onPacket() {},
  onTransportError() {},
  onTransportClose() {},
  onDrain() {},
};

/** A transport of an Engine.IO session ("Transports" in the protocol document). */
export interface Transport {
  readonly name: 'polling' | 'websocket';
  /** Whether `send()` can write now (polling: only while a GET is waiting). */
  readonly writable: boolean;
  host: TransportHost;
  /** Writes packets; `done` runs once they are handed to the network. */
  send(packets: readonly OutPacket[], done?: () => void): void;
  /**
   * Ends the transport, telling the client. `done` runs when it is finished. Polling sends a
   * CLOSE packet on the waiting GET; with `linger`, when none is waiting, on the next GET
   * (bounded by the transport's linger time), else at once without one.
   */
  close(done?: () => void, linger?: boolean): void;
  /** Drops the transport quietly (the old transport after an upgrade, a failed probe). */
  discard(): void;
}
