/**
 * The HTTP/1.1 side of the opening handshake as the conformance peers see it: reading an HTTP
 * head off a raw socket, header token checks, and Sec-WebSocket-Accept (RFC 6455 section 4).
 */
import { createHash } from 'node:crypto';
import type net from 'node:net';

/** RFC 6455 section 1.3: the GUID appended to Sec-WebSocket-Key. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for a key, RFC 6455 section 4.2.2 step 5.4. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

/** A request or status line, the headers (names lower-cased, repeats joined with ", "), the bytes after. */
export interface HttpHead {
  startLine: string;
  headers: Map<string, string>;
  rest: Buffer;
}

/**
 * Reads an HTTP head (up to CRLF CRLF) from a socket; the socket is left paused with the
 * bytes after the head returned in `rest`.
 */
export function readHttpHead(socket: net.Socket, timeoutMs: number, what: string): Promise<HttpHead> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const fail = (msg: string) => {
      cleanup();
      reject(new Error(msg));
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 16384) fail(`${what}: no end of HTTP head within 16 KiB`);
        return;
      }
      socket.pause();
      cleanup();
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      resolve({ startLine: lines[0] ?? '', headers: headerMap(lines.slice(1)), rest: buf.subarray(end + 4) });
    };
    const onClose = () => fail(`${what}: connection closed before the HTTP head was complete`);
    const onError = (err: Error) => fail(`${what}: socket error ${err.message}`);
    const timer = setTimeout(() => fail(`${what}: timed out after ${timeoutMs} ms`), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}

/** Whether a comma-separated header value holds `token` (case-insensitive). */
export function hasToken(value: string | undefined, token: string): boolean {
  if (!value) return false;
  return value.split(',').some((t) => t.trim().toLowerCase() === token);
}

/** Header lines as a map of lower-case names; repeated fields are joined with ", " (RFC 9110 5.3). */
export function headerMap(lines: readonly string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return headers;
}
