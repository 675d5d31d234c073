export { isValidWebCloseCode, isValidWireCloseCode, MAX_CLOSE_REASON_BYTES } from './close-codes.js';
export {
  Connection,
  frameMessage,
  ReadyState,
  type ConnectionOptions,
  type MessageCompressor,
  type ReadyStateValue,
  type Role,
  type WriteCallback,
} from './connection.js';
export { CloseCode, ProtocolError, type ProtocolErrorCode } from './errors.js';
export { headerSize, isControlOpcode, isKnownOpcode, MAX_CONTROL_PAYLOAD, Opcode, writeHeader } from './frame.js';
export {
  acceptHeaders,
  acceptKey,
  checkUpgradeRequest,
  checkUpgradeResponse,
  generateKey,
  isValidKey,
  rejectionResponse,
  serializeResponse,
  WEBSOCKET_GUID,
  WEBSOCKET_VERSION,
  type HandshakeRejection,
  type Headers,
  type UpgradeRequestInfo,
} from './handshake.js';
export { formatExtension, isToken, listHas, parseExtensions, parseProtocolList, splitList, type ExtensionOffer } from './http-tokens.js';
export { applyMask, nextMaskKey } from './mask.js';
export { Hold, Parser, type ParserHandler, type ParserOptions } from './parser.js';
export { isUtf8, Utf8Validator } from './utf8.js';
export {
  acceptOffer,
  acceptResponse,
  clientOffer,
  PERMESSAGE_DEFLATE,
  validateDeflateOptions,
  type DeflateParams,
  type PerMessageDeflateOptions,
} from './permessage-deflate.js';
export { RequestHeadParser, type HeadLimits, type HeadResult, type RequestHead } from './http-request.js';
