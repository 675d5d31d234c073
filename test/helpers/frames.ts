import { applyMask, headerSize, writeHeader } from '../../src/protocol/index.ts';

export interface FrameSpec {
  opcode: number;
  payload: Uint8Array;
  fin?: boolean;
  rsv?: number; // bits 0b100 = RSV1, 0b010 = RSV2, 0b001 = RSV3
  /** Masking key as a big-endian 32-bit number. */
  mask?: number | null;
}

/** Encodes one frame with our header writer (and RSV2/RSV3 bits set by hand). */
export function encodeFrame(spec: FrameSpec): Buffer {
  const mask = spec.mask ?? null;
  const size = headerSize(spec.payload.length, mask !== null);
  const out = Buffer.alloc(size + spec.payload.length);
  writeHeader(out, 0, spec.opcode, spec.payload.length, spec.fin ?? true, ((spec.rsv ?? 0) & 4) !== 0, mask);
  out[0]! |= ((spec.rsv ?? 0) & 3) << 4;
  out.set(spec.payload, size);
  if (mask !== null) applyMask(out.subarray(size), mask);
  return out;
}

/** Splits bytes at the given cut points (sorted, deduplicated, within range). */
export function chop(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(bytes.length, c))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    if (p > last) out.push(bytes.subarray(last, p));
    last = p;
  }
  if (last < bytes.length) out.push(bytes.subarray(last));
  return out;
}
