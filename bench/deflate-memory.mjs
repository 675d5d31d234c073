/**
 * Server memory with many compressed connections (issue 3): a server in a child process,
 * N clients that each send one compressible message and get it echoed, then RSS per
 * connection after a full GC, for several permessage-deflate settings.
 *
 *   node bench/deflate-memory.mjs [--conns 2000]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { WebSocket } from '../dist/index.js';

const conns = Number(process.argv[process.argv.indexOf('--conns') + 1]) || 2000;
const SERVER = `
  import { WebSocketServer } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: JSON.parse(process.argv[1]) });
  wss.on('connection', (ws) => ws.on('message', (d, b) => ws.send(d, { binary: b })));
  wss.on('listening', () => console.log('PORT ' + wss.address().port));
  process.stdin.on('data', () => { gc(); gc(); console.log('RSS ' + process.memoryUsage().rss); });
`;

const settings = [
  ['no compression', false],
  ['deflate, context takeover (ws defaults)', true],
  ['deflate, no context takeover both ways', { serverNoContextTakeover: true, clientNoContextTakeover: true }],
];

const payload = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ id: i, user: `user${i}`, text: 'hello world' })));

async function measure(label, option) {
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', SERVER, JSON.stringify(option)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const next = (prefix) =>
    new Promise((resolve, reject) => {
      const onLine = (line) => {
        if (!line.startsWith(prefix)) return;
        lines.off('line', onLine);
        resolve(Number(line.slice(prefix.length)));
      };
      lines.on('line', onLine);
      child.once('exit', () => reject(new Error('server exited')));
    });
  try {
    const port = await next('PORT ');
    child.stdin.write('gc\n');
    const before = await next('RSS ');
    const clients = [];
    for (let i = 0; i < conns; i += 100) {
      const batch = [];
      for (let j = i; j < Math.min(conns, i + 100); j++) {
        const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: true });
        clients.push(ws);
        batch.push(
          once(ws, 'open').then(() => {
            ws.send(payload);
            return once(ws, 'message');
          }),
        );
      }
      await Promise.all(batch);
    }
    child.stdin.write('gc\n');
    const after = await next('RSS ');
    const perConn = (after - before) / conns / 1024;
    console.log(`| ${label} | ${conns} | ${(before / 2 ** 20).toFixed(1)} MiB | ${(after / 2 ** 20).toFixed(1)} MiB | ${perConn.toFixed(1)} KiB |`);
    for (const ws of clients) ws.terminate();
  } finally {
    child.kill();
  }
}

console.log('| server setting | connections | RSS before | RSS after | per connection |');
console.log('|---|---:|---:|---:|---:|');
for (const [label, option] of settings) await measure(label, option);
