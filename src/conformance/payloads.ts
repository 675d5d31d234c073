/**
 * Payloads and frame plans for the conformance cases: valid UTF-8 of any length, random
 * binary, a message cut into fragments, and chop plans for writing a frame a byte at a time.
 */
import { randomBytes } from 'node:crypto';
import { hex, OP, splitSizes, type FrameSpec } from './frames.js';

/** "κόσμε" in UTF-8 (Markus Kuhn's test word, used throughout Autobahn 6.x). */
export const KOSME: Buffer = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');

const TEXT_PATTERN = 'Hello κόσμε ✓ 中文 😀 𝄞 ßöä €-';

/** Valid UTF-8 of exactly `length` bytes mixing 1- to 4-byte characters. */
export function utf8Text(length: number): Buffer {
  const unit = Buffer.from(TEXT_PATTERN, 'utf8');
  const out = Buffer.allocUnsafe(length);
  let off = 0;
  while (off + unit.length <= length) {
    unit.copy(out, off);
    off += unit.length;
  }
  out.fill(0x2a, off); // '*' pads the tail
  return out;
}

/** `length` random bytes. */
export function binaryData(length: number): Buffer {
  return randomBytes(length);
}

/** Frames of one message: first frame `opcode`, the rest continuation, each of `size` bytes. */
export function fragments(opcode: number, data: Buffer, size: number | readonly number[]): FrameSpec[] {
  const sizes = splitSizes(data.length, typeof size === 'number' ? [size] : size);
  if (sizes.length === 0) return [{ opcode, payload: data, fin: true }];
  const out: FrameSpec[] = [];
  let off = 0;
  sizes.forEach((s, i) => {
    out.push({ opcode: i === 0 ? opcode : OP.CONT, payload: data.subarray(off, off + s), fin: i === sizes.length - 1 });
    off += s;
  });
  return out;
}

/** Frames from explicit payload pieces: text/binary first, continuation after. */
export function pieces(opcode: number, parts: ReadonlyArray<Uint8Array | string>): FrameSpec[] {
  return parts.map((p, i) => ({ opcode: i === 0 ? opcode : OP.CONT, payload: p, fin: i === parts.length - 1 }));
}

/**
 * Chop plan for "octet-wise" writes of a frame of `total` bytes: every byte in its own write
 * for the whole frame when it is small, otherwise for the first `head` bytes (header, masking
 * key and the start of the payload, where parser state changes), then odd-sized 997-byte chops
 * so the rest still arrives split at shifting offsets. Keeps 64 KiB frames under a second.
 */
export function octetWisePlan(total: number, head = 2048): number[] {
  if (total <= head) return [1];
  return [...new Array<number>(head).fill(1), 997];
}

