import { isUtf8 } from 'node:buffer';

/**
 * UTF-8 validation (RFC 3629, as RFC 6455 section 8.1 requires for text messages).
 *
 * A whole message is checked at once with `buffer.isUtf8` (native, SIMD). A message that
 * arrives in pieces (fragments, or one frame split across reads) is checked piece by piece
 * with `Utf8Validator`, so a bad byte fails the connection as soon as it arrives
 * (the "fail fast" behaviour Autobahn case group 6.4 tests).
 */
export { isUtf8 };

/** Number of bytes in the sequence started by `lead`, or 0 if `lead` cannot start one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0; // 0x80-0xC1 (continuation or overlong lead) and 0xF5-0xFF
}

/**
 * Whether `second` may follow `lead` (RFC 3629 section 4: the bounds on the second byte
 * exclude overlong forms, UTF-16 surrogates and code points above U+10FFFF).
 */
function validSecond(lead: number, second: number): boolean {
  switch (lead) {
    case 0xe0:
      return second >= 0xa0 && second <= 0xbf;
    case 0xed:
      return second >= 0x80 && second <= 0x9f;
    case 0xf0:
      return second >= 0x90 && second <= 0xbf;
    case 0xf4:
      return second >= 0x80 && second <= 0x8f;
    default:
      return second >= 0x80 && second <= 0xbf;
  }
}

/** Validates UTF-8 delivered in pieces; a sequence may straddle pieces. */
export class Utf8Validator {
  /** Bytes of an incomplete sequence carried over from the previous piece. */
  private readonly carry = new Uint8Array(4);
  private carried = 0;
  private needed = 0;

  reset(): void {
    this.carried = 0;
    this.needed = 0;
  }

  /** Feeds the next piece. Returns false as soon as the input cannot be valid UTF-8. */
  push(piece: Uint8Array): boolean {
    let start = 0;
    if (this.carried > 0) {
      // Complete the sequence begun in an earlier piece, one byte at a time.
      while (this.carried < this.needed && start < piece.length) {
        if (!this.acceptNext(piece[start]!)) return false;
        start++;
      }
      if (this.carried < this.needed) return true; // still incomplete, but a valid prefix
      this.carried = 0;
      this.needed = 0;
    }
    const end = piece.length;
    if (start === end) return true;

    // Find where a trailing incomplete sequence (at most 3 bytes) begins.
    let tail = end;
    for (let i = end - 1; i >= start && i >= end - 3; i--) {
      const b = piece[i]!;
      if ((b & 0xc0) !== 0x80) {
        const len = sequenceLength(b);
        if (len > end - i) tail = i;
        break;
      }
    }
    if (!isUtf8(piece.subarray(start, tail))) return false;
    for (let i = tail; i < end; i++) {
      if (!this.acceptNext(piece[i]!)) return false;
    }
    return true;
  }

  /** Whether the input ended on a sequence boundary. */
  end(): boolean {
    const ok = this.carried === 0;
    this.reset();
    return ok;
  }

  /** Appends one byte of an incomplete sequence, checking it is still a valid prefix. */
  private acceptNext(b: number): boolean {
    if (this.carried === 0) {
      const len = sequenceLength(b);
      if (len < 2) return false; // only ever called for the start of a multi-byte sequence
      this.needed = len;
    } else if (this.carried === 1) {
      if (!validSecond(this.carry[0]!, b)) return false;
    } else if ((b & 0xc0) !== 0x80) {
      return false;
    }
    this.carry[this.carried++] = b;
    return true;
  }
}
