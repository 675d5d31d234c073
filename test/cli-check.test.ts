/**
 * `fullduplex check` (node dist/cli/main.js; run `npm run build` first): the server-role
 * conformance cases of src/conformance/ run over the network against `fullduplex serve --echo`,
 * a `ws` echo server and a Python `websockets` echo server (Debian python3-websockets in
 * /usr/bin/python3), plus the command line's filters, usage errors and connection failures.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test, type TestContext } from 'node:test';
import { WebSocketServer as WsServer } from 'ws';
import { WebSocketServer } from '../src/index.js';
import { Child, freePort, TLS_CERT, TLS_KEY, within } from './fixtures/harness.js';

const CLI = 'dist/cli/main.js';
/** A full run of the table against a local server takes a few seconds; this bounds it. */
const FULL_RUN_MS = 45_000;
const children: Child[] = [];
const closers: Array<() => Promise<void>> = [];

let echoUrl = '';

before(async () => {
  const server = start('serve', '--host', '127.0.0.1', '--port', '0', '--echo');
  const [, url] = await server.line(/^Listening on (ws:\/\/127\.0\.0\.1:\d+)$/);
  echoUrl = url!;
});

after(async () => {
  await Promise.all(children.map((c) => c.kill()));
  for (const close of closers) await close();
});

function start(...args: string[]): Child {
  const child = new Child([CLI, ...args]);
  children.push(child);
  return child;
}

/** Runs `fullduplex check ...` to completion. */
async function check(args: string[], ms = FULL_RUN_MS): Promise<{ code: number | null; out: string[]; err: string }> {
  const run = start('check', ...args);
  const { code } = await run.exit(ms);
  return { code, out: run.stdoutLines, err: run.stderr };
}

/** Ids of the FAIL lines of a report. */
function failedIds(out: string[]): string[] {
  return out.filter((l) => l.startsWith('FAIL ')).map((l) => l.split(/\s+/)[1]!);
}

/** The table row of a group (or "total"): passed, failed, not applicable. */
function row(out: string[], name: string): number[] {
  const line = out.find((l) => l.startsWith(`${name}  `) || l.startsWith(`${name} `));
  assert.ok(line, `no table row for ${name} in:\n${out.join('\n')}`);
  return line.slice(name.length).trim().split(/\s+/).map(Number);
}

const NOT_APPLICABLE = ['7.10.1', '7.10.2', '7.10.3', '7.10.4', '10.2.1', '10.2.2', '10.2.3', '10.2.4'];

function notApplicableIds(out: string[]): string[] {
  return out.filter((l) => l.startsWith('N/A ')).map((l) => l.split(/\s+/)[1]!);
}

