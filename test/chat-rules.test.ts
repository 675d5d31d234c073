/**
 * The chat's input rules (src/demo/chat-rules.ts) and its memory (src/demo/chat-log.ts):
 * what a client may send, and how rooms keep their last messages under growing ids.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoomLog, RoomLogs } from '../src/demo/chat-log.js';
import {
  checkAfter, checkClientId, checkNick, checkRoom, checkText, checkToken, MAX_NICK, MAX_ROOM_NAME, MAX_TEXT,
} from '../src/demo/chat-rules.js';

function value<T>(checked: { ok: true; value: T } | { ok: false; error: string }): T {
  assert.ok(checked.ok, `expected ok, got: ${checked.ok ? '' : checked.error}`);
  return checked.value;
}

function error(checked: { ok: true; value: unknown } | { ok: false; error: string }): string {
  assert.ok(!checked.ok, `expected an error, got ${JSON.stringify(checked.ok && checked.value)}`);
  return checked.error;
}

test('nicknames: letters (any script), digits, spaces, _ . -; trimmed; at most 24 characters', () => {
  assert.equal(value(checkNick('alice')), 'alice');
  assert.equal(value(checkNick('  Zoë   K.  ')), 'Zoë K.');
  assert.equal(value(checkNick('李雷')), '李雷');
  assert.equal(value(checkNick('Zoe\u0308')), 'Zoë', 'NFC');
  assert.equal(value(checkNick('x'.repeat(MAX_NICK))), 'x'.repeat(MAX_NICK));
  assert.match(error(checkNick('x'.repeat(MAX_NICK + 1))), /longer than 24/);
  assert.match(error(checkNick('   ')), /empty/);
  assert.match(error(checkNick('<b>x</b>')), /letters, digits/);
  assert.match(error(checkNick('_x')), /starts with a letter or digit/);
  assert.match(error(checkNick('a\u0000b')), /letters, digits/);
  assert.match(error(checkNick('a\u202Eb')), /letters, digits/);
  assert.match(error(checkNick(42)), /must be text/);
  assert.match(error(checkNick(undefined)), /must be text/);
});

test('room names: lowercased, a-z 0-9 _ -, at most 24 characters', () => {
  assert.equal(value(checkRoom(' Lobby ')), 'lobby');
  assert.equal(value(checkRoom('rust-fans_2')), 'rust-fans_2');
  assert.equal(value(checkRoom('r'.repeat(MAX_ROOM_NAME))), 'r'.repeat(MAX_ROOM_NAME));
  assert.match(error(checkRoom('r'.repeat(MAX_ROOM_NAME + 1))), /longer than 24/);
  for (const bad of ['a b', '../etc', '-x', 'café', 'room:x']) assert.match(error(checkRoom(bad)), /may hold a-z/, bad);
  assert.match(error(checkRoom('')), /empty/);
  assert.match(error(checkRoom(['lobby'])), /must be text/);
});

test('message texts: trimmed, newlines and tabs kept, other controls and bidi overrides removed, at most 500 characters', () => {
  assert.equal(value(checkText('  hi\n\tthere  ')), 'hi\n\tthere');
  assert.equal(value(checkText('a\u0000b\u0007c\u202Ed\u2066e\u009Bf')), 'abcdef');
  assert.equal(value(checkText('😀'.repeat(MAX_TEXT))), '😀'.repeat(MAX_TEXT), 'characters, not UTF-16 units');
  assert.match(error(checkText('x'.repeat(MAX_TEXT + 1))), /longer than 500/);
  assert.match(error(checkText(' \u0001 ')), /empty/);
  assert.match(error(checkText({ text: 'x' })), /must be text/);
});

test('session tokens, client message ids and "after" ids', () => {
  assert.equal(value(checkToken('a'.repeat(16))), 'a'.repeat(16));
  assert.match(error(checkToken('short')), /16 to 64/);
  assert.match(error(checkToken('x'.repeat(65))), /16 to 64/);
  assert.match(error(checkToken('a'.repeat(15) + '/')), /16 to 64/);
  assert.equal(value(checkClientId('c1234567')), 'c1234567');
  assert.match(error(checkClientId('c123')), /8 to 64/);
  assert.match(error(checkClientId(12345678)), /8 to 64/);
  assert.equal(value(checkAfter(undefined)), 0);
  assert.equal(value(checkAfter(7)), 7);
  for (const bad of [-1, 1.5, '3', Number.MAX_SAFE_INTEGER + 1]) assert.match(error(checkAfter(bad)), /non-negative integer/);
});

function add(log: RoomLog, key: string, text = key) {
  return log.add(key, { nick: 'n', text, cid: key, ts: 0 });
}

test('a room log numbers messages 1, 2, 3 and answers "what came after id n"', () => {
  const log = new RoomLog('lobby', 5);
  assert.deepEqual(log.since(0), { messages: [], gap: false });
  for (const k of ['a', 'b', 'c']) add(log, k);
  assert.equal(log.lastId, 3);
  assert.deepEqual(log.since(0).messages.map((m) => [m.room, m.id, m.text]), [['lobby', 1, 'a'], ['lobby', 2, 'b'], ['lobby', 3, 'c']]);
  assert.deepEqual(log.since(1).messages.map((m) => m.id), [2, 3]);
  assert.deepEqual(log.since(3), { messages: [], gap: false });
  assert.deepEqual(log.since(9), { messages: [], gap: false });
});

test('a room log keeps its last `size` messages and says when some asked for are gone', () => {
  const log = new RoomLog('r', 3);
  for (const k of ['a', 'b', 'c', 'd', 'e']) add(log, k);
  assert.deepEqual(log.since(0).messages.map((m) => m.id), [3, 4, 5]);
  assert.equal(log.since(0).gap, true);
  assert.equal(log.since(1).gap, true);
  assert.deepEqual(log.since(2), { messages: log.since(0).messages, gap: false });
  assert.deepEqual(log.since(4).messages.map((m) => m.id), [5]);
});

test('a room log stores a retried message once, while it still keeps it', () => {
  const log = new RoomLog('r', 2);
  const first = add(log, 'k1', 'hello');
  assert.equal(first.added, true);
  const retry = add(log, 'k1', 'hello again');
  assert.deepEqual(retry, { message: first.message, added: false });
  assert.equal(log.lastId, 1);
  add(log, 'k2');
  assert.equal(add(log, 'k1').added, false, 'still kept');
  add(log, 'k3');
  const late = add(log, 'k1');
  assert.equal(late.added, true, 'once dropped from the history, the key is forgotten too');
  assert.equal(late.message.id, 4);
});

test('the room set is bounded: the least recently used idle room goes first, occupied rooms never', () => {
  const occupied = new Set<string>();
  const logs = new RoomLogs(3, 10, (room) => occupied.has(room));
  const a = logs.open('a')!;
  logs.open('b');
  logs.open('c');
  occupied.add('b');
  assert.equal(logs.open('a'), a, 'opening again gives the same log (and makes it recently used)');
  assert.ok(logs.open('d'), 'c (idle, least recently used) made room');
  assert.equal(logs.count, 3);
  assert.notEqual(logs.open('c'), undefined, 'a new c: a went (idle, least recently used)');
  assert.notEqual(logs.open('a'), a, 'a was forgotten');
  occupied.add('a').add('c');
  occupied.add('d');
  assert.equal(logs.open('e'), undefined, 'every kept room is occupied');
  assert.equal(logs.count, 3);
});

test('each room log has its own epoch: a room forgotten and opened again is told apart; find() never creates', () => {
  const logs = new RoomLogs(2, 10, () => false, 'srv');
  assert.equal(logs.find('a'), undefined);
  assert.equal(logs.count, 0, 'find() created nothing');
  const first = logs.open('a')!;
  add(first, 'k1');
  assert.equal(logs.find('a'), first);
  logs.open('b');
  logs.open('c'); // a (idle, least recently used) goes
  assert.equal(logs.find('a'), undefined);
  const again = logs.open('a')!;
  assert.equal(again.lastId, 0, 'ids start again');
  assert.notEqual(again.epoch, first.epoch, 'under another epoch');
  assert.ok(first.epoch.startsWith('srv') && again.epoch.startsWith('srv'));
  assert.equal(new Set([first, logs.find('c'), again].map((l) => l!.epoch)).size, 3, 'every log its own');
});
