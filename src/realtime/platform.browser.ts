/**
 * The browser twin of platform.ts (same exports; see there): binary data is an ArrayBuffer, as
 * socket.io-client hands it out by default, and WebSocket is the browser's own.
 */
export const WebSocket = globalThis.WebSocket;

/** Binary data as received: an ArrayBuffer. */
export type BinaryData = ArrayBuffer;

/** Any binary value as an ArrayBuffer: the view's own buffer when it spans all of it, else a copy. */
export function toBinary(data: ArrayBuffer | ArrayBufferView): BinaryData {
  if (!ArrayBuffer.isView(data)) return data;
  const { buffer, byteOffset, byteLength } = data;
  if (buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength) return buffer;
  return new Uint8Array(buffer, byteOffset, byteLength).slice().buffer;
}

/** btoa() takes a "binary string"; this many bytes per String.fromCharCode call. */
const CHUNK = 0x8000;

/** Standard base64 with padding. */
export function toBase64(data: BinaryData): string {
  const bytes = new Uint8Array(data);
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}

/** Decodes standard base64 (the caller checks the alphabet). */
export function fromBase64(text: string): BinaryData {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}
