/**
 * Engine.IO v4 server: the transport layer under Socket.IO v5
 * (https://github.com/socketio/engine.io-protocol).
 */
export { EngineServer, type EngineOptions, type ConnectionError, type TransportName } from './server.js';
export { EngineSocket, type CloseReason, type ReadyState } from './socket.js';
export { SharedMessage } from './shared-message.js';
export type { CorsOptions } from './cors.js';
export { ERROR_CODES, ERROR_MESSAGES, type ErrorCode } from './errors.js';
export {
  decodePacket,
  decodePayload,
  encodePacket,
  encodePayload,
  PACKET_TYPES,
  SEPARATOR,
  type Packet,
  type PacketType,
} from './packet.js';
