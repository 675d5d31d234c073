import type { IncomingMessage, ServerResponse } from 'node:http';

export type OriginCallback = (origin: string | undefined, cb: (err: Error | null, allow?: boolean) => void) => void;

export interface CorsOptions {
  origin?: string | string[] | boolean | OriginCallback;
  credentials?: boolean;
  methods?: string | string[];
  allowedHeaders?: string | string[];
}

const DEFAULT_METHODS = 'GET,HEAD,PUT,PATCH,POST,DELETE';

/** `cors: true` reflects the request's Origin and allows credentials. */
export function normalizeCors(cors: boolean | CorsOptions | undefined): CorsOptions | null {
  if (cors === undefined || cors === false) return null;
  if (cors === true) return { origin: true, credentials: true };
  return cors;
}

function list(value: string | string[]): string {
  return Array.isArray(value) ? value.join(',') : value;
}

function addVary(res: ServerResponse, field: string): void {
  const current = res.getHeader('Vary');
  if (current === undefined) res.setHeader('Vary', field);
  else if (!String(current).split(/\s*,\s*/).includes(field)) res.setHeader('Vary', `${String(current)}, ${field}`);
}

/**
 * Sets the CORS response headers the way the `cors` package does for engine.io, and answers
 * a preflight (OPTIONS) with 204. Calls `next(handled)`: `handled` is true when the response
 * is already sent (a preflight, or an error of the origin callback).
 */
export function applyCors(
  options: CorsOptions,
  req: IncomingMessage,
  res: ServerResponse,
  next: (handled: boolean) => void,
): void {
  const requestOrigin = req.headers.origin;
  const finish = (allowed: string | false): void => {
    if (res.headersSent || res.destroyed) return;
    if (allowed !== false) res.setHeader('Access-Control-Allow-Origin', allowed);
    if (options.credentials === true) res.setHeader('Access-Control-Allow-Credentials', 'true');
    if (req.method !== 'OPTIONS') {
      next(false);
      return;
    }
    res.setHeader('Access-Control-Allow-Methods', list(options.methods ?? DEFAULT_METHODS));
    if (options.allowedHeaders !== undefined) {
      res.setHeader('Access-Control-Allow-Headers', list(options.allowedHeaders));
    } else {
      const asked = req.headers['access-control-request-headers'];
      if (asked) {
        addVary(res, 'Access-Control-Request-Headers');
        res.setHeader('Access-Control-Allow-Headers', asked);
      }
    }
    res.writeHead(204, { 'Content-Length': 0 });
    res.end();
    next(true);
  };
  const origin = options.origin;
  if (origin === undefined || origin === '*') {
    finish('*');
  } else if (typeof origin === 'string') {
    addVary(res, 'Origin');
    finish(origin);
  } else if (typeof origin === 'boolean') {
    if (origin) addVary(res, 'Origin');
    finish(origin && requestOrigin ? requestOrigin : false);
  } else if (Array.isArray(origin)) {
    addVary(res, 'Origin');
    finish(requestOrigin !== undefined && origin.includes(requestOrigin) ? requestOrigin : false);
  } else {
    let called = false;
    const decide = (err: unknown, allow?: boolean): void => {
      if (called) return;
      called = true;
      if (err) {
        forbid(res);
        next(true);
        return;
      }
      addVary(res, 'Origin');
      finish(allow && requestOrigin ? requestOrigin : false);
    };
    try {
      origin(requestOrigin, decide);
    } catch (error) {
      // A throwing origin function refuses the request; errors from further on are not ours.
      if (called) throw error;
      decide(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

function forbid(res: ServerResponse): void {
  if (res.headersSent) return;
  const text = JSON.stringify({ code: 4, message: 'Forbidden' });
  res.writeHead(403, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
