/**
 * The Engine.IO v4 packet codec, sans-I/O: strings and binary data in, packets out, and back.
 * Binary data is the platform's (../platform.ts: a Buffer in Node, an ArrayBuffer in browsers).
 * Section names refer to the Engine.IO protocol document, 4th version
 * (https://github.com/socketio/engine.io-protocol, "Packet encoding").
 *
 * Nothing here throws on peer input: a malformed packet or payload decodes to `null`.
 */
import { fromBase64, toBase64, type BinaryData } from '../platform.js';

/** "Protocol" > "Packet types": the type id is the packet's first character. */
export const PACKET_TYPES = ['open', 'close', 'ping', 'pong', 'message', 'upgrade', 'noop'] as const;
export type PacketType = (typeof PACKET_TYPES)[number];

export interface Packet {
  type: PacketType;
  /** Text data (every type) or binary data (MESSAGE only). */
  data?: string | BinaryData;
}

/** "Packet encoding" > "HTTP long-polling": packets of a payload are joined by the record separator. */
export const SEPARATOR = '\x1e';

const TYPE_IDS: Record<PacketType, string> = {
  open: '0',
  close: '1',
  ping: '2',
  pong: '3',
  message: '4',
  upgrade: '5',
  noop: '6',
};

/** Standard base64 with padding, as engine.io-client writes it ("b" packets). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Encodes one packet for the WebSocket transport ("Packet encoding" > "WebSocket"): text
 * packets are `<type id><data>`; binary MESSAGE data is sent as is, in a binary frame.
 * With `supportsBinary` false, binary data becomes `b<base64>` (the polling form).
 */
export function encodePacket(packet: Packet, supportsBinary: boolean): string | BinaryData {
  const data = packet.data;
  if (data === undefined) return TYPE_IDS[packet.type];
  if (typeof data === 'string') return TYPE_IDS[packet.type] + data;
  if (packet.type !== 'message') throw new TypeError(`A ${packet.type} packet cannot carry binary data`);
  return supportsBinary ? data : 'b' + toBase64(data);
}

/**
 * Decodes one packet: a binary WebSocket frame is a MESSAGE; a string is `<type id><data>`,
 * or `b<base64>` for binary data carried as text. Returns null when malformed.
 */
export function decodePacket(encoded: string | BinaryData): Packet | null {
  if (typeof encoded !== 'string') return { type: 'message', data: encoded };
  if (encoded.length === 0) return null;
  const first = encoded.charCodeAt(0);
  if (first === 0x62 /* b */) {
    const base64 = encoded.slice(1);
    if (!BASE64.test(base64)) return null;
    return { type: 'message', data: fromBase64(base64) };
  }
  const id = first - 0x30;
  if (id < 0 || id >= PACKET_TYPES.length) return null;
  const type = PACKET_TYPES[id]!;
  if (encoded.length > 1) return { type, data: encoded.slice(1) };
  // A MESSAGE always has data (possibly empty); the others may have none.
  return type === 'message' ? { type, data: '' } : { type };
}

/** Encodes packets as one polling payload ("Packet encoding" > "HTTP long-polling"). */
export function encodePayload(packets: readonly Packet[]): string {
  let out = '';
  for (let i = 0; i < packets.length; i++) {
    if (i > 0) out += SEPARATOR;
    out += encodePacket(packets[i]!, false) as string;
  }
  return out;
}

/**
 * Decodes a polling payload into its packets, or null when any packet is malformed
 * (an empty payload is malformed too: a POST always carries at least one packet).
 */
export function decodePayload(payload: string): Packet[] | null {
  const packets: Packet[] = [];
  let start = 0;
  for (;;) {
    const end = payload.indexOf(SEPARATOR, start);
    const packet = decodePacket(end === -1 ? payload.slice(start) : payload.slice(start, end));
    if (packet === null) return null;
    packets.push(packet);
    if (end === -1) return packets;
    start = end + 1;
  }
}
