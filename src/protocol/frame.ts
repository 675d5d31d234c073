/**
 * Frame layout, RFC 6455 section 5.2:
 *
 *   FIN(1) RSV1(1) RSV2(1) RSV3(1) opcode(4) | MASK(1) payload len(7) | ext len (0/2/8) | mask key (0/4) | payload
 *
 * The payload length is 0-125 inline, 126 followed by a 16-bit length, or 127 followed by a
 * 64-bit length whose most significant bit must be 0. Lengths use the minimal encoding when
 * we send (section 5.2: "the minimal number of bytes MUST be used").
 */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** Control frames have opcodes with the high bit set (section 5.5). */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** Opcodes RFC 6455 defines; 0x3-0x7 and 0xB-0xF are reserved (section 5.2). */
export function isKnownOpcode(opcode: number): boolean {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa);
}

/** Control frame payloads are at most 125 bytes (section 5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** Size of a frame header for a payload of `length` bytes. */
export function headerSize(length: number, masked: boolean): number {
  const base = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  return masked ? base + 4 : base;
}

/**
 * Writes a frame header into `target` at `offset` and returns its size. With a `maskKey` (a
 * big-endian 32-bit number), the MASK bit is set and the key follows the length (section 5.2).
 */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  opcode: number,
  length: number,
  fin: boolean,
  rsv1: boolean,
  maskKey: number | null,
): number {
  let b0 = opcode;
  if (fin) b0 |= 0x80;
  if (rsv1) b0 |= 0x40;
  target[offset] = b0;
  const maskBit = maskKey === null ? 0 : 0x80;
  let pos = offset + 2;
  if (length < 126) {
    target[offset + 1] = maskBit | length;
  } else if (length < 0x10000) {
    target[offset + 1] = maskBit | 126;
    target[offset + 2] = length >>> 8;
    target[offset + 3] = length & 0xff;
    pos = offset + 4;
  } else {
    target[offset + 1] = maskBit | 127;
    const high = Math.floor(length / 0x100000000);
    const low = length >>> 0;
    target[offset + 2] = high >>> 24;
    target[offset + 3] = (high >>> 16) & 0xff;
    target[offset + 4] = (high >>> 8) & 0xff;
    target[offset + 5] = high & 0xff;
    target[offset + 6] = low >>> 24;
    target[offset + 7] = (low >>> 16) & 0xff;
    target[offset + 8] = (low >>> 8) & 0xff;
    target[offset + 9] = low & 0xff;
    pos = offset + 10;
  }
  if (maskKey !== null) {
    target[pos] = maskKey >>> 24;
    target[pos + 1] = (maskKey >>> 16) & 0xff;
    target[pos + 2] = (maskKey >>> 8) & 0xff;
    target[pos + 3] = maskKey & 0xff;
    pos += 4;
  }
  return pos - offset;
}
