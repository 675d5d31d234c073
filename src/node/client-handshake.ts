import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import {
  acceptResponse,
  checkUpgradeResponse,
  clientOffer,
  generateKey,
  isToken,
  PERMESSAGE_DEFLATE,
  type PerMessageDeflateOptions,
  validateDeflateOptions,
} from '../protocol/index.js';
import { DeflateCompressor } from './permessage-deflate.js';
import type { ConnectionSettings, WebSocket } from './websocket.js';

/** Client options, as in `ws`; TLS options (ca, cert, key, rejectUnauthorized, ...) go to `https.request`. */
export interface ClientOptions extends ConnectionSettings, Omit<https.RequestOptions, 'timeout'> {
  /** Milliseconds to wait for the opening handshake before failing it. */
  handshakeTimeout?: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Value of the Origin header. */
  origin?: string;
  /** Only 13 (RFC 6455) is spoken. */
  protocolVersion?: number;
  followRedirects?: boolean;
  maxRedirects?: number;
  /** Offer permessage-deflate (RFC 7692); default true, as in `ws`. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Called instead of `req.end()`, to write a body or delay the request. */
  finishRequest?: (req: http.ClientRequest, ws: WebSocket) => void;
}

/**
 * Validates the URL and subprotocols (throwing like `ws` does), then sends the opening
 * handshake (RFC 6455 section 4.1). Returns the URL the connection uses.
 */
export function startClientHandshake(
  ws: WebSocket,
  address: string | URL,
  protocols: string[],
  options: ClientOptions,
): string {
  if (options.protocolVersion !== undefined && options.protocolVersion !== 13) {
    throw new RangeError(`Unsupported protocol version: ${options.protocolVersion} (supported versions: 13)`);
  }
  if (typeof options.perMessageDeflate === 'object') validateDeflateOptions(options.perMessageDeflate);
  const url = parseUrl(address);
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (typeof protocol !== 'string' || !isToken(protocol) || seen.has(protocol)) {
      throw new SyntaxError('An invalid or duplicated subprotocol was specified');
    }
    seen.add(protocol);
  }
  sendRequest(ws, url, protocols, options, 0);
  return url.href;
}

function parseUrl(address: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(address));
  } catch {
    throw new SyntaxError(`Invalid URL: ${String(address)}`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:' && url.protocol !== 'ws+unix:') {
    throw new SyntaxError('The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"');
  }
  if (url.hash) throw new SyntaxError('The URL contains a fragment identifier');
  if (url.protocol === 'ws+unix:' && !url.pathname) throw new SyntaxError("The URL's pathname is empty");
  return url;
}

function sendRequest(ws: WebSocket, url: URL, protocols: string[], options: ClientOptions, redirects: number): void {
  const secure = url.protocol === 'wss:';
  const key = generateKey();
  const headers: Record<string, string> = {
    ...options.headers,
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': key,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
  };
  if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(',');
  if (options.origin !== undefined) headers['Origin'] = options.origin;
  const deflate = options.perMessageDeflate === false ? null : options.perMessageDeflate === true || options.perMessageDeflate === undefined ? {} : options.perMessageDeflate;
  if (deflate !== null) headers['Sec-WebSocket-Extensions'] = clientOffer(deflate);

  const requestOptions: https.RequestOptions = { ...options, headers, method: 'GET' };
  delete (requestOptions as ClientOptions).handshakeTimeout;
  if (options.handshakeTimeout !== undefined) requestOptions.timeout = options.handshakeTimeout;
  if (url.protocol === 'ws+unix:') {
    // ws+unix:/path/to/socket:/request/path
    const [socketPath, path] = url.pathname.split(':');
    requestOptions.socketPath = socketPath;
    requestOptions.path = (path ?? '/') + url.search;
  } else {
    requestOptions.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    requestOptions.port = url.port || (secure ? 443 : 80);
    requestOptions.path = (url.pathname || '/') + url.search;
  }
  if (url.username || url.password) {
    requestOptions.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  }
  if (options.agent === undefined && options.createConnection === undefined && url.protocol !== 'ws+unix:') {
    // One connection per WebSocket, never a pooled one.
    requestOptions.createConnection = (secure ? connectTls : connectTcp) as https.RequestOptions['createConnection'];
  }

  const req = (secure ? https : http).request(requestOptions);
  ws._req = req;

  req.on('timeout', () => ws.abortHandshake(new Error('Opening handshake has timed out')));
  req.on('error', (error) => {
    if (ws._req !== req) return;
    ws.abortHandshake(error);
  });
  req.on('response', (res) => {
    const location = res.headers.location;
    const status = res.statusCode ?? 0;
    if (location && options.followRedirects && status >= 300 && status < 400) {
      res.resume();
      if (redirects + 1 > (options.maxRedirects ?? 10)) {
        ws.abortHandshake(new Error('Maximum redirects exceeded'));
        return;
      }
      let next: URL;
      try {
        next = parseUrl(new URL(location, url));
      } catch (error) {
        ws.abortHandshake(error as Error);
        return;
      }
      req.destroy();
      ws._req = null;
      let nextOptions = options;
      if (next.host !== url.host && options.headers) {
        // Credentials are not forwarded to another host.
        const kept = Object.entries(options.headers).filter(([name]) => !/^(authorization|cookie|host)$/i.test(name));
        nextOptions = { ...options, headers: Object.fromEntries(kept) };
      }
      ws._url = next.href;
      ws.emit('redirect', next.href, req);
      sendRequest(ws, next, protocols, nextOptions, redirects + 1);
      return;
    }
    if (!ws.emit('unexpected-response', req, res)) {
      res.resume();
      ws.abortHandshake(new Error(`Unexpected server response: ${status}`));
    }
  });
  req.on('upgrade', (res: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    ws.emit('upgrade', res);
    // A listener may have closed or terminated the connection.
    if (ws.readyState !== 0 || ws._req !== req) {
      socket.destroy();
      return;
    }
    ws._req = null;
    const fail = (message: string): void => {
      socket.destroy();
      ws.abortHandshake(new Error(message));
    };
    const check = checkUpgradeResponse(res.headers, key, protocols, deflate ? [PERMESSAGE_DEFLATE] : []);
    if (!check.ok) return fail(check.message);
    let compressor: DeflateCompressor | undefined;
    if (check.extensions.length > 0) {
      // RFC 7692 section 5: one permessage-deflate element answers our one offer.
      if (check.extensions.length > 1) return fail('Server indicated permessage-deflate more than once');
      const agreed = acceptResponse(check.extensions[0]!, deflate!);
      if (!agreed.ok) return fail(agreed.message);
      compressor = new DeflateCompressor(agreed.params, 'client', deflate!);
    }
    ws.setSocket(socket, head, {
      ...options,
      protocol: check.protocol || undefined,
      compressor,
      extensions: compressor ? PERMESSAGE_DEFLATE : undefined,
    });
  });

  if (options.finishRequest) options.finishRequest(req, ws);
  else req.end();
}

function connectTcp(options: net.NetConnectOpts): net.Socket {
  return net.connect(options);
}

function connectTls(options: tls.ConnectionOptions): tls.TLSSocket {
  const host = (options as { host?: string }).host;
  const servername = options.servername ?? (host && !net.isIP(host) ? host : undefined);
  return tls.connect({ ...options, servername });
}
