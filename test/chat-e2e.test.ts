/**
 * The chat app end to end in headless Chromium (Debian's /usr/bin/chromium via playwright-core):
 * two pages chat in one room; then one page's connection is cut (its server-side TCP socket
 * destroyed, once while its browser is offline too) while the other keeps sending, and once it
 * is back it shows every message, in order, none twice. The cuts run twice: on the app as
 * `npm start` runs it (connection state recovery on) and with recovery off, where the page's own
 * catching up (join with the last id it shows) is all there is. Saves docs/chat.png and
 * docs/chat-phone.png. The apps run in this process, so the test can reach their sockets.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startChatApp, type ChatApp } from '../src/demo/app.js';
import { MAX_ROOMS } from '../src/demo/chat-rules.js';
import type { ServerOptions } from '../src/realtime/index.js';
import { chromiumMissing, chromiumProblem, launchChromium } from './helpers/chromium.js';
import { ROOT, within } from './fixtures/harness.js';

/*
 * Functions passed to page.evaluate / waitForFunction run in the browser; they reach the DOM
 * through `globalThis` (this project's TS has no DOM types) and are passed as functions, not
 * strings (the page's CSP forbids eval).
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
const WAIT = { timeout: 15_000 };
const TEST_OPTS = { timeout: 90_000 };
const DESKTOP = { width: 1100, height: 680 };
const PHONE = { width: 375, height: 740 };

let browser: Browser | undefined;
/** Console errors and page errors, but network failures (expected while a page is cut off). */
const problems: string[] = [];

before(async () => {
  if (chromiumProblem() === null) browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/** A running app, alice on a desktop-sized page and bob on a phone-sized one, both in #lobby. */
class Pair {
  app!: ChatApp;
  base = '';
  alice!: Page;
  bob!: Page;
  bobContext!: BrowserContext;
  /** Engine.IO session id -> the TCP socket its WebSocket upgrade came on. */
  private readonly upgrades = new Map<string, Duplex>();

  async start(options: ServerOptions = {}): Promise<void> {
    this.app = await startChatApp(0, '127.0.0.1', options);
    this.base = `http://127.0.0.1:${this.app.port}`;
    this.app.server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      const sid = new URL(req.url ?? '/', this.base).searchParams.get('sid');
      if (sid) this.upgrades.set(sid, socket);
    });
  }

  async stop(): Promise<void> {
    await this.alice?.context().close();
    await this.bobContext?.close();
    await within(this.app.close(), 'the app to close');
  }

  /** A page in its own browser context (its own storage and network state), logged in as `nick`. */
  async open(nick: string, viewport: { width: number; height: number }): Promise<Page> {
    const context = await browser!.newContext({ viewport, deviceScaleFactor: 2 });
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`${nick}: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_|WebSocket connection to/.test(msg.text())) {
        problems.push(`${nick}: ${msg.text()}`);
      }
    });
    await page.goto(`${this.base}/`, WAIT);
    assert.equal(await page.textContent('#state'), 'Not connected');
    await page.fill('#nick', nick, WAIT);
    await page.click('#login-button', WAIT);
    await connectedState(page);
    return page;
  }

  async openBoth(): Promise<void> {
    this.alice = await this.open('alice', DESKTOP);
    this.bob = await this.open('bob', PHONE);
    this.bobContext = this.bob.context();
  }

  /** The newest server-side socket of `nick`. */
  socketOf(nick: string) {
    return [...this.app.io.sockets.sockets.values()].filter((s) => s.data.nick === nick).at(-1);
  }

  /** Destroys the server-side TCP socket of `nick`'s WebSocket: no close frame, the page just loses it. */
  async cut(nick: string): Promise<string> {
    const onWebSocket = async (): Promise<[string, Duplex]> => {
      for (;;) {
        const s = this.socketOf(nick);
        const tcp = s && s.conn.transportName === 'websocket' ? this.upgrades.get(s.conn.id) : undefined;
        if (s && tcp) return [s.id, tcp];
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const [id, tcp] = await within(onWebSocket(), `${nick}'s connection to be on WebSocket`);
    tcp.destroy();
    return id;
  }

  /** Whether `nick`'s socket after a cut is the recovered session `before` (same id). */
  recovered(nick: string, before: string): boolean {
    const s = this.socketOf(nick)!;
    return s.recovered && s.id === before;
  }
}

function connectedState(page: Page): Promise<unknown> {
  return page.waitForSelector('#state[data-state="connected"]', WAIT);
}

