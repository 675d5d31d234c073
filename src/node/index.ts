// TEMPORARY STUB: re-exports the `ws` package so that the layers above can be developed
// while src/node is written. Replaced by our own implementation before anything lands.
export { WebSocket, WebSocketServer, createWebSocketStream } from 'ws';
