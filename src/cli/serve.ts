/**
 * `fullduplex serve`: an echo or broadcast WebSocket server.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from '../index.js';
import { EXIT_FAILURE, oneLine, parsePort, usageFromParseError, UsageError } from './args.js';

export const SERVE_USAGE: string = `Usage: fullduplex serve --port N [--host H] (--echo | --broadcast) [--deflate]
                       [--tls-cert FILE --tls-key FILE]

Runs a WebSocket server and prints "Listening on ws://HOST:PORT".

  -p, --port N          port to listen on (0 picks a free port)
      --host H          interface to listen on (default: all interfaces)
      --echo            send every message back to its sender
      --broadcast       send every message to every connected client, sender included
      --deflate         accept permessage-deflate compression
      --tls-cert FILE   PEM certificate: serve wss:// (needs --tls-key)
      --tls-key FILE    PEM private key for --tls-cert
  -h, --help            show this help
`;

const OPTIONS = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  echo: { type: 'boolean' },
  broadcast: { type: 'boolean' },
  deflate: { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Settings of a serve run, from the command line. */
export interface ServeSettings {
  port: number;
  host: string | undefined;
  mode: 'echo' | 'broadcast';
  deflate: boolean;
  tls: { cert: string; key: string } | undefined;
}

/** Parses the arguments after `serve`; returns null when help was asked for. */
export function parseServeArgs(argv: string[]): ServeSettings | null {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }));
  } catch (err) {
    throw usageFromParseError('serve', err);
  }
  if (values.help) return null;
  const port = parsePort('serve', values.port);
  if (values.echo === values.broadcast) {
    throw new UsageError('choose exactly one of --echo and --broadcast', 'serve');
  }
  if (values.host === '') throw new UsageError('--host needs a non-empty value', 'serve');
  const cert = values['tls-cert'];
  const key = values['tls-key'];
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together', 'serve');
  }
  return {
    port,
    host: values.host,
    mode: values.echo ? 'echo' : 'broadcast',
    deflate: values.deflate ?? false,
    tls: cert !== undefined && key !== undefined ? { cert, key } : undefined,
  };
}

/** The URL to print: "localhost" when listening on all interfaces, IPv6 hosts in brackets. */
export function displayUrl(settings: ServeSettings, port: number): string {
  const scheme = settings.tls ? 'wss' : 'ws';
  const host = settings.host ?? 'localhost';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Runs `fullduplex serve` until SIGINT or SIGTERM. */
export function serve(argv: string[]): void {
  const settings = parseServeArgs(argv);
  if (!settings) {
    process.stdout.write(SERVE_USAGE);
    return;
  }

  let server: http.Server;
  if (settings.tls) {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(settings.tls.cert);
      key = readFileSync(settings.tls.key);
    } catch (err) {
      fail(`cannot read TLS files: ${oneLine(err)}`);
    }
    try {
      server = https.createServer({ cert, key });
    } catch (err) {
      fail(`bad TLS certificate or key: ${oneLine(err)}`);
    }
  } else {
    server = http.createServer();
  }
  server.on('request', (_req, res: http.ServerResponse) => {
    res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket' });
    res.end(`fullduplex ${settings.mode} server: connect with a WebSocket client.\n`);
  });

  // A test server: pages from any origin may connect, as with `ws` and wscat.
  const wss = new WebSocketServer({ server, perMessageDeflate: settings.deflate, allowOrigins: '*' });
  wss.on('error', () => {}); // the HTTP server's own 'error' listener reports listen failures
  wss.on('connection', (ws: WebSocket) => {
    ws.on('error', (err: Error) => process.stderr.write(`client error: ${oneLine(err)}\n`));
    ws.on('message', (data: unknown, isBinary: boolean) => {
      const payload = data as Buffer;
      if (settings.mode === 'echo') {
        ws.send(payload, { binary: isBinary });
        return;
      }
      for (const client of wss.clients ?? []) {
        if (client.readyState === WebSocket.OPEN) client.send(payload, { binary: isBinary });
      }
    });
  });

  server.once('error', (err: NodeJS.ErrnoException) => {
    const where = `${settings.host ?? '*'}:${settings.port}`;
    fail(`cannot listen on ${where}: ${oneLine(err)}`);
  });
  server.listen(settings.port, settings.host, () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`Listening on ${displayUrl(settings, port)}\n`);
  });

  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(0);
    stopping = true;
    for (const client of wss.clients ?? []) client.close(1001, 'server shutting down');
    wss.close();
    server.close(() => process.exit(0));
    // Clients that do not answer the close frame are not waited for long.
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function fail(message: string): never {
  process.stderr.write(`fullduplex serve: ${message}\n`);
  process.exit(EXIT_FAILURE);
}
