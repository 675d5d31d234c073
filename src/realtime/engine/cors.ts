import type { IncomingMessage, ServerResponse } from 'node:http';

export type OriginCallback = (origin: string | undefined, cb: (err: Error | null, allow?: boolean) => void) => void;

export interface CorsOptions {
  /** As in the `cors` package: a fixed origin, allowed origins (strings and RegExps), `true` (any), or a function. */
  origin?: string | RegExp | Array<string | RegExp> | boolean | OriginCallback;
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
  else if (Array.isArray(origin) || origin instanceof RegExp) {
    const allowed = requestOrigin !== undefined && (Array.isArray(origin) ? origin : [origin]).some((o) => originMatches(o, requestOrigin));
    done(allowed ? requestOrigin : false, true);
  } else {
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

/** The `cors` package's test of one allowed origin: a string matches exactly, a RegExp by test(). */
function originMatches(allowed: string | RegExp, requestOrigin: string): boolean {
  return typeof allowed === 'string' ? allowed === requestOrigin : allowed.test(requestOrigin);
}

/**
 * Whether a WebSocket handshake may proceed, given its Origin. CORS does not apply to
 * WebSocket (RFC 6455 section 10.2 leaves the Origin check to the server), so without this a
 * page on any site could open a connection with the user's cookies (cross-site WebSocket
 * hijacking; socket.io's CVE-2020-28481 class). A request without Origin (not a browser) or
 * from the server's own host passes; another origin passes only if `cors` allows it.
 *
 * The server's own host is the Host header, or, behind a reverse proxy that rewrites Host
 * (nginx's default `proxy_set_header Host $proxy_host`), any X-Forwarded-Host value or
 * Forwarded `host=` (RFC 7239 section 5.3). Trusting those keeps the protection: a page can
 * set no header at all on a WebSocket handshake (the browser's WebSocket API takes only a URL
 * and subprotocols), so a cross-site page's handshake carries the Host it connected to, which
 * a proxy copies into these headers, and the page's own Origin; and a client that can forge
 * headers can forge Origin too, so the check never stopped it.
 */
export function websocketOriginAllowed(options: CorsOptions | null, req: IncomingMessage, cb: (allowed: boolean) => void): void {
  const requestOrigin = req.headers.origin;
  if (requestOrigin === undefined || ownHosts(req).some((host) => sameHost(requestOrigin, host))) {
    cb(true);
    return;
  }
  if (options === null) {
    cb(false);
    return;
  }
  decideOrigin(options, requestOrigin, (allowed) => cb(allowed === '*' || allowed === requestOrigin), () => cb(false));
}

/** The names the client used for this server: Host, X-Forwarded-Host values, Forwarded `host=` values. */
function ownHosts(req: IncomingMessage): string[] {
  const hosts: string[] = [];
  if (req.headers.host !== undefined) hosts.push(req.headers.host);
  // Node joins repeated X-Forwarded-Host and Forwarded headers with ", ".
  const xfh = req.headers['x-forwarded-host'];
  if (typeof xfh === 'string') hosts.push(...xfh.split(',').map((h) => h.trim()));
  const forwarded = req.headers.forwarded;
  if (typeof forwarded === 'string') hosts.push(...forwardedHosts(forwarded));
  return hosts;
}

/**
 * RFC 7239 section 4: `Forwarded: for=192.0.2.43;host=example.com, for=...`, each value a token
 * or a quoted-string. The pairs are read in order, a quoted value whole, so a `host=` inside
 * another parameter's quoted value is not taken.
 */
const FORWARDED_PAIR = /([!#$%&'*+.^_`|~\w-]+)=("(?:[^"\\]|\\.)*"|[^;,"]*)/g;

function forwardedHosts(header: string): string[] {
  const hosts: string[] = [];
  for (const [, name, value] of header.matchAll(FORWARDED_PAIR)) {
    if (name!.toLowerCase() !== 'host') continue;
    hosts.push(value!.startsWith('"') ? value!.slice(1, -1).replace(/\\(.)/g, '$1') : value!);
  }
  return hosts;
}

/** Whether `origin` names `host` (a Host header value; the port may be left out when it is the scheme's default). */
function sameHost(origin: string, host: string): boolean {
  try {
    const url = new URL(origin);
    return new URL(`${url.protocol}//${host}`).host === url.host;
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
