/**
 * Child process for the decompression-bomb test (test/conformance-deflate.test.ts): our
 * WebSocketServer with permessage-deflate and maxPayload = argv[2] bytes, echoing messages, in
 * a process of its own so that its memory can be measured alone.
 *
 * Prints one JSON object per line on stdout:
 *   {"event":"listening","port":N}
 *   {"event":"open","n":K,"rss":..,"maxRSS":..}          baseline, after a GC, when connection K opens
 *   {"event":"closed","n":K,"code":C,"rss":..,"maxRSS":..,"external":..,"arrayBuffers":..}
 * rss/external/arrayBuffers in bytes (process.memoryUsage), maxRSS in bytes (the peak RSS of
 * the process so far, from process.resourceUsage). Exits when stdin ends (the parent is done
 * or died), so it never outlives the test.
 *
 * Run: node --expose-gc --import tsx test/helpers/deflate-bomb-server.ts <maxPayload>
 */
import { WebSocketServer } from '../../src/index.ts';

const maxPayload = Number(process.argv[2] ?? 1 << 20);
const gc = (globalThis as { gc?: () => void }).gc;

function memory(): Record<string, number> {
  const m = process.memoryUsage();
  return { rss: m.rss, maxRSS: process.resourceUsage().maxRSS * 1024, external: m.external, arrayBuffers: m.arrayBuffers };
}

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload, perMessageDeflate: true });
let count = 0;
wss.on('listening', () => emit({ event: 'listening', port: (wss.address() as { port: number }).port }));
wss.on('connection', (ws) => {
  const n = ++count;
  gc?.();
  emit({ event: 'open', n, ...memory() });
  ws.on('error', () => {}); // the close code is what counts
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  ws.on('close', (code: number) => emit({ event: 'closed', n, code, ...memory() }));
});

process.stdin.resume();
process.stdin.on('end', () => {
  for (const ws of wss.clients ?? []) ws.terminate();
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
