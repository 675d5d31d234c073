/**
 * `fullduplex check` (node dist/cli/main.js; run `npm run build` first): the server-role
 * conformance cases of src/conformance/ run over the network against `fullduplex serve --echo`,
 * a `ws` echo server and a Python `websockets` echo server (Debian python3-websockets in
 * /usr/bin/python3), plus the command line's filters, usage errors and connection failures,
 * and fake servers built on the raw peer: hostile ones (endless frames, escape sequences in
 * the handshake), silent ones, and a wrong echo.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test, type TestContext } from 'node:test';
import { WebSocketServer as WsServer } from 'ws';
import { WebSocketServer } from '../src/index.js';
import { parseCheckArgs } from '../src/cli/check.js';
import { Child, freePort, TLS_CERT, TLS_KEY, within } from './fixtures/harness.js';
import { connectRawClient, encodeFrame, FrameParser, OP, RawConnection, RawServer } from './helpers/raw-peer.ts';

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

/** Ids of the NON-STRICT lines of a report. */
function nonStrictIds(out: string[]): string[] {
  return out.filter((l) => l.startsWith('NON-STRICT ')).map((l) => l.split(/\s+/)[1]!);
}

/** The table row of a group (or "total"): passed, non-strict, failed, errors, not applicable. */
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
  assert.deepEqual(row(out, 'total'), [324, 0, 0, 0, 8]);
  assert.deepEqual(row(out, '6 UTF-8'), [130, 0, 0, 0, 0]);
  assert.deepEqual(row(out, '7 closing'), [39, 0, 0, 0, 4]);
  assert.deepEqual(row(out, '10 misc and maxPayload'), [1, 0, 0, 0, 4]);
  assert.deepEqual(failedIds(out), []);
  assert.deepEqual(nonStrictIds(out), []);
  assert.deepEqual(notApplicableIds(out), NOT_APPLICABLE);
  assert.match(out.find((l) => l.startsWith('N/A  10.2.1'))!, /needs the server's maxPayload set to 1024$/);
  assert.equal(err, '');
});

