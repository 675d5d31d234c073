import { Duplex, type DuplexOptions } from 'node:stream';
import type { WebSocket } from './websocket.js';

/**
 * Wraps a WebSocket in a Node Duplex stream (as `ws`'s `createWebSocketStream`): messages
 * become readable chunks, written chunks become messages. Backpressure is real: when the
 * readable side is full the WebSocket is paused, so the socket stops being read.
 */
export function createWebSocketStream(ws: WebSocket, options?: DuplexOptions): Duplex {
  let resumeOnRead = false;
  const duplex: Duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false,
    read() {
      if (resumeOnRead && ws.isPaused) {
        resumeOnRead = false;
        ws.resume();
      }
    },
    write(chunk: Buffer, _encoding, callback) {
      if (ws.readyState === ws.CONNECTING) {
        ws.once('open', () => ws.send(chunk, callback));
        return;
      }
      ws.send(chunk, callback);
    },
    final(callback) {
      if (ws.readyState === ws.CONNECTING) {
        ws.once('open', () => duplex.end());
        callback();
        return;
      }
      if (ws.readyState === ws.CLOSED) {
        callback();
        return;
      }
      ws.once('close', () => callback());
      ws.close();
    },
    destroy(error, callback) {
      if (ws.readyState === ws.CLOSED) {
        callback(error);
        return;
      }
      ws.once('close', () => callback(error));
      ws.terminate();
    },
  });

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const chunk = !isBinary && duplex.readableObjectMode ? data.toString() : data;
    if (!duplex.push(chunk)) {
      resumeOnRead = true;
      ws.pause();
    }
  });
  ws.once('error', (error: Error) => {
    if (!duplex.destroyed) duplex.destroy(error);
  });
  ws.once('close', () => {
    if (!duplex.destroyed) duplex.push(null);
  });
  return duplex;
}
