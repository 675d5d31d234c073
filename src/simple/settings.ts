/**
 * Module-wide settings of the nodejs-websocket API (`ws.setBinaryFragmentation`,
 * `ws.setMaxBufferLength`). They apply to servers and connections created afterwards.
 */

const settings = {
  /** Minimum size of a binary fragment sent by `beginBinary()` streams (512 KiB). */
  binaryFragmentation: 512 * 1024,
  /** Largest message accepted from a peer before closing with 1009 (2 MiB). */
  maxBufferLength: 2 * 1024 * 1024,
};

function checkSize(name: string, bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new RangeError(`${name}: expected a positive integer number of bytes, got ${String(bytes)}`);
  }
  return bytes;
}

/** Sets the minimum size of a pack of binary data sent in a single frame. */
export function setBinaryFragmentation(bytes: number): void {
  settings.binaryFragmentation = checkSize('setBinaryFragmentation', bytes);
}

/** Sets the largest message a peer may send; bigger ones close the connection with 1009. */
export function setMaxBufferLength(bytes: number): void {
  settings.maxBufferLength = checkSize('setMaxBufferLength', bytes);
}

export function binaryFragmentation(): number {
  return settings.binaryFragmentation;
}

export function maxBufferLength(): number {
  return settings.maxBufferLength;
}
