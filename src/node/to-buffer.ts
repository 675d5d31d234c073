/** Data the send APIs accept as bytes (as in `ws`). */
export type ByteSource = string | Buffer | ArrayBuffer | ArrayBufferView | readonly number[] | number;

/** Converts send() data to bytes without copying where possible. Never uninitialised memory. */
export function toBuffer(data: ByteSource | SharedArrayBuffer): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data);
  if (typeof data === 'number') return Buffer.from(String(data));
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer)) {
    return Buffer.from(data);
  }
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Buffer.from(data);
  throw new TypeError(
    'The data argument must be a string, Buffer, ArrayBuffer, ArrayBufferView, Blob or array of bytes',
  );
}

