/**
 * Socket.IO v5 packet encoding (sans-I/O), as in the socket.io-protocol document:
 *
 *   <type>[<attachments>-][<namespace>,][<ack id>][JSON data]  + one binary message per attachment
 *
 * Binary values anywhere in the data (Buffer, ArrayBuffer, typed arrays, DataView) are replaced by
 * `{"_placeholder":true,"num":N}` and sent as separate binary Engine.IO messages ("Packet format" >
 * "Binary packets" of the socket.io-protocol document). Received attachments are the platform's
 * binary type (./platform.ts: Buffer in Node, ArrayBuffer in browsers). The decoder checks
 * the schema of every packet it returns (the socket.io-parser type-confusion advisories,
 * CVE-2022-2421 and CVE-2023-32695): a bad packet is reported as a result, never thrown.
 */
import { toBinary, type BinaryData } from './platform.js';

/** Socket.IO packet types. */
export const PacketType = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export interface Packet {
  type: PacketType;
  /** Namespace, always starting with '/'. */
  nsp: string;
  data?: unknown;
  /** Acknowledgement id, a non-negative safe integer. */
  id?: number;
  /** Number of binary attachments (BINARY_EVENT / BINARY_ACK). */
  attachments?: number;
}

/** Event names a peer may never send: they name the library's own events. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);

/** Default cap on binary attachments per packet (the socket.io-parser CVE-2026-33151 fix value). */
export const DEFAULT_MAX_ATTACHMENTS = 10;

/** What an encoded packet is made of: the text part, then its attachments in order. */
export type EncodedPacket = [string, ...BinaryData[]];

