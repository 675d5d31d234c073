/**
 * The few checks the conformance cases make, without node:assert (they also run inside the
 * `fullduplex check` command): each throws a CheckFailed whose message says what was expected
 * and what happened.
 */
import { sha256 } from './frames.js';

/** A conformance expectation that did not hold. */
export class CheckFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckFailed';
  }
}

/** Fails the case with `message`. */
export function fail(message: string): never {
  throw new CheckFailed(message);
}

/** Fails the case with `message` unless `condition` holds. */
export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message);
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
}

/** Fails unless `actual` and `expected` are identical (===), or, for plain data, equal as JSON. */
export function checkEqual(actual: unknown, expected: unknown, what: string): void {
  if (actual === expected) return;
  if (typeof actual === 'object' && actual !== null && show(actual) === show(expected)) return;
  throw new CheckFailed(`${what}: got ${show(actual)}, expected ${show(expected)}`);
}

/** Byte-exact comparison that reports sizes and hashes instead of dumping megabytes. */
export function checkSameBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.length === expected.length && actual.equals(expected)) return;
  let i = 0;
  const n = Math.min(actual.length, expected.length);
  while (i < n && actual[i] === expected[i]) i++;
  throw new CheckFailed(
    `${what} differs: got ${actual.length} bytes (sha256 ${sha256(actual).slice(0, 16)}), ` +
      `expected ${expected.length} bytes (sha256 ${sha256(expected).slice(0, 16)}); first difference at byte ${i}`,
  );
}
