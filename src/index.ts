export { WebSocket, WebSocketServer, createWebSocketStream } from './node/index.js';
