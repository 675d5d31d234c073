/**
 * The ceiling: a node:net server speaking 4-byte big-endian length-prefixed messages, no
 * masking, no UTF-8 checks, replies corked per read. Each connection is greeted with an empty
 * message (its "handshake", so a client knows it has been accepted). Echo sends every
 * message back to its sender; broadcast frames each message once and writes it to every
 * connected client.
 */
import net from 'node:net';
import { parseArgs, ready } from './common.mjs';

const { mode, port, host } = parseArgs();
const clients = new Set();
const GREETING = Buffer.alloc(4);
const JOIN = 2048; // payloads up to this size are copied next to their header: one buffer per message

function frame(payload) {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

function send(socket, payload) {
  if (payload.length <= JOIN) {
    socket.write(frame(payload));
  } else {
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32BE(payload.length, 0);
    socket.write(header);
    socket.write(payload);
  }
}

function onMessage(socket, payload) {
  if (mode === 'echo') {
    send(socket, payload);
  } else {
    const out = frame(payload);
    for (const client of clients) client.write(out);
  }
}

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.setNoDelay(true);
  clients.add(socket);
  socket.write(GREETING);
  let pending = null; // bytes of an incomplete message (header included)
  let chunks = []; // parts of a large message being gathered
  let have = 0;
  let need = 0; // total bytes (header + payload) of the message being gathered, 0 if none
  socket.on('data', (data) => {
    if (mode === 'echo') socket.cork();
    else for (const client of clients) client.cork();
    let buf = data;
    if (pending !== null) {
      buf = Buffer.concat([pending, data]);
      pending = null;
    }
    let off = 0;
    if (need > 0) {
      const take = Math.min(need - have, buf.length);
      chunks.push(buf.subarray(0, take));
      have += take;
      off = take;
      if (have === need) {
        onMessage(socket, Buffer.concat(chunks, need).subarray(4));
        chunks = [];
        have = need = 0;
      }
    }
    while (need === 0 && off < buf.length) {
      if (buf.length - off < 4) {
        pending = buf.subarray(off);
        break;
      }
      const len = buf.readUInt32BE(off);
      if (buf.length - off >= 4 + len) {
        onMessage(socket, buf.subarray(off + 4, off + 4 + len));
        off += 4 + len;
      } else {
        need = 4 + len;
        chunks = [buf.subarray(off)];
        have = buf.length - off;
        off = buf.length;
      }
    }
    if (mode === 'echo') socket.uncork();
    else for (const client of clients) client.uncork();
  });
  socket.on('error', () => {});
  socket.on('close', () => clients.delete(socket));
});
server.listen(port, host, () => ready(server.address().port));