test('check against serve --echo: every applicable case passes, exit 0, the in-process-only cases are listed as not applicable', async () => {
  const { code, out, err } = await check([echoUrl]);
  assert.equal(code, 0, `${out.join('\n')}\n${err}`);
  assert.equal(out[0], `RFC 6455 conformance of ${echoUrl}/: 324 of 324 applicable cases passed, 8 not applicable`);
  assert.deepEqual(row(out, 'total'), [324, 0, 8]);
  assert.deepEqual(row(out, '6 UTF-8'), [130, 0, 0]);
  assert.deepEqual(row(out, '7 closing'), [39, 0, 4]);
  assert.deepEqual(row(out, '10 misc and maxPayload'), [1, 0, 4]);
  assert.deepEqual(failedIds(out), []);
  assert.deepEqual(notApplicableIds(out), NOT_APPLICABLE);
  assert.match(out.find((l) => l.startsWith('N/A  10.2.1'))!, /needs the server's maxPayload set to 1024$/);
  assert.equal(err, '');
});

test('check against a ws echo server: exactly the UTF-8 fail-fast cases 6.4.1-6.4.4 fail, exit 1', async () => {
  const wss = new WsServer({ host: '127.0.0.1', port: 0 });
  closers.push(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  await within(once(wss, 'listening'), 'the ws server to listen');
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const { code, out, err } = await check([url]);
  assert.equal(code, 1, `${out.join('\n')}\n${err}`);
  assert.deepEqual(failedIds(out), ['6.4.1', '6.4.2', '6.4.3', '6.4.4']);
  assert.deepEqual(row(out, 'total'), [320, 4, 8]);
  assert.deepEqual(row(out, '6 UTF-8'), [126, 4, 0]);
  // ws validates UTF-8 once the message (3.x fragments) or the frame (chops) is complete.
  for (const line of out.filter((l) => l.startsWith('FAIL '))) {
    assert.match(
      line,
      /expected \(RFC 6455 8\.1, 7\.4\.1\): .*1007 before the 3rd .*; got: no fail-fast: timed out after 2000 ms .* after the rest of the message was sent: close frame \(code 1007, reason ""\)$/,
    );
  }
  assert.deepEqual(notApplicableIds(out), NOT_APPLICABLE);
});

const PYTHON = '/usr/bin/python3';
const PEER = fileURLToPath(new URL('./helpers/python_peer.py', import.meta.url));

function pythonProblem(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import websockets'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return `python websockets not importable from ${PYTHON}; install Debian python3-websockets`;
  return null;
}

/**
 * Python websockets (10.4 in Debian 12) handles the frames of one TCP read before its handler
 * runs: when a valid message and a protocol error arrive together it fails the connection
 * without echoing the message (3.2, 3.8.x, 4.x even ids, 5.15, and 7.1.6 where a close follows
 * the message); and it checks UTF-8 per frame, so a bad sequence inside a frame is only seen
 * once the whole frame arrived (6.4.3, 6.4.4). Autobahn grades these "non-strict".
 */
const PYTHON_FAILS = [
  '3.2',
  ...Array.from({ length: 16 }, (_, i) => `3.8.${i + 1}`),
  ...[2, 4, 6, 8, 10].map((n) => `4.1.${n}`),
  ...[2, 4, 6, 8, 10].map((n) => `4.2.${n}`),
  '5.15',
  '6.4.3',
  '6.4.4',
  '7.1.6',
];

test('check against a Python websockets echo server reports its known deviations, exit 1', async (t: TestContext) => {
  const problem = pythonProblem();
  if (problem !== null) {
    if (process.env.CI === 'true') throw new Error(`Python websockets peer missing under CI: ${problem}`);
    t.skip(problem);
    return;
  }
  const proc: ChildProcessWithoutNullStreams = spawn(PYTHON, [PEER, 'server'], { stdio: ['pipe', 'pipe', 'pipe'] });
  closers.push(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = once(proc, 'exit');
    proc.stdin.end(); // the peer exits at EOF on stdin
    await within(gone, 'the python server to exit', 5_000).catch(async () => {
      if (proc.pid !== undefined) process.kill(proc.pid, 'SIGKILL');
      await within(gone, 'the python server to be killed', 5_000);
    });
  });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const listening = new Promise<number>((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const ev = JSON.parse(line) as { event: string; port?: number };
      if (ev.event === 'listening') resolve(ev.port!);
    });
    proc.once('exit', (c) => reject(new Error(`python server exited with ${c}: ${stderr}`)));
  });
  const port = await within(listening, 'the python server to listen', 10_000);
  const { code, out, err } = await check([`ws://127.0.0.1:${port}/`]);
  assert.equal(code, 1, `${out.join('\n')}\n${err}`);
  assert.deepEqual(failedIds(out), PYTHON_FAILS);
  assert.deepEqual(row(out, 'total'), [324 - PYTHON_FAILS.length, PYTHON_FAILS.length, 8]);
  assert.match(out.find((l) => l.startsWith('FAIL 3.2 '))!, /got: expected the echo of a 13-byte text message, got close frame \(code 1002, reason ""\)$/);
});

