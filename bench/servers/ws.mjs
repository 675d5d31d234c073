/**
 * Echo / broadcast server on the `ws` package. ws uses bufferutil when it is installed,
 * unless WS_NO_BUFFER_UTIL is set; the READY line says which (bufferutil=0|1).
 */
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';
import { parseArgs, ready } from './common.mjs';

const { mode, port, host, deflate } = parseArgs();
// --deflate: permessage-deflate with the library's defaults (threshold 1024, context takeover).
const wss = new WebSocketServer({ port, host, ...(deflate ? { perMessageDeflate: true } : {}) });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  if (mode === 'echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else {
    ws.on('message', (data, isBinary) => {
      for (const client of wss.clients) if (client.readyState === 1) client.send(data, { binary: isBinary });
    });
  }
});
wss.on('listening', () => {
  const cache = createRequire(import.meta.url).cache;
  const native = Object.keys(cache).some((file) => /[\\/]bufferutil[\\/]/.test(file));
  ready(wss.address().port, `bufferutil=${native ? 1 : 0}${deflate ? ' deflate=1' : ''}`);
});
