/**
 * The chat's Socket.IO API, on the main namespace of a fullduplex/realtime Server.
 *
 * Connecting: `io({ auth: { nick, token } })`. The nickname must pass checkNick and not be held by
 * another token (a tab keeps its random token, so its reconnects get the nickname back); else the
 * connection is refused with a connect_error saying why.
 *
 * Client -> server, each with an acknowledgement `{ ok: true, ... }` or `{ ok: false, error }`:
 *   'join'  { room, epoch?, after? } -> { room, epoch, lastId, messages, gap, members, online }
 *           epoch: names the room's log; ids restart (at 1) under a new epoch, which comes when
 *           the server restarts or has forgotten the room (MAX_ROOMS). messages: the room's kept
 *           messages with an id above `after` (all kept ones when `epoch` is not the room's
 *           current one); gap: some were already dropped from the history. At most JOIN_BURST
 *           joins at once, then one per JOIN_REFILL_MS.
 *   'leave' { room }
 *   'send'  { room, text, cid } -> { id }; the same `cid` sent again (a retry) is stored once.
 *   'typing' { room, typing } (no acknowledgement; at most one is passed on per TYPING_INTERVAL_MS)
 * Server -> client:
 *   'message'  { room, id, nick, text, ts, cid }  to everyone in the room, the sender too
 *   'presence' { room, members, online }           when someone joins or leaves
 *   'typing'   { room, nick, typing }              to the others in the room
 *   'left'     { room, reason }                    the server took this client out of a room: on a
 *                                                  recovered connection, for a room whose log was
 *                                                  forgotten meanwhile (join it again to go on)
 *
 * A handler that throws is answered `{ ok: false, error }` and logged; it never ends the process.
 */
import { randomBytes } from 'node:crypto';
import type { Server, Socket } from '../realtime/index.js';
import { RoomLogs, type Missed } from './chat-log.js';
import {
  checkAfter, checkClientId, checkNick, checkRoom, checkText, checkToken,
  HISTORY_SIZE, JOIN_BURST, JOIN_REFILL_MS, MAX_JOINED, MAX_ROOMS, TYPING_INTERVAL_MS,
} from './chat-rules.js';

/** What the chat keeps on each server-side socket (`socket.data`). */
interface ChatData {
  nick: string;
  token: string;
  /** Room -> when this socket's last typing notice there was passed on. */
  typingAt: Map<string, number>;
  /** Room -> the epoch of the room's log when this socket joined it (ids are only valid under it). */
  joined: Map<string, string>;
  /** The join token bucket (see JOIN_BURST): joins left, and when it was last filled. */
  joinTokens: number;
  joinFilledAt: number;
}

type Reply = { ok: true; [field: string]: unknown } | { ok: false; error: string };

/** Most names listed in a 'presence' event (`online` counts them all). */
const MAX_LISTED = 100;
/** Socket.IO rooms of the chat are prefixed, so that no chat room is named like a socket id. */
const PREFIX = 'room:';

/** A running chat: its epoch (changes with each start) and the kept rooms. */
export interface Chat {
  readonly epoch: string;
  readonly logs: RoomLogs;
}

function fail(error: string): Reply {
  return { ok: false, error };
}

function dataOf(socket: Socket): ChatData {
  return socket.data as ChatData;
}

/** The chat rooms a socket is in. */
function roomsOf(socket: Socket): string[] {
  return [...socket.rooms].filter((r) => r.startsWith(PREFIX)).map((r) => r.slice(PREFIX.length));
}

/** Logs what a listener threw (an exception in a listener must not end the process). */
function report(what: string, err: unknown): void {
  console.error(`chat: '${what}' failed:`, err);
}

/**
 * Calls `fn` with the event's object argument and acknowledges with its reply (if the client
 * asked). If `fn` throws, that is logged and the client gets `{ ok: false, error }`.
 */
function handle(socket: Socket, event: string, fn: (payload: Record<string, unknown>) => Reply | undefined): void {
  socket.on(event, (...args: unknown[]) => {
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (reply: Reply) => void) : undefined;
    const payload = args[0];
    let reply: Reply | undefined;
    try {
      reply = typeof payload === 'object' && payload !== null && !Array.isArray(payload)
        ? fn(payload as Record<string, unknown>)
        : fail(`${event} takes an object`);
    } catch (err) {
      report(event, err);
      reply = fail(`the server could not do that (${event}); try again`);
    }
    if (reply !== undefined) ack?.(reply);
  });
}

/** Runs a listener's body; what it throws is logged instead of ending the process. */
function safely(what: string, body: () => void): void {
  try {
    body();
  } catch (err) {
    report(what, err);
  }
}

/** Takes one join from the socket's bucket; false when it is empty. */
function takeJoin(data: ChatData, now = Date.now()): boolean {
  data.joinTokens = Math.min(JOIN_BURST, data.joinTokens + (now - data.joinFilledAt) / JOIN_REFILL_MS);
  data.joinFilledAt = now;
  if (data.joinTokens < 1) return false;
  data.joinTokens--;
  return true;
}

