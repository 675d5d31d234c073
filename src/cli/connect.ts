/**
 * `fullduplex connect`: an interactive WebSocket client in the style of wscat. Lines read from
 * stdin (a terminal or a pipe) go out as text messages; received messages are printed as
 * "< message". Ctrl-C or the end of stdin closes the connection with 1000.
 */
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { WebSocket } from '../index.js';
import { EXIT_FAILURE, oneLine, parseHeaders, parseWebSocketUrl, usageFromParseError, UsageError } from './args.js';

export const CONNECT_USAGE: string = `Usage: fullduplex connect URL [-H "Name: value"]... [-s protocol]... [--deflate] [-k]

Opens a WebSocket to URL (ws:// or wss://), sends each line of stdin as a text message and
prints each message received as "< message". Ctrl-C or the end of stdin closes with code 1000.

  -H, --header "Name: value"   add a header to the handshake request (repeatable)
  -s, --subprotocol NAME       request a subprotocol (repeatable, most preferred first)
      --deflate                offer permessage-deflate compression
  -k, --insecure               accept any TLS certificate (self-signed test servers)
  -h, --help                   show this help
`;

const OPTIONS = {
  header: { type: 'string', short: 'H', multiple: true },
  subprotocol: { type: 'string', short: 's', multiple: true },
  deflate: { type: 'boolean' },
  insecure: { type: 'boolean', short: 'k' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Settings of a connect run, from the command line. */
export interface ConnectSettings {
  url: URL;
  headers: Record<string, string>;
  protocols: string[];
  deflate: boolean;
  insecure: boolean;
}

/** Parses the arguments after `connect`; returns null when help was asked for. */
export function parseConnectArgs(argv: string[]): ConnectSettings | null {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    throw usageFromParseError('connect', err);
  }
  if (values.help) return null;
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`, 'connect');
  return {
    url: parseWebSocketUrl('connect', positionals[0]),
    headers: parseHeaders('connect', values.header ?? []),
    protocols: values.subprotocol ?? [],
    deflate: values.deflate ?? false,
    insecure: values.insecure ?? false,
  };
}

/** How a received binary message is shown: its size and the first bytes in hex. */
export function describeBinary(data: Buffer): string {
  const shown = 32;
  const hex = [...data.subarray(0, shown)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const more = data.length > shown ? ' …' : '';
  return `<binary ${data.length} bytes>${hex ? ` ${hex}${more}` : ''}`;
}

function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  return Buffer.from(data as ArrayBuffer);
}

/** Runs `fullduplex connect` until the connection closes. */
export function connect(argv: string[]): void {
  const settings = parseConnectArgs(argv);
  if (!settings) {
    process.stdout.write(CONNECT_USAGE);
    return;
  }

  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const ws = new WebSocket(settings.url, settings.protocols, {
    headers: settings.headers,
    perMessageDeflate: settings.deflate,
    rejectUnauthorized: !settings.insecure,
  });
  const rl = readline.createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
  rl.setPrompt('> ');

  let opened = false;
  let stdinEnded = false;
  const queued: string[] = [];

  /** Prints a line without mangling what the user is typing at the prompt. */
  const print = (line: string): void => {
    if (!tty) {
      process.stdout.write(`${line}\n`);
      return;
    }
    readline.clearLine(process.stdout, 0);
    readline.cursorTo(process.stdout, 0);
    process.stdout.write(`${line}\n`);
    rl.prompt(true);
  };

  const finish = (code: number): never => {
    rl.close();
    process.exit(code);
  };

  const closeCleanly = (): void => {
    if (ws.readyState === WebSocket.OPEN) {
      ws.close(1000);
      // A server that never answers the close frame is not waited for long.
      setTimeout(() => ws.terminate(), 3000).unref();
    } else if (ws.readyState === WebSocket.CONNECTING) {
      finish(0);
    } else if (ws.readyState === WebSocket.CLOSING) {
      ws.terminate();
    }
  };

  ws.on('open', () => {
    opened = true;
    print('Connected (press CTRL+C to quit)');
    for (const line of queued.splice(0)) ws.send(line);
    if (stdinEnded) closeCleanly();
  });
  ws.on('message', (data: unknown, isBinary: boolean) => {
    const bytes = toBuffer(data);
    print(`< ${isBinary ? describeBinary(bytes) : bytes.toString('utf8')}`);
  });
  ws.on('error', (err: Error) => {
    if (!opened) {
      process.stderr.write(`fullduplex connect: cannot connect to ${settings.url.href}: ${oneLine(err)}\n`);
      finish(EXIT_FAILURE);
    }
    process.stderr.write(`fullduplex connect: ${oneLine(err)}\n`);
  });
  ws.on('close', (code: number, reason: Buffer) => {
    if (tty) {
      readline.clearLine(process.stdout, 0);
      readline.cursorTo(process.stdout, 0);
    }
    process.stdout.write(`Disconnected (code: ${code}, reason: ${JSON.stringify(reason.toString('utf8'))})\n`);
    finish(opened ? 0 : EXIT_FAILURE);
  });

  rl.on('line', (line) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(line);
    else if (ws.readyState === WebSocket.CONNECTING) queued.push(line);
    if (tty) rl.prompt();
  });
  rl.on('close', () => {
    // End of stdin (Ctrl-D or the end of a pipe).
    if (stdinEnded) return;
    stdinEnded = true;
    if (opened) closeCleanly();
  });
  rl.on('SIGINT', closeCleanly);
  process.on('SIGINT', closeCleanly);
  process.on('SIGTERM', closeCleanly);
}
