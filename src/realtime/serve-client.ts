/**
 * Serves the browser bundles of the realtime client (built by scripts/build-client.mjs into
 * dist/browser/) under the server's path, as socket.io does with `serveClient`:
 * `<path>/socket.io.js` (a classic script setting the global `io`), `<path>/socket.io.min.js`
 * (the same file), `<path>/socket.io.esm.min.js` (an ES module) and their `.map` source maps.
 * Responses carry an ETag; a matching If-None-Match gets 304 (RFC 9110 section 13.1.2).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { fileURLToPath } from 'node:url';

/** dist/browser/ of this package: src/realtime/ (run by tsx) and dist/realtime/ both sit two levels below the root. */
export const BUNDLE_DIR = new URL('../../dist/browser/', import.meta.url);

/** Served name -> file in the bundle directory. */
const FILES: ReadonlyMap<string, string> = new Map([
  ['socket.io.js', 'socket.io.js'],
  ['socket.io.js.map', 'socket.io.js.map'],
  ['socket.io.min.js', 'socket.io.js'],
  ['socket.io.min.js.map', 'socket.io.js.map'],
  ['socket.io.esm.min.js', 'socket.io.esm.min.js'],
  ['socket.io.esm.min.js.map', 'socket.io.esm.min.js.map'],
]);

interface Asset {
  body: Buffer;
  etag: string;
}

/** Files read so far, by URL (read once; a failed read is tried again next time). */
const cache = new Map<string, Promise<Asset>>();

function load(file: URL): Promise<Asset> {
  let asset = cache.get(file.href);
  if (asset === undefined) {
    asset = readFile(file).then((body) => ({ body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` }));
    cache.set(file.href, asset);
    asset.catch(() => cache.delete(file.href));
  }
  return asset;
}

/** The bundle name a request path asks for under `path` (no trailing slash), if any. */
function bundleName(url: string | undefined, path: string): string | undefined {
  const u = url ?? '';
  const q = u.indexOf('?');
  const pathname = q === -1 ? u : u.slice(0, q);
  if (!pathname.startsWith(path + '/')) return undefined;
  const name = pathname.slice(path.length + 1);
  return FILES.has(name) ? name : undefined;
}

/** RFC 9110 section 13.1.2: If-None-Match is `*` or a list of entity tags, compared weakly. */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * Answers with the bundle file. A listener added to the server after attachServeClient() (an
 * app's 404, say) is called at once and may answer first: then nothing is written here. A bundle
 * that is not built goes on to `next` (the app's own listeners), or, with none, gets a 404
 * saying how to build it.
 */
function send(req: IncomingMessage, res: ServerResponse, dir: URL, name: string, next: (() => void) | null): void {
  load(new URL(FILES.get(name)!, dir))
    .then(
      ({ body, etag }) => {
        if (res.headersSent || res.writableEnded) return;
        const headers = { ETag: etag, 'Cache-Control': 'public, max-age=0' };
        if (etagMatches(req.headers['if-none-match'], etag)) {
          res.writeHead(304, headers).end();
          return;
        }
        const type = name.endsWith('.map') ? 'application/json' : 'application/javascript';
        res.writeHead(200, { ...headers, 'Content-Type': `${type}; charset=utf-8`, 'Content-Length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: NodeJS.ErrnoException) => {
        const missing = err.code === 'ENOENT';
        if (missing && next !== null) {
          // Out of this chain, so that the app's own errors are not swallowed by the catch below.
          queueMicrotask(next);
          return;
        }
        if (res.headersSent || res.writableEnded) return;
        const text = missing
          ? `${name}: the fullduplex browser client is not built; run \`npm run build\` (it writes ${fileURLToPath(dir)})\n`
          : `${name}: cannot read the fullduplex browser client (${err.code ?? err.message})\n`;
        res.writeHead(missing ? 404 : 500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      },
    )
    // Nothing may escape as an unhandled rejection (it would end the process): drop the response.
    .catch(() => res.destroy());
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Puts the bundles in front of the server's current 'request' listeners: GET and HEAD requests
 * for `<path>/<bundle name>` are answered here, all others go on to those listeners, as do
 * requests for a bundle that is not built (so an app can serve its own). Call it before the
 * Engine.IO server attaches: that one passes on every request not for `<path>` itself. `dir`
 * (a URL ending in '/') is where the bundles are read from.
 */
export function attachServeClient(server: HttpServer | HttpsServer, path: string, dir: URL = BUNDLE_DIR): void {
  const previous = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  const passOn = (req: IncomingMessage, res: ServerResponse): void => {
    for (const listener of previous) listener.call(server, req, res);
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const name = req.method === 'GET' || req.method === 'HEAD' ? bundleName(req.url, path) : undefined;
    if (name === undefined) passOn(req, res);
    else send(req, res, dir, name, previous.length > 0 ? () => passOn(req, res) : null);
  });
}