/** Serves the chat on `io`'s main namespace. */
export function attachChat(io: Server): Chat {
  const nsp = io.sockets;
  const epoch = randomBytes(9).toString('base64url');
  const logs = new RoomLogs(MAX_ROOMS, HISTORY_SIZE, (room) => nsp.adapter.rooms.has(PREFIX + room), epoch);
  /** Lowercased nickname -> the token holding it and how many sockets use it. */
  const holders = new Map<string, { token: string; sockets: number }>();

  /** The nicknames in a room, from this server's sockets (synchronous, so join replies stay in order with messages). */
  function members(room: string): string[] {
    const nicks = new Set<string>();
    for (const id of nsp.adapter.rooms.get(PREFIX + room) ?? []) {
      const socket = nsp.sockets.get(id);
      if (socket) nicks.add(dataOf(socket).nick);
    }
    return [...nicks].sort((a, b) => a.localeCompare(b));
  }

  function presence(room: string): void {
    const all = members(room);
    io.to(PREFIX + room).emit('presence', { room, members: all.slice(0, MAX_LISTED), online: all.length });
  }

  io.use((socket, next) => {
    const auth = socket.handshake.auth;
    const nick = checkNick(auth['nick']);
    if (!nick.ok) return next(new Error(nick.error));
    const token = checkToken(auth['token']);
    if (!token.ok) return next(new Error(token.error));
    const holder = holders.get(nick.value.toLowerCase());
    if (holder && holder.token !== token.value) return next(new Error(`the nickname "${nick.value}" is taken`));
    // a recovered socket keeps what it had (its rooms' epochs, its join bucket); the nickname was checked again
    const had: Partial<ChatData> = socket.recovered ? (socket.data as ChatData) : {};
    socket.data = {
      nick: nick.value,
      token: token.value,
      typingAt: had.typingAt ?? new Map(),
      joined: had.joined ?? new Map(),
      joinTokens: had.joinTokens ?? JOIN_BURST,
      joinFilledAt: had.joinFilledAt ?? Date.now(),
    } satisfies ChatData;
    next();
  });

  /** Takes `socket` out of `room` (its client is told so by the caller, or asked for it). */
  function leaveRoom(socket: Socket, room: string): void {
    void socket.leave(PREFIX + room);
    dataOf(socket).typingAt.delete(room);
    dataOf(socket).joined.delete(room);
  }

  /**
   * A recovered socket is back in the rooms it was in, but a room left empty meanwhile may have
   * been forgotten (and maybe opened again, with ids from 1): out of such a room, and told so.
   */
  function checkRestoredRooms(socket: Socket): void {
    for (const room of roomsOf(socket)) {
      const log = logs.find(room);
      if (log && log.epoch === dataOf(socket).joined.get(room)) continue;
      leaveRoom(socket, room);
      socket.emit('left', { room, reason: 'the server no longer keeps this room\'s history' });
    }
  }

  io.on('connection', (socket: Socket) => {
    const data = dataOf(socket);
    const nickKey = data.nick.toLowerCase();
    const holder = holders.get(nickKey) ?? { token: data.token, sockets: 0 };
    holder.sockets++;
    holders.set(nickKey, holder);
    let left: string[] = [];
    socket.on('disconnecting', () => safely('disconnecting', () => {
      left = roomsOf(socket);
    }));
    socket.on('disconnect', () => safely('disconnect', () => {
      if (--holder.sockets === 0) holders.delete(nickKey);
      for (const room of left) presence(room);
    }));

    safely('connection', () => {
      if (socket.recovered) checkRestoredRooms(socket);
      for (const room of roomsOf(socket)) presence(room); // a recovered session is back in its rooms
    });

    handle(socket, 'join', (p) => {
      if (!takeJoin(data)) return fail('too many joins; wait a moment');
      const room = checkRoom(p['room']);
      if (!room.ok) return fail(room.error);
      const after = checkAfter(p['after']);
      if (!after.ok) return fail(after.error);
      const joined = roomsOf(socket);
      const isNew = !joined.includes(room.value);
      if (isNew && joined.length >= MAX_JOINED) return fail(`you can be in at most ${MAX_JOINED} rooms at once`);
      const log = logs.open(room.value);
      if (!log) return fail('the server holds as many rooms as it can; join an existing one');
      const missed: Missed = log.since(p['epoch'] === log.epoch ? after.value : 0);
      void socket.join(PREFIX + room.value);
      data.joined.set(room.value, log.epoch);
      if (isNew) presence(room.value);
      const all = members(room.value);
      return { ok: true, room: room.value, epoch: log.epoch, lastId: log.lastId, ...missed, members: all.slice(0, MAX_LISTED), online: all.length };
    });

    handle(socket, 'leave', (p) => {
      const room = checkRoom(p['room']);
      if (!room.ok) return fail(room.error);
      if (!roomsOf(socket).includes(room.value)) return fail(`you are not in "${room.value}"`);
      leaveRoom(socket, room.value);
      presence(room.value);
      return { ok: true };
    });

    handle(socket, 'send', (p) => {
      const room = checkRoom(p['room']);
      if (!room.ok) return fail(room.error);
      const text = checkText(p['text']);
      if (!text.ok) return fail(text.error);
      const cid = checkClientId(p['cid']);
      if (!cid.ok) return fail(cid.error);
      if (!roomsOf(socket).includes(room.value)) return fail(`join "${room.value}" before sending to it`);
      const log = logs.find(room.value);
      if (!log || log.epoch !== data.joined.get(room.value)) {
        return fail(`the server no longer keeps "${room.value}"; join it again`);
      }
      const stored = log.add(`${data.token}/${cid.value}`, { nick: data.nick, text: text.value, cid: cid.value, ts: Date.now() });
      if (stored.added) io.to(PREFIX + room.value).emit('message', stored.message);
      return { ok: true, id: stored.message.id };
    });

    handle(socket, 'typing', (p) => {
      const room = checkRoom(p['room']);
      if (!room.ok || !roomsOf(socket).includes(room.value)) return undefined;
      const now = Date.now();
      const last = data.typingAt.get(room.value);
      if (last !== undefined && now - last < TYPING_INTERVAL_MS) return undefined;
      data.typingAt.set(room.value, now);
      socket.to(PREFIX + room.value).emit('typing', { room: room.value, nick: data.nick, typing: p['typing'] === true });
      return undefined;
    });
  });

  return { epoch, logs };
}