test('--case filters by id prefix, comma-separated or repeated', async () => {
  const one = await check([echoUrl, '--case', '1.1']);
  assert.equal(one.code, 0, one.err);
  assert.deepEqual(row(one.out, '1 framing'), [8, 0, 0]);
  assert.deepEqual(row(one.out, 'total'), [8, 0, 0]);
  const several = await check([echoUrl, '--case', '2.1,6.4', '--case', '7.10.1']);
  assert.equal(several.code, 0, several.err);
  assert.deepEqual(row(several.out, '2 ping/pong'), [1, 0, 0]); // 2.1 only: a prefix ends at a dot, 2.10 is not in it
  assert.deepEqual(row(several.out, '6 UTF-8'), [4, 0, 0]);
  assert.deepEqual(row(several.out, 'total'), [5, 0, 1]);
  assert.deepEqual(notApplicableIds(several.out), ['7.10.1']);
});

test('wss:// with -k against serve --tls-cert', async () => {
  const server = start('serve', '--host', '127.0.0.1', '--port', '0', '--echo', '--tls-cert', TLS_CERT, '--tls-key', TLS_KEY);
  const [, url] = await server.line(/^Listening on (wss:\/\/127\.0\.0\.1:\d+)$/);
  const ok = await check([url!, '-k', '--case', '1.1,5.19', '-H', 'X-Check: yes']);
  assert.equal(ok.code, 0, ok.err);
  assert.deepEqual(row(ok.out, 'total'), [9, 0, 0]);
  const untrusted = await check([url!, '--case', '1.1.1']);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.err, /^fullduplex check: cannot open a WebSocket connection to wss:\/\/127\.0\.0\.1:\d+\/: .*certificate/);
});

test('usage errors exit 2 with one line on stderr and nothing on stdout', async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /missing URL/],
    [['http://127.0.0.1:1'], /the scheme must be ws:\/\/ or wss:\/\//],
    [['ws://127.0.0.1:1', '--case', '99'], /--case '99' matches no server case/],
    [['ws://127.0.0.1:1', '--case', 'abc'], /--case takes case ids or prefixes/],
    [['ws://127.0.0.1:1', '--timeout', '0'], /--timeout must be a number of seconds/],
    [['ws://127.0.0.1:1', '-H', 'Sec-WebSocket-Version: 8'], /is set by the check itself/],
    [['ws://127.0.0.1:1', '--bogus'], /unknown option '--bogus'/],
    [['ws://127.0.0.1:1', 'ws://127.0.0.1:2'], /unexpected argument/],
  ];
  for (const [args, message] of cases) {
    const { code, out, err } = await check(args, 10_000);
    assert.equal(code, 2, args.join(' '));
    assert.deepEqual(out, [], args.join(' '));
    assert.equal(err.trim().split('\n').length, 1, err);
    assert.match(err, /^fullduplex check: .* \(see 'fullduplex check --help'\)\n$/);
    assert.match(err, message);
  }
});

test('an unreachable URL and a server that does not echo are reported once, exit 1', async () => {
  const port = await freePort();
  const refused = await check([`ws://127.0.0.1:${port}`], 10_000);
  assert.equal(refused.code, 1);
  assert.deepEqual(refused.out, []);
  assert.equal(refused.err, `fullduplex check: cannot open a WebSocket connection to ws://127.0.0.1:${port}/: connect ECONNREFUSED 127.0.0.1:${port}\n`);

  const silent = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  closers.push(async () => {
    for (const c of silent.clients) c.terminate();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  await within(once(silent, 'listening'), 'the silent server to listen');
  const url = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const mute = await check([url, '--timeout', '0.5'], 10_000);
  assert.equal(mute.code, 1);
  assert.deepEqual(mute.out, []);
  assert.match(mute.err, /^fullduplex check: ws:\/\/127\.0\.0\.1:\d+\/ does not look like an echo server .*timed out after 500 ms/);
});

test('help: check --help names the echo requirement; the main usage lists check', async () => {
  const help = await check(['--help'], 10_000);
  assert.equal(help.code, 0);
  assert.match(help.out.join('\n'), /must be an echo server: it must send every message back to\s+its sender, text as text and binary as binary/);
  const main = start('--help');
  assert.equal((await main.exit()).code, 0);
  assert.ok(main.stdoutLines.some((l) => /^ {2}check {5}RFC 6455 conformance check/.test(l)), main.stdoutLines.join('\n'));
});
