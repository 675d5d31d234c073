/**
 * The chat's Socket.IO API (src/demo/chat-server.ts) on the app as `npm start` runs it, driven
 * by our Node client (fullduplex/realtime/client): nickname rules, rooms and who is in them,
 * messages with growing ids, history on join, typing notices, and bad input that is refused
 * without hurting anyone else.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, test } from 'node:test';
import { CHAT_MAX_BUFFERED, startChatApp, type ChatApp } from '../src/demo/app.js';
import type { ChatMessage } from '../src/demo/chat-log.js';
import { JOIN_BURST, JOIN_REFILL_MS, MAX_JOINED, MAX_ROOMS, MAX_TEXT, TYPING_INTERVAL_MS } from '../src/demo/chat-rules.js';
import { io, type Socket } from '../src/realtime/client/index.js';
import type { Socket as ServerSocket } from '../src/realtime/index.js';
import { within } from './fixtures/harness.js';

let app: ChatApp;
let url = '';
const clients: Socket[] = [];

before(async () => {
  app = await startChatApp(0, '127.0.0.1');
  url = `http://127.0.0.1:${app.port}`;
});

/** Waits until the server has no socket left (so a nickname is free for the next test). */
async function serverEmpty(): Promise<void> {
  const poll = async (): Promise<void> => {
    while (app.io.sockets.sockets.size > 0) await new Promise((r) => setTimeout(r, 10));
  };
  await within(poll(), `the server to drop its ${app.io.sockets.sockets.size} socket(s)`);
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await serverEmpty();
});

after(async () => {
  await within(app.close(), 'the app to close');
});

const newToken = (): string => randomBytes(12).toString('hex');

function client(nick: unknown, token: unknown = newToken()): Socket {
  const socket = io(url, { auth: { nick, token }, forceNew: true, transports: ['websocket'], reconnection: false });
  clients.push(socket);
  return socket;
}

