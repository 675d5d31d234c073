/**
 * What differs between Node and browsers for the realtime client and the codecs it shares with
 * the server: the type binary data is handed out as, base64 (Engine.IO "b" packets) and the
 * WebSocket class. This is the Node side; platform.browser.ts is its browser twin, with the same
 * exports, swapped in when scripts/build-client.mjs bundles the client.
 */
export { WebSocket } from '../web/index.js';

/** Binary data as received: a Buffer in Node, as socket.io and socket.io-client hand it out. */
export type BinaryData = Buffer;

/** Any binary value as BinaryData, over the same memory (no copy). */
export function toBinary(data: ArrayBuffer | ArrayBufferView): BinaryData {
  if (Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** Standard base64 with padding. */
export function toBase64(data: BinaryData): string {
  return data.toString('base64');
}

/** Decodes standard base64 (the caller checks the alphabet). */
export function fromBase64(text: string): BinaryData {
  return Buffer.from(text, 'base64');
}
