/**
 * The chat app behind `npm start`: one HTTP server with the page (page-files.ts), the
 * Socket.IO-compatible Server of fullduplex/realtime (which also serves the browser client at
 * /socket.io/socket.io.js), and the chat on it (chat-server.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type ServerOptions } from '../realtime/index.js';
import { attachChat, type Chat } from './chat-server.js';
import { pageHandler } from './page-files.js';

/**
 * Most bytes queued for one client: 2 MiB. The most a page asks for at once is a join per room
 * after a reconnect: MAX_JOINED (10) replies of up to HISTORY_SIZE (100) messages, ~60 KB each
 * for latin text (~0.6 MB in all), more for emoji. A polling client gets them in one response, so
 * 1 MiB would leave little headroom for a real page after a server restart; 2 MiB still bounds a
 * client that never reads 32 times tighter than the library's default.
 */
export const CHAT_MAX_BUFFERED = 2 * 1024 * 1024;

/**
 * Server options of the chat: small packets (a message is at most 500 characters), quick
 * dead-peer detection, and connection state recovery (a client back within two minutes gets its
 * rooms and the packets it missed; the nickname check runs again, as someone may have taken the
 * nickname meanwhile). The chat does not rely on recovery: its clients also ask for what they missed.
 *
 * A client that does not read (or poll) can make the server queue at most CHAT_MAX_BUFFERED bytes
 * for it; then its session ends with 'transport error' (the library's default is 64 MiB).
 */
export const CHAT_SERVER_OPTIONS: ServerOptions = {
  maxHttpBufferSize: 16 * 1024,
  maxBufferedAmount: CHAT_MAX_BUFFERED,
  pingInterval: 10_000,
  pingTimeout: 5_000,
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: false },
};

/** A running chat app. */
export interface ChatApp {
  server: http.Server;
  io: Server;
  chat: Chat;
  port: number;
  /** Disconnects every client and closes the HTTP server. */
  close(): Promise<void>;
}

/**
 * Starts the app on `port` (0: any free port) and `host` (default: all interfaces); `options`
 * override CHAT_SERVER_OPTIONS (tests turn recovery off with `connectionStateRecovery: undefined`).
 */
export async function startChatApp(port: number, host?: string, options: ServerOptions = {}): Promise<ChatApp> {
  const server = http.createServer(pageHandler());
  const io = new Server(server, { ...CHAT_SERVER_OPTIONS, ...options });
  const chat = attachChat(io);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    io,
    chat,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      const closing = io.close();
      server.closeAllConnections();
      await closing;
    },
  };
}
