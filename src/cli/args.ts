/**
 * Argument helpers shared by the fullduplex commands: node:util parseArgs with one-line
 * error messages, and checks for ports, headers and WebSocket URLs.
 */
import { printable } from '../conformance/printable.js';

/** Exit code for a command line that cannot be understood. */
export const EXIT_USAGE = 2;
/** Exit code for a failure at run time (cannot listen, cannot connect, unreadable file). */
export const EXIT_FAILURE = 1;

/** A mistake in the command line; main prints it on one line and exits with EXIT_USAGE. */
export class UsageError extends Error {
  /** The command whose help the message points to, e.g. "serve". */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** Turns an error thrown by node:util parseArgs into a one-line UsageError. */
export function usageFromParseError(command: string, err: unknown): UsageError {
  return new UsageError(describeParseError(err), command);
}

function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = String(e.message ?? err);
  const quoted = /'([^']+)'/.exec(message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${quoted ?? message}'`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${quoted ?? message}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      // e.g. "Option '--port <value>' argument missing" or "Option '--echo' does not take an argument"
      const option = /--[\w-]+/.exec(quoted ?? '')?.[0] ?? quoted;
      if (/argument missing/.test(message)) return `option '${option}' needs a value`;
      if (/does not take an argument/.test(message)) return `option '${option}' does not take a value`;
      return message.split('\n')[0]!;
    }
    default:
      return message.split('\n')[0]!;
  }
}

/** A TCP port number: an integer from 0 (any free port) to 65535. */
export function parsePort(command: string, text: string | undefined): number {
  if (text === undefined) throw new UsageError('missing --port N (0 picks a free port)', command);
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`--port must be an integer from 0 to 65535, got '${text}'`, command);
  }
  return Number(text);
}

/**
 * Parses `-H "Name: value"` arguments into a header object. A value may not hold a control
 * character other than HTAB (RFC 9110 5.5): a CR or LF would end the header line and smuggle
 * in another header.
 */
export function parseHeaders(command: string, values: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of values) {
    const colon = h.indexOf(':');
    const name = colon === -1 ? '' : h.slice(0, colon).trim();
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
      throw new UsageError(`bad header '${printable(h)}': expected "Name: value"`, command);
    }
    const value = h.slice(colon + 1).trim();
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) {
      throw new UsageError(`bad header '${printable(h)}': a header value cannot hold a line break or another control character`, command);
    }
    headers[name] = value;
  }
  return headers;
}

/** A ws:// or wss:// URL. */
export function parseWebSocketUrl(command: string, text: string | undefined): URL {
  if (text === undefined) throw new UsageError('missing URL (e.g. ws://localhost:8080)', command);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`invalid URL '${text}': expected ws://host[:port][/path] or wss://...`, command);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new UsageError(`invalid URL '${text}': the scheme must be ws:// or wss://`, command);
  }
  if (url.hash) throw new UsageError(`invalid URL '${text}': a WebSocket URL cannot have a #fragment`, command);
  return url;
}

/** The message of an error, on one line. */
export function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
