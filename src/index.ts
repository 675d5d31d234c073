/**
 * fullduplex: RFC 6455 WebSocket for Node.js with the API of the `ws` package.
 *
 *   import WebSocket, { WebSocketServer, createWebSocketStream } from 'fullduplex';
 */
import { createWebSocketStream, PreparedMessage, WebSocket as WebSocketClass, WebSocketServer } from './node/index.js';

export { createWebSocketStream, PreparedMessage, WebSocketServer };
export type { BinaryType, ClientOptions, SendData, SendOptions, ServerOptions, VerifyClient, VerifyClientInfo } from './node/index.js';
export { CloseCode, ProtocolError } from './protocol/index.js';

/** The WebSocket class, also carrying `Server`, `WebSocketServer`, `WebSocket` and `createWebSocketStream` as `ws` does. */
export const WebSocket = WebSocketClass as typeof WebSocketClass & {
  Server: typeof WebSocketServer;
  WebSocketServer: typeof WebSocketServer;
  WebSocket: typeof WebSocketClass;
  createWebSocketStream: typeof createWebSocketStream;
};
export type WebSocket = WebSocketClass;
Object.assign(WebSocket, { Server: WebSocketServer, WebSocketServer, WebSocket: WebSocketClass, createWebSocketStream });
export default WebSocket;
