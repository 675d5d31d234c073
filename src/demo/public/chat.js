/*
 * The chat page (see src/demo/chat-server.ts for the events). Nothing a user typed is ever put
 * into the page as HTML: every text goes through textContent.
 *
 * No message is lost or shown twice: each room's messages carry ids that grow by one; the page
 * keeps the ids it shows, places each message by its id, ignores one it already shows, and on
 * every (re)connect joins its rooms again asking for what came after the last id it has. Ids are
 * only compared under the room's epoch: when a join answers with another one (the server
 * restarted, or forgot the room while it was empty), what the page shows of the room is
 * replaced. What the user sends waits in an outbox, is sent one at a time with an
 * acknowledgement and sent again (same message id, stored once by the server) until the server
 * has it.
 */
(function () {
  'use strict';

  const ACK_MS = 5000;
  const MAX_TRIES = 10;
  const RETRY_MS = 1000;
  const TYPING_SEND_MS = 2000;
  const TYPING_SHOW_MS = 4000;
  const MAX_SHOWN = 300;
  const MAX_OUTBOX = 50;
  const TOKEN_KEY = 'fullduplex-chat-token';
  const NICK_KEY = 'fullduplex-chat-nick';

  const $ = (id) => document.getElementById(id);
  const ui = {
    state: $('state'), me: $('me'),
    login: $('login'), nick: $('nick'), loginRoom: $('login-room'), loginButton: $('login-button'), loginError: $('login-error'),
    chat: $('chat'), rooms: $('rooms'), joinForm: $('join-form'), joinRoom: $('join-room'),
    onlineCount: $('online-count'), members: $('members'),
    roomTitle: $('room-title'), messages: $('messages'), typing: $('typing'),
    composer: $('composer'), text: $('text'), chatError: $('chat-error'),
  };

  /** name -> { name, epoch, lastId, ids, floor, list, tab, badge, unread, members, online, typing } */
  const rooms = new Map();
  /** Messages not yet acknowledged by the server, oldest first: { cid, room, text, tries, el }. */
  const outbox = [];
  /** cid -> the "sending…" item of a message of ours not shown yet (until its 'message' or history comes). */
  const pending = new Map();
  let socket = null;
  let entered = false;
  let active = '';
  let sending = false;
  let attempt = 0;
  let lastTypingSent = 0;

  function randomId(bytes) {
    const a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,23}$/;

  function roomProblem(name) {
    return ROOM_NAME.test(name) ? '' : 'A room name is 1 to 24 of a-z, 0-9, "_" and "-", starting with a letter or digit.';
  }

  function tabToken() {
    let token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      token = randomId(16);
      sessionStorage.setItem(TOKEN_KEY, token);
    }
    return token;
  }

  // ---- connection state ----

  function showState() {
    let state, text;
    if (!socket) [state, text] = ['idle', 'Not connected'];
    else if (socket.connected) [state, text] = ['connected', 'Connected'];
    else if (!navigator.onLine) [state, text] = ['offline', 'Offline'];
    else {
      [state, text] = entered ? ['reconnecting', 'Reconnecting'] : ['connecting', 'Connecting'];
      text += attempt > 0 ? ` (attempt ${attempt})…` : '…';
    }
    ui.state.dataset.state = state;
    ui.state.textContent = text;
  }

  function connect(nick, firstRoom) {
    // forceNew: after a refusal, the next login must not get the old socket (and its auth) back
    socket = io({ auth: { nick, token: tabToken() }, forceNew: true, reconnectionDelay: 500, reconnectionDelayMax: 4000 });
    socket.on('connect', () => {
      attempt = 0;
      if (entered) for (const name of rooms.keys()) join(name); // ask each room for what came meanwhile
      else enterChat(nick, firstRoom);
      showState();
      pump();
    });
    socket.on('disconnect', (reason) => {
      if (reason === 'io server disconnect') socket.connect();
      showState();
    });
    socket.on('connect_error', (err) => {
      showState();
      if (socket.active) return; // a network error: the client tries again by itself
      backToLogin(err.message); // refused by the server (nickname rules, or taken)
    });
    socket.io.on('reconnect_attempt', (n) => {
      attempt = n;
      showState();
    });
    socket.on('message', (m) => addMessage(m, true));
    socket.on('presence', (p) => setMembers(rooms.get(p.room), p.members, p.online));
    socket.on('typing', onTyping);
    socket.on('left', onLeft);
    showState();
  }

  // ---- rooms ----

  function backToLogin(why) {
    socket.disconnect();
    socket = null;
    entered = false;
    for (const room of [...rooms.values()]) dropRoom(room);
    outbox.length = 0;
    ui.chat.hidden = true;
    ui.login.hidden = false;
    ui.loginError.textContent = why;
    ui.loginButton.disabled = false;
    showState();
  }

  function enterChat(nick, firstRoom) {
    entered = true;
    localStorage.setItem(NICK_KEY, nick);
    ui.me.textContent = nick;
    ui.login.hidden = true;
    ui.chat.hidden = false;
    openRoom(firstRoom);
    ui.text.focus();
  }

  function openRoom(name) {
    let room = rooms.get(name);
    if (!room) {
      room = {
        name, epoch: '', lastId: 0, ids: new Set(), floor: 0, unread: 0, members: [], online: 0, typing: new Map(),
        list: el('ol', 'list'), tab: el('li', 'room'), badge: el('span', 'badge'),
      };
      room.list.dataset.room = name;
      room.list.hidden = true;
      const pick = el('button', 'room-name', `#${name}`);
      pick.type = 'button';
      pick.addEventListener('click', () => select(name));
      const leave = el('button', 'room-leave', '×');
      leave.type = 'button';
      leave.title = `Leave #${name}`;
      leave.setAttribute('aria-label', `Leave #${name}`);
      leave.addEventListener('click', () => leaveRoom(name));
      room.tab.append(pick, room.badge, leave);
      rooms.set(name, room);
      ui.rooms.append(room.tab);
      ui.messages.append(room.list);
      if (socket && socket.connected) join(name);
    }
    select(name);
  }

  function select(name) {
    active = name;
    for (const room of rooms.values()) {
      const on = room.name === name;
      room.list.hidden = !on;
      room.tab.classList.toggle('active', on);
      if (on) room.unread = 0;
      showBadge(room);
    }
    ui.roomTitle.textContent = `#${name}`;
    ui.rooms.classList.toggle('single', rooms.size === 1);
    showMembers();
    showTyping();
    scrollDown(true);
  }

  function join(name) {
    const room = rooms.get(name);
    socket.timeout(ACK_MS).emit('join', { room: name, epoch: room.epoch, after: room.lastId }, (err, res) => {
      if (rooms.get(name) !== room) return; // left meanwhile
      if (err) {
        if (socket && socket.connected) setTimeout(() => socket && socket.connected && join(name), RETRY_MS);
        return; // not connected: the next 'connect' joins again
      }
      if (!res.ok) {
        ui.chatError.textContent = res.error;
        if (room.epoch === '') dropRoom(room);
        return;
      }
      if (res.epoch !== room.epoch) {
        // first join, or ids start again (the server restarted or forgot the room): what is shown is replaced
        const again = room.epoch !== '';
        for (const li of room.list.querySelectorAll('li:not(.pending)')) li.remove();
        room.ids.clear();
        room.lastId = 0;
        room.floor = 0;
        if (again) addNotice(room, 'The server started this room anew: earlier messages are gone.');
      } else if (res.gap) {
        addNotice(room, 'Some messages you missed are no longer kept.');
      }
      room.epoch = res.epoch;
      for (const m of res.messages) addMessage(m, false);
      setMembers(room, res.members, res.online);
    });
  }

  /**
   * The server took us out of a room (on a recovered connection, for a room it forgot meanwhile).
   * The join sent on 'connect' is on its way and answers after this: it brings the room back under
   * a new epoch, or says why not.
   */
  function onLeft(l) {
    const room = rooms.get(l.room);
    if (!room) return;
    setMembers(room, [], 0);
    addNotice(room, `You were taken out of #${room.name}: ${l.reason}.`);
  }

  function leaveRoom(name) {
    const room = rooms.get(name);
    if (!room || rooms.size === 1) return;
    if (socket && socket.connected) socket.emit('leave', { room: name });
    dropRoom(room);
  }

  function dropRoom(room) {
    rooms.delete(room.name);
    room.tab.remove();
    room.list.remove();
    for (const [cid, item] of pending) if (item.room === room.name) pending.delete(cid);
    if (!entered || active !== room.name) return;
    if (rooms.size) select(rooms.keys().next().value);
    else if (room.name !== 'lobby') openRoom('lobby');
  }

  function setMembers(room, members, online) {
    if (!room) return;
    room.members = members;
    room.online = online;
    for (const nick of room.typing.keys()) if (!members.includes(nick)) stopTyping(room, nick);
    if (room.name === active) showMembers();
  }

  function showMembers() {
    const room = rooms.get(active);
    ui.members.replaceChildren(...room.members.map((nick) => el('li', nick === ui.me.textContent ? 'member self' : 'member', nick)));
    ui.onlineCount.textContent = room.online ? `(${room.online})` : '';
  }

  function showBadge(room) {
    room.badge.textContent = room.unread ? String(room.unread) : '';
  }

  // ---- messages ----

  function scrollDown(force) {
    const box = ui.messages;
    if (force || box.scrollHeight - box.scrollTop - box.clientHeight < 120) box.scrollTop = box.scrollHeight;
  }

  /** Puts `li` at its place by data-id among the room's shown items (pending ones stay last). */
  function place(room, li, id) {
    let before = null;
    for (let node = room.list.lastElementChild; node; node = node.previousElementSibling) {
      if (!node.classList.contains('pending') && Number(node.dataset.id) < id) break;
      before = node;
    }
    room.list.insertBefore(li, before);
  }

  function addMessage(m, live) {
    const room = rooms.get(m.room);
    if (!room || room.ids.has(m.id) || m.id <= room.floor) return;
    room.ids.add(m.id);
    room.lastId = Math.max(room.lastId, m.id);
    const mine = pending.get(m.cid);
    if (mine) {
      mine.el.remove();
      pending.delete(m.cid);
    }
    const li = el('li', m.nick === ui.me.textContent ? 'msg mine' : 'msg');
    li.dataset.id = String(m.id);
    const meta = el('div', 'meta');
    const time = el('time', 'time', new Date(m.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    time.dateTime = new Date(m.ts).toISOString();
    meta.append(el('span', 'nick', m.nick), time);
    li.append(meta, el('div', 'text', m.text));
    place(room, li, m.id);
    while (room.ids.size > MAX_SHOWN) {
      const oldest = room.list.querySelector('li.msg[data-id]');
      room.floor = Number(oldest.dataset.id);
      room.ids.delete(room.floor);
      oldest.remove();
    }
    stopTyping(room, m.nick);
    if (room.name === active) scrollDown(m.nick === ui.me.textContent);
    else if (live) {
      room.unread++;
      showBadge(room);
    }
  }

  function addNotice(room, text) {
    const li = el('li', 'notice', text);
    li.dataset.id = String(room.lastId + 0.5);
    place(room, li, room.lastId + 0.5);
  }

  // ---- sending ----

  function queue(text) {
    const room = rooms.get(active);
    if (outbox.length >= MAX_OUTBOX) {
      ui.chatError.textContent = 'Too many messages waiting to be sent; wait for the connection.';
      return false;
    }
    const item = { cid: randomId(12), room: room.name, text, tries: 0, el: el('li', 'msg mine pending') };
    const meta = el('div', 'meta');
    meta.append(el('span', 'nick', ui.me.textContent), el('span', 'time', 'sending…'));
    item.el.append(meta, el('div', 'text', text));
    room.list.append(item.el);
    scrollDown(true);
    outbox.push(item);
    pending.set(item.cid, item);
    pump();
    return true;
  }

  function pump() {
    if (sending || !socket || !socket.connected || outbox.length === 0) return;
    const item = outbox[0];
    if (!rooms.has(item.room)) {
      outbox.shift();
      return pump();
    }
    sending = true;
    socket.timeout(ACK_MS).emit('send', { room: item.room, text: item.text, cid: item.cid }, (err, res) => {
      sending = false;
      if (err) {
        // a timeout while connected counts as a try; a lost connection does not (the next 'connect' pumps)
        if (socket && socket.connected && ++item.tries < MAX_TRIES) setTimeout(pump, RETRY_MS);
        else if (item.tries >= MAX_TRIES) fail(item, 'not sent: the server does not answer');
        return;
      }
      outbox.shift();
      if (!res.ok) fail(item, `not sent: ${res.error}`);
      pump();
    });
  }

  function fail(item, reason) {
    const i = outbox.indexOf(item);
    if (i !== -1) outbox.splice(i, 1);
    pending.delete(item.cid);
    item.el.classList.add('failed');
    item.el.querySelector('.time').textContent = reason;
    pump();
  }

  // ---- typing ----

  function onTyping(t) {
    const room = rooms.get(t.room);
    if (!room) return;
    stopTyping(room, t.nick);
    if (t.typing) room.typing.set(t.nick, setTimeout(() => stopTyping(room, t.nick), TYPING_SHOW_MS));
    if (room.name === active) showTyping();
  }

  function stopTyping(room, nick) {
    clearTimeout(room.typing.get(nick));
    if (room.typing.delete(nick) && room.name === active) showTyping();
  }

  function showTyping() {
    const nicks = [...rooms.get(active).typing.keys()];
    ui.typing.textContent =
      nicks.length === 0 ? '' :
      nicks.length === 1 ? `${nicks[0]} is typing…` :
      nicks.length === 2 ? `${nicks[0]} and ${nicks[1]} are typing…` :
      `${nicks.length} people are typing…`;
  }

  // ---- forms ----

  ui.nick.value = localStorage.getItem(NICK_KEY) || '';

  ui.login.addEventListener('submit', (e) => {
    e.preventDefault();
    const nick = ui.nick.value.trim();
    const room = ui.loginRoom.value.trim().toLowerCase() || 'lobby';
    ui.loginError.textContent = nick ? roomProblem(room) : 'Pick a nickname.';
    if (ui.loginError.textContent) return;
    ui.loginButton.disabled = true;
    connect(nick, room);
  });

  ui.joinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = ui.joinRoom.value.trim().toLowerCase();
    if (!name) return;
    ui.chatError.textContent = roomProblem(name);
    if (ui.chatError.textContent) return;
    ui.joinRoom.value = '';
    openRoom(name);
  });

  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ui.text.value.trim();
    if (!text) return;
    ui.chatError.textContent = '';
    if (queue(text)) ui.text.value = '';
    lastTypingSent = 0;
  });

  ui.text.addEventListener('input', () => {
    const now = Date.now();
    if (!socket || !socket.connected || !ui.text.value.trim() || now - lastTypingSent < TYPING_SEND_MS) return;
    lastTypingSent = now;
    socket.volatile.emit('typing', { room: active, typing: true });
  });

  window.addEventListener('online', showState);
  window.addEventListener('offline', showState);
})();