test('check against a ws echo server: exactly the UTF-8 fail-fast cases 6.4.1-6.4.4 are non-strict, exit 0; exit 1 with --strict', async () => {
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
  assert.equal(code, 0, `${out.join('\n')}\n${err}`);
  assert.equal(out[0], `RFC 6455 conformance of ${url}/: 320 of 324 applicable cases passed, 4 non-strict, 8 not applicable`);
  assert.deepEqual(failedIds(out), []);
  assert.deepEqual(nonStrictIds(out), ['6.4.1', '6.4.2', '6.4.3', '6.4.4']);
  assert.deepEqual(row(out, 'total'), [320, 4, 0, 0, 8]);
  assert.deepEqual(row(out, '6 UTF-8'), [126, 4, 0, 0, 0]);
  // ws validates UTF-8 once the message (3.x fragments) or the frame (chops) is complete:
  // RFC 6455 8.1 does not say when, so late detection is non-strict.
  for (const line of out.filter((l) => l.startsWith('NON-STRICT '))) {
    assert.match(
      line,
      /expected \(RFC 6455 8\.1, 7\.4\.1\): .*1007 before the 3rd .*; got: late UTF-8 check: no close frame within 2000 ms while the rest of the message was withheld; close frame \(code 1007, reason ""\) once the rest was sent$/,
    );
  }
  assert.deepEqual(notApplicableIds(out), NOT_APPLICABLE);

  const strict = await check([url, '--strict', '--case', '6.4,6.5.1']);
  assert.equal(strict.code, 1, `${strict.out.join('\n')}\n${strict.err}`);
  assert.equal(strict.out[0], `RFC 6455 conformance of ${url}/: 1 of 5 applicable cases passed, 4 non-strict (counted as failed: --strict)`);
  assert.deepEqual(nonStrictIds(strict.out), ['6.4.1', '6.4.2', '6.4.3', '6.4.4']);
  assert.deepEqual(row(strict.out, 'total'), [1, 4, 0, 0, 0]);
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
 * once the whole frame arrived (6.4.3, 6.4.4). Autobahn grades these "non-strict", and so
 * does the check: none of them is a failure. 3.4 (the same as 3.2 written a byte at a time)
 * races: whether the echo is written before the bad frame's last byte is read depends on
 * scheduling, so it may pass or be non-strict.
 */
const PYTHON_RACY = ['3.4'];
const PYTHON_NON_STRICT = [
  '3.2',
  ...Array.from({ length: 16 }, (_, i) => `3.8.${i + 1}`),
  ...[2, 4, 6, 8, 10].map((n) => `4.1.${n}`),
  ...[2, 4, 6, 8, 10].map((n) => `4.2.${n}`),
  '5.15',
  '6.4.3',
  '6.4.4',
  '7.1.6',
];

test('check against a Python websockets echo server: its known deviations are non-strict, none fails, exit 0', async (t: TestContext) => {
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
  assert.equal(code, 0, `${out.join('\n')}\n${err}`);
  assert.deepEqual(failedIds(out), []);
  const nonStrict = nonStrictIds(out);
  const racy = nonStrict.filter((id) => PYTHON_RACY.includes(id));
  assert.deepEqual(
    nonStrict.filter((id) => !PYTHON_RACY.includes(id)),
    PYTHON_NON_STRICT,
  );
  assert.deepEqual(row(out, 'total'), [324 - nonStrict.length, nonStrict.length, 0, 0, 8]);
  assert.equal(nonStrict.length, PYTHON_NON_STRICT.length + racy.length);
  assert.match(
    out.find((l) => l.startsWith('NON-STRICT 3.2 '))!,
    /got: close frame \(code 1002, reason ""\) came without the echo of the valid 13-byte text message sent before it/,
  );
  assert.match(out.find((l) => l.startsWith('NON-STRICT 6.4.3 '))!, /got: late UTF-8 check: .*close frame \(code 1007, reason ""\) once the rest was sent$/);
  assert.match(
    out.find((l) => l.startsWith('NON-STRICT 7.1.6 '))!,
    /got: close frame \(code 1000, reason ""\) came without the echo of the valid 262144-byte text message/,
  );
});

test('--case filters by id prefix, comma-separated or repeated', async () => {
  const one = await check([echoUrl, '--case', '1.1']);
  assert.equal(one.code, 0, one.err);
  assert.deepEqual(row(one.out, '1 framing'), [8, 0, 0, 0, 0]);
  assert.deepEqual(row(one.out, 'total'), [8, 0, 0, 0, 0]);
  const several = await check([echoUrl, '--case', '2.1,6.4', '--case', '7.10.1']);
  assert.equal(several.code, 0, several.err);
  assert.deepEqual(row(several.out, '2 ping/pong'), [1, 0, 0, 0, 0]); // 2.1 only: a prefix ends at a dot, 2.10 is not in it
  assert.deepEqual(row(several.out, '6 UTF-8'), [4, 0, 0, 0, 0]);
  assert.deepEqual(row(several.out, 'total'), [5, 0, 0, 0, 1]);
  assert.deepEqual(notApplicableIds(several.out), ['7.10.1']);
});

test('wss:// with -k against serve --tls-cert', async () => {
  const server = start('serve', '--host', '127.0.0.1', '--port', '0', '--echo', '--tls-cert', TLS_CERT, '--tls-key', TLS_KEY);
  const [, url] = await server.line(/^Listening on (wss:\/\/127\.0\.0\.1:\d+)$/);
  const ok = await check([url!, '-k', '--case', '1.1,5.19', '-H', 'X-Check: yes']);
  assert.equal(ok.code, 0, ok.err);
  assert.deepEqual(row(ok.out, 'total'), [9, 0, 0, 0, 0]);
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
    // C3: a line break in a value would smuggle in a header (Host included); other controls too.
    [['ws://127.0.0.1:1', '-H', 'Host: x\r\nSec-WebSocket-Extensions: permessage-deflate'], /bad header 'Host: x\\x0d\\x0aSec-WebSocket-Extensions: permessage-deflate': a header value cannot hold a line break/],
    [['ws://127.0.0.1:1', '-H', 'X-Test: a\nb'], /a header value cannot hold a line break or another control character/],
    [['ws://127.0.0.1:1', '-H', 'X-Test: a\u0001b'], /a header value cannot hold a line break or another control character/],
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

// ---------------------------------------------------------------------------------------------
// Fake servers on the raw peer (RawServer plays the server; RawConnection reads the checker's
// masked frames): the first connection is the checker's echo probe and gets a correct echo,
// later ones get `misbehave`.
// ---------------------------------------------------------------------------------------------

/** Answers like an echo server until the client goes: echo (with `mutate`), pong, close echo. */
async function echoLoop(conn: RawConnection, mutate: (data: Buffer) => Buffer = (d) => d): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    const ev = await conn.nextEvent(30_000);
    if (ev.type === 'message') await conn.send({ opcode: ev.opcode, payload: mutate(ev.data) });
    else if (ev.type === 'ping') await conn.sendPong(ev.data);
    else if (ev.type === 'close') {
      await conn.sendClose(ev.code);
      conn.end();
      return;
    }
  }
}

/** A fake server; stop it with the returned function (also registered in `closers`). */
async function fakeServer(misbehave: (conn: RawConnection, index: number) => Promise<void>): Promise<{ url: string; stop: () => Promise<void> }> {
  const rs = await RawServer.listen();
  let stopped = false;
  const loop = (async () => {
    for (let index = 0; !stopped && index < 10_000; ) {
      let conn: RawConnection;
      try {
        ({ conn } = await rs.accept({ timeoutMs: 200 }));
      } catch {
        continue; // no connection within 200 ms: look at `stopped` again
      }
      const handler = index === 0 ? echoLoop(conn) : misbehave(conn, index);
      index++;
      handler.catch(() => {}).finally(() => conn.destroy());
    }
  })();
  const stop = async () => {
    stopped = true;
    await within(loop, 'the fake server loop to end', 5_000).catch(() => {});
    await rs.close();
  };
  closers.push(stop);
  return { url: rs.url(), stop };
}

/** Writes `chunk` until the socket is gone or `cap` bytes went out; returns the bytes written. */
async function stream(conn: RawConnection, first: Buffer, chunk: () => Buffer, cap: number): Promise<number> {
  let written = 0;
  const socket = conn.socket;
  const put = async (bytes: Buffer) => {
    if (!socket.write(bytes)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
    written += bytes.length;
  };
  await put(first);
  while (written < cap && !socket.destroyed && socket.writable) await put(chunk());
  return written;
}

const MiB = 1024 * 1024;
/** What a hostile server is ready to stream: far beyond the checker's 64 MiB bound. */
const HOSTILE_CAP = 512 * MiB;

test('C1: a server announcing a 2^40-byte frame and streaming it fails the case at the header; the checker stops reading', async () => {
  const written: number[] = [];
  const srv = await fakeServer(async (conn) => {
    await conn.nextEvent(10_000); // the case's first message
    const header = encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(0), declaredLength: 2n ** 40n }, false);
    const zeros = Buffer.alloc(MiB);
    written.push(await stream(conn, header, () => zeros, HOSTILE_CAP));
  });
  const { code, out, err } = await check([srv.url, '--case', '1.1.1', '--timeout', '2'], 60_000);
  assert.equal(code, 1, `${out.join('\n')}\n${err}`);
  assert.deepEqual(failedIds(out), ['1.1.1']);
  assert.match(
    out.find((l) => l.startsWith('FAIL 1.1.1 '))!,
    /got: implementation under test broke the framing rules: the server sent more than 64 MiB \(a frame header announcing 1099511627776 bytes\); this check holds at most 64 MiB and stopped reading$/,
  );
  await srv.stop();
  // The checker closed the connection long before the server was done streaming.
  assert.equal(written.length, 1);
  assert.ok(written[0]! < HOSTILE_CAP, `the server could stream all ${written[0]} bytes`);
});

test('C1: a fragmented message that never ends fails the case once it passes 64 MiB; the checker stops reading', async () => {
  const written: number[] = [];
  const srv = await fakeServer(async (conn) => {
    await conn.nextEvent(10_000);
    const piece = encodeFrame({ opcode: OP.CONT, payload: Buffer.alloc(MiB, 0x61), fin: false }, false);
    written.push(await stream(conn, encodeFrame({ opcode: OP.TEXT, payload: 'a', fin: false }, false), () => piece, HOSTILE_CAP));
  });
  const { code, out, err } = await check([srv.url, '--case', '1.1.1', '--timeout', '2'], 60_000);
  assert.equal(code, 1, `${out.join('\n')}\n${err}`);
  assert.deepEqual(failedIds(out), ['1.1.1']);
  assert.match(out.find((l) => l.startsWith('FAIL 1.1.1 '))!, /got: implementation under test broke the framing rules: the server sent (a message of )?more than 64 MiB .*this check holds at most 64 MiB and stopped reading$/);
  await srv.stop();
  assert.equal(written.length, 1);
  assert.ok(written[0]! < HOSTILE_CAP, `the server could stream all ${written[0]} bytes`);
});

test('C1: the raw connection holds at most maxBytes: parser, unread frames, received payloads', async () => {
  // The parser decides from the header alone and keeps nothing after a fatal breach.
  const parser = new FrameParser(false, 1024);
  parser.push(encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(0), declaredLength: 1025 }, false));
  assert.equal(parser.next(), undefined);
  assert.match(parser.fatal ?? '', /the server sent more than 1 KiB \(a frame header announcing 1025 bytes\)/);
  parser.push(Buffer.alloc(4096));
  assert.equal(parser.bufferedBytes, 0);

  // Frames nobody reads: beyond maxBytes the connection fails and is destroyed.
  const rs = await RawServer.listen();
  closers.push(() => rs.close());
  const clientP = connectRawClient(rs.port, { maxBytes: 64 * 1024 });
  const { conn: server } = await rs.accept();
  const client = await clientP;
  try {
    const frame = encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(8192) }, false);
    for (let i = 0; i < 40 && !client.closed; i++) await server.write(frame);
    await client.waitClosed(10_000, 'the client to give up');
    await assert.rejects(client.nextFrame(1000), /the server sent more than 64 KiB that the check did not read yet/);
    // `received` keeps headers, and payloads only when small.
    assert.ok(client.received.length > 0, 'frames were recorded');
    assert.deepEqual(
      client.received.filter((f) => f.payloadLength !== 8192 || f.payloadKept || f.payload.length !== 0),
      [],
      'payloads above 4 KiB are not kept',
    );
  } finally {
    client.destroy();
    server.destroy();
  }
});

