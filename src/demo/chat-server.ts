/**
 * The chat's Socket.IO API, on the main namespace of a fullduplex/realtime Server.
 *
 * Connecting: `io({ auth: { nick, token } })`. The nickname must pass checkNick and not be held by
 * another token (a tab keeps its random token, so its reconnects get the nickname back); else the
 * connection is refused with a connect_error saying why.
 *
 * Client -> server, each with an acknowledgement `{ ok: true, ... }` or `{ ok: false, error }`:
 *   'join'  { room, epoch?, after? } -> { room, epoch, lastId, messages, gap, members, online }
 *           messages: the room's kept messages with an id above `after` (all kept ones when
 *           `epoch` is not this server's: ids restart when the server does); gap: some were
 *           already dropped from the history.
 *   'leave' { room }
 *   'send'  { room, text, cid } -> { id }; the same `cid` sent again (a retry) is stored once.
 *   'typing' { room, typing } (no acknowledgement; at most one is passed on per TYPING_INTERVAL_MS)
 * Server -> client:
 *   'message'  { room, id, nick, text, ts, cid }  to everyone in the room, the sender too
 *   'presence' { room, members, online }           when someone joins or leaves
 *   'typing'   { room, nick, typing }              to the others in the room
 */
import { randomBytes } from 'node:crypto';
import type { Server, Socket } from '../realtime/index.js';
import { RoomLogs, type Missed } from './chat-log.js';
import {
  checkAfter, checkClientId, checkNick, checkRoom, checkText, checkToken,
  HISTORY_SIZE, MAX_JOINED, MAX_ROOMS, TYPING_INTERVAL_MS,
} from './chat-rules.js';

/** What the chat keeps on each server-side socket (`socket.data`). */
interface ChatData {
  nick: string;
  token: string;
  /** Room -> when this socket's last typing notice there was passed on. */
  typingAt: Map<string, number>;
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

/** Calls `fn` with the event's object argument and acknowledges with its reply (if the client asked). */
function handle(socket: Socket, event: string, fn: (payload: Record<string, unknown>) => Reply | undefined): void {
  socket.on(event, (...args: unknown[]) => {
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (reply: Reply) => void) : undefined;
    const payload = args[0];
    const reply = typeof payload === 'object' && payload !== null && !Array.isArray(payload)
      ? fn(payload as Record<string, unknown>)
      : fail(`${event} takes an object`);
    if (reply !== undefined) ack?.(reply);
  });
}

/** Serves the chat on `io`'s main namespace. */
export function attachChat(io: Server): Chat {
  const nsp = io.sockets;
  const epoch = randomBytes(9).toString('base64url');
  const logs = new RoomLogs(MAX_ROOMS, HISTORY_SIZE, (room) => nsp.adapter.rooms.has(PREFIX + room));
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
    socket.data = { nick: nick.value, token: token.value, typingAt: new Map() } satisfies ChatData;
    next();
  });

  io.on('connection', (socket: Socket) => {
    const data = dataOf(socket);
    const nickKey = data.nick.toLowerCase();
    const holder = holders.get(nickKey) ?? { token: data.token, sockets: 0 };
    holder.sockets++;
    holders.set(nickKey, holder);
    for (const room of roomsOf(socket)) presence(room); // a recovered session is back in its rooms

    handle(socket, 'join', (p) => {
      const room = checkRoom(p['room']);
      if (!room.ok) return fail(room.error);
      const after = checkAfter(p['after']);
      if (!after.ok) return fail(after.error);
      const joined = roomsOf(socket);
      const isNew = !joined.includes(room.value);
      if (isNew && joined.length >= MAX_JOINED) return fail(`you can be in at most ${MAX_JOINED} rooms at once`);
      const log = logs.open(room.value);
      if (!log) return fail('the server holds as many rooms as it can; join an existing one');
      const missed: Missed = log.since(p['epoch'] === epoch ? after.value : 0);
      void socket.join(PREFIX + room.value);
      if (isNew) presence(room.value);
      const all = members(room.value);
      return { ok: true, room: room.value, epoch, lastId: log.lastId, ...missed, members: all.slice(0, MAX_LISTED), online: all.length };
    });

    handle(socket, 'leave', (p) => {
      const room = checkRoom(p['room']);
      if (!room.ok) return fail(room.error);
      if (!roomsOf(socket).includes(room.value)) return fail(`you are not in "${room.value}"`);
      void socket.leave(PREFIX + room.value);
      data.typingAt.delete(room.value);
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
      const log = logs.open(room.value)!; // an occupied room is never dropped
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

    let left: string[] = [];
    socket.on('disconnecting', () => {
      left = roomsOf(socket);
    });
    socket.on('disconnect', () => {
      if (--holder.sockets === 0) holders.delete(nickKey);
      for (const room of left) presence(room);
    });
  });

  return { epoch, logs };
}
