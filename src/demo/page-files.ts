/**
 * The chat page's HTTP side: index.html, chat.css and chat.js from src/demo/public/ (read once,
 * at start), under a Content-Security-Policy that allows only same-origin scripts, styles and
 * connections. The Socket.IO client script, /socket.io/socket.io.js, is served by the Server.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';

/** The page's files; the same path from src/demo/ (tsx) and from dist/demo/ (npm start). */
const PUBLIC_DIR = new URL('../../src/demo/public/', import.meta.url);

/** Content-Security-Policy of every response: nothing inline, nothing from elsewhere. */
export const CHAT_CSP: string = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': CHAT_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

interface PageFile {
  body: Buffer;
  type: string;
}

function load(name: string, type: string): PageFile {
  return { body: readFileSync(new URL(name, PUBLIC_DIR)), type };
}

/** URL path -> file. */
function loadFiles(): Map<string, PageFile> {
  const index = load('index.html', 'text/html; charset=utf-8');
  return new Map([
    ['/', index],
    ['/index.html', index],
    ['/chat.css', load('chat.css', 'text/css; charset=utf-8')],
    ['/chat.js', load('chat.js', 'text/javascript; charset=utf-8')],
  ]);
}

function plain(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${text}\n`);
}

/** A request listener for the page's files: 404 for other paths, 405 for methods but GET and HEAD. */
export function pageHandler(): http.RequestListener {
  const files = loadFiles();
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const file = files.get(path);
    if (!file) return plain(res, 404, 'Not found');
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method not allowed', { Allow: 'GET, HEAD' });
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': file.type, 'Content-Length': file.body.length });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  };
}
