/**
 * Per-connection rate limiting of incoming packets.
 *
 * Policy (fixed window, counted per Engine.IO connection, over all its namespaces): in each window
 * of `interval` ms the first `events` packets the client sends (CONNECT, EVENT, DISCONNECT; not
 * ACKs, which answer the server's own emits) are handled. Packets beyond that budget are dropped:
 * their handlers do not run and their acks are never called; the first drop of each window is
 * reported on every server-side socket of the connection as an 'error' event carrying a
 * `RateLimitError` (only if the socket has 'error' listeners, as for `socket.use` errors). A client
 * that keeps going and reaches twice the budget in one window is disconnected: its sockets get
 * 'disconnect' with the reason 'rate limit exceeded' and the connection is closed (the client sees
 * a transport close and, with socket.io-client, reconnects after its backoff).
 */

export interface RateLimitOptions {
  /** Packets allowed per window (default 100). */
  events: number;
  /** Window length in ms (default 1000). */
  interval: number;
}

export const DEFAULT_RATE_LIMIT: Readonly<RateLimitOptions> = Object.freeze({ events: 100, interval: 1000 });

/** Reported on the server-side socket when a packet is dropped for going over the budget. */
export class RateLimitError extends Error {
  override readonly name = 'RateLimitError';
  readonly code = 'RATE_LIMIT';
}

export type RateDecision = 'ok' | 'drop-first' | 'drop' | 'exceeded';

export function checkRateLimitOptions(o: RateLimitOptions): void {
  if (!Number.isSafeInteger(o.events) || o.events < 1) throw new RangeError(`rateLimit.events must be a positive integer, got ${o.events}`);
  if (!Number.isFinite(o.interval) || o.interval <= 0) throw new RangeError(`rateLimit.interval must be a positive number of ms, got ${o.interval}`);
}

export class RateLimiter {
  private windowStart: number;
  private count = 0;

  constructor(
    private readonly options: RateLimitOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.windowStart = now();
  }

  /** Counts one packet and says what to do with it. */
  take(): RateDecision {
    const t = this.now();
    if (t - this.windowStart >= this.options.interval) {
      this.windowStart = t;
      this.count = 0;
    }
    const n = ++this.count;
    const budget = this.options.events;
    if (n <= budget) return 'ok';
    if (n === budget + 1) return 'drop-first';
    return n >= 2 * budget ? 'exceeded' : 'drop';
  }
}
