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
  decideOrigin(options, requestOrigin, (allowed, vary) => {
    if (vary) addVary(res, 'Origin');
    finish(allowed);
  }, () => {
    forbid(res);
    next(true);
  });
}

/**
 * The origin `options.origin` allows for a request from `requestOrigin`, as the `cors` package
 * decides it: '*', the request's origin, a fixed origin, or false. `vary` says whether the
 * answer depends on the request's Origin. A failing (or throwing) origin function calls `fail`.
 */
function decideOrigin(
  options: CorsOptions,
  requestOrigin: string | undefined,
  done: (allowed: string | false, vary: boolean) => void,
  fail: (err: unknown) => void,
): void {
  const origin = options.origin;
  if (origin === undefined || origin === '*') done('*', false);
  else if (typeof origin === 'string') done(origin, true);
  else if (typeof origin === 'boolean') done(origin && requestOrigin ? requestOrigin : false, origin);
  else if (Array.isArray(origin)) done(requestOrigin !== undefined && origin.includes(requestOrigin) ? requestOrigin : false, true);
  else {
    let called = false;
    const decide = (err: unknown, allow?: boolean): void => {
      if (called) return;
      called = true;
      if (err) fail(err);
      else done(allow && requestOrigin ? requestOrigin : false, true);
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

/**
 * Whether a WebSocket handshake may proceed, given its Origin. CORS does not apply to
 * WebSocket (RFC 6455 section 10.2 leaves the Origin check to the server), so without this a
 * page on any site could open a connection with the user's cookies (cross-site WebSocket
 * hijacking; socket.io's CVE-2020-28481 class). A request without Origin (not a browser) or
 * from the server's own host passes; another origin passes only if `cors` allows it.
 */
export function websocketOriginAllowed(options: CorsOptions | null, req: IncomingMessage, cb: (allowed: boolean) => void): void {
  const requestOrigin = req.headers.origin;
  if (requestOrigin === undefined || sameHost(requestOrigin, req.headers.host)) {
    cb(true);
    return;
  }
  if (options === null) {
    cb(false);
    return;
  }
  decideOrigin(options, requestOrigin, (allowed) => cb(allowed === '*' || allowed === requestOrigin), () => cb(false));
}

function sameHost(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

function forbid(res: ServerResponse): void {
  if (res.headersSent) return;
  const text = JSON.stringify({ code: 4, message: 'Forbidden' });
  res.writeHead(403, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
