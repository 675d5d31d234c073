/**
 * `fullduplex check`: runs the RFC 6455 conformance cases (Autobahn|Testsuite groups 1-7, 9
 * and 10, server role) against any WebSocket echo server and prints a per-group report.
 */
import { parseArgs } from 'node:util';
import { HANDSHAKE_HEADERS } from '../conformance/raw-client.js';
import { checkRemoteServer, probeEchoServer, selectServerCases, type RemoteCheckOptions } from '../conformance/remote.js';
import { formatReport } from '../conformance/report.js';
import { DEFAULT_WAIT_MS } from '../conformance/wait.js';
import { EXIT_FAILURE, oneLine, parseHeaders, parseWebSocketUrl, usageFromParseError, UsageError } from './args.js';

export const CHECK_USAGE: string = `Usage: fullduplex check URL [--case PREFIX[,PREFIX...]] [--timeout S] [-H "Name: value"]... [-k]

Checks the WebSocket server at URL (ws:// or wss://) against RFC 6455 with the cases of
Autobahn|Testsuite's groups 1-7, 9 and 10 (framing, ping/pong, reserved bits, opcodes,
fragmentation, UTF-8, closing, large messages), one connection per case, as Autobahn's
fuzzingclient does. The server must be an echo server: it must send every message back to
its sender, text as text and binary as binary, and accept messages of up to 16 MiB.

Prints a table of passed / failed / not applicable cases per group and one line per failed
case with what RFC 6455 expects and what happened. Cases that need to configure or watch the
server from inside (a maxPayload, the server starting the close) are not applicable.
Exit status: 0 when every applicable case passed, 1 when one failed or the server cannot be
reached, 2 for a usage error.

      --case PREFIX[,...]      run only these cases: 1.1 runs 1.1.1-1.1.8, 6 runs group 6
      --timeout S              seconds to wait for each expected reply (default ${DEFAULT_WAIT_MS / 1000})
  -H, --header "Name: value"   add a header to each handshake request (repeatable)
  -k, --insecure               accept any TLS certificate (self-signed test servers)
  -h, --help                   show this help
`;

const OPTIONS = {
  case: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  header: { type: 'string', short: 'H', multiple: true },
  insecure: { type: 'boolean', short: 'k' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Settings of a check run, from the command line. */
export interface CheckSettings {
  url: URL;
  options: RemoteCheckOptions;
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
    if (!/^\d+(\.\d+)?$/.test(t) || Number(t) <= 0 || Number(t) > 600) {
      throw new UsageError(`--timeout must be a number of seconds above 0 and at most 600, got '${t}'`, 'check');
    }
    options.waitMs = Math.round(Number(t) * 1000);
  }
  if (values.case !== undefined) {
    const prefixes = values.case.flatMap((v) => v.split(',')).map((p) => p.trim());
    for (const p of prefixes) {
      if (!/^\d+(\.\d+)*$/.test(p)) throw new UsageError(`--case takes case ids or prefixes such as 1.1 or 6.4.1, got '${p}'`, 'check');
      if (selectServerCases([p]).length === 0) throw new UsageError(`--case '${p}' matches no server case`, 'check');
    }
    options.prefixes = prefixes;
  }
  return { url, options };
}

/** Runs `fullduplex check` and exits with its status. */
export function check(argv: string[]): void {
  const settings = parseCheckArgs(argv);
  if (!settings) {
    process.stdout.write(CHECK_USAGE);
    return;
  }
  const { url, options } = settings;
  const progress = process.stderr.isTTY === true;
  const run = async (): Promise<number> => {
    await probeEchoServer(url, options);
    const results = await checkRemoteServer(url, {
      ...options,
      ...(progress ? { onCase: (c, i, n) => process.stderr.write(`\r\x1b[Kcase ${c.id} (${i + 1}/${n})`) } : {}),
    });
    if (progress) process.stderr.write('\r\x1b[K');
    process.stdout.write(formatReport(url.href, results));
    return results.some((r) => r.outcome === 'fail') ? EXIT_FAILURE : 0;
  };
  run().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`fullduplex check: ${oneLine(err)}\n`);
      process.exit(EXIT_FAILURE);
    },
  );
}
