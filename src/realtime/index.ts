/**
 * fullduplex/realtime: a Socket.IO-compatible server (Socket.IO v5 over Engine.IO v4), so the
 * real `socket.io-client` (and the other Socket.IO clients) connect to it.
 *
 *   import { Server } from 'fullduplex/realtime';
 *   const io = new Server(httpServer, { cors: true });
 *   io.on('connection', (socket) => socket.on('chat', (msg) => io.emit('chat', msg)));
 */
export { Server, type ServerOptions } from './server.js';
export { Namespace, type NamespaceMiddleware } from './namespace.js';
export { ParentNamespace, type ChildNamespaceError, type NamespaceMatcher } from './parent-namespace.js';
export { Socket, type Handshake, type DisconnectReason, type PacketMiddleware } from './socket.js';
export { BroadcastOperator } from './broadcast.js';
export {
  Adapter,
  type AdapterConstructor,
  type AdapterNamespace,
  type AdapterSocket,
  type BroadcastFlags,
  type BroadcastOptions,
  type Room,
  type SocketId,
} from './adapter.js';
export { RateLimitError, DEFAULT_RATE_LIMIT, type RateLimitOptions } from './rate-limit.js';
export {
  SessionStore,
  DEFAULT_RECOVERY,
  UNKNOWN_OFFSET,
  type RecoveryOptions,
  type PersistedSession,
  type RestoredSession,
  type RestoreResult,
} from './session-store.js';
export type { RecoveryFailureReason } from './lossless.js';
export { ParseError, PacketType, type Packet } from './parser.js';
export type { EngineServerLike, EngineSocketLike } from './engine-types.js';
