/**
 * Echo / broadcast server on fullduplex: the dist build (`npm run build` first), or the copy
 * of it that bench/run.mjs takes when it starts (FULLDUPLEX_DIST, see common.mjs), so that a
 * rebuild during a long run does not change what is measured.
 */
import { distModule, parseArgs, ready } from './common.mjs';

const { WebSocketServer } = await import(distModule('index.js'));
const { mode, port, host, deflate } = parseArgs();
// --deflate: permessage-deflate with the library's defaults (threshold 1024, context takeover).
const wss = new WebSocketServer({ port, host, ...(deflate ? { perMessageDeflate: true } : {}) });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  if (mode === 'echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else {
    ws.on('message', (data, isBinary) => {
      // Our broadcast API frames the message once for all receivers.
      wss.broadcast(data, { binary: isBinary });
    });
  }
});
wss.on('listening', () => ready(wss.address().port, deflate ? 'deflate=1' : ''));
