/**
 * fullduplex/simple: the nodejs-websocket API (seed 002) over fullduplex's WebSocket.
 *
 *   const ws = require('fullduplex/simple')   // or: import { createServer } from 'fullduplex/simple'
 *   ws.createServer((conn) => {
 *     conn.on('text', (str) => conn.sendText(str.toUpperCase() + '!!!'))
 *   }).listen(8001)
 */
import { connect } from './client.js';
import { Connection } from './connection.js';
import { OutStream } from './out-stream.js';
import { Server, type ServerOptions } from './server.js';
import { setBinaryFragmentation, setMaxBufferLength } from './settings.js';

export type { ConnectOptions } from './client.js';
export type { ConnectionEvents, SendCallback } from './connection.js';
export type { ServerEvents, ServerOptions } from './server.js';

/**
 * Returns a new Server. `options` may set `secure: true` (with TLS key/cert options) for
 * wss://, and `validProtocols` or `selectProtocol` for subprotocols. `callback` is added as a
 * 'connection' listener.
 */
export function createServer(options?: ServerOptions | ((conn: Connection) => void), callback?: (conn: Connection) => void): Server {
  if (typeof options === 'function') return new Server({}, options);
  return new Server(options ?? {}, callback);
}

export { connect, Connection, OutStream, Server, setBinaryFragmentation, setMaxBufferLength };

export default { createServer, connect, setBinaryFragmentation, setMaxBufferLength, Server, Connection, OutStream };
