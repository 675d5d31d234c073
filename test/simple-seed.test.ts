/**
 * Seed 002's nodejs-websocket server runs unchanged on fullduplex/simple: only its require
 * line differs (test/fixtures/seed-002-server.cjs). The test copies it next to a
 * node_modules/fullduplex link to this checkout, as a user's project would have after
 * `npm install fullduplex`, and swaps the port number for a free one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Child, closed, freePort, Inbox, openClient, ROOT } from './fixtures/harness.js';

const FIXTURE = path.join(ROOT, 'test/fixtures/seed-002-server.cjs');

let dir = '';
let child: Child | undefined;
let port = 0;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fullduplex-seed-'));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(ROOT, path.join(dir, 'node_modules/fullduplex'), 'dir');
  port = await freePort();
  const source = readFileSync(FIXTURE, 'utf8');
  assert.match(source, /^const ws = require\("fullduplex\/simple"\)$/m);
  assert.equal(source.match(/5208/g)?.length, 2, 'the seed listens on 5208 (and says so in a comment)');
  writeFileSync(path.join(dir, 'server.cjs'), source.replace('.listen(5208,', `.listen(${port},`));
  child = new Child(['server.cjs'], { cwd: dir });
  await child.line(/^app is running at port!$/);
});

after(async () => {
  await child?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the seed 002 server answers "hello" with "HELLO!!!"', async () => {
  const ws = await openClient(`ws://127.0.0.1:${port}`);
  const inbox = new Inbox(ws);
  await child!.line(/^New connection$/);
  ws.send('hello');
  const [reply] = await inbox.take(1);
  assert.equal(reply!.isBinary, false);
  assert.equal(reply!.data.toString(), 'HELLO!!!');
  await child!.line(/^Received hello$/);

  ws.send('你好, websocket');
  const [, second] = await inbox.take(2);
  assert.equal(second!.data.toString(), '你好, WEBSOCKET!!!');

  const done = closed(ws);
  ws.close(1000, 'bye');
  assert.deepEqual(await done, { code: 1000, reason: 'bye' });
  await child!.line(/^Connection closed$/);
  assert.equal(child!.stderr, '', 'the seed prints nothing on stderr');
});

test('several clients are served independently', async () => {
  const clients = await Promise.all([1, 2, 3].map(() => openClient(`ws://127.0.0.1:${port}`)));
  const inboxes = clients.map((ws) => new Inbox(ws));
  clients.forEach((ws, i) => ws.send(`client ${i}`));
  for (const [i, inbox] of inboxes.entries()) {
    const [reply] = await inbox.take(1);
    assert.equal(reply!.data.toString(), `CLIENT ${i}!!!`);
    assert.equal(inbox.messages.length, 1);
  }
  await Promise.all(clients.map((ws) => {
    const done = closed(ws);
    ws.close();
    return done;
  }));
});
