/**
 * The benchmark suites work end to end: `node bench/run.mjs --smoke` builds the C load
 * generator, runs every scenario against every contender that takes part in it (the net ceiling
 * has no permessage-deflate) with tiny parameters (every echo's
 * length, sequence number and last byte checked, every second one byte for byte), and prints
 * a table with a number in every cell; `--suite realtime --smoke` does the same for the
 * Socket.IO scenarios (fullduplex/realtime and socket.io, the load generator speaking
 * Socket.IO). No timing is asserted (timing never gates a test). Needs gcc; locally the tests
 * skip without it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const LIMIT_MS = 60_000;

const hasGcc = !spawnSync('gcc', ['--version']).error;
const skip = !hasGcc && process.env.CI !== 'true' ? 'gcc is not installed (apt-get install gcc)' : false;

const CONTENDERS = ['fullduplex', 'ws', 'ws + bufferutil', 'net ceiling'];
const ROWS = [
  /^echo 32 B, /,
  /^echo 16 KiB, /,
  /^echo 1 MiB, /,
  /^latency p50 at /,
  /^latency p99 at /,
  /^latency p99\.9 at /,
  /^handshakes\/s, /,
  /^memory per idle conn \(RSS\), /,
  /^memory per idle conn \(JS heap \+ external\), /,
  /^broadcast /,
];
/** Rows the net ceiling does not take part in (permessage-deflate): its cells say n/a. */
const NO_CEILING_ROWS = [/^deflate echo 4 KiB JSON text, /, /^deflate echo: server RSS after the run/];

type Smoke = { code: number | null; signal: string | null; stdout: string; stderr: string };

function runSmoke(...args: string[]): Promise<Smoke> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bench/run.mjs', '--smoke', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${LIMIT_MS} ms)`;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM'); // the runner kills its own children
    }, LIMIT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The printed table: its rows (the header first) as trimmed cells, and a header column's index. */
function table(stdout: string): { rows: string[][]; column: (name: string) => number } {
  const rows = stdout
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) => l.slice(1, -1).split('|').map((c) => c.trim()));
  const header = rows[0];
  assert.ok(header, `no table in the output:\n${stdout}`);
  const column = (name: string): number => {
    const i = header.indexOf(name);
    assert.ok(i > 0, `column '${name}' missing from ${header.join(' | ')}`);
    return i;
  };
  return { rows, column };
}

const NUMBER = /^[0-9][0-9,]*(\.[0-9]+)?( \*)?$/;
const RATIO = /^[0-9]+\.[0-9]+x$/;

/** The raw results the smoke run wrote: every echo checked, every second one byte for byte. */
function checkedRuns(file: string): Record<string, Array<Record<string, number | string>>> {
  const raw = JSON.parse(readFileSync(path.join(ROOT, 'bench/.build', file), 'utf8'));
  const results = raw.results as Record<string, Array<Record<string, number>>>;
  for (const [key, runs] of Object.entries(results)) {
    if (!/^(echo|latency|broadcast|deflate|sio)/.test(key)) continue;
    for (const r of runs) {
      assert.ok(r.checked > 0, `${key}: no message was checked`);
      assert.ok(r.verified_full * 2 >= r.checked, `${key}: fewer than half the messages were checked byte for byte`);
    }
  }
  return results;
}

test('bench smoke: every scenario runs against every contender, echoes verified', { skip, timeout: LIMIT_MS + 15_000 }, async () => {
  const { code, signal, stdout, stderr } = await runSmoke();
  assert.equal(code, 0, `bench/run.mjs --smoke exited ${code ?? signal}:\n${stderr.slice(-4000)}`);

  const { rows, column } = table(stdout);
  const header = rows[0];
  const columns = CONTENDERS.map(column);
  const ratioColumns = ['fullduplex/ws', 'fullduplex/ceiling'].map(column);
  for (const pattern of [...ROWS, ...NO_CEILING_ROWS]) {
    const row = rows.find((r) => pattern.test(r[0]));
    assert.ok(row, `no row matching ${pattern} in:\n${stdout}`);
    const ceiling = !NO_CEILING_ROWS.includes(pattern);
    columns.forEach((i, k) => {
      if (!ceiling && CONTENDERS[k] === 'net ceiling') assert.equal(row[i], 'n/a', `'${row[0]}' / '${header[i]}' should be n/a`);
      else assert.match(row[i], NUMBER, `'${row[0]}' / '${header[i]}' is not a number`);
    });
    ratioColumns.forEach((i, k) => {
      if (!ceiling && k === 1) assert.equal(row[i], 'n/a', `'${row[0]}' / '${header[i]}' should be n/a`);
      else assert.match(row[i], RATIO, `'${row[0]}' / '${header[i]}' is not a ratio`);
    });
  }

  const results = checkedRuns('results-smoke.json');
  for (const [key, runs] of Object.entries(results)) {
    if (!key.startsWith('deflate')) continue;
    for (const r of runs) {
      assert.equal(r.deflate, 1, `${key}: permessage-deflate was not negotiated`);
      assert.ok(Number(r.rx_compressed_msgs) > 0 && Number(r.wire_ratio_rx) < 1, `${key}: the echoes did not come back compressed`);
    }
  }
  // The net ceiling takes no part in the deflate scenario.
  assert.ok(!('deflate-echo/net' in results), 'deflate-echo/net should not have run');
  for (const c of ['fullduplex', 'ws', 'ws-bufferutil']) assert.ok(`deflate-echo/${c}` in results, `deflate-echo/${c} did not run`);
});

test('bench smoke, realtime suite: event echo and room broadcast on fullduplex/realtime and socket.io, verified', { skip, timeout: LIMIT_MS + 15_000 }, async () => {
  const { code, signal, stdout, stderr } = await runSmoke('--suite', 'realtime');
  assert.equal(code, 0, `bench/run.mjs --suite realtime --smoke exited ${code ?? signal}:\n${stderr.slice(-4000)}`);

  const { rows, column } = table(stdout);
  const columns = ['fullduplex/realtime', 'socket.io', 'socket.io + bufferutil', 'fullduplex/socket.io', 'fullduplex/(socket.io+bufferutil)'].map(column);
  for (const pattern of [/^event echo, 48 B string, /, /^room broadcast, 48 B string to /]) {
    const row = rows.find((r) => pattern.test(r[0]));
    assert.ok(row, `no row matching ${pattern} in:\n${stdout}`);
    columns.forEach((i, k) => assert.match(row[i], k < 3 ? NUMBER : RATIO, `'${row[0]}' / '${rows[0][i]}'`));
  }

  // The load generator spoke Socket.IO to every contender, and the receivers got every event.
  const results = checkedRuns('results-realtime-smoke.json');
  for (const scenario of ['sio-echo', 'sio-broadcast']) {
    for (const c of ['fullduplex', 'socket.io', 'socket.io-bufferutil']) {
      const runs = results[`${scenario}/${c}`];
      assert.ok(runs?.length, `${scenario}/${c} did not run`);
      for (const r of runs) assert.equal(r.proto, 'sio', `${scenario}/${c}: not a Socket.IO run`);
    }
  }
});
