#!/usr/bin/env node
/**
 * The `fullduplex` command: a thin shell over the public API.
 *
 *   fullduplex serve --port 8080 --echo
 *   fullduplex connect ws://localhost:8080
 *   fullduplex check ws://localhost:8080
 */
import { readFileSync } from 'node:fs';
import { EXIT_USAGE, oneLine, UsageError } from './args.js';
import { bench, BENCH_USAGE } from './bench.js';
import { check, CHECK_USAGE } from './check.js';
import { connect, CONNECT_USAGE } from './connect.js';
import { serve, SERVE_USAGE } from './serve.js';

const USAGE = `Usage: fullduplex <command> [options]

Commands:
  serve     run an echo or broadcast WebSocket server
            fullduplex serve --port N [--host H] (--echo | --broadcast) [--deflate]
                             [--tls-cert FILE --tls-key FILE]
  connect   interactive client: stdin lines out, messages in
            fullduplex connect URL [-H "Name: value"]... [-s protocol]... [--deflate] [-k]
  bench     load a server with the C load generator of bench/ (needs a C compiler)
            fullduplex bench URL [--scenario echo|latency|connect|idle|broadcast] [--conns N]
  check     RFC 6455 conformance check of an echo server (Autobahn groups 1-7, 9, 10)
            fullduplex check URL [--case PREFIX[,PREFIX...]] [--timeout S] [--strict] [-H "Name: value"]...
  help      show this help, or a command's: fullduplex help serve

Options:
  -h, --help      show help
  -v, --version   print the version
`;

const COMMANDS: Record<string, { run: (argv: string[]) => void; usage: string }> = {
  serve: { run: serve, usage: SERVE_USAGE },
  connect: { run: connect, usage: CONNECT_USAGE },
  bench: { run: bench, usage: BENCH_USAGE },
  check: { run: check, usage: CHECK_USAGE },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError('missing command');
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    if (topic !== undefined && !(topic in COMMANDS)) throw new UsageError(`unknown command '${topic}'`);
    process.stdout.write(topic === undefined ? USAGE : COMMANDS[topic]!.usage);
    return;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  const entry = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!entry) {
    throw new UsageError(command.startsWith('-') ? `unknown option '${command}'` : `unknown command '${command}'`);
  }
  entry.run(rest);
}

try {
  main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    const help = err.command ? `fullduplex ${err.command} --help` : 'fullduplex --help';
    process.stderr.write(`fullduplex${err.command ? ` ${err.command}` : ''}: ${err.message} (see '${help}')\n`);
    process.exit(EXIT_USAGE);
  }
  process.stderr.write(`fullduplex: ${oneLine(err)}\n`);
  process.exit(1);
}