/** A connected client, or a rejection with the server's reason. */
function connected(socket: Socket): Promise<Socket> {
  const outcome = new Promise<Socket>((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
  return within(outcome, 'the connection');
}

async function refusal(nick: unknown, token?: unknown): Promise<string> {
  const err = await connected(client(nick, token)).then(
    () => assert.fail(`${JSON.stringify(nick)} was let in`),
    (e: Error) => e,
  );
  return err.message;
}

type Reply = { ok: boolean; error?: string; [field: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

function ask(socket: Socket, event: string, payload: unknown): Promise<Reply> {
  return within(socket.timeout(5000).emitWithAck(event, payload) as Promise<Reply>, `the reply to '${event}'`);
}

/** Every `event` a client receives, in order, awaitable until a condition holds. */
class Received<T> {
  readonly list: T[] = [];
  private waiters: Array<() => void> = [];

  constructor(socket: Socket, event: string) {
    socket.on(event, (data: T) => {
      this.list.push(data);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  until(what: string, done: (list: T[]) => boolean): Promise<T[]> {
    return within(
      new Promise<T[]>((resolve) => {
        const check = (): void => (done(this.list) ? resolve(this.list) : void this.waiters.push(check));
        check();
      }),
      `${what} (got ${JSON.stringify(this.list)})`,
    );
  }
}

async function member(nick: string, room = 'lobby'): Promise<{ socket: Socket; join: Reply }> {
  const socket = await connected(client(nick));
  const join = await ask(socket, 'join', { room });
  assert.equal(join.ok, true, join.error);
  return { socket, join };
}

let sent = 0;
/** Sends a message with a fresh client id and checks the acknowledgement. */
async function say(socket: Socket, text: string, room = 'lobby', cid = `cid${++sent}xxxxxx`): Promise<number> {
  const reply = await ask(socket, 'send', { room, text, cid });
  assert.equal(reply.ok, true, reply.error);
  return reply['id'] as number;
}

test('connecting needs a valid nickname and a session token; a nickname is held by one token at a time', async () => {
  assert.match(await refusal(undefined), /nickname must be text/);
  assert.match(await refusal(''), /nickname is empty/);
  assert.match(await refusal('x'.repeat(25)), /longer than 24/);
  assert.match(await refusal('<img src=x>'), /letters, digits/);
  assert.match(await refusal('alice', 'short'), /session token/);

  const token = newToken();
  const first = await connected(client('Alice', token));
  assert.match(await refusal('alice'), /the nickname "alice" is taken/, 'case does not make another nickname');
  const secondTab = await connected(client('alice', token));
  assert.equal(secondTab.connected, true, 'the same token (another tab, a reconnect) may use it');

  first.disconnect();
  secondTab.disconnect();
  await serverEmpty();
  assert.equal((await connected(client('alice'))).connected, true, 'free again once its holder left');
});

test('join and leave: the reply lists who is in the room, and everyone there hears of changes', async () => {
  const alice = await member('alice');
  assert.deepEqual(alice.join['members'], ['alice']);
  assert.equal(alice.join['epoch'], app.chat.logs.find('lobby')!.epoch, "the room log's epoch");
  assert.ok((alice.join['epoch'] as string).startsWith(app.chat.epoch), "under the server's");
  assert.deepEqual(alice.join['messages'], []);
  const presence = new Received<{ room: string; members: string[]; online: number }>(alice.socket, 'presence');

  const bob = await member('bob');
  assert.deepEqual(bob.join['members'], ['alice', 'bob']);
  assert.equal(bob.join['online'], 2);
  await presence.until('bob in the list', (l) => l.some((p) => p.members.includes('bob')));
  assert.deepEqual(presence.list.at(-1), { room: 'lobby', members: ['alice', 'bob'], online: 2 });

  assert.deepEqual(await ask(bob.socket, 'leave', { room: 'lobby' }), { ok: true });
  await presence.until('bob gone', (l) => !l.at(-1)!.members.includes('bob'));
  assert.match((await ask(bob.socket, 'leave', { room: 'lobby' })).error!, /not in "lobby"/);

  assert.equal((await ask(bob.socket, 'join', { room: 'lobby' })).ok, true);
  await presence.until('bob back', (l) => l.at(-1)!.members.includes('bob'));
  bob.socket.disconnect();
  await presence.until('bob disconnected', (l) => l.at(-1)!.online === 1);
  assert.deepEqual(presence.list.every((p) => p.room === 'lobby'), true);
});

test('messages get ids 1, 2, 3 per room, reach everyone in that room only, and come back as history on join', async () => {
  const alice = await member('alice', 'history');
  const bob = await member('bob', 'history');
  const elsewhere = await member('carol', 'other');
  const bobGot = new Received<ChatMessage>(bob.socket, 'message');
  const carolGot = new Received<ChatMessage>(elsewhere.socket, 'message');

  assert.deepEqual([await say(alice.socket, 'one', 'history'), await say(alice.socket, 'two', 'history'), await say(bob.socket, 'three', 'history')], [1, 2, 3]);
  await bobGot.until('three messages', (l) => l.length === 3);
  assert.deepEqual(bobGot.list.map((m) => [m.room, m.id, m.nick, m.text]), [
    ['history', 1, 'alice', 'one'], ['history', 2, 'alice', 'two'], ['history', 3, 'bob', 'three'],
  ]);
  assert.ok(bobGot.list.every((m) => typeof m.ts === 'number' && typeof m.cid === 'string'));
  assert.equal(await say(elsewhere.socket, 'first in other', 'other'), 1, 'ids are per room');
  await carolGot.until('her own message', (l) => l.length === 1);
  assert.deepEqual(carolGot.list.map((m) => m.text), ['first in other'], 'nothing from the other room');

  const dave = await connected(client('dave'));
  const fresh = await ask(dave, 'join', { room: 'history' });
  assert.deepEqual((fresh['messages'] as ChatMessage[]).map((m) => m.text), ['one', 'two', 'three']);
  assert.equal(fresh['lastId'], 3);
  assert.equal(fresh['gap'], false);
  const missed = await ask(dave, 'join', { room: 'history', epoch: fresh['epoch'], after: 2 });
  assert.deepEqual((missed['messages'] as ChatMessage[]).map((m) => m.id), [3], 'only what came after the id it has');
  const otherEpoch = await ask(dave, 'join', { room: 'history', epoch: 'an-older-server', after: 2 });
  assert.deepEqual((otherEpoch['messages'] as ChatMessage[]).map((m) => m.id), [1, 2, 3], 'ids of another server start are not trusted');
});

test('a retried send (same client id) is stored and delivered once, and gets its first id back', async () => {
  const alice = await member('alice', 'retry');
  const bob = await member('bob', 'retry');
  const bobGot = new Received<ChatMessage>(bob.socket, 'message');
  const first = await say(alice.socket, 'only once', 'retry', 'same-cid-1');
  assert.equal(await say(alice.socket, 'only once', 'retry', 'same-cid-1'), first);
  assert.equal(await say(alice.socket, 'next', 'retry'), first + 1);
  await bobGot.until('the next message', (l) => l.some((m) => m.text === 'next'));
  assert.deepEqual(bobGot.list.map((m) => m.text), ['only once', 'next']);
  const other = await say(bob.socket, 'same cid, other sender', 'retry', 'same-cid-1');
  assert.equal(other, first + 2, "a client id is only a duplicate from the same sender's token");
});

test('typing notices reach the others in the room (not the typist), at most one per interval', async () => {
  const alice = await member('alice', 'typing');
  const bob = await member('bob', 'typing');
  const aliceTyping = new Received<{ room: string; nick: string; typing: boolean }>(alice.socket, 'typing');
  const bobTyping = new Received<unknown>(bob.socket, 'typing');
  const aliceMessages = new Received<ChatMessage>(alice.socket, 'message');

  const start = Date.now();
  bob.socket.emit('typing', { room: 'typing', typing: true });
  bob.socket.emit('typing', { room: 'typing', typing: true });
  bob.socket.emit('typing', { room: 'typing', typing: false });
  bob.socket.emit('typing', { room: 'elsewhere', typing: true });
  await say(bob.socket, 'done typing', 'typing');
  const elapsed = Date.now() - start;
  await aliceMessages.until('the message', (l) => l.length === 1);
  assert.deepEqual(aliceTyping.list[0], { room: 'typing', nick: 'bob', typing: true });
  if (elapsed < TYPING_INTERVAL_MS) assert.equal(aliceTyping.list.length, 1, 'the two notices right after the first are dropped');
  assert.deepEqual(bobTyping.list, [], 'the typist hears nothing of it');
});

test('bad input is refused with a reason, and the others keep chatting', async () => {
  const alice = await member('alice', 'safe');
  const bob = await member('bob', 'safe');
  const bobGot = new Received<ChatMessage>(bob.socket, 'message');
  const m = await member('mallory', 'safe');
  const bad: Array<[string, unknown, RegExp]> = [
    ['join', 'lobby', /join takes an object/],
    ['join', ['lobby'], /join takes an object/],
    ['join', { room: '../x' }, /may hold a-z/],
    ['join', { room: 'ok', after: -1 }, /non-negative integer/],
    ['leave', { room: 'nowhere' }, /not in "nowhere"/],
    ['send', { room: 'safe', text: 'x'.repeat(MAX_TEXT + 1), cid: 'cid-long-1' }, /longer than 500/],
    ['send', { room: 'safe', text: '   ', cid: 'cid-empty-1' }, /message is empty/],
    ['send', { room: 'safe', text: 'no id' }, /message id/],
    ['send', { room: 'other', text: 'hi', cid: 'cid-other-1' }, /join "other" before sending/],
    ['send', null, /send takes an object/],
  ];
  for (const [event, payload, reason] of bad) {
    const reply = await ask(m.socket, event, payload);
    assert.equal(reply.ok, false, `${event} ${JSON.stringify(payload)}`);
    assert.match(reply.error!, reason);
  }
  for (let i = 1; i < MAX_JOINED; i++) assert.equal((await ask(m.socket, 'join', { room: `r${i}` })).ok, true);
  assert.match((await ask(m.socket, 'join', { room: 'one-too-many' })).error!, /at most 10 rooms/);
  m.socket.emit('no-such-event', { room: 'safe' });
  m.socket.emit('typing', 'not an object');
  m.socket.emit('send', { room: 'safe', text: 'no ack asked', cid: 'cid-noack-1' });

  await say(alice.socket, 'still here', 'safe');
  await bobGot.until("alice's message", (l) => l.some((x) => x.text === 'still here'));
  assert.deepEqual(bobGot.list.map((x) => `${x.nick}: ${x.text}`), ['mallory: no ack asked', 'alice: still here']);
  assert.equal(m.socket.connected, true, 'refused input does not cost the connection');
});

test('a client past the limits is cut off (a flood, an oversized packet); the others keep chatting', async () => {
  const alice = await member('alice', 'limits');
  const bob = await member('bob', 'limits');
  const bobGot = new Received<ChatMessage>(bob.socket, 'message');

  const flooder = await member('flooder', 'limits');
  const flooderGone = within(new Promise((resolve) => flooder.socket.once('disconnect', resolve)), 'the flooder to be disconnected');
  for (let i = 0; i < 300; i++) flooder.socket.emit('typing', { room: 'limits', typing: true });
  await flooderGone;

  const big = await member('big', 'limits');
  const bigGone = within(new Promise((resolve) => big.socket.once('disconnect', resolve)), 'the oversized sender to be disconnected');
  big.socket.emit('send', { room: 'limits', text: 'x'.repeat(64 * 1024), cid: 'cid-big-1' });
  await bigGone;

  await say(alice.socket, 'after the storm', 'limits');
  await bobGot.until("alice's message", (l) => l.some((x) => x.text === 'after the storm'));
  assert.deepEqual(bobGot.list.map((x) => x.text), ['after the storm']);
});

/** Resolves once `pred()` holds, checking every 10 ms (bounded by `within`). */
async function until(pred: () => boolean, what: string): Promise<void> {
  const poll = async (): Promise<void> => {
    while (!pred()) await new Promise((r) => setTimeout(r, 10));
  };
  await within(poll(), what);
}

/** The server-side socket of `nick` (the newest). */
function serverSocket(nick: string): ServerSocket | undefined {
  return [...app.io.sockets.sockets.values()].filter((s) => (s.data as { nick: string }).nick === nick).at(-1);
}

test('a room forgotten while empty comes back under a new epoch, so its new ids are not taken for old ones', async () => {
  const alice = await member('alice', 'forgotten');
  for (const text of ['one', 'two', 'three']) await say(alice.socket, text, 'forgotten');
  const old = alice.join['epoch'] as string;
  assert.deepEqual(await ask(alice.socket, 'leave', { room: 'forgotten' }), { ok: true });
  for (let i = 0; i < MAX_ROOMS; i++) app.chat.logs.open(`idle-${i}`); // other rooms push the empty one out
  assert.equal(app.chat.logs.find('forgotten'), undefined, 'the server forgot the room');

  const back = await ask(alice.socket, 'join', { room: 'forgotten', epoch: old, after: 3 });
  assert.equal(back.ok, true, back.error);
  assert.notEqual(back['epoch'], old, 'a new epoch: the client knows to drop what it had');
  assert.equal(back['lastId'], 0);
  assert.equal(await say(alice.socket, 'first of the new log', 'forgotten'), 1);
  const again = await ask(alice.socket, 'join', { room: 'forgotten', epoch: back['epoch'], after: 0 });
  assert.deepEqual((again['messages'] as ChatMessage[]).map((m) => [m.id, m.text]), [[1, 'first of the new log']]);
});

test('a recovered client whose room was forgotten meanwhile is taken out of it and told; the server stays up', async () => {
  const a = client('alice');
  await connected(a);
  assert.equal((await ask(a, 'join', { room: 'x' })).ok, true);
  await say(a, 'before the cut', 'x');
  const left = new Received<{ room: string; reason: string }>(a, 'left');

  // the TCP connection is cut: the server keeps the session, room x is empty
  const before = serverSocket('alice')!;
  const cut = within(new Promise((resolve) => before.once('disconnect', resolve)), "the server to see alice's connection cut");
  before.request.socket.destroy();
  assert.equal(await cut, 'transport close');

  // others fill every room slot the server has: x is forgotten, and no room can be made
  const fillers: Socket[] = [];
  for (let f = 0; f * MAX_JOINED < MAX_ROOMS; f++) {
    const { socket } = await member(`filler${f}`, `f${f}-0`);
    for (let r = 1; r < MAX_JOINED; r++) assert.equal((await ask(socket, 'join', { room: `f${f}-${r}` })).ok, true);
    fillers.push(socket);
  }
  assert.equal(app.chat.logs.find('x'), undefined, 'the server forgot x');

  const back = within(new Promise((resolve) => a.once('connect', resolve)), 'alice to reconnect');
  a.connect();
  await back;
  assert.equal(a.recovered, true, 'the session was recovered (rooms and all)');
  const [notice] = await left.until("the 'left' notice", (l) => l.length > 0);
  assert.equal(notice!.room, 'x');
  assert.match(notice!.reason, /no longer keeps/);
  assert.equal(serverSocket('alice')!.rooms.has('room:x'), false);

  const send = await ask(a, 'send', { room: 'x', text: 'hello?', cid: 'cid-after-recovery' });
  assert.equal(send.ok, false);
  assert.match(send.error!, /join "x" before sending/);
  assert.match((await ask(a, 'join', { room: 'x' })).error!, /as many rooms as it can/);
  assert.equal(await say(fillers[0]!, 'the others go on', 'f0-0'), 1, 'and the server is up');

  assert.equal((await ask(fillers[0]!, 'leave', { room: 'f0-1' })).ok, true);
  const rejoined = await ask(a, 'join', { room: 'x' });
  assert.equal(rejoined.ok, true, rejoined.error);
  assert.equal(rejoined['lastId'], 0, 'x starts again (under a new epoch)');
  assert.equal(await say(a, 'x again', 'x'), 1);
});

test('a handler that throws answers with an error; the process and the connection go on', async () => {
  const alice = await member('alice', 'robust');
  const realOpen = app.chat.logs.open;
  app.chat.logs.open = () => {
    throw new Error('a bug in the chat (thrown on purpose by the test)');
  };
  try {
    const reply = await ask(alice.socket, 'join', { room: 'elsewhere' });
    assert.equal(reply.ok, false);
    assert.match(reply.error!, /the server could not do that \(join\)/);
  } finally {
    app.chat.logs.open = realOpen;
  }
  assert.equal(alice.socket.connected, true);
  assert.equal(await say(alice.socket, 'still here', 'robust'), 1);
  assert.equal((await ask(alice.socket, 'join', { room: 'elsewhere' })).ok, true);
});

test('joins are throttled per socket: a burst of them, then one per JOIN_REFILL_MS', async () => {
  const start = Date.now();
  const alice = await member('alice', 'burst');
  const replies = await Promise.all(Array.from({ length: 2 * JOIN_BURST }, () => ask(alice.socket, 'join', { room: 'burst' })));
  const refills = Math.floor((Date.now() - start) / JOIN_REFILL_MS);
  const accepted = replies.filter((r) => r.ok).length + 1; // and member()'s join
  assert.ok(accepted <= JOIN_BURST + refills, `${accepted} joins accepted, at most ${JOIN_BURST} + ${refills} refilled may be`);
  for (const r of replies.filter((x) => !x.ok)) assert.match(r.error!, /too many joins/);
  assert.equal(alice.socket.connected, true, 'refused joins do not cost the connection');
  const bob = await member('bob', 'burst');
  assert.equal(bob.join.ok, true, 'the throttle is per socket');
  assert.equal(await say(alice.socket, 'sending is not throttled by it', 'burst'), 1);
});

test(`a client that does not read is cut off once more than ${CHAT_MAX_BUFFERED} bytes wait for it`, async () => {
  // an Engine.IO polling session that never polls again: whatever is sent to it stays queued on the server
  const base = `${url}/socket.io/?EIO=4&transport=polling`;
  const open = await within(fetch(base).then((r) => r.text()), 'the polling handshake');
  const sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
  const connect = await within(
    fetch(`${base}&sid=${sid}`, { method: 'POST', body: `40${JSON.stringify({ nick: 'sink', token: newToken() })}` }),
    'the CONNECT',
  );
  assert.equal(connect.status, 200);
  await connect.text();
  await until(() => serverSocket('sink') !== undefined, 'the sink to connect');
  const sink = serverSocket('sink')!;
  const gone = within(new Promise((resolve) => sink.once('disconnect', resolve)), 'the sink to be cut off');

  const chunk = 'x'.repeat(64 * 1024);
  for (let sent = 0; sent <= CHAT_MAX_BUFFERED; sent += chunk.length) sink.emit('message', chunk);
  assert.equal(await gone, 'transport error');
});
