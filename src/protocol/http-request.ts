/**
 * A strict, bounded, incremental parser for an HTTP/1.1 request head (RFC 9112 sections 2-5),
 * enough for the opening handshake: request line, header fields, the empty line. Bytes after
 * the head (the first WebSocket frames) are handed back untouched. Limits on the head's size
 * and number of header lines are checked as bytes arrive, so an oversized request costs at
 * most the limit in memory and is refused with 431 (RFC 6585 section 5).
 */
import { isToken } from './http-tokens.js';

export interface RequestHead {
  method: string;
  /** The request-target as sent (origin-form: path and query). */
  target: string;
  /** "1.1" */
  version: string;
  /** Lower-case names; repeated fields joined with ", " (RFC 9110 section 5.3). No prototype. */
  headers: Record<string, string>;
  /** Names and values as sent, alternating (as Node's `rawHeaders`). */
  rawHeaders: string[];
}

export type HeadResult =
  | { state: 'partial' }
  | { state: 'done'; head: RequestHead; rest: Buffer }
  | { state: 'error'; status: number; message: string };

export interface HeadLimits {
  /** Largest head in bytes, request line included. */
  maxHeaderSize: number;
  /** Most header lines. */
  maxHeaderCount: number;
}

const PARTIAL: HeadResult = { state: 'partial' };
const CRLF_CRLF = Buffer.from('\r\n\r\n');

/** Collects a request head across chunks; feed it with `push()` until it is not partial. */
export class RequestHeadParser {
  /** Bytes of an incomplete head (only when it spans chunks). */
  private buffer: Buffer | null = null;
  private size = 0;
  private readonly limits: HeadLimits;

  constructor(limits: HeadLimits) {
    this.limits = limits;
  }

  push(chunk: Buffer): HeadResult {
    let data = chunk;
    let searchFrom = 0;
    if (this.size > 0) {
      // Append, growing the buffer geometrically; look again from 3 bytes back, for a
      // CRLFCRLF split across chunks.
      searchFrom = this.size - 3;
      const needed = this.size + chunk.length;
      if (this.buffer!.length < needed) {
        const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer!.length * 2));
        this.buffer!.copy(grown, 0, 0, this.size);
        this.buffer = grown;
      }
      chunk.copy(this.buffer!, this.size);
      this.size = needed;
      data = this.buffer!.subarray(0, needed);
    }
    const end = data.indexOf(CRLF_CRLF, Math.max(0, searchFrom));
    if (end === -1) {
      if (data.length > this.limits.maxHeaderSize) return tooLarge('Request header too large');
      if (this.size === 0) {
        this.buffer = Buffer.allocUnsafe(Math.max(1024, chunk.length * 2));
        chunk.copy(this.buffer);
        this.size = chunk.length;
      }
      return PARTIAL;
    }
    if (end + 4 > this.limits.maxHeaderSize) return tooLarge('Request header too large');
    this.buffer = null;
    this.size = 0;
    return parseHead(data.toString('latin1', 0, end), data.subarray(end + 4), this.limits.maxHeaderCount);
  }
}

function tooLarge(message: string): HeadResult {
  return { state: 'error', status: 431, message };
}

function bad(message: string): HeadResult {
  return { state: 'error', status: 400, message };
}

/** Parses the head text (without the final empty line). Linear in its length. */
function parseHead(text: string, rest: Buffer, maxHeaderCount: number): HeadResult {
  const lines = text.split('\r\n');
  // Request line: method SP request-target SP HTTP-version (RFC 9112 section 3).
  const requestLine = lines[0]!;
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 <= sp1 + 1 || requestLine.indexOf(' ', sp2 + 1) !== -1) return bad('Malformed request line');
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const versionText = requestLine.slice(sp2 + 1);
  if (!isToken(method)) return bad('Malformed request method');
  if (!/^HTTP\/\d\.\d$/.test(versionText)) return bad('Malformed HTTP version');
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return bad('Malformed request target');
  }
  if (lines.length - 1 > maxHeaderCount) return tooLarge('Too many header lines');

  const headers: Record<string, string> = Object.create(null);
  const rawHeaders: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    // RFC 9112 section 5: field-name ":" OWS field-value OWS; no whitespace before the colon,
    // no obsolete line folding (a line starting with whitespace).
    if (colon <= 0) return bad('Malformed header line');
    const name = line.slice(0, colon);
    if (!isToken(name)) return bad('Malformed header name');
    const value = trimOws(line, colon + 1);
    for (let j = 0; j < value.length; j++) {
      const c = value.charCodeAt(j);
      if ((c < 0x20 && c !== 0x09) || c === 0x7f) return bad('Malformed header value');
    }
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    const previous = headers[key];
    if (previous === undefined) headers[key] = value;
    // RFC 9112 section 3.2: more than one Host field is a 400.
    else if (key === 'host') return bad('More than one Host header');
    else headers[key] = `${previous}, ${value}`;
  }
  return { state: 'done', head: { method, target, version: versionText.slice(5), headers, rawHeaders }, rest };
}

/** The text from `start`, without leading and trailing spaces and tabs (no regex: linear). */
function trimOws(line: string, start: number): string {
  let a = start;
  let b = line.length;
  while (a < b && (line.charCodeAt(a) === 0x20 || line.charCodeAt(a) === 0x09)) a++;
  while (b > a && (line.charCodeAt(b - 1) === 0x20 || line.charCodeAt(b - 1) === 0x09)) b--;
  return line.slice(a, b);
}
