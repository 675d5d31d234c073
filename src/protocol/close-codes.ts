/**
 * Close status codes, RFC 6455 section 7.4.
 *
 * 1000-2999 belong to the protocol: 1000-1003 and 1007-1011 are defined by section 7.4.1,
 * 1012-1014 were registered later in the IANA "WebSocket Close Code Number" registry.
 * 1004 is reserved, and 1005, 1006 and 1015 are "reserved values" that MUST NOT be set as
 * the status code in a Close frame (section 7.4.1). 3000-3999 are registered with IANA,
 * 4000-4999 are private use (section 7.4.2). Everything else is invalid on the wire.
 */
export function isValidWireCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** Close codes an application may pass to the WHATWG `close()` (WHATWG "close()" step 1). */
export function isValidWebCloseCode(code: number): boolean {
  return code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999);
}

/** The longest close reason that fits in a control frame: 125 - 2 bytes of code. */
export const MAX_CLOSE_REASON_BYTES = 123;
