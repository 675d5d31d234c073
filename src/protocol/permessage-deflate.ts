/**
 * permessage-deflate negotiation, RFC 7692 sections 5 and 7.1. Pure logic over parsed
 * Sec-WebSocket-Extensions elements; the compression itself is done by the I/O layer.
 */
import { type ExtensionOffer, formatExtension } from './http-tokens.js';

export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** The `perMessageDeflate` options, with the names the `ws` package uses. */
export interface PerMessageDeflateOptions {
  /** Ask (client) or agree (server) that the server resets its compression context per message. */
  serverNoContextTakeover?: boolean;
  /** Ask (server) or offer (client) that the client resets its compression context per message. */
  clientNoContextTakeover?: boolean;
  /** Largest LZ77 window the server may use, 8..15; `true` on a client offers the parameter without a value. */
  serverMaxWindowBits?: number | boolean;
  /** Largest LZ77 window the client may use, 8..15; `true` offers support for the parameter. */
  clientMaxWindowBits?: number | boolean;
  /** Messages smaller than this many bytes are sent uncompressed (default 1024). */
  threshold?: number;
  /** Most zlib operations in flight at once, process-wide (default 10). */
  concurrencyLimit?: number;
  /** Options passed to zlib when compressing (level, memLevel, strategy, chunkSize). */
  zlibDeflateOptions?: Record<string, unknown>;
  /** Options passed to zlib when decompressing (chunkSize). */
  zlibInflateOptions?: Record<string, unknown>;
}

/** What both sides agreed on (RFC 7692 section 7.1). */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** The window the server compresses with (and the client inflates with). */
  serverMaxWindowBits: number;
  /** The window the client compresses with (and the server inflates with). */
  clientMaxWindowBits: number;
}

/** Parameters of one offer or response, checked: each known name once, values in range. */
interface ParsedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** undefined: absent. */
  serverMaxWindowBits: number | undefined;
  /** undefined: absent; true: present without a value (only in an offer). */
  clientMaxWindowBits: number | true | undefined;
}

/** A window size value: 1*DIGIT between 8 and 15 (section 7.1.2.1), no leading zeros or signs. */
function windowBits(value: string | true): number | null {
  if (value === true || !/^(8|9|1[0-5])$/.test(value)) return null;
  return Number(value);
}

/**
 * Checks the parameters of one element. Section 7 (via section 5): a parameter not defined
 * for this direction, a repeated parameter, or an invalid value makes the element unusable.
 * Returns null then.
 */
function parseParams(params: Array<[string, string | true]>, isOffer: boolean): ParsedParams | null {
  const out: ParsedParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) return null;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return null; // section 7.1.1: no value
        if (name === 'server_no_context_takeover') out.serverNoContextTakeover = true;
        else out.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const bits = windowBits(value); // section 7.1.2.1: a value is required
        if (bits === null) return null;
        out.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        // Section 7.1.2.2: valueless in an offer ("I support it"); a response must give a value.
        if (value === true && isOffer) {
          out.clientMaxWindowBits = true;
          break;
        }
        const bits = windowBits(value);
        if (bits === null) return null;
        out.clientMaxWindowBits = bits;
        break;
      }
      default:
        return null;
    }
  }
  return out;
}

function checkBits(name: string, value: number | boolean | undefined): void {
  if (typeof value === 'number' && !(Number.isInteger(value) && value >= 8 && value <= 15)) {
    throw new RangeError(`perMessageDeflate.${name} must be an integer between 8 and 15, got ${value}`);
  }
}

/** Validates user options up front, so bad values fail with a clear error and never reach zlib. */
export function validateDeflateOptions(options: PerMessageDeflateOptions): void {
  checkBits('serverMaxWindowBits', options.serverMaxWindowBits);
  checkBits('clientMaxWindowBits', options.clientMaxWindowBits);
  for (const name of ['threshold', 'concurrencyLimit'] as const) {
    const v = options[name];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && Number.isFinite(v))) {
      throw new RangeError(`perMessageDeflate.${name} must be a non-negative number, got ${String(v)}`);
    }
  }
}

/** The client's offer (section 5), e.g. `permessage-deflate; client_max_window_bits`. */
export function clientOffer(options: PerMessageDeflateOptions): string {
  const params: Array<[string, string | true]> = [];
  if (options.serverNoContextTakeover) params.push(['server_no_context_takeover', true]);
  if (options.clientNoContextTakeover) params.push(['client_no_context_takeover', true]);
  if (typeof options.serverMaxWindowBits === 'number') params.push(['server_max_window_bits', String(options.serverMaxWindowBits)]);
  if (typeof options.clientMaxWindowBits === 'number') {
    params.push(['client_max_window_bits', String(options.clientMaxWindowBits)]);
  } else if (options.clientMaxWindowBits !== false) {
    params.push(['client_max_window_bits', true]); // we can compress with any window the server picks
  }
  return formatExtension({ name: PERMESSAGE_DEFLATE, params });
}

