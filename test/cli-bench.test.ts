/**
 * `fullduplex bench` (node dist/cli/main.js) against `fullduplex serve --echo`: the C load
 * generator is built with cc on first use; the run must echo-verify and report JSON.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Child } from './fixtures/harness.js';

const CLI = 'dist/cli/main.js';
const children: Child[] = [];
after(async () => {
  await Promise.all(children.map((c) => c.kill()));
});

test('bench echo and connect against serve --echo report verified results', async () => {
  const server = new Child([CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--echo']);
  children.push(server);
  const [, url] = await server.line(/^Listening on (ws:\/\/127\.0\.0\.1:\d+)$/);
  for (const scenario of ['echo', 'connect']) {
    const run = new Child([CLI, 'bench', url!, '--scenario', scenario, '--conns', '4', '--duration', '0.5', '--warmup', '0.1']);
    children.push(run);
    const { code } = await run.exit();
    assert.equal(code, 0, run.stderr);
    const json = JSON.parse(run.stdoutLines.find((l) => l.startsWith('{'))!);
    assert.equal(json.mode, scenario);
    if (scenario === 'echo') {
      assert.ok(json.msgs > 0 && json.checked > 0, 'echoes were received and checked');
    } else {
      assert.equal(json.handshakes, 4);
    }
  }
});

test('bench refuses wss://, unknown scenarios and bad numbers with a one-line usage error', async () => {
  for (const args of [
    ['wss://127.0.0.1:1'],
    ['ws://127.0.0.1:1', '--scenario', 'nope'],
    ['ws://127.0.0.1:1', '--conns', 'x'],
    ['http://127.0.0.1:1'],
  ]) {
    const run = new Child([CLI, 'bench', ...args]);
    children.push(run);
    const { code } = await run.exit();
    assert.equal(code, 2, args.join(' '));
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  }
});
