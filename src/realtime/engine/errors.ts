import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** The error codes engine.io answers a refused request with (body `{"code":N,"message":"..."}`). */
export const ERROR_CODES = {
  UNKNOWN_TRANSPORT: 0,
  UNKNOWN_SID: 1,
  BAD_HANDSHAKE_METHOD: 2,
  BAD_REQUEST: 3,
  FORBIDDEN: 4,
  UNSUPPORTED_PROTOCOL_VERSION: 5,
} as const;
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export const ERROR_MESSAGES: Record<ErrorCode, string> = {
  0: 'Transport unknown',
  1: 'Session ID unknown',
  2: 'Bad handshake method',
  3: 'Bad request',
  4: 'Forbidden',
  5: 'Unsupported protocol version',
};

/** The HTTP status of an error code: 403 for Forbidden, 400 otherwise (as engine.io). */
export function statusOf(code: ErrorCode): number {
  return code === ERROR_CODES.FORBIDDEN ? 403 : 400;
}

function body(code: ErrorCode, message?: string): string {
  return JSON.stringify({ code, message: message || ERROR_MESSAGES[code] });
}

/**
 * Refuses an HTTP (polling) request. Headers already set on `res` (CORS) are kept. `status`
 * overrides the code's usual one (503 for a server at its `maxSessions`).
 */
export function abortRequest(res: ServerResponse, code: ErrorCode, message?: string, status = statusOf(code)): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body(code, message);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Refuses a WebSocket upgrade request with a plain HTTP response, then drops the connection. */
export function abortUpgrade(socket: Duplex, code: ErrorCode, message?: string, status = statusOf(code)): void {
  if (socket.listenerCount('error') === 0) socket.on('error', () => socket.destroy());
  if (socket.destroyed) return;
  const text = body(code, message);
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}