test('C3: connectRawClient rejects a header value with a line break before connecting (Host included)', async () => {
  const port = await freePort(); // nothing listens: had it connected, the error would be ECONNREFUSED
  await assert.rejects(
    connectRawClient(`ws://127.0.0.1:${port}/`, { headers: { Host: 'x\r\nSec-WebSocket-Extensions: permessage-deflate' } }),
    /header Host holds a control character \(line breaks included\) in "x\\x0d\\x0aSec-WebSocket-Extensions: permessage-deflate"/,
  );
  await assert.rejects(connectRawClient(`ws://127.0.0.1:${port}/`, { headers: { 'X-A': 'a\u0000' } }), /header X-A holds a control character/);
  // HTAB is allowed in a value.
  await assert.rejects(connectRawClient(`ws://127.0.0.1:${port}/`, { headers: { 'X-A': 'a\tb' } }), /ECONNREFUSED/);
});

test('C4: a server that stops answering: the run stops after 5 cases in a row timed out, exit 1', async () => {
  const srv = await fakeServer(async (conn) => {
    await conn.waitClosed(60_000, 'the checker to hang up');
  });
  const { code, out, err } = await check([srv.url, '--timeout', '0.2'], 60_000);
  assert.equal(code, 1, `${out.join('\n')}\n${err}`);
  const reason = 'stopped after 5 cases in a row (1.1.1, 1.1.2, 1.1.3, 1.1.4, 1.1.5) timed out or could not connect; 327 selected cases not run';
  assert.equal(err, `fullduplex check: ${reason}\n`);
  assert.equal(out[0], `RFC 6455 conformance of ${srv.url}: 0 of 5 applicable cases passed, 5 failed, 327 not run`);
  assert.equal(out[1], `Run stopped early: ${reason}`);
  assert.deepEqual(failedIds(out), ['1.1.1', '1.1.2', '1.1.3', '1.1.4', '1.1.5']);
  assert.deepEqual(row(out, 'total'), [0, 0, 5, 0, 0]);
});

