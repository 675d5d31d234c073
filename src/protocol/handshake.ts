import { createHash, randomBytes } from 'node:crypto';
import { type ExtensionOffer, isToken, listHas, parseExtensions, parseProtocolList } from './http-tokens.js';

/** The GUID appended to the key before hashing (RFC 6455 section 1.3). */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The only protocol version RFC 6455 defines (section 4.1, item 9). */
export const WEBSOCKET_VERSION = 13;

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 section 4.1, item 7). */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/** Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)) (RFC 6455 section 4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** Whether a key is the base64 encoding of exactly 16 bytes (22 characters and "=="). */
export function isValidKey(key: string): boolean {
  if (key.length !== 24 || key[22] !== '=' || key[23] !== '=') return false;
  for (let i = 0; i < 22; i++) {
    const c = key.charCodeAt(i);
    const ok =
      (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
    if (!ok) return false;
  }
  // The last character before the padding carries 2 bits of data and 4 zero bits.
  return 'AQgw'.includes(key[21]!);
}

export type HeaderValue = string | string[] | undefined;
/** Request or response headers as Node gives them: lower-case names. */
export type Headers = Record<string, HeaderValue>;

function single(value: HeaderValue): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** What a valid opening handshake request asks for. */
export interface UpgradeRequestInfo {
  key: string;
  /** Subprotocols offered, in order of preference (may be empty). */
  protocols: string[];
  /** Extensions offered, in order (may be empty). */
  extensions: ExtensionOffer[];
  /** The Origin header, if any (RFC 6455 section 4.2.1, item 7; section 10.2). */
  origin: string | undefined;
}

/** A refusal: the HTTP status, a one-line reason, and headers to add to the response. */
export interface HandshakeRejection {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

export type UpgradeRequestCheck = { ok: true; info: UpgradeRequestInfo } | ({ ok: false } & HandshakeRejection);

function reject(status: number, message: string, headers?: Record<string, string>): UpgradeRequestCheck {
  return headers ? { ok: false, status, message, headers } : { ok: false, status, message };
}

/**
 * Validates a client's opening handshake, RFC 6455 section 4.2.1:
 * 1. an HTTP/1.1 or higher GET request; 2. a Host header; 3. Upgrade containing "websocket";
 * 4. Connection containing "Upgrade"; 5. a Sec-WebSocket-Key of 16 base64-encoded bytes;
 * 6. Sec-WebSocket-Version 13, else 426 with the version we speak (section 4.4);
 * 7. Origin passed up; 8-9. subprotocols and extensions parsed.
 */
export function checkUpgradeRequest(method: string, httpVersion: string, headers: Headers): UpgradeRequestCheck {
  if (method !== 'GET') return reject(405, 'Invalid HTTP method: the opening handshake is a GET request');
  const [major, minor] = httpVersion.split('.').map(Number);
  if (!(major! > 1 || (major === 1 && minor! >= 1))) return reject(400, 'The opening handshake needs HTTP/1.1 or later');
  if (!single(headers['host'])) return reject(400, 'Missing Host header');
  if (!listHas(single(headers['upgrade']), 'websocket')) return reject(400, 'Missing or invalid Upgrade header: expected "websocket"');
  if (!listHas(single(headers['connection']), 'upgrade')) return reject(400, 'Missing or invalid Connection header: expected "Upgrade"');

  const version = single(headers['sec-websocket-version']);
  if (version?.trim() !== String(WEBSOCKET_VERSION)) {
    return reject(426, 'Missing or unsupported Sec-WebSocket-Version header: this server speaks version 13', {
      'Sec-WebSocket-Version': String(WEBSOCKET_VERSION),
    });
  }
  const key = single(headers['sec-websocket-key'])?.trim();
  if (key === undefined || !isValidKey(key)) return reject(400, 'Missing or invalid Sec-WebSocket-Key header');

  let protocols: string[] = [];
  const protocolHeader = single(headers['sec-websocket-protocol']);
  if (protocolHeader !== undefined) {
    const parsed = parseProtocolList(protocolHeader);
    if (parsed === null) return reject(400, 'Invalid Sec-WebSocket-Protocol header: expected unique tokens');
    protocols = parsed;
  }
  let extensions: ExtensionOffer[] = [];
  const extensionHeader = single(headers['sec-websocket-extensions']);
  if (extensionHeader !== undefined) {
    const parsed = parseExtensions(extensionHeader);
    if (parsed === null) return reject(400, 'Invalid Sec-WebSocket-Extensions header');
    extensions = parsed;
  }
  return { ok: true, info: { key, protocols, extensions, origin: single(headers['origin']) } };
}

/**
 * The server's 101 response head (RFC 6455 section 4.2.2, item 5) as header lines; the
 * caller may append lines before `serializeResponse`.
 */
export function acceptHeaders(key: string, protocol: string | undefined, extensions: string | undefined): string[] {
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptKey(key)}`,
  ];
  if (protocol !== undefined) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  if (extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
  return lines;
}

/** Joins header lines into a response head ending with the empty line. */
export function serializeResponse(lines: string[]): string {
  return lines.join('\r\n') + '\r\n\r\n';
}

/** A complete HTTP error response that refuses the upgrade and closes the connection. */
export function rejectionResponse(
  status: number,
  statusText: string,
  body: string,
  headers: Record<string, string> = {},
): string {
  const lines = [
    `HTTP/1.1 ${status} ${statusText}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

export type UpgradeResponseCheck =
  | { ok: true; protocol: string; extensions: ExtensionOffer[] }
  | { ok: false; message: string };

/**
 * Validates the server's response, RFC 6455 section 4.1 (client requirements after sending
 * the handshake): status 101; Upgrade "websocket"; Connection "Upgrade"; the expected
 * Sec-WebSocket-Accept; extensions only among those offered; a subprotocol only if it was
 * offered. The status was checked by the caller (anything else is an unexpected response).
 */
export function checkUpgradeResponse(
  headers: Headers,
  key: string,
  offeredProtocols: readonly string[],
  offeredExtensions: readonly string[],
): UpgradeResponseCheck {
  if (!listHas(single(headers['upgrade']), 'websocket')) return { ok: false, message: 'Invalid Upgrade header' };
  if (!listHas(single(headers['connection']), 'upgrade')) return { ok: false, message: 'Invalid Connection header' };
  if (single(headers['sec-websocket-accept'])?.trim() !== acceptKey(key)) {
    return { ok: false, message: 'Invalid Sec-WebSocket-Accept header' };
  }
  let protocol = '';
  const protocolHeader = single(headers['sec-websocket-protocol']);
  if (protocolHeader !== undefined) {
    protocol = protocolHeader.trim();
    if (offeredProtocols.length === 0) return { ok: false, message: 'Server sent a subprotocol but none was requested' };
    if (!isToken(protocol) || !offeredProtocols.includes(protocol)) {
      return { ok: false, message: 'Server sent an invalid subprotocol' };
    }
  } else if (offeredProtocols.length > 0) {
    // RFC 6455 section 4.1 is silent here; browsers (WHATWG "establish a WebSocket
    // connection") and ws fail the connection, and so do we.
    return { ok: false, message: 'Server sent no subprotocol' };
  }
  let extensions: ExtensionOffer[] = [];
  const extensionHeader = single(headers['sec-websocket-extensions']);
  if (extensionHeader !== undefined) {
    const parsed = parseExtensions(extensionHeader);
    if (parsed === null) return { ok: false, message: 'Invalid Sec-WebSocket-Extensions header' };
    for (const ext of parsed) {
      if (!offeredExtensions.includes(ext.name)) {
        return { ok: false, message: `Server indicated an extension that was not requested: ${ext.name}` };
      }
    }
    extensions = parsed;
  }
  return { ok: true, protocol, extensions };
}
