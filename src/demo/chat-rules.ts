/**
 * What the chat accepts from a client: nicknames, room names, message texts and ids, and the
 * limits that bound what one client can make the server hold or send. Every check returns the
 * cleaned value or an error message meant for the person typing.
 */

/** Longest nickname, in characters. */
export const MAX_NICK = 24;
/** Longest room name, in characters. */
export const MAX_ROOM_NAME = 24;
/** Longest message, in characters. */
export const MAX_TEXT = 500;
/** Messages kept per room, and most sent back on a join. */
export const HISTORY_SIZE = 100;
/** Rooms one socket may be in at once. */
export const MAX_JOINED = 10;
/** Rooms the server keeps a history for; the least recently used empty one is forgotten first. */
export const MAX_ROOMS = 200;
/**
 * Joins one socket may make in a burst, then one more per JOIN_REFILL_MS (a token bucket). A join
 * of ~60 bytes answers with up to HISTORY_SIZE messages (~60 KB), so joins are what a client
 * could use to make the server queue much for it; the burst still lets a page rejoin all of its
 * MAX_JOINED rooms after a reconnect, twice.
 */
export const JOIN_BURST = 2 * MAX_JOINED;
/** See JOIN_BURST. */
export const JOIN_REFILL_MS = 1000;
/** Least time between two "is typing" notices one socket sends to one room, in ms. */
export const TYPING_INTERVAL_MS = 1000;
/** The room a new client starts in. */
export const DEFAULT_ROOM = 'lobby';

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

const NICK = /^[\p{L}\p{N}][\p{L}\p{M}\p{N} _.-]*$/u;
const ROOM = /^[a-z0-9][a-z0-9_-]*$/;
const TOKEN = /^[A-Za-z0-9_-]{16,64}$/;
const CLIENT_ID = /^[A-Za-z0-9_-]{8,64}$/;
// C0 and C1 controls but tab and newline; the bidi overrides and isolates, which can reorder what others see.
const UNWANTED = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/gu;

function length(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** A nickname: letters, digits, spaces, "_", "." and "-", starting with a letter or digit. */
export function checkNick(input: unknown): Checked<string> {
  if (typeof input !== 'string') return { ok: false, error: 'nickname must be text' };
  const nick = input.normalize('NFC').trim().replace(/\s+/gu, ' ');
  if (nick === '') return { ok: false, error: 'nickname is empty' };
  if (length(nick) > MAX_NICK) return { ok: false, error: `nickname is longer than ${MAX_NICK} characters` };
  if (!NICK.test(nick)) return { ok: false, error: 'nickname may hold letters, digits, spaces, "_", "." and "-", and starts with a letter or digit' };
  return { ok: true, value: nick };
}

/** A room name: lowercase latin letters, digits, "_" and "-" (input is lowercased first). */
export function checkRoom(input: unknown): Checked<string> {
  if (typeof input !== 'string') return { ok: false, error: 'room name must be text' };
  const room = input.trim().toLowerCase();
  if (room === '') return { ok: false, error: 'room name is empty' };
  if (room.length > MAX_ROOM_NAME) return { ok: false, error: `room name is longer than ${MAX_ROOM_NAME} characters` };
  if (!ROOM.test(room)) return { ok: false, error: 'room name may hold a-z, 0-9, "_" and "-", and starts with a letter or digit' };
  return { ok: true, value: room };
}

/** A message text, without control characters but newlines and tabs, trimmed. */
export function checkText(input: unknown): Checked<string> {
  if (typeof input !== 'string') return { ok: false, error: 'message must be text' };
  const text = input.normalize('NFC').replace(UNWANTED, '').trim();
  if (text === '') return { ok: false, error: 'message is empty' };
  if (length(text) > MAX_TEXT) return { ok: false, error: `message is longer than ${MAX_TEXT} characters` };
  return { ok: true, value: text };
}

/** The secret a browser tab holds its nickname with (so a reconnect gets the same nickname back). */
export function checkToken(input: unknown): Checked<string> {
  if (typeof input !== 'string' || !TOKEN.test(input)) return { ok: false, error: 'session token must be 16 to 64 of A-Z a-z 0-9 _ -' };
  return { ok: true, value: input };
}

/** The id a client gives a message it sends, so that a retry is not stored twice. */
export function checkClientId(input: unknown): Checked<string> {
  if (typeof input !== 'string' || !CLIENT_ID.test(input)) return { ok: false, error: 'message id must be 8 to 64 of A-Z a-z 0-9 _ -' };
  return { ok: true, value: input };
}

/** A message id a client has seen (0: none). */
export function checkAfter(input: unknown): Checked<number> {
  if (input === undefined || input === null) return { ok: true, value: 0 };
  if (typeof input !== 'number' || !Number.isSafeInteger(input) || input < 0) return { ok: false, error: 'after must be a non-negative integer' };
  return { ok: true, value: input };
}
