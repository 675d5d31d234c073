/**
 * `fullduplex` command-line handling: help, usage errors (exit 2, one line on stderr), and the
 * argument parsers used by serve and connect.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../src/cli/args.js';
import { describeBinary, parseConnectArgs } from '../src/cli/connect.js';
import { displayUrl, parseServeArgs } from '../src/cli/serve.js';
import { Child } from './fixtures/harness.js';

const CLI = 'dist/cli/main.js';

async function run(...args: string[]): Promise<{ code: number | null; stdout: string[]; stderr: string }> {
  const child = new Child([CLI, ...args]);
  child.proc.stdin!.end();
  const { code } = await child.exit();
  return { code, stdout: child.stdoutLines, stderr: child.stderr };
}

test('help and version exit 0', async () => {
  const [help, helpCmd, serveHelp, connectHelp, version] = await Promise.all([
    run('--help'),
    run('help'),
    run('serve', '--help'),
    run('help', 'connect'),
    run('--version'),
  ]);
  for (const r of [help, helpCmd, serveHelp, connectHelp, version]) {
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
  }
  assert.match(help.stdout[0]!, /^Usage: fullduplex <command>/);
  assert.deepEqual(help.stdout, helpCmd.stdout);
  assert.ok(help.stdout.some((l) => /^\s+serve\s/.test(l)) && help.stdout.some((l) => /^\s+connect\s/.test(l)));
  assert.match(serveHelp.stdout[0]!, /^Usage: fullduplex serve --port N/);
  assert.match(connectHelp.stdout[0]!, /^Usage: fullduplex connect URL/);
  assert.match(version.stdout[0]!, /^\d+\.\d+\.\d+/);
});

test('usage errors print one line on stderr and exit 2', async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /^fullduplex: missing command/],
    [['frobnicate'], /^fullduplex: unknown command 'frobnicate'/],
    [['--frob'], /^fullduplex: unknown option '--frob'/],
    [['help', 'frob'], /unknown command 'frob'/],
    [['serve'], /^fullduplex serve: missing --port/],
    [['serve', '--port'], /^fullduplex serve: option '--port' needs a value/],
    [['serve', '--port', 'abc', '--echo'], /--port must be an integer from 0 to 65535, got 'abc'/],
    [['serve', '--port', '70000', '--echo'], /--port must be an integer/],
    [['serve', '--port', '0'], /choose exactly one of --echo and --broadcast/],
    [['serve', '--port', '0', '--echo', '--broadcast'], /choose exactly one of --echo and --broadcast/],
    [['serve', '--port', '0', '--echo', '--verbose'], /unknown option '--verbose'/],
    [['serve', '--port', '0', '--echo', 'extra'], /unexpected argument 'extra'/],
    [['serve', '--port', '0', '--echo', '--tls-cert', 'c.pem'], /--tls-cert and --tls-key go together/],
    [['connect'], /^fullduplex connect: missing URL/],
    [['connect', 'http://localhost:8080'], /invalid URL 'http:\/\/localhost:8080': the scheme must be ws:\/\/ or wss:\/\//],
    [['connect', 'localhost:8080'], /invalid URL 'localhost:8080'/],
    [['connect', 'not a url'], /invalid URL 'not a url'/],
    [['connect', 'ws://a', 'ws://b'], /unexpected argument 'ws:\/\/b'/],
    [['connect', 'ws://a', '-H', 'no colon'], /bad header 'no colon': expected "Name: value"/],
    [['connect', 'ws://a', '-H'], /option '--header' needs a value/],
    [['connect', 'ws://a', '--deflate=yes'], /option '--deflate' does not take a value/],
  ];
  const results = await Promise.all(cases.map(([args]) => run(...args)));
  for (const [i, [args, re]] of cases.entries()) {
    const r = results[i]!;
    const what = `fullduplex ${args.join(' ')}`;
    assert.equal(r.code, 2, `${what}: exit code`);
    assert.match(r.stderr, re, what);
    assert.match(r.stderr, /^[^\n]+\n$/, `${what}: exactly one line`);
    assert.match(r.stderr, /see 'fullduplex( \w+)? --help'/, `${what}: points to help`);
    assert.deepEqual(r.stdout, [], `${what}: nothing on stdout`);
  }
});

test('serve fails with exit 1 when the TLS files cannot be read', async () => {
  const r = await run('serve', '--port', '0', '--host', '127.0.0.1', '--echo', '--tls-cert', '/nonexistent/c.pem', '--tls-key', '/nonexistent/k.pem');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^fullduplex serve: cannot read TLS files: .*ENOENT.*\n$/);
});

test('parseServeArgs and displayUrl', () => {
  assert.deepEqual(parseServeArgs(['--port', '8080', '--broadcast', '--deflate']), {
    port: 8080, host: undefined, mode: 'broadcast', deflate: true, tls: undefined,
  });
  const s = parseServeArgs(['-p', '0', '--host', '::1', '--echo', '--tls-cert', 'c', '--tls-key', 'k'])!;
  assert.deepEqual(s.tls, { cert: 'c', key: 'k' });
  assert.equal(displayUrl(s, 1234), 'wss://[::1]:1234');
  assert.equal(displayUrl(parseServeArgs(['--port', '9', '--echo'])!, 9), 'ws://localhost:9', 'all interfaces print as localhost');
  assert.equal(parseServeArgs(['--help']), null);
  assert.throws(() => parseServeArgs(['--port', '-1', '--echo']), UsageError);
});

test('parseConnectArgs and describeBinary', () => {
  const c = parseConnectArgs(['wss://example.com/chat', '-H', 'Authorization: Bearer a:b', '-s', 'a', '-s', 'b', '--deflate', '-k'])!;
  assert.equal(c.url.href, 'wss://example.com/chat');
  assert.deepEqual(c.headers, { Authorization: 'Bearer a:b' });
  assert.deepEqual(c.protocols, ['a', 'b']);
  assert.equal(c.deflate, true);
  assert.equal(c.insecure, true);
  assert.equal(parseConnectArgs(['-h']), null);
  assert.equal(describeBinary(Buffer.alloc(0)), '<binary 0 bytes>');
  assert.equal(describeBinary(Buffer.from([0, 15, 255])), '<binary 3 bytes> 00 0f ff');
  assert.match(describeBinary(Buffer.alloc(100)), /^<binary 100 bytes> (00 ){31}00 …$/);
});