/** Sends `text` from `page` and waits until the page shows it stored (with its id). */
async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text, WAIT);
  await page.press('#text', 'Enter', WAIT);
  await page.waitForFunction(
    (t) => [...(globalThis as any).document.querySelectorAll('ol.list:not([hidden]) li.msg[data-id] .text')].some((e: any) => e.textContent === t),
    text,
    WAIT,
  );
}

interface Shown {
  id: number;
  nick: string;
  text: string;
}

/** The messages the page shows in its open room, top to bottom (without those still being sent). */
function shown(page: Page): Promise<Shown[]> {
  return page.$$eval('ol.list:not([hidden]) li.msg[data-id]', (items) =>
    items.map((li: any) => ({ id: Number(li.dataset.id), nick: li.querySelector('.nick').textContent, text: li.querySelector('.text').textContent })),
  );
}

async function waitShown(page: Page, what: string, done: (list: Shown[]) => boolean): Promise<Shown[]> {
  let last: Shown[] = [];
  const poll = async (): Promise<Shown[]> => {
    for (;;) {
      last = await shown(page);
      if (done(last)) return last;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return within(poll(), `${what} (page shows ${JSON.stringify(last.map((m) => m.text))})`, WAIT.timeout);
}

/** Starts recording every value the page's connection state takes. */
function recordStates(page: Page): Promise<void> {
  return page.evaluate(() => {
    const el = (globalThis as any).document.getElementById('state');
    const seen: string[] = [el.dataset.state];
    (globalThis as any).chatStates = seen;
    new (globalThis as any).MutationObserver(() => seen.push(el.dataset.state)).observe(el, { attributes: true, attributeFilter: ['data-state'] });
  });
}

async function recordedStates(page: Page): Promise<string[]> {
  const all = await page.evaluate(() => (globalThis as any).chatStates as string[]);
  return all.filter((s, i) => s !== all[i - 1]);
}

function assertInOrderOnce(list: Shown[], what: string): void {
  const ids = list.map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, `${what}: no message twice`);
  assert.deepEqual(ids, ids.map((_, i) => ids[0]! + i), `${what}: in id order, none missing`);
}

/** The two cuts, on `pair` (alice and bob logged in); `recovery`: whether the server restores sessions. */
function cutTests(pair: Pair, recovery: boolean): void {
  test('a cut connection recovers by itself: reconnecting, then connected, every message in order, none twice', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const { alice, bob } = pair;
    await say(alice, 'before the cut');
    await recordStates(bob);
    const before = await pair.cut('bob');
    const sent = ['while you were away 1', 'while you were away 2', 'while you were away 3'];
    for (const text of sent) await say(alice, text);
    await connectedState(bob);
    const all = await shown(alice);
    const seen = await waitShown(bob, 'every message of alice', (l) => l.length >= all.length);
    assert.deepEqual(seen, all);
    assertInOrderOnce(seen, 'bob');
    const states = await recordedStates(bob);
    assert.equal(states[0], 'connected');
    assert.ok(states.indexOf('reconnecting') > 0, `went reconnecting: ${states}`);
    assert.equal(states.at(-1), 'connected', `came back: ${states}`);
    assert.equal(await bob.textContent('#state'), 'Connected');
    await alice.waitForFunction(() => (globalThis as any).document.getElementById('members').textContent === 'alicebob', null, WAIT);
    assert.equal(pair.recovered('bob', before), recovery, 'the server restored the session, or not');
    assert.deepEqual(problems, []);
  });

  test('offline too: the page says so, its own message waits, and once back both pages show the same messages once', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const { alice, bob, bobContext } = pair;
    await recordStates(bob);
    await bobContext.setOffline(true);
    const before = await pair.cut('bob');
    await bob.waitForSelector('#state[data-state="offline"]', WAIT);
    assert.equal(await bob.textContent('#state'), 'Offline');

    await bob.fill('#text', 'sent while offline', WAIT);
    await bob.press('#text', 'Enter', WAIT);
    await bob.waitForSelector('li.msg.pending', WAIT);
    const sent = Array.from({ length: 5 }, (_, i) => `message ${i + 1} of 5 while bob is offline`);
    for (const text of sent) await say(alice, text);
    assert.equal((await shown(alice)).some((m) => m.text === 'sent while offline'), false, "bob's message waits in his page");
    assert.equal(await bob.$$eval('li.msg.pending', (els) => els.length), 1);

    await bobContext.setOffline(false);
    await connectedState(bob);
    const both = (l: Shown[]) => l.some((m) => m.text === 'sent while offline') && l.some((m) => m.text === sent.at(-1));
    const onAlice = await waitShown(alice, "bob's message", both);
    const onBob = await waitShown(bob, "alice's messages and bob's own", (l) => both(l) && l.length >= onAlice.length);
    assert.deepEqual(onBob, onAlice);
    assertInOrderOnce(onBob, 'bob');
    assert.deepEqual(onBob.filter((m) => sent.includes(m.text)).map((m) => m.text), sent);
    assert.equal(onBob.filter((m) => m.text === 'sent while offline').length, 1);
    assert.equal(await bob.$$eval('li.msg.pending', (els) => els.length), 0, 'nothing left waiting');
    const states = await recordedStates(bob);
    assert.ok(states.indexOf('offline') > 0, `went offline: ${states}`);
    assert.equal(states.at(-1), 'connected', `came back: ${states}`);
    assert.equal(pair.recovered('bob', before), recovery, 'the server restored the session, or not');
    assert.deepEqual(problems, []);
  });

  test('a room the server forgot while the page was away starts again: its new ids are not taken for old ones', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const { app, bob, bobContext } = pair;
    await bob.fill('#join-room', 'forgetful', WAIT);
    await bob.press('#join-room', 'Enter', WAIT);
    await bob.waitForSelector('.room.active .room-name:text-is("#forgetful")', WAIT);
    await say(bob, 'first');
    await say(bob, 'second');

    await bobContext.setOffline(true);
    await pair.cut('bob');
    await bob.waitForSelector('#state[data-state="offline"]', WAIT);
    const emptied = async (): Promise<void> => {
      while (app.io.sockets.adapter.rooms.has('room:forgetful')) await new Promise((r) => setTimeout(r, 20));
    };
    await within(emptied(), 'the server to see #forgetful empty');
    for (let i = 0; i < MAX_ROOMS; i++) app.chat.logs.open(`idle-${i}`); // other rooms push the empty one out
    assert.equal(app.chat.logs.find('forgetful'), undefined, 'the server forgot #forgetful');

    await bobContext.setOffline(false);
    await connectedState(bob);
    await say(bob, 'after the server forgot the room');
    const list = await shown(bob);
    assert.deepEqual(list.map((m) => [m.id, m.text]), [[1, 'after the server forgot the room']]);
    const notices = await bob.$$eval('ol.list:not([hidden]) li.notice', (els) => els.map((e: any) => e.textContent));
    assert.deepEqual(notices, ['The server started this room anew: earlier messages are gone.']);

    await bob.click('.room.active .room-leave', WAIT);
    await bob.waitForSelector('.room.active .room-name:text-is("#lobby")', WAIT);
    assert.deepEqual(problems, []);
  });
}