/** True for the binary values the encoder extracts as attachments. */
export function isBinary(value: unknown): value is ArrayBuffer | ArrayBufferView {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

const MAX_DEPTH = 1000;

/**
 * Throws a TypeError on a Blob (or File): its bytes can only be read asynchronously, and JSON
 * would send it as `{}`. Both walks of the data (hasBinary, deconstruct) call it.
 */
function refuseBlob(value: object): void {
  if (typeof Blob !== 'undefined' && value instanceof Blob) {
    throw new TypeError('cannot send a Blob or File: send Blob data as an ArrayBuffer: await blob.arrayBuffer()');
  }
}

/** Whether `value` holds a binary value anywhere (arrays, plain objects, toJSON results); throws on a Blob. */
export function hasBinary(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (isBinary(value)) return true;
  refuseBlob(value);
  if (depth > MAX_DEPTH) return false; // a cycle or absurd nesting: JSON.stringify reports it
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (hasBinary(value[i], depth + 1)) return true;
    return false;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return hasBinary(toJSON.call(value), depth + 1);
  for (const key in value) {
    if (Object.prototype.hasOwnProperty.call(value, key) && hasBinary((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

/** Copies `value` with every binary value replaced by a placeholder, pushed onto `buffers`. */
function deconstruct(value: unknown, buffers: BinaryData[], depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (isBinary(value)) {
    buffers.push(toBinary(value));
    return { _placeholder: true, num: buffers.length - 1 };
  }
  refuseBlob(value);
  if (depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => deconstruct(v, buffers, depth + 1));
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return deconstruct(toJSON.call(value), buffers, depth + 1);
  const out: Record<string, unknown> = {};
  for (const key in value) {
    if (Object.prototype.hasOwnProperty.call(value, key)) out[key] = deconstruct((value as Record<string, unknown>)[key], buffers, depth + 1);
  }
  return out;
}

/**
 * Encodes a packet. EVENT / ACK packets whose data holds binary values become BINARY_EVENT /
 * BINARY_ACK with attachments. Throws (a programming error of the caller) on an invalid namespace
 * or id, data JSON cannot encode (a cycle, a BigInt), or EVENT / ACK data holding a Blob.
 */
export function encode(packet: Packet): EncodedPacket {
  let { type } = packet;
  let data = packet.data;
  const buffers: BinaryData[] = [];
  if ((type === PacketType.EVENT || type === PacketType.ACK) && hasBinary(data)) {
    type = type === PacketType.EVENT ? PacketType.BINARY_EVENT : PacketType.BINARY_ACK;
  }
  if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
    data = deconstruct(data, buffers, 0);
  }
  let str = String(type);
  if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) str += `${buffers.length}-`;
  const nsp = packet.nsp;
  if (typeof nsp !== 'string' || nsp[0] !== '/') throw new TypeError(`namespace must be a string starting with "/", got ${JSON.stringify(nsp)}`);
  if (nsp !== '/') {
    if (nsp.includes(',')) throw new TypeError(`namespace must not contain ",": ${JSON.stringify(nsp)}`);
    str += nsp + ',';
  }
  if (packet.id !== undefined) {
    if (!Number.isSafeInteger(packet.id) || packet.id < 0) throw new TypeError(`ack id must be a non-negative safe integer, got ${packet.id}`);
    str += packet.id;
  }
  if (data !== undefined) str += JSON.stringify(data);
  return [str, ...buffers];
}

/** Why a peer's input was refused. */
export class ParseError extends Error {
  override readonly name = 'ParseError';
}

export type DecodeResult =
  | { readonly kind: 'packet'; readonly packet: Packet }
  | { readonly kind: 'pending' }
  | { readonly kind: 'error'; readonly error: ParseError };

const PENDING: DecodeResult = { kind: 'pending' };

export interface DecoderOptions {
  /** Most binary attachments one packet may announce (default 10). */
  maxAttachments?: number;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Checks a complete packet's data against its type. Returns a reason, or undefined when valid. */
export function checkPacket(p: Packet): string | undefined {
  if (typeof p.nsp !== 'string' || p.nsp[0] !== '/') return 'namespace must start with "/"';
  if (p.id !== undefined && (!Number.isSafeInteger(p.id) || p.id < 0)) return 'invalid ack id';
  switch (p.type) {
    case PacketType.CONNECT:
      if (p.id !== undefined) return 'CONNECT takes no ack id';
      return p.data === undefined || isPlainObject(p.data) ? undefined : 'CONNECT data must be an object';
    case PacketType.DISCONNECT:
      if (p.id !== undefined) return 'DISCONNECT takes no ack id';
      return p.data === undefined ? undefined : 'DISCONNECT takes no data';
    case PacketType.CONNECT_ERROR:
      if (p.id !== undefined) return 'CONNECT_ERROR takes no ack id';
      return typeof p.data === 'string' || isPlainObject(p.data) ? undefined : 'CONNECT_ERROR data must be an object or a string';
    case PacketType.EVENT:
    case PacketType.BINARY_EVENT: {
      const d = p.data;
      if (!Array.isArray(d) || d.length === 0) return 'EVENT data must be a non-empty array';
      if (typeof d[0] !== 'string') return 'EVENT name must be a string';
      if (RESERVED_EVENTS.has(d[0])) return `"${d[0]}" is a reserved event name`;
      return undefined;
    }
    case PacketType.ACK:
    case PacketType.BINARY_ACK:
      if (p.id === undefined) return 'ACK needs an ack id';
      return Array.isArray(p.data) ? undefined : 'ACK data must be an array';
    default:
      return 'unknown packet type';
  }
}

/** Puts the attachments back in place of their placeholders; returns a reason on a bad one. */
function reconstruct(value: unknown, buffers: BinaryData[], used: { bad?: string }, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) {
    used.bad = 'data nested too deeply';
    return value;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reconstruct(value[i], buffers, used, depth + 1);
    return value;
  }
  const obj = value as Record<string, unknown>;
  if (obj._placeholder === true) {
    const num = obj.num;
    if (typeof num !== 'number' || !Number.isInteger(num) || num < 0 || num >= buffers.length) {
      used.bad = 'invalid attachment placeholder';
      return value;
    }
    return buffers[num];
  }
  for (const key of Object.keys(obj)) obj[key] = reconstruct(obj[key], buffers, used, depth + 1);
  return value;
}

const MAX_ID_DIGITS = 16;

/**
 * Incremental decoder: feed it every Engine.IO message (text or binary) in order. Each call returns
 * a complete packet, `pending` (waiting for attachments) or an error; after an error the decoder is
 * unusable and the connection should be closed.
 */
export class Decoder {
  readonly maxAttachments: number;
  private partial: Packet | undefined;
  private buffers: BinaryData[] = [];
  private failed = false;

  constructor(options: DecoderOptions = {}) {
    const max = options.maxAttachments ?? DEFAULT_MAX_ATTACHMENTS;
    if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`maxAttachments must be a non-negative integer, got ${max}`);
    this.maxAttachments = max;
  }

  /** Feeds one Engine.IO message. */
  add(chunk: string | ArrayBuffer | ArrayBufferView): DecodeResult {
    if (this.failed) return this.fail('decoder used after an error');
    if (typeof chunk === 'string') {
      if (this.partial) return this.fail('got a text message while waiting for binary attachments');
      const result = this.decodeString(chunk);
      if (typeof result === 'string') return this.fail(result);
      if (result.attachments) {
        this.partial = result;
        return PENDING;
      }
      return result.attachments === 0 ? this.complete(result, []) : this.finish(result);
    }
    if (!isBinary(chunk)) return this.fail('message is neither text nor binary');
    const partial = this.partial;
    if (!partial) return this.fail('got a binary message with no packet waiting for it');
    this.buffers.push(toBinary(chunk));
    if (this.buffers.length < partial.attachments!) return PENDING;
    const buffers = this.buffers;
    this.partial = undefined;
    this.buffers = [];
    return this.complete(partial, buffers);
  }

  /** Drops a packet waiting for attachments. */
  destroy(): void {
    this.partial = undefined;
    this.buffers = [];
  }

  /** Puts the attachments of a binary packet in place, then checks it. */
  private complete(p: Packet, buffers: BinaryData[]): DecodeResult {
    const used: { bad?: string } = {};
    try {
      p.data = reconstruct(p.data, buffers, used, 0);
    } catch {
      return this.fail('data nested too deeply');
    }
    return used.bad ? this.fail(used.bad) : this.finish(p);
  }

  private finish(p: Packet): DecodeResult {
    const bad = checkPacket(p);
    return bad ? this.fail(bad) : { kind: 'packet', packet: p };
  }

  private fail(reason: string): DecodeResult {
    this.failed = true;
    this.destroy();
    return { kind: 'error', error: new ParseError(`invalid Socket.IO packet: ${reason}`) };
  }

  private decodeString(str: string): Packet | string {
    const type = str.charCodeAt(0) - 48;
    if (!(type >= 0 && type <= 6)) return 'unknown packet type';
    const p: Packet = { type: type as PacketType, nsp: '/' };
    let i = 1;
    if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
      const start = i;
      while (i < str.length && isDigit(str.charCodeAt(i))) i++;
      if (i === start || i - start > 6 || str[i] !== '-') return 'illegal attachments count';
      const n = Number(str.slice(start, i));
      if (n > this.maxAttachments) return `too many attachments (${n} > ${this.maxAttachments})`;
      p.attachments = n;
      i++;
    }
    if (str[i] === '/') {
      const comma = str.indexOf(',', i);
      const end = comma === -1 ? str.length : comma;
      p.nsp = str.slice(i, end);
      i = comma === -1 ? end : end + 1;
    }
    const idStart = i;
    while (i < str.length && isDigit(str.charCodeAt(i))) i++;
    if (i > idStart) {
      if (i - idStart > MAX_ID_DIGITS) return 'ack id too long';
      const id = Number(str.slice(idStart, i));
      if (!Number.isSafeInteger(id)) return 'ack id too large';
      p.id = id;
    }
    if (i < str.length) {
      try {
        p.data = JSON.parse(str.slice(i));
      } catch {
        return 'payload is not valid JSON';
      }
      if (p.data === undefined) return 'payload is not valid JSON';
    }
    return p;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
