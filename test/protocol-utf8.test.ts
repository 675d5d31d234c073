import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Utf8Validator } from '../src/protocol/index.ts';
import { chop } from './helpers/frames.ts';

function validatePieces(pieces: Buffer[]): boolean {
  const v = new Utf8Validator();
  for (const p of pieces) if (!v.push(p)) return false;
  return v.end();
}

describe('incremental UTF-8 validation', () => {
  test('agrees with buffer.isUtf8 on any bytes under any chunking', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.string({ unit: 'binary', maxLength: 30 }).map((s) => new Uint8Array(Buffer.from(s))),
          fc.array(fc.constantFrom(0x41, 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0x9f, 0xa0, 0x8f, 0x90), { maxLength: 12 }).map((a) => new Uint8Array(a)),
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        (bytes, cuts) => {
          const buf = Buffer.from(bytes);
          assert.equal(validatePieces(chop(buf, cuts.map((c) => c % (buf.length + 1)))), isUtf8(buf));
        },
      ),
      { numRuns: 5000 },
    );
  });

  test('fails on the first byte that cannot continue a valid sequence', () => {
    const cases: Array<[number[], number]> = [
      [[0x61, 0x80], 1], // lone continuation
      [[0xc0, 0x80], 0], // overlong lead
      [[0xe0, 0x80], 1], // overlong 3-byte
      [[0xed, 0xa0], 1], // surrogate
      [[0xf4, 0x90], 1], // above U+10FFFF
      [[0xf5], 0], // invalid lead
      [[0xce, 0xba, 0xe1, 0x41], 3], // truncated by ASCII
    ];
    for (const [bytes, badIndex] of cases) {
      const v = new Utf8Validator();
      for (let i = 0; i < bytes.length; i++) {
        const ok = v.push(Buffer.from([bytes[i]!]));
        assert.equal(ok, i < badIndex, `${bytes.map((b) => b.toString(16))} at ${i}`);
        if (!ok) break;
      }
    }
  });

  test('a sequence cut at the end of the message fails at end()', () => {
    const v = new Utf8Validator();
    assert.ok(v.push(Buffer.from([0xf0, 0x9f, 0x98])));
    assert.equal(v.end(), false);
  });
});