describe('the app as npm start runs it', () => {
  const pair = new Pair();
  before(() => pair.start());
  after(() => pair.stop());

  test('two pages chat in one room: history on join, who is online, typing, rooms, text shown as text; screenshots', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const alice = (pair.alice = await pair.open('alice', DESKTOP));
    await say(alice, 'Hi! Anyone here?');
    await say(alice, 'This room runs on fullduplex/realtime.');

    const bob = (pair.bob = await pair.open('bob', PHONE));
    pair.bobContext = bob.context();
    const history = await waitShown(bob, "alice's messages as history", (l) => l.length === 2);
    assert.deepEqual(history.map((m) => [m.id, m.nick, m.text]), [[1, 'alice', 'Hi! Anyone here?'], [2, 'alice', 'This room runs on fullduplex/realtime.']]);
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => (globalThis as any).document.getElementById('members').textContent === 'alicebob', null, WAIT);
      assert.equal(await page.textContent('#online-count'), '(2)');
    }
    assert.equal(await bob.textContent('#me'), 'bob');

    await bob.fill('#text', 'Hello alice!', WAIT);
    await alice.waitForFunction(() => (globalThis as any).document.getElementById('typing').textContent === 'bob is typing…', null, WAIT);
    await bob.press('#text', 'Enter', WAIT);
    await waitShown(alice, "bob's message", (l) => l.some((m) => m.text === 'Hello alice!'));
    await alice.waitForFunction(() => (globalThis as any).document.getElementById('typing').textContent === '', null, WAIT);

    // another room: its own list and ids; a message in the room left behind shows as unread
    await alice.fill('#join-room', 'Random', WAIT);
    await alice.press('#join-room', 'Enter', WAIT);
    await alice.waitForFunction(() => (globalThis as any).document.getElementById('room-title').textContent === '#random', null, WAIT);
    assert.deepEqual(await shown(alice), []);
    await say(alice, 'Quiet in here.');
    assert.equal((await shown(alice))[0]!.id, 1, 'ids are per room');
    await say(bob, 'Welcome! Try cutting my network: nothing gets lost.');
    await alice.waitForSelector('.room:not(.active) .badge:text-is("1")', WAIT);
    await alice.click('.room:not(.active) .room-name', WAIT);
    await waitShown(alice, 'the lobby again', (l) => l.length === 4);

    const overflow = await bob.evaluate(() => {
      const root = (globalThis as any).document.documentElement;
      return root.scrollWidth - root.clientWidth;
    });
    assert.equal(overflow, 0, 'nothing scrolls sideways at 375 px');
    mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
    await alice.locator('#text').blur(WAIT);
    await bob.locator('#text').blur(WAIT);
    await alice.screenshot({ path: path.join(ROOT, 'docs/chat.png'), ...WAIT });
    await bob.screenshot({ path: path.join(ROOT, 'docs/chat-phone.png'), ...WAIT });

    const markup = '<img src=x onerror="document.title=1"> <b>bold?</b>';
    await say(alice, markup);
    const got = await waitShown(bob, 'the markup as text', (l) => l.some((m) => m.text === markup));
    assert.equal(got.at(-1)!.text, markup);
    assert.equal(await bob.$$eval('#messages img, #messages b', (els) => els.length), 0, 'no element made from a message');
    assert.deepEqual(problems, [], 'no console errors (e.g. CSP violations)');
  });

  test('the login form says why a nickname or room is refused', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const page = await (await browser!.newContext({ viewport: PHONE })).newPage();
    try {
      await page.goto(`${pair.base}/`, WAIT);
      const attempt = async (nick: string, room: string, error: string): Promise<void> => {
        await page.fill('#nick', nick, WAIT);
        await page.fill('#login-room', room, WAIT);
        await page.click('#login-button', WAIT);
        await page.waitForFunction((e) => (globalThis as any).document.getElementById('login-error').textContent === e, error, WAIT);
        assert.equal(await page.isVisible('#chat'), false);
      };
      await attempt('Alice', 'lobby', 'the nickname "Alice" is taken');
      assert.equal(await page.textContent('#state'), 'Not connected');
      await attempt('<script>', 'lobby', 'nickname may hold letters, digits, spaces, "_", "." and "-", and starts with a letter or digit');
      await attempt('carol', 'no spaces', 'A room name is 1 to 24 of a-z, 0-9, "_" and "-", starting with a letter or digit.');
      await attempt('', 'lobby', 'Pick a nickname.');
    } finally {
      await page.context().close();
    }
  });

  test('a message that reaches the page twice or out of order is shown once, in its place; leaving a room', TEST_OPTS, async (t) => {
    if (chromiumMissing(t)) return;
    const { bob } = pair;
    await bob.fill('#join-room', 'order', WAIT);
    await bob.press('#join-room', 'Enter', WAIT);
    await bob.waitForSelector('.room.active .room-name:text-is("#order")', WAIT);
    const socket = pair.socketOf('bob')!;
    const message = (id: number) => ({ room: 'order', id, nick: 'server', text: `number ${id}`, ts: Date.now(), cid: `test-cid-${id}` });
    for (const id of [2, 1, 2, 1, 3]) socket.emit('message', message(id));
    const list = await waitShown(bob, 'number 3', (l) => l.some((m) => m.text === 'number 3'));
    assert.deepEqual(list.map((m) => m.text), ['number 1', 'number 2', 'number 3']);

    await bob.click('.room.active .room-leave', WAIT);
    await bob.waitForSelector('.room.active .room-name:text-is("#lobby")', WAIT);
    assert.equal(await bob.$$eval('.room', (els) => els.length), 1);
    await within(
      (async () => {
        while (pair.socketOf('bob')!.rooms.has('room:order')) await new Promise((r) => setTimeout(r, 20));
      })(),
      'the server to take bob out of #order',
    );
  });

  cutTests(pair, true);
});

describe('without connection state recovery: the page alone catches up', () => {
  const pair = new Pair();
  before(async () => {
    await pair.start({ connectionStateRecovery: undefined });
    if (browser) await pair.openBoth();
  });
  after(() => pair.stop());
  cutTests(pair, false);
});