/**
 * Server side: picks the first acceptable permessage-deflate offer (section 5: offers are in
 * order of preference; a malformed or unsupported one is declined, not fatal) and returns
 * the agreed parameters and the response element, or null to decline them all.
 */
export function acceptOffer(
  offers: readonly ExtensionOffer[],
  options: PerMessageDeflateOptions,
): { params: DeflateParams; response: string } | null {
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const p = parseParams(offer.params, true);
    if (p === null) continue;

    // server_max_window_bits (7.1.2.1): the offer caps our window; our option may lower it.
    let serverBits = p.serverMaxWindowBits ?? 15;
    if (typeof options.serverMaxWindowBits === 'number') serverBits = Math.min(serverBits, options.serverMaxWindowBits);

    // client_max_window_bits (7.1.2.2): only answered if offered; a limit of ours needs the client's support.
    let clientBits = 15;
    let answerClientBits = false;
    if (p.clientMaxWindowBits === undefined) {
      if (typeof options.clientMaxWindowBits === 'number') continue;
    } else {
      clientBits = p.clientMaxWindowBits === true ? 15 : p.clientMaxWindowBits;
      if (typeof options.clientMaxWindowBits === 'number') clientBits = Math.min(clientBits, options.clientMaxWindowBits);
      answerClientBits = p.clientMaxWindowBits !== true || clientBits < 15;
    }

    const params: DeflateParams = {
      serverNoContextTakeover: p.serverNoContextTakeover || options.serverNoContextTakeover === true,
      clientNoContextTakeover: p.clientNoContextTakeover || options.clientNoContextTakeover === true,
      serverMaxWindowBits: serverBits,
      clientMaxWindowBits: clientBits,
    };
    const response: Array<[string, string | true]> = [];
    if (params.serverNoContextTakeover) response.push(['server_no_context_takeover', true]);
    if (params.clientNoContextTakeover) response.push(['client_no_context_takeover', true]);
    if (p.serverMaxWindowBits !== undefined || serverBits < 15) response.push(['server_max_window_bits', String(serverBits)]);
    if (answerClientBits) response.push(['client_max_window_bits', String(clientBits)]);
    return { params, response: formatExtension({ name: PERMESSAGE_DEFLATE, params: response }) };
  }
  return null;
}

/**
 * Client side: checks the server's answer to our offer (section 5: the client fails the
 * connection on anything it did not offer or cannot honour) and returns the agreed
 * parameters, or an error message.
 */
export function acceptResponse(
  response: ExtensionOffer,
  options: PerMessageDeflateOptions,
): { ok: true; params: DeflateParams } | { ok: false; message: string } {
  const p = parseParams(response.params, false);
  if (p === null) return { ok: false, message: 'Invalid permessage-deflate parameters in the server response' };
  if (options.serverNoContextTakeover && !p.serverNoContextTakeover) {
    return { ok: false, message: 'The server ignored server_no_context_takeover' };
  }
  const offeredServerBits = typeof options.serverMaxWindowBits === 'number' ? options.serverMaxWindowBits : 15;
  if (p.serverMaxWindowBits !== undefined && p.serverMaxWindowBits > offeredServerBits) {
    return { ok: false, message: 'The server chose a larger server_max_window_bits than offered' };
  }
  let clientBits = typeof options.clientMaxWindowBits === 'number' ? options.clientMaxWindowBits : 15;
  if (p.clientMaxWindowBits !== undefined) {
    if (options.clientMaxWindowBits === false) {
      return { ok: false, message: 'The server sent client_max_window_bits, which was not offered' };
    }
    // Section 7.1.2.2: the answer may lower the value we offered, never raise it.
    if ((p.clientMaxWindowBits as number) > clientBits) {
      return { ok: false, message: 'The server chose a larger client_max_window_bits than offered' };
    }
    clientBits = p.clientMaxWindowBits as number;
  }
  return {
    ok: true,
    params: {
      serverNoContextTakeover: p.serverNoContextTakeover,
      clientNoContextTakeover: p.clientNoContextTakeover || options.clientNoContextTakeover === true,
      serverMaxWindowBits: p.serverMaxWindowBits ?? 15,
      clientMaxWindowBits: clientBits,
    },
  };
}
