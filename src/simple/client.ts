/**
 * connect(): a client Connection in the nodejs-websocket style, over our ws-compatible WebSocket.
 */
import type { ConnectionOptions } from 'node:tls';
import { WebSocket } from '../index.js';
import { Connection } from './connection.js';
import { maxBufferLength } from './settings.js';

/** Options of `connect()`: handshake extras plus the usual TLS options for wss:// URLs. */
export interface ConnectOptions
  extends Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'rejectUnauthorized' | 'servername'> {
  /** More headers for the HTTP handshake request. */
  extraHeaders?: Record<string, string>;
  /** Subprotocols to request, most preferred first. */
  protocols?: string[];
}

/**
 * Opens a client connection to `url` ("ws://host[:port]/path" or "wss://..."). `callback` is
 * added as a 'connect' listener. A malformed URL throws a SyntaxError.
 */
export function connect(url: string | URL, options?: ConnectOptions | (() => void), callback?: () => void): Connection {
  if (typeof options === 'function') {
    callback = options;
    options = undefined;
  }
  const { extraHeaders, protocols = [], ...tls } = options ?? {};
  const ws = new WebSocket(url, protocols, {
    ...tls,
    headers: extraHeaders,
    maxPayload: maxBufferLength(),
    perMessageDeflate: false,
  });
  const parsed = new URL(url);
  const conn = new Connection({
    server: null,
    path: parsed.pathname + parsed.search,
    headers: {},
    protocols: [...protocols],
    socket: null,
  });
  conn.attach(ws);
  if (callback) conn.once('connect', callback);
  return conn;
}
