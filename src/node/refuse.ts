import http from 'node:http';
import type { Duplex } from 'node:stream';
import { rejectionResponse } from '../protocol/index.js';

/** Answers an opening handshake with an HTTP error response and closes the connection. */
export function refuseHandshake(
  socket: Duplex,
  status: number,
  message?: string,
  headers?: http.OutgoingHttpHeaders,
): void {
  const statusText = http.STATUS_CODES[status] ?? 'Error';
  const body = message ?? statusText;
  const extra: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value !== undefined) extra[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  if (socket.destroyed) return;
  socket.once('finish', () => socket.destroy());
  socket.end(rejectionResponse(status, statusText, body, extra));
}
