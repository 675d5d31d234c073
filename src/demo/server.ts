/**
 * `npm start`: runs the chat app on http://localhost:8080. The PORT environment variable
 * overrides the port (0 picks a free one), HOST the interface (default: all).
 */
import { startChatApp } from './app.js';

function fail(message: string, code: number): never {
  process.stderr.write(`fullduplex chat: ${message}\n`);
  process.exit(code);
}

const portText = process.env['PORT'] ?? '8080';
if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
  fail(`PORT must be an integer from 0 to 65535, got '${portText}'`, 2);
}
const host = process.env['HOST'] || undefined;

try {
  const app = await startChatApp(Number(portText), host);
  const stop = (): void => {
    app.close().then(() => process.exit(0), () => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const shown = host === undefined ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  process.stdout.write(`Demo on http://${shown}:${app.port}\n`);
} catch (err) {
  fail(`cannot listen on ${host ?? '*'}:${portText}: ${(err as Error).message}`, 1);
}