test('C4: cases that cannot open their connection are errors of the run, not failures, and stop it', async () => {
  // The first connection (the probe) is passed through to serve --echo; later ones are refused
  // with 503, so every case's handshake fails.
  let connections = 0;
  const target = new URL(echoUrl);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (connections++ === 0) {
      const upstream = net.connect(Number(target.port), target.hostname);
      sockets.add(upstream);
      upstream.on('error', () => socket.destroy());
      upstream.on('close', () => sockets.delete(upstream));
      socket.pipe(upstream).pipe(socket);
    } else {
      socket.once('data', () => socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n'));
    }
  });
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 'the proxy to listen');
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const { code, out, err } = await check([url], 60_000);
  assert.equal(code, 1, `${out.join('\n')}\n${err}`);
  const reason = 'stopped after 5 cases in a row (1.1.1, 1.1.2, 1.1.3, 1.1.4, 1.1.5) timed out or could not connect; 327 selected cases not run';
  assert.equal(err, `fullduplex check: ${reason}\n`);
  assert.equal(out[0], `RFC 6455 conformance of ${url}: 0 of 5 applicable cases passed, 5 could not run, 327 not run`);
  assert.deepEqual(failedIds(out), []);
  assert.deepEqual(row(out, 'total'), [0, 0, 0, 5, 0]);
  const errors = out.filter((l) => l.startsWith('ERROR '));
  assert.equal(errors.length, 5);
  for (const l of errors) assert.match(l, /: cannot open the connection: bad handshake response: status line is "HTTP\/1\.1 503 Service Unavailable", expected 101/);
  assert.ok(out.includes('Could not run (errors of the run, not conformance failures):'));
});

