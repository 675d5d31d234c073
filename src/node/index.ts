export { createWebSocketStream } from './stream.js';
export { WebSocketServer, type ServerOptions, type VerifyClient, type VerifyClientInfo } from './websocket-server.js';
export { WebSocket, type BinaryType, type ClientOptions, type SendData, type SendOptions } from './websocket.js';
export { PreparedMessage } from './prepared-message.js';
