/**
 * `fullduplex check`: runs the RFC 6455 conformance cases (Autobahn|Testsuite groups 1-7, 9
 * and 10, server role) against any WebSocket echo server and prints a per-group report.
 */
import { parseArgs } from 'node:util';
import { HANDSHAKE_HEADERS } from '../conformance/raw-client.js';
import { checkRemoteServer, MAX_CONSECUTIVE_STALLS, probeEchoServer, selectServerCases, type RemoteCheckOptions } from '../conformance/remote.js';
import { formatReport, runFailed } from '../conformance/report.js';
import { DEFAULT_WAIT_MS } from '../conformance/wait.js';
import { EXIT_FAILURE, oneLine, parseHeaders, parseWebSocketUrl, usageFromParseError, UsageError } from './args.js';

export const CHECK_USAGE: string = `Usage: fullduplex check URL [--case PREFIX[,PREFIX...]] [--timeout S] [--strict] [-H "Name: value"]... [-k]

Checks the WebSocket server at URL (ws:// or wss://) against RFC 6455 with the cases of
Autobahn|Testsuite's groups 1-7, 9 and 10 (framing, ping/pong, reserved bits, opcodes,
fragmentation, UTF-8, closing, large messages), one connection per case, as Autobahn's
fuzzingclient does. The server must be an echo server: it must send every message back to
its sender, text as text and binary as binary, and accept messages of up to 16 MiB.

Prints a table of passed / non-strict / failed / errors / not applicable cases per group and
one line per failed or non-strict case with what RFC 6455 expects and what happened.
Non-strict, as in Autobahn: the server did what RFC 6455 requires but not the stricter
expectation (it fails a bad UTF-8 message only once the message is complete, fails the
connection without echoing a valid message sent just before the error, closes TCP without a
close frame where the RFC says it SHOULD send one, leaves TCP open for the client to close).
Errors: a case's connection could not be opened. Cases that need to configure or watch the
server from inside (a maxPayload, the server starting the close) are not applicable. The run
stops after ${MAX_CONSECUTIVE_STALLS} cases in a row time out or cannot connect. Frames and messages above
64 MiB fail the case.
Exit status: 0 when every applicable case passed or was non-strict, 1 when one failed, could
not run, the run stopped early or the server cannot be reached, 2 for a usage error.

      --case PREFIX[,...]      run only these cases: 1.1 runs 1.1.1-1.1.8, 6 runs group 6
      --timeout S              seconds to wait for each expected reply (default ${DEFAULT_WAIT_MS / 1000})
      --strict                 count non-strict cases as failures (exit 1)
  -H, --header "Name: value"   add a header to each handshake request (repeatable)
  -k, --insecure               accept any TLS certificate (self-signed test servers)
  -h, --help                   show this help
`;

const OPTIONS = {
  case: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  strict: { type: 'boolean' },
  header: { type: 'string', short: 'H', multiple: true },
  insecure: { type: 'boolean', short: 'k' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Settings of a check run, from the command line. */
export interface CheckSettings {
  url: URL;
  options: RemoteCheckOptions;
  /** --strict: non-strict outcomes fail the check. */
  strict: boolean;
}

/**
 * Milliseconds in a decimal number of seconds, rounded up (so that 0.0004 is 1 ms, not 0),
 * computed from the digits (0.3 is exactly 300).
 */
export function secondsToMs(text: string): number {
  const [whole = '0', fraction = ''] = text.split('.');
  const ms = Number(whole) * 1000 + Number(fraction.slice(0, 3).padEnd(3, '0'));
  return /[1-9]/.test(fraction.slice(3)) ? ms + 1 : ms;
}

/** Parses the arguments after `check`; returns null when help was asked for. */
export function parseCheckArgs(argv: string[]): CheckSettings | null {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    throw usageFromParseError('check', err);
  }
  if (values.help) return null;
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`, 'check');
  const url = parseWebSocketUrl('check', positionals[0]);
  const headers = parseHeaders('check', values.header ?? []);
  for (const name of Object.keys(headers)) {
    if (HANDSHAKE_HEADERS.includes(name.toLowerCase())) {
      throw new UsageError(`header '${name}' is set by the check itself and cannot be given with -H`, 'check');
    }
  }
  const options: RemoteCheckOptions = { headers, insecure: values.insecure ?? false };
  if (values.timeout !== undefined) {
    const t = values.timeout;
    if (!/^\d+(\.\d+)?$/.test(t) || Number(t) <= 0 || Number(t) > 600 || secondsToMs(t) < 1) {
      throw new UsageError(`--timeout must be a number of seconds above 0 and at most 600, got '${t}'`, 'check');
    }
    options.waitMs = secondsToMs(t);
  }
  if (values.case !== undefined) {
    const prefixes = values.case.flatMap((v) => v.split(',')).map((p) => p.trim());
    for (const p of prefixes) {
      if (!/^\d+(\.\d+)*$/.test(p)) throw new UsageError(`--case takes case ids or prefixes such as 1.1 or 6.4.1, got '${p}'`, 'check');
      if (selectServerCases([p]).length === 0) throw new UsageError(`--case '${p}' matches no server case`, 'check');
    }
    options.prefixes = prefixes;
  }
  return { url, options, strict: values.strict ?? false };
}

/**
 * Runs `fullduplex check`. Sets process.exitCode and lets the process end by itself once the
 * report is written (process.exit could cut a report written to a pipe short); every socket
 * and timer of the run is closed by then.
 */
export function check(argv: string[]): void {
  const settings = parseCheckArgs(argv);
  if (!settings) {
    process.stdout.write(CHECK_USAGE);
    return;
  }
  const { url, options, strict } = settings;
  const progress = process.stderr.isTTY === true;
  const run = async (): Promise<number> => {
    await probeEchoServer(url, options);
    const result = await checkRemoteServer(url, {
      ...options,
      ...(progress ? { onCase: (c, i, n) => process.stderr.write(`\r\x1b[Kcase ${c.id} (${i + 1}/${n})`) } : {}),
    });
    if (progress) process.stderr.write('\r\x1b[K');
    process.stdout.write(formatReport(url.href, result, { strict }));
    if (result.stopped !== undefined) process.stderr.write(`fullduplex check: ${result.stopped}\n`);
    return runFailed(result, { strict }) ? EXIT_FAILURE : 0;
  };
  run().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fullduplex check: ${oneLine(err)}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}
