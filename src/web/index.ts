/**
 * `fullduplex/web`: the WHATWG WebSocket (https://websockets.spec.whatwg.org/) for Node, so that
 * code written for browsers runs unchanged.
 *
 * `MessageEvent` and `Event` are Node's globals; `CloseEvent` is the global one where the runtime
 * has it (Node >= 23) and ours otherwise.
 */
export { WebSocket } from './websocket.js';
export type { BinaryType } from './websocket.js';
export { CloseEvent } from './events.js';
export type { CloseEventInit } from './events.js';
