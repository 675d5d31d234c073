/**
 * The demo app behind `npm start`: one HTTP server that serves the page at "/" and answers
 * WebSocket messages on "/ws" the way seed 002's server does: text.toUpperCase() + "!!!".
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from '../index.js';
import { PAGE_CSP, PAGE_HTML } from './page.js';

/** The reply to a text message (seed 002). */
export function shout(text: string): string {
  return text.toUpperCase() + '!!!';
}

/** A running demo. */
export interface Demo {
  server: http.Server;
  wss: WebSocketServer;
  port: number;
  /** Closes every WebSocket (1001) and the HTTP server. */
  close(): Promise<void>;
}

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': PAGE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

function handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path !== '/' && path !== '/index.html') {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' });
    res.end('Method not allowed\n');
    return;
  }
  res.writeHead(200, { ...PAGE_HEADERS, 'Content-Length': Buffer.byteLength(PAGE_HTML) });
  res.end(req.method === 'HEAD' ? undefined : PAGE_HTML);
}

/** Starts the demo on `port` (0: any free port) and `host` (default: all interfaces). */
export async function startDemo(port: number, host?: string): Promise<Demo> {
  const server = http.createServer(handleRequest);
  const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 64 * 1024 });
  wss.on('error', () => {}); // listen errors reach the caller through server 'error'
  wss.on('connection', (ws: WebSocket) => {
    ws.on('error', () => {}); // a client's network error only ends that client
    ws.on('message', (data: unknown, isBinary: boolean) => {
      if (isBinary) {
        ws.close(1003, 'this demo speaks text only');
        return;
      }
      ws.send(shout(String(data)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    wss,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const ws of wss.clients ?? []) ws.close(1001, 'demo shutting down');
      wss.close();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
