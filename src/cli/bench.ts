/**
 * `fullduplex bench`: the load generator of bench/ (a small C program, built with the
 * system's C compiler on first use and cached) run against any ws:// server.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EXIT_FAILURE, oneLine, parseWebSocketUrl, usageFromParseError, UsageError } from './args.js';

export const BENCH_USAGE: string = `Usage: fullduplex bench URL [--scenario echo|latency|connect|idle|broadcast] [options]

Loads a WebSocket server with the C load generator of bench/ (built with cc and zlib on first use)
and prints one JSON line of results. The server must echo (echo, latency) or broadcast
(broadcast) binary messages; connect and idle need no behaviour. ws:// only.

      --scenario NAME   echo (default), latency, connect, idle or broadcast
      --conns N         connections (default 64; broadcast: receivers)
      --size BYTES      payload bytes per message, at least 16 (default 32)
      --inflight K      echo: messages in flight per connection (default 16)
      --rate R          latency: messages per second over all connections (default 10000)
      --duration S      seconds measured (default 5), after --warmup S (default 1)
  -h, --help            show this help
`;

const OPTIONS = {
  scenario: { type: 'string' },
  conns: { type: 'string' },
  size: { type: 'string' },
  inflight: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const SCENARIOS = ['echo', 'latency', 'connect', 'idle', 'broadcast'];
/** The load generator's sources (the .c files are compiled; the header is hashed with them). */
const SOURCES = ['loadgen.c', 'loadgen-sio.c', 'loadgen-sio.h'].map((f) => fileURLToPath(new URL(`../../bench/${f}`, import.meta.url)));

/** Parses the arguments after `bench` into load generator arguments; null for --help. */
export function parseBenchArgs(argv: string[]): { url: URL; args: string[] } | null {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageFromParseError('bench', err);
  }
  const { values, positionals } = parsed;
  if (values.help) return null;
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`, 'bench');
  const url = parseWebSocketUrl('bench', positionals[0]);
  if (url.protocol !== 'ws:') throw new UsageError('bench speaks ws:// only (the load generator has no TLS)', 'bench');
  const scenario = values.scenario ?? 'echo';
  if (!SCENARIOS.includes(scenario)) {
    throw new UsageError(`--scenario must be one of ${SCENARIOS.join(', ')}, got '${scenario}'`, 'bench');
  }
  const args = ['--mode', scenario, '--path', (url.pathname || '/') + url.search];
  const numbers: Array<[keyof typeof values, string, number]> = [
    ['conns', '--conns', 1],
    ['size', '--size', 16],
    ['inflight', '--inflight', 1],
    ['rate', '--rate', 1],
    ['duration', '--duration', 0],
    ['warmup', '--warmup', 0],
  ];
  for (const [name, flag, min] of numbers) {
    const text = values[name];
    if (text === undefined) continue;
    if (typeof text !== 'string' || !/^\d+(\.\d+)?$/.test(text) || Number(text) < min) {
      throw new UsageError(`--${name} must be a number of at least ${min}, got '${String(text)}'`, 'bench');
    }
    args.push(flag, text);
  }
  return { url, args };
}

/**
 * This user's directory for the built load generator: the temporary directory is shared, so
 * a binary found there is only run if the directory is ours and no one else can write to it.
 */
function privateDir(): string {
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `fullduplex-bench-${uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} is not a private directory of this user; remove it and try again`);
  }
  return dir;
}

/** Builds the load generator once per source version, in this user's temporary directory. */
function loadgenBinary(): string {
  const missing = SOURCES.find((f) => !existsSync(f));
  if (missing) throw new Error(`the load generator source is missing (${missing})`);
  const hash = createHash('sha256');
  for (const f of SOURCES) hash.update(readFileSync(f));
  const binary = join(privateDir(), `loadgen-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(binary)) return binary;
  const cc = process.env.CC ?? 'cc';
  const built = spawnSync(cc, ['-O2', '-o', binary, ...SOURCES.filter((f) => f.endsWith('.c')), '-lz'], { encoding: 'utf8' });
  if (built.error || built.status !== 0) {
    const why = built.error ? built.error.message : built.stderr.trim().split('\n')[0];
    throw new Error(`cannot build the load generator with '${cc}' (install a C compiler, e.g. gcc): ${why}`);
  }
  return binary;
}

export function bench(argv: string[]): void {
  const settings = parseBenchArgs(argv);
  if (settings === null) {
    process.stdout.write(BENCH_USAGE);
    return;
  }
  const binary = loadgenBinary();
  const host = settings.url.hostname.replace(/^\[|\]$/g, '');
  const port = settings.url.port || '80';
  lookup(host).then(
    ({ address }) => {
      const child = spawn(binary, [...settings.args, '--host', address, '--port', port], { stdio: 'inherit' });
      child.on('exit', (code) => process.exit(code ?? EXIT_FAILURE));
    },
    (err: unknown) => {
      process.stderr.write(`fullduplex bench: cannot resolve ${host}: ${oneLine(err)}\n`);
      process.exit(EXIT_FAILURE);
    },
  );
}
