/**
 * The conformance peer as a client: opens TCP (or TLS for wss://), sends a valid HTTP/1.1
 * upgrade request (RFC 6455 section 4.1), checks the server's answer (section 4.1, "the client
 * MUST validate the server's response", and 4.2.2) and hands back a RawConnection whose
 * frames are masked by default. No extension and no subprotocol is offered, so the server may
 * pick none.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { acceptFor, hasToken, readHttpHead } from './handshake.js';
import { printable } from './printable.js';
import { RawConnection } from './raw-connection.js';
import { DEFAULT_WAIT_MS, withTimeout } from './wait.js';

export interface RawClientOptions {
  /** Request target when `target` is a port number; default "/". */
  path?: string;
  /** Bound on the TCP/TLS connect and on the handshake response; default DEFAULT_WAIT_MS. */
  timeoutMs?: number;
  /** Extra request headers (Host, if given, replaces the default). */
  headers?: Readonly<Record<string, string>>;
  /** wss:// only: accept any certificate (default false). */
  insecure?: boolean;
  /** Bound on what the connection holds of what the server sent (RawConnectionOptions.maxBytes). */
  maxBytes?: number;
}

/** A header field name (RFC 9110 5.1: a token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Control characters a header value may not hold (RFC 9110 5.5: HTAB is the only one allowed). */
const VALUE_CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * Why a request header cannot be sent as given (a name that is not a token, a value with a
 * line break or another control character, a header the handshake sets itself), or undefined.
 */
export function headerProblem(name: string, value: string): string | undefined {
  if (!TOKEN.test(name)) return `header name "${printable(name)}" is not a token`;
  if (VALUE_CONTROL.test(value)) return `header ${name} holds a control character (line breaks included) in "${printable(value)}"`;
  if (HANDSHAKE_HEADERS.includes(name.toLowerCase())) return `header ${name} is set by the handshake and cannot be replaced`;
  return undefined;
}

/** Headers the handshake itself sets; a caller may not replace them. */
export const HANDSHAKE_HEADERS: readonly string[] = [
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
];

/**
 * Connects to `target` (a ws:// or wss:// URL, or a port on 127.0.0.1), performs the opening
 * handshake and checks the answer; rejects with an error naming what went wrong.
 */
export async function connectRawClient(target: number | string | URL, opts: RawClientOptions = {}): Promise<RawConnection> {
  const url = typeof target === 'number' ? new URL(`ws://127.0.0.1:${target}${opts.path ?? '/'}`) : new URL(target);
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`not a ws:// or wss:// URL: ${url.href}`);
  const secure = url.protocol === 'wss:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (secure ? 443 : 80));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
  const where = url.host;
  // Checked before connecting: nothing is sent when a header cannot be sent as given.
  const extra = Object.entries(opts.headers ?? {});
  for (const [name, value] of extra) {
    const problem = headerProblem(name, value);
    if (problem !== undefined) throw new Error(problem);
  }
  const socket = secure
    ? tls.connect({
        host,
        port,
        ...(net.isIP(host) ? {} : { servername: host }),
        rejectUnauthorized: !opts.insecure,
        ALPNProtocols: ['http/1.1'],
      })
    : net.connect({ host, port });
  socket.setNoDelay(true);
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once(secure ? 'secureConnect' : 'connect', () => resolve());
        socket.once('error', reject);
      }),
      timeoutMs,
      `${secure ? 'TLS' : 'TCP'} connect to ${where}`,
    );
    const key = randomBytes(16).toString('base64');
    const headP = readHttpHead(socket, timeoutMs, 'the server handshake response');
    headP.catch(() => {}); // awaited below; never an unhandled rejection if something throws first
    const hostHeader = extra.find(([name]) => name.toLowerCase() === 'host')?.[1] ?? url.host;
    const lines = [
      `GET ${url.pathname || '/'}${url.search} HTTP/1.1`,
      `Host: ${hostHeader}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
    ];
    for (const [name, value] of extra) {
      const lower = name.toLowerCase();
      if (lower === 'host') continue;
      lines.push(`${name}: ${value}`);
    }
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    const head = await headP;
    const problems: string[] = [];
    if (!/^HTTP\/1\.1 101( |$)/.test(head.startLine)) problems.push(`status line is "${printable(head.startLine)}", expected 101`);
    if (!hasToken(head.headers.get('upgrade'), 'websocket')) problems.push('Upgrade header is not "websocket"');
    if (!hasToken(head.headers.get('connection'), 'upgrade')) problems.push('Connection header lacks "Upgrade"');
    const accept = head.headers.get('sec-websocket-accept');
    if (accept !== acceptFor(key)) {
      problems.push(`Sec-WebSocket-Accept is ${accept === undefined ? 'missing' : `"${printable(accept)}"`}, expected ${acceptFor(key)}`);
    }
    // We offered no extension and no subprotocol, so the server must not pick any (4.1).
    if (head.headers.has('sec-websocket-extensions')) problems.push('server answered with an extension that was not offered');
    if (head.headers.has('sec-websocket-protocol')) problems.push('server answered with a subprotocol that was not offered');
    if (problems.length) throw new Error(`bad handshake response: ${problems.join('; ')}`);
    return new RawConnection(socket, 'client', head.rest, opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes });
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
