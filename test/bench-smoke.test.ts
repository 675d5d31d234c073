/**
 * The benchmark suite works end to end: `node bench/run.mjs --smoke` builds the C load
 * generator, runs every scenario against every contender that takes part in it (the net ceiling
 * has no permessage-deflate) with tiny parameters (every echo's
 * length, sequence number and last byte checked, every second one byte for byte), and prints
 * a table with a number in every cell. No timing is
 * asserted (timing never gates a test). Needs gcc; locally the test skips without it.
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

function runSmoke(): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bench/run.mjs', '--smoke'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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

test('bench smoke: every scenario runs against every contender, echoes verified', { skip, timeout: LIMIT_MS + 15_000 }, async () => {
  const { code, signal, stdout, stderr } = await runSmoke();
  assert.equal(code, 0, `bench/run.mjs --smoke exited ${code ?? signal}:\n${stderr.slice(-4000)}`);

  const rows = stdout
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) => l.slice(1, -1).split('|').map((c) => c.trim()));
  const header = rows[0];
  assert.ok(header, `no table in the output:\n${stdout}`);
  const columns = CONTENDERS.map((name) => {
    const i = header.indexOf(name);
    assert.ok(i > 0, `column '${name}' missing from ${header.join(' | ')}`);
    return i;
  });
  const ratioColumns = ['fullduplex/ws', 'fullduplex/ceiling'].map((name) => {
    const i = header.indexOf(name);
    assert.ok(i > 0, `column '${name}' missing from ${header.join(' | ')}`);
    return i;
  });
  for (const pattern of [...ROWS, ...NO_CEILING_ROWS]) {
    const row = rows.find((r) => pattern.test(r[0]));
    assert.ok(row, `no row matching ${pattern} in:\n${stdout}`);
    const ceiling = !NO_CEILING_ROWS.includes(pattern);
    columns.forEach((i, k) => {
      if (!ceiling && CONTENDERS[k] === 'net ceiling') assert.equal(row[i], 'n/a', `'${row[0]}' / '${header[i]}' should be n/a`);
      else assert.match(row[i], /^[0-9][0-9,]*(\.[0-9]+)?( \*)?$/, `'${row[0]}' / '${header[i]}' is not a number`);
    });
    ratioColumns.forEach((i, k) => {
      if (!ceiling && k === 1) assert.equal(row[i], 'n/a', `'${row[0]}' / '${header[i]}' should be n/a`);
      else assert.match(row[i], /^[0-9]+\.[0-9]+x$/, `'${row[0]}' / '${header[i]}' is not a ratio`);
    });
  }

  // The raw results: every echo was checked, and every second one byte for byte.
  const raw = JSON.parse(readFileSync(path.join(ROOT, 'bench/.build/results-smoke.json'), 'utf8'));
  for (const [key, runs] of Object.entries(raw.results as Record<string, Array<Record<string, number>>>)) {
    if (!/^(echo|latency|broadcast|deflate)/.test(key)) continue;
    for (const r of runs) {
      assert.ok(r.checked > 0, `${key}: no message was checked`);
      assert.ok(r.verified_full * 2 >= r.checked, `${key}: fewer than half the messages were checked byte for byte`);
      if (key.startsWith('deflate')) {
        assert.equal(r.deflate, 1, `${key}: permessage-deflate was not negotiated`);
        assert.ok(r.rx_compressed_msgs > 0 && r.wire_ratio_rx < 1, `${key}: the echoes did not come back compressed`);
      }
    }
  }
  // The net ceiling takes no part in the deflate scenario.
  assert.ok(!('deflate-echo/net' in raw.results), 'deflate-echo/net should not have run');
  for (const c of ['fullduplex', 'ws', 'ws-bufferutil']) assert.ok(`deflate-echo/${c}` in raw.results, `deflate-echo/${c} did not run`);
});