test('C2: server keepalive pings are answered and skipped; a close echoed with 1000 instead of the code sent passes', async () => {
  let pongs = 0;
  const srv = await fakeServer(async (conn) => {
    for (let i = 0; i < 1000; i++) {
      const ev = await conn.nextEvent(30_000);
      if (ev.type === 'pong') pongs++;
      else if (ev.type === 'ping') await conn.sendPong(ev.data);
      else if (ev.type === 'message') {
        await conn.sendPing('keepalive');
        await conn.send({ opcode: ev.opcode, payload: ev.data });
      } else {
        await conn.sendPing('keepalive'); // the checker sent its close: no pong is due
        await conn.sendClose(1000, 'always 1000');
        conn.end();
        return;
      }
    }
  });
  const { code, out, err } = await check([srv.url, '--case', '1.1.1,2.2,7.7.1,7.7.13'], 30_000);
  assert.equal(code, 0, `${out.join('\n')}\n${err}`);
  assert.equal(out[0], `RFC 6455 conformance of ${srv.url}: 4 of 4 applicable cases passed`);
  assert.deepEqual(row(out, 'total'), [4, 0, 0, 0, 0]);
  await srv.stop();
  assert.equal(pongs, 1, 'the keepalive ping before the echo of 1.1.1 was answered');
});

test('C2: a server that leaves TCP open after the closing handshake (RFC 6455 7.1.1 SHOULD) is non-strict, exit 0', async () => {
  const lingering = () =>
    fakeServer(async (conn) => {
      const ev = await conn.nextEvent(30_000);
      if (ev.type === 'close') await conn.sendClose(ev.code);
      await conn.waitClosed(60_000, 'the checker to close TCP');
    });
  const srv = await lingering();
  const { code, out, err } = await check([srv.url, '--case', '7.3.3', '--timeout', '0.5'], 30_000);
  assert.equal(code, 0, `${out.join('\n')}\n${err}`);
  assert.deepEqual(nonStrictIds(out), ['7.3.3'], out.join('\n'));
  assert.match(
    out.find((l) => l.startsWith('NON-STRICT 7.3.3 '))!,
    /got: the server did not close the TCP connection within 500 ms of the closing handshake \(RFC 6455 7\.1\.1: the server SHOULD close it first\); the check closed it$/,
  );
  const again = await lingering(); // a fresh server: its first connection is the probe
  const strict = await check([again.url, '--case', '7.3.3', '--timeout', '0.5', '--strict'], 30_000);
  assert.equal(strict.code, 1);
  assert.deepEqual(nonStrictIds(strict.out), ['7.3.3']);
});

