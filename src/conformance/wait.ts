/**
 * Bounded waiting: every wait of the conformance peer has a timeout whose error names what
 * was awaited.
 */

/** Generous default for a single wait; the machine is shared and may be slow. */
export const DEFAULT_WAIT_MS = 5000;

/** A wait that ran out of time (the remote check counts consecutive cases that end this way). */
export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Lets the event loop run once (so the peer under test sees each write in its own read). */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Races a promise against a timer; the error (a TimeoutError) names what was awaited. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
