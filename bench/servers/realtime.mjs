/**
 * Socket.IO event echo / room broadcast server: the same code on either implementation, chosen
 * by REALTIME:
 *   fullduplex  our Server from the dist build (`npm run build` first), or the copy of it that
 *               bench/run.mjs takes when it starts (FULLDUPLEX_DIST, see common.mjs)
 *   socket.io   the socket.io package (Engine.IO on ws, which uses bufferutil when it is
 *               installed, unless WS_NO_BUFFER_UTIL is set; the READY line says which)
 * --mode echo: every 'echo' event is emitted back to its sender. --mode broadcast: every socket
 * joins the room 'room'; a 'broadcast' event goes to every other socket in it.
 */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { distModule, parseArgs, ready } from './common.mjs';

const impl = process.env.REALTIME;
const modules = { fullduplex: distModule('realtime/index.js'), 'socket.io': 'socket.io' };
if (!(impl in modules)) throw new Error(`REALTIME must be fullduplex or socket.io, not ${impl}`);
const { Server } = await import(modules[impl]);
const { mode, port, host, deflate } = parseArgs();
if (deflate) throw new Error('--deflate: the realtime servers run without permessage-deflate');

const http = createServer();
// The same options for both: the WebSocket transport only, no permessage-deflate (socket.io's
// default too), and no per-connection rate limit (fullduplex limits a connection to 100 packets
// per second by default; socket.io has no such limit and ignores the option).
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, rateLimit: false });

io.on('connection', (socket) => {
  if (mode === 'echo') {
    socket.on('echo', (data) => socket.emit('echo', data));
  } else {
    socket.join('room');
    socket.on('broadcast', (data) => socket.to('room').emit('broadcast', data));
  }
});

http.listen(port, host, () => {
  const native = Object.keys(createRequire(import.meta.url).cache).some((file) => /[\\/]bufferutil[\\/]/.test(file));
  ready(http.address().port, `impl=${impl} bufferutil=${native ? 1 : 0}`);
});
