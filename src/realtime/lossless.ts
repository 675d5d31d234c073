/**
 * The wire constants of fullduplex's lossless extension to Socket.IO v5, shared by our server and
 * our client (docs/connection-state-recovery.md has the whole exchange). It only runs between our
 * client and our server with connection state recovery on, and both ends must agree, so the
 * client offers it and the server confirms it:
 *
 *   client CONNECT payload  {...auth, "_fdx": 1}                       the client speaks version 1
 *   server CONNECT payload  {"sid", "pid", "_fdx": {"seq": N, "fail"?: reason}}
 *                           on for this connection; N = the last client sequence number the
 *                           server processed for this session (0 for a new one); `fail` says why
 *                           the session the client asked for could not be recovered
 *   client EVENT            [event, ...args, seq]                      seq = 1, 2, 3, ... per Socket
 *   server EVENT            ["_fdx", N]                                every seq <= N is processed
 *   server ACK              [...reply, offset]                         replies are replayable too
 *
 * A socket.io-client never offers it and a socket.io server never confirms it, so neither ever
 * sees a sequence number or a control event.
 */

/** The CONNECT payload key of the offer (client) and of the confirmation (server). */
export const EXTENSION_KEY = '_fdx';

/** The version of the extension this code speaks. */
export const EXTENSION_VERSION = 1;

/** The event name of the server's processed-up-to confirmations; servers refuse to emit it. */
export const CONTROL_EVENT = '_fdx';

/** Why a session could not be recovered (the client's 'recovery_failed' event carries one). */
export type RecoveryFailureReason =
  /** The client came back after `maxDisconnectionDuration`. */
  | 'expired'
  /** The server knows no such session (never had it, restarted, or forgot it long ago). */
  | 'unknown session'
  /** The packets sent since the client's last one are no longer all kept (bounded buffer). */
  | 'packets lost'
  /** The adapter's session store failed. */
  | 'adapter error'
  /** Client side only: the server started a new session without saying why (a socket.io server, or recovery off). */
  | 'not recovered';

/** The server's confirmation in its CONNECT payload. */
export interface ExtensionReply {
  seq: number;
  fail?: RecoveryFailureReason;
}

/** Whether `v` can be a sequence number (a positive safe integer). */
export function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}
