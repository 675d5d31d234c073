/**
 * The benchmark suite works end to end: `node bench/run.mjs --smoke` builds the C load
 * generator, runs every scenario against every contender with tiny parameters (every echo's
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
  for (const pattern of ROWS) {
    const row = rows.find((r) => pattern.test(r[0]));
    assert.ok(row, `no row matching ${pattern} in:\n${stdout}`);
    for (const i of columns) assert.match(row[i], /^[0-9][0-9,]*(\.[0-9]+)?( \*)?$/, `'${row[0]}' / '${header[i]}' is not a number`);
    for (const i of ratioColumns) assert.match(row[i], /^[0-9]+\.[0-9]+x$/, `'${row[0]}' / '${header[i]}' is not a ratio`);
  }

  // The raw results: every echo was checked, and every second one byte for byte.
  const raw = JSON.parse(readFileSync(path.join(ROOT, 'bench/.build/results-smoke.json'), 'utf8'));
  for (const [key, runs] of Object.entries(raw.results as Record<string, Array<Record<string, number>>>)) {
    if (!/^(echo|latency|broadcast)/.test(key)) continue;
    for (const r of runs) {
      assert.ok(r.checked > 0, `${key}: no message was checked`);
      assert.ok(r.verified_full * 2 >= r.checked, `${key}: fewer than half the messages were checked byte for byte`);
    }
  }
});