test('C5: --timeout is rounded up to whole milliseconds, never to 0', () => {
  const ms = (t: string) => parseCheckArgs(['ws://127.0.0.1:1', '--timeout', t])!.options.waitMs;
  assert.equal(ms('0.0004'), 1);
  assert.equal(ms('0.001'), 1);
  assert.equal(ms('0.0011'), 2);
  assert.equal(ms('0.3'), 300);
  assert.equal(ms('1.1'), 1100);
  assert.equal(ms('600'), 600_000);
});

test('C6: bytes from the server are escaped and cut short in messages', async () => {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.end(
        `HTTP/1.1 200 OK\x1b[31m${'A'.repeat(1000)}\r\n` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Accept: \x1b]0;pwned\x07\u009b2J\r\n\r\n',
        'latin1',
      );
    });
  });
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 'the fake server to listen');
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const { code, out, err } = await check([url], 10_000);
  assert.equal(code, 1);
  assert.deepEqual(out, []);
  assert.doesNotMatch(err, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, 'no control character reaches the terminal');
  assert.match(err, /status line is "HTTP\/1\.1 200 OK\\x1b\[31mA{180}\.\.\. \(820 more characters\)", expected 101/);
  assert.match(err, /Sec-WebSocket-Accept is "\\x1b\]0;pwned\\x07\\x9b2J", expected /);
  assert.equal(err.trim().split('\n').length, 1);
});

test('C7: a report written to a slow pipe arrives whole (no process.exit cutting it short)', async (t: TestContext) => {
  if (spawnSync(PYTHON, ['-c', 'import fcntl'], { timeout: 10_000 }).status !== 0) {
    t.skip(`${PYTHON} not available`);
    return;
  }
  // A wrong echo: every message but the probe comes back with one byte more, so every case of
  // group 1 fails quickly and the report is far larger than the pipe.
  const srv = await fakeServer((conn) => echoLoop(conn, (d) => Buffer.concat([d, Buffer.from('x')])));
  // The CLI's stdout is an OS pipe of one page (F_SETPIPE_SZ) that the reader only starts to
  // drain a while after the first bytes arrive.
  const reader = [
    'import fcntl, os, select, subprocess, sys, time',
    'r, w = os.pipe()',
    'fcntl.fcntl(w, 1031, 4096)',
    'p = subprocess.Popen(sys.argv[1:], stdout=w)',
    'os.close(w)',
    'select.select([r], [], [], 60)',
    'time.sleep(0.5)',
    'data = b""',
    'while True:',
    '    chunk = os.read(r, 65536)',
    '    if not chunk: break',
    '    data += chunk',
    'sys.stdout.buffer.write(data)',
    'sys.exit(p.wait(timeout=60))',
  ].join('\n');
  // Asynchronous: the fake server runs in this process.
  const proc = spawn(PYTHON, ['-c', reader, process.execPath, CLI, 'check', srv.url, '--case', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const r = { stdout: '', stderr: '', status: null as number | null };
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (r.stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (r.stderr += d));
  const [status] = (await within(once(proc, 'close'), 'the piped check to finish', 90_000).catch((err: unknown) => {
    if (proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, 'SIGKILL');
    throw err;
  })) as [number | null];
  r.status = status;
  assert.equal(r.status, 1, `${r.stderr}\n${r.stdout}`);
  const lines = r.stdout.split('\n');
  assert.ok(r.stdout.length > 8192, `report of ${r.stdout.length} bytes; stderr: ${r.stderr}`);
  // 1.5.3 and 1.5.5: the fake server drops the connection without a close frame (non-strict).
  assert.equal(lines[0], `RFC 6455 conformance of ${srv.url}: 0 of 34 applicable cases passed, 2 non-strict, 32 failed`);
  assert.equal(failedIds(lines).length, 32);
  assert.deepEqual(nonStrictIds(lines), ['1.5.3', '1.5.5']);
  assert.match(lines.at(-2)!, /^NON-STRICT 1\.5\.5 .*the connection was closed at the TCP level without a close frame with code 1002 or 1009/);
  assert.equal(lines.at(-1), '');
});
