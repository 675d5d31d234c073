/**
 * The conformance case table, modelled on the Autobahn|Testsuite groups 1-7, 9 and 10, and the
 * harness that runs every case against OUR server (the raw peer is a client) and OUR client
 * (the raw peer is a server). Case ids follow Autobahn where a case is Autobahn's; ids Autobahn
 * does not have continue its numbering within the group. Expectations come from RFC 6455,
 * cited per case.
 *
 * The implementation under test is an echo endpoint: every message goes back to its sender,
 * text as text and binary as binary.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { WebSocket, WebSocketServer } from '../../src/index.ts';
import {
  DEFAULT_WAIT_MS,
  OP,
  RawConnection,
  RawServer,
  closePayload,
  connectRawClient,
  describeEvent,
  encodeFrame,
  hex,
  sha256,
  sleep,
  splitSizes,
  toBuffer,
  withTimeout,
  type FrameSpec,
  type PeerEvent,
} from './raw-peer.ts';

/** Role of OUR implementation in a run (the raw peer plays the other one). */
export type Role = 'server' | 'client';

type OurSocket = InstanceType<typeof WebSocket>;

const BIG_MAX_PAYLOAD = 64 * 1024 * 1024;
/** How long the fail-fast cases wait for the close frame while the rest is withheld. */
const FAIL_FAST_WAIT_MS = 2000;

// ---------------------------------------------------------------------------------------------
// Session: one connection between the raw peer and our endpoint
// ---------------------------------------------------------------------------------------------

interface SessionOptions {
  maxPayload?: number;
  /** Client role only: frames the raw server writes in the same TCP write as the 101. */
  appendAfterResponse?: Uint8Array;
}

export class Session {
  readonly errors: Error[] = [];
  /** Messages our endpoint received (the echo handler counts them). */
  messagesReceived = 0;
  private closeInfo: { code: number; reason: string } | undefined;
  private closeWaiters = new Set<() => void>();
  private openSeen = false;

  private constructor(
    readonly role: Role,
    readonly peer: RawConnection,
    readonly ours: OurSocket,
    private readonly disposeTransport: () => Promise<void>,
  ) {}

  /** Wires the echo handler and the event recorders onto our socket, synchronously. */
  private static attach(ws: OurSocket, getSession: () => Session | undefined, early: EarlyState): void {
    ws.on('message', (data, isBinary) => {
      const s = getSession();
      if (s) s.messagesReceived++;
      else early.messages++;
      try {
        ws.send(data as Buffer, { binary: isBinary });
      } catch (err) {
        (s ? s.errors : early.errors).push(err as Error);
      }
    });
    ws.on('error', (err) => {
      const s = getSession();
      (s ? s.errors : early.errors).push(err);
    });
    ws.on('open', () => {
      const s = getSession();
      if (s) s.markOpen();
      else early.open = true;
    });
    ws.on('close', (code, reason) => {
      const info = { code, reason: Buffer.from(reason).toString('utf8') };
      const s = getSession();
      if (s) s.markClosed(info);
      else early.close = info;
    });
  }

  private markOpen(): void {
    this.openSeen = true;
    this.wakeAll();
  }

  private markClosed(info: { code: number; reason: string }): void {
    this.closeInfo = info;
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const w of [...this.closeWaiters]) w();
  }

  private adopt(early: EarlyState): void {
    this.messagesReceived += early.messages;
    this.errors.push(...early.errors);
    if (early.open) this.openSeen = true;
    if (early.close) this.closeInfo = early.close;
  }

  static async open(role: Role, opts: SessionOptions = {}): Promise<Session> {
    const maxPayload = opts.maxPayload ?? BIG_MAX_PAYLOAD;
    const early: EarlyState = { messages: 0, errors: [], open: false, close: undefined };
    let session: Session | undefined;
    const get = () => session;
    if (role === 'server') {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload });
      const closeServer = async () => {
        for (const c of wss.clients) c.terminate();
        await withTimeout(
          new Promise<void>((resolve) => wss.close(() => resolve())),
          DEFAULT_WAIT_MS,
          'our WebSocketServer to close',
        ).catch(() => {});
      };
      try {
        await withTimeout(once(wss, 'listening'), DEFAULT_WAIT_MS, 'our WebSocketServer to listen');
        const port = (wss.address() as AddressInfo).port;
        const connection = new Promise<OurSocket>((resolve) => {
          wss.once('connection', (ws: OurSocket) => {
            Session.attach(ws, get, early);
            early.open = true;
            resolve(ws);
          });
        });
        const peer = await connectRawClient(port);
        let ours: OurSocket;
        try {
          ours = await withTimeout(connection, DEFAULT_WAIT_MS, "our server's 'connection' event");
        } catch (err) {
          peer.destroy();
          throw err;
        }
        session = new Session(role, peer, ours, async () => {
          peer.destroy();
          ours.terminate();
          await closeServer();
        });
      } catch (err) {
        await closeServer();
        throw err;
      }
    } else {
      const rs = await RawServer.listen();
      let ours: OurSocket | undefined;
      try {
        ours = new WebSocket(rs.url(), { maxPayload });
        Session.attach(ours, get, early);
        const acceptOpts = opts.appendAfterResponse ? { appendAfterResponse: opts.appendAfterResponse } : {};
        const { conn } = await rs.accept(acceptOpts);
        const o = ours;
        session = new Session(role, conn, o, async () => {
          conn.destroy();
          o.terminate();
          await rs.close();
        });
      } catch (err) {
        ours?.terminate();
        await rs.close();
        throw err;
      }
    }
    session.adopt(early);
    return session;
  }

  async dispose(): Promise<void> {
    await this.disposeTransport();
  }

  private waitFor(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ready()) {
          clearTimeout(timer);
          this.closeWaiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.closeWaiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.closeWaiters.add(check);
    });
  }

  /** Waits for our endpoint's 'open' (immediate for the server role). */
  waitOpen(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.waitFor(() => this.openSeen, timeoutMs, "our endpoint's 'open' event");
  }

  /** Waits for our endpoint's 'close' event and returns its code and reason. */
  async waitOursClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<{ code: number; reason: string }> {
    await this.waitFor(() => this.closeInfo !== undefined, timeoutMs, "our endpoint's 'close' event");
    return this.closeInfo!;
  }

  // -- shorthands for the raw peer --------------------------------------------------------------

  send(...specs: FrameSpec[]): Promise<void> {
    return this.peer.send(...specs);
  }

  /** All frames in one buffer, encoded with the raw peer's masking. */
  bytes(...specs: FrameSpec[]): Buffer {
    return Buffer.concat(specs.map((s) => this.peer.frame(s)));
  }

  // -- expectations -----------------------------------------------------------------------------

  async nextEvent(timeoutMs = DEFAULT_WAIT_MS, what?: string): Promise<PeerEvent> {
    return this.peer.nextEvent(timeoutMs, what);
  }

  /** The next thing our endpoint sends is this message, byte-exact (an echo). */
  async expectMessage(opcode: 1 | 2, data: Uint8Array | string, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    const want = toBuffer(data);
    const kind = opcode === OP.TEXT ? 'text' : 'binary';
    const ev = await this.nextEvent(timeoutMs, `the echo of a ${want.length}-byte ${kind} message`);
    if (ev.type !== 'message') {
      assert.fail(`expected the echo of a ${want.length}-byte ${kind} message, got ${describeEvent(ev)}`);
    }
    assert.equal(ev.opcode, opcode, `echo has the wrong message type: got ${describeEvent(ev)}`);
    assertSameBytes(ev.data, want, `echoed ${kind} message`);
  }

  /** The next thing our endpoint sends is a pong with this payload (RFC 6455 5.5.3). */
  async expectPong(data: Uint8Array | string, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    const want = toBuffer(data);
    const ev = await this.nextEvent(timeoutMs, `a pong with a ${want.length}-byte payload`);
    if (ev.type !== 'pong') assert.fail(`expected a pong (RFC 6455 5.5.2), got ${describeEvent(ev)}`);
    assertSameBytes(ev.data, want, 'pong payload (RFC 6455 5.5.3: identical to the ping\'s)');
  }

  /** The next thing our endpoint sends is a close frame; returns it. */
  async expectCloseFrame(
    codes: number | readonly number[] | 'empty-or-1000',
    timeoutMs = DEFAULT_WAIT_MS,
    what?: string,
  ): Promise<Extract<PeerEvent, { type: 'close' }>> {
    const label =
      codes === 'empty-or-1000'
        ? 'a close frame with no code or code 1000'
        : `a close frame with code ${Array.isArray(codes) ? codes.join(' or ') : codes}`;
    const ev = await this.nextEvent(timeoutMs, what ?? label);
    if (ev.type !== 'close') assert.fail(`expected ${label}, got ${describeEvent(ev)}`);
    if (codes === 'empty-or-1000') {
      assert.ok(ev.code === undefined || ev.code === 1000, `expected ${label}, got ${describeEvent(ev)}`);
    } else {
      const list = typeof codes === 'number' ? [codes] : codes;
      assert.ok(ev.code !== undefined && list.includes(ev.code), `expected ${label}, got ${describeEvent(ev)}`);
    }
    return ev;
  }

  /**
   * The implementation must _Fail the WebSocket Connection_ (RFC 6455 7.1.7): the next frame is
   * a close frame with the given code (7.4.1), then the connection ends. `replyClose` false
   * when the raw peer is in the middle of a frame and cannot send a close frame.
   */
  async expectFail(
    codes: number | readonly number[],
    opts: { replyClose?: boolean; timeoutMs?: number } = {},
  ): Promise<void> {
    const ev = await this.expectCloseFrame(codes, opts.timeoutMs ?? DEFAULT_WAIT_MS);
    await this.finishClose(opts.replyClose ?? true, ev.code);
  }

  /**
   * After our endpoint sent its close frame: the raw peer answers with a close frame (if
   * `reply`), then the connection must end. Server role: our server closes TCP
   * (RFC 6455 7.1.1: "the underlying TCP connection ... SHOULD be closed first by the server";
   * 7.1.7: after failing, the endpoint MUST close the connection). Client role: the raw server
   * closes TCP and our client's 'close' event must fire. Either way nothing may follow the
   * close frame (5.5.1).
   */
  async finishClose(reply: boolean, replyCode?: number): Promise<void> {
    if (reply && !this.peer.closeSent && this.peer.writable && !this.peer.remoteEnded) {
      await this.peer.sendClose(replyCode);
    }
    if (this.role === 'server') {
      await this.peer.waitRemoteEnd(DEFAULT_WAIT_MS, 'our server to close the TCP connection after the close frame (RFC 6455 7.1.1)');
    } else {
      this.peer.end();
    }
    await this.peer.waitClosed(DEFAULT_WAIT_MS, 'the TCP connection to close');
    assert.equal(this.peer.pendingFrames, 0, `our endpoint sent ${this.peer.pendingFrames} frame(s) after its close frame (RFC 6455 5.5.1)`);
    assert.deepEqual(this.peer.violations, [], 'framing rules broken');
    await this.waitOursClosed();
  }

  /**
   * Closing handshake started by the raw peer (RFC 6455 5.5.1, 7.1.2): send a close frame,
   * expect the close echoed with the same code (7.4: "typically echos the status code"), the
   * TCP connection closed, and our 'close' event reporting the code we sent (7.1.5; 1005 if
   * none, 7.4.1).
   */
  async closeNormally(code: number | undefined = 1000, reason = ''): Promise<void> {
    await this.peer.sendClose(code, reason);
    await this.expectCloseFrame(code === undefined ? 'empty-or-1000' : code);
    await this.finishClose(false);
    const info = await this.waitOursClosed();
    assert.equal(info.code, code ?? 1005, "our 'close' event reports the code the peer sent (RFC 6455 7.1.5)");
    assert.deepEqual(
      this.errors.map((e) => e.message),
      [],
      "our endpoint emitted 'error' in a case without any protocol violation",
    );
  }
}

interface EarlyState {
  messages: number;
  errors: Error[];
  open: boolean;
  close: { code: number; reason: string } | undefined;
}

/** Byte-exact comparison that reports sizes and hashes instead of dumping megabytes. */
export function assertSameBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.length === expected.length && actual.equals(expected)) return;
  let i = 0;
  const n = Math.min(actual.length, expected.length);
  while (i < n && actual[i] === expected[i]) i++;
  assert.fail(
    `${what} differs: got ${actual.length} bytes (sha256 ${sha256(actual).slice(0, 16)}), ` +
      `expected ${expected.length} bytes (sha256 ${sha256(expected).slice(0, 16)}); first difference at byte ${i}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Payload generators
// ---------------------------------------------------------------------------------------------

const TEXT_PATTERN = 'Hello κόσμε ✓ 中文 😀 𝄞 ßöä €-';

/** Valid UTF-8 of exactly `length` bytes mixing 1- to 4-byte characters. */
export function utf8Text(length: number): Buffer {
  const unit = Buffer.from(TEXT_PATTERN, 'utf8');
  const out = Buffer.allocUnsafe(length);
  let off = 0;
  while (off + unit.length <= length) {
    unit.copy(out, off);
    off += unit.length;
  }
  out.fill(0x2a, off); // '*' pads the tail
  return out;
}

export function binaryData(length: number): Buffer {
  return randomBytes(length);
}

/** Frames of one message: first frame `opcode`, the rest continuation, each of `size` bytes. */
export function fragments(opcode: number, data: Buffer, size: number | readonly number[]): FrameSpec[] {
  const sizes = splitSizes(data.length, typeof size === 'number' ? [size] : size);
  if (sizes.length === 0) return [{ opcode, payload: data, fin: true }];
  const out: FrameSpec[] = [];
  let off = 0;
  sizes.forEach((s, i) => {
    out.push({ opcode: i === 0 ? opcode : OP.CONT, payload: data.subarray(off, off + s), fin: i === sizes.length - 1 });
    off += s;
  });
  return out;
}

/** Frames from explicit payload pieces: text/binary first, continuation after. */
export function pieces(opcode: number, parts: ReadonlyArray<Uint8Array | string>): FrameSpec[] {
  return parts.map((p, i) => ({ opcode: i === 0 ? opcode : OP.CONT, payload: p, fin: i === parts.length - 1 }));
}

/**
 * Chop plan for "octet-wise" writes of a frame of `total` bytes: every byte in its own write
 * for the whole frame when it is small, otherwise for the first `head` bytes (header, masking
 * key and the start of the payload, where parser state changes), then odd-sized 997-byte chops
 * so the rest still arrives split at shifting offsets. Keeps 64 KiB frames under a second.
 */
export function octetWisePlan(total: number, head = 2048): number[] {
  if (total <= head) return [1];
  return [...new Array<number>(head).fill(1), 997];
}

// ---------------------------------------------------------------------------------------------
// Case table
// ---------------------------------------------------------------------------------------------

export interface CaseDef {
  id: string;
  title: string;
  /** Roles of our implementation this case applies to; default both. */
  roles?: readonly Role[];
  maxPayload?: number;
  /** Client role: frames written with the 101 response. */
  appendAfterResponse?: () => Buffer;
  /** Test-level timeout (a safety net; every wait inside has its own). */
  timeoutMs?: number;
  run: (s: Session) => Promise<void>;
}

export interface GroupDef {
  name: string;
  cases: CaseDef[];
}

const T = OP.TEXT;
const B = OP.BINARY;

// ---- group 1: framing -----------------------------------------------------------------------

const FRAMING_LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

function group1(): GroupDef {
  const cases: CaseDef[] = [];
  // 1.1.x text, 1.2.x binary: RFC 6455 5.2 (all three length encodings), 5.6 (data frames).
  for (const [sub, opcode] of [
    [1, T],
    [2, B],
  ] as const) {
    const kind = opcode === T ? 'text' : 'binary';
    FRAMING_LENGTHS.forEach((len, i) => {
      cases.push({
        id: `1.${sub}.${i + 1}`,
        title: `${kind} message, ${len} bytes, echoed`,
        async run(s) {
          const data = opcode === T ? utf8Text(len) : binaryData(len);
          await s.send({ opcode, payload: data });
          await s.expectMessage(opcode, data);
          await s.closeNormally();
        },
      });
    });
    cases.push({
      id: `1.${sub}.8`,
      title: `${kind} message, 65536 bytes, written in 997-byte chops`,
      async run(s) {
        const data = opcode === T ? utf8Text(65536) : binaryData(65536);
        await s.peer.writeChopped(s.bytes({ opcode, payload: data }), [997]);
        await s.expectMessage(opcode, data);
        await s.closeNormally();
      },
    });
  }
  // 1.3.x / 1.4.x: the same lengths, one byte per TCP write (header split at every offset).
  for (const [sub, opcode] of [
    [3, T],
    [4, B],
  ] as const) {
    const kind = opcode === T ? 'text' : 'binary';
    FRAMING_LENGTHS.forEach((len, i) => {
      cases.push({
        id: `1.${sub}.${i + 1}`,
        title: `${kind} message, ${len} bytes, octet-wise chops`,
        async run(s) {
          const data = opcode === T ? utf8Text(len) : binaryData(len);
          const bytes = s.bytes({ opcode, payload: data });
          await s.peer.writeChopped(bytes, octetWisePlan(bytes.length));
          await s.expectMessage(opcode, data);
          await s.closeNormally();
        },
      });
    });
  }
  // 1.5.x: masking and framing details.
  cases.push(
    {
      id: '1.5.1',
      title: 'several messages of different length encodings in one TCP write, echoed in order',
      async run(s) {
        const msgs = [utf8Text(10), binaryData(200), utf8Text(70000), binaryData(0), utf8Text(125)];
        await s.send(...msgs.map((m, i) => ({ opcode: i % 2 ? B : T, payload: m })));
        for (const [i, m] of msgs.entries()) await s.expectMessage(i % 2 ? B : T, m);
        await s.closeNormally();
      },
    },
    {
      id: '1.5.2',
      title: 'masking key 00 00 00 00 and FF FF FF FF accepted',
      roles: ['server'],
      async run(s) {
        // RFC 6455 5.3: any 32-bit value is a masking key; the server unmasks whatever it is.
        const a = utf8Text(300);
        const b = binaryData(300);
        await s.send({ opcode: T, payload: a, mask: hex('00000000') }, { opcode: B, payload: b, mask: hex('ffffffff') });
        await s.expectMessage(T, a);
        await s.expectMessage(B, b);
        await s.closeNormally();
      },
    },
    {
      id: '1.5.3',
      title: 'unmasked frame from the client fails the connection with 1002',
      roles: ['server'],
      async run(s) {
        // RFC 6455 5.1: "The server MUST close the connection upon receiving a frame that is
        // not masked ... a server MAY send a Close frame with a status code of 1002".
        await s.send({ opcode: T, payload: 'unmasked', mask: false });
        await s.expectFail(1002);
      },
    },
    {
      id: '1.5.4',
      title: 'masked frame from the server fails the connection with 1002',
      roles: ['client'],
      async run(s) {
        // RFC 6455 5.1: "A client MUST close a connection if it detects a masked frame"
        // (status code 1002, section 7.4.1).
        await s.send({ opcode: T, payload: 'masked', mask: true });
        await s.expectFail(1002);
      },
    },
    {
      id: '1.5.5',
      title: '64-bit length with the most significant bit set fails the connection',
      async run(s) {
        // RFC 6455 5.2: "the most significant bit MUST be 0". Only the header is sent; 1009
        // (too big) is accepted as well as 1002 since the length is also over any limit.
        const header = s.bytes({ opcode: B, payload: Buffer.alloc(0), declaredLength: 1n << 63n, lengthEncoding: 64 });
        await s.peer.write(header);
        await s.expectFail([1002, 1009], { replyClose: false });
      },
    },
    {
      id: '1.5.6',
      title: 'a frame in the same TCP write as the 101 response is processed',
      roles: ['client'],
      appendAfterResponse: () => encodeFrame({ opcode: T, payload: 'right after the handshake' }, false),
      async run(s) {
        // RFC 6455 4.1: once the handshake response is valid the connection is OPEN; data that
        // follows the response in the same segment is WebSocket data.
        await s.expectMessage(T, 'right after the handshake');
        await s.closeNormally();
      },
    },
    {
      id: '1.5.7',
      title: 'our client uses a fresh masking key for every frame',
      roles: ['client'],
      async run(s) {
        // RFC 6455 5.3: "The masking key ... MUST be derived from a strong source of entropy"
        // and be fresh per frame; 20 frames with (almost) all distinct random keys.
        for (let i = 0; i < 20; i++) await s.send({ opcode: T, payload: `message ${i}` });
        for (let i = 0; i < 20; i++) await s.expectMessage(T, `message ${i}`);
        const keys = new Set(s.peer.received.slice(0, 20).map((f) => f.maskKey?.toString('hex')));
        assert.ok(keys.size >= 19, `only ${keys.size} distinct masking keys in 20 frames`);
        await s.closeNormally();
      },
    },
  );
  return { name: '1 framing', cases };
}

// ---- group 2: ping / pong -------------------------------------------------------------------

function group2(): GroupDef {
  const cases: CaseDef[] = [
    {
      id: '2.1',
      title: 'ping without payload gets a pong without payload',
      async run(s) {
        // RFC 6455 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame".
        await s.peer.sendPing();
        await s.expectPong('');
        await s.closeNormally();
      },
    },
    {
      id: '2.2',
      title: 'ping with small text payload',
      async run(s) {
        await s.peer.sendPing('Hello, world!');
        await s.expectPong('Hello, world!'); // 5.5.3: identical "Application data"
        await s.closeNormally();
      },
    },
    {
      id: '2.3',
      title: 'ping with small binary payload',
      async run(s) {
        const p = hex('00 ff fe fd fc fb 00 ff');
        await s.peer.sendPing(p);
        await s.expectPong(p);
        await s.closeNormally();
      },
    },
    {
      id: '2.4',
      title: 'ping with 125-byte binary payload',
      async run(s) {
        const p = Buffer.alloc(125, 0xfe);
        await s.peer.sendPing(p);
        await s.expectPong(p);
        await s.closeNormally();
      },
    },
    {
      id: '2.5',
      title: 'ping with 126-byte payload fails the connection with 1002',
      async run(s) {
        // RFC 6455 5.5: "All control frames MUST have a payload length of 125 bytes or less".
        await s.send({ opcode: OP.PING, payload: Buffer.alloc(126, 0xfe) });
        await s.expectFail(1002);
      },
    },
    {
      id: '2.6',
      title: 'ping with 125-byte payload, octet-wise chops',
      async run(s) {
        const p = Buffer.alloc(125, 0xfe);
        await s.peer.sendOctetWise({ opcode: OP.PING, payload: p });
        await s.expectPong(p);
        await s.closeNormally();
      },
    },
    {
      id: '2.7',
      title: 'unsolicited pong without payload is ignored',
      async run(s) {
        // RFC 6455 5.5.3: "A response to an unsolicited Pong frame is not expected."
        await s.peer.sendPong();
        await s.closeNormally(); // the close echo must be the very next frame
      },
    },
    {
      id: '2.8',
      title: 'unsolicited pong with payload is ignored',
      async run(s) {
        await s.peer.sendPong('unsolicited pong payload');
        await s.closeNormally();
      },
    },
    {
      id: '2.9',
      title: 'unsolicited pong, then ping: only the ping is answered',
      async run(s) {
        await s.peer.sendPong('unsolicited pong payload');
        await s.peer.sendPing('ping payload');
        await s.expectPong('ping payload');
        await s.closeNormally();
      },
    },
    {
      id: '2.10',
      title: '10 pings in a row get 10 pongs in order',
      async run(s) {
        // RFC 6455 5.5.3 lets an endpoint answer only the most recent of several unanswered
        // pings; like Autobahn we require one pong per ping with pings sent one write each.
        for (let i = 0; i < 10; i++) await s.peer.sendPing(`payload-${i}`);
        for (let i = 0; i < 10; i++) await s.expectPong(`payload-${i}`);
        await s.closeNormally();
      },
    },
    {
      id: '2.11',
      title: '10 pings in octet-wise chops get 10 pongs in order',
      async run(s) {
        for (let i = 0; i < 10; i++) await s.peer.sendOctetWise({ opcode: OP.PING, payload: `payload-${i}` });
        for (let i = 0; i < 10; i++) await s.expectPong(`payload-${i}`);
        await s.closeNormally();
      },
    },
  ];
  return { name: '2 ping/pong', cases };
}

// ---- group 3: reserved bits -----------------------------------------------------------------

interface Rsv {
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
}
const RSV_NAMES: Array<[string, Rsv]> = [
  ['RSV1', { rsv1: true }],
  ['RSV2', { rsv2: true }],
  ['RSV3', { rsv3: true }],
  ['RSV1+RSV2+RSV3', { rsv1: true, rsv2: true, rsv3: true }],
];

function group3(): GroupDef {
  // RFC 6455 5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings
  // for non-zero values. If a nonzero value is received and none of the negotiated extensions
  // defines the meaning of such a nonzero value, the receiving endpoint MUST _Fail the
  // WebSocket Connection_." No extension is ever negotiated with the raw peer.
  const cases: CaseDef[] = [
    {
      id: '3.1',
      title: 'text message with RSV3 (Autobahn RSV = 1)',
      async run(s) {
        await s.send({ opcode: T, payload: 'Hello, world!', rsv3: true });
        await s.expectFail(1002);
      },
    },
    {
      id: '3.2',
      title: 'valid text, then text with RSV2, then ping: echo, then 1002, no pong',
      async run(s) {
        await s.send({ opcode: T, payload: 'Hello, world!' }, { opcode: T, payload: 'Hello, world!', rsv2: true }, { opcode: OP.PING, payload: 'ping' });
        await s.expectMessage(T, 'Hello, world!');
        await s.expectFail(1002);
      },
    },
    {
      id: '3.3',
      title: 'valid text, then text with RSV2+RSV3, then ping, frame-wise chops',
      async run(s) {
        await s.peer.sendFrameWise([
          { opcode: T, payload: 'Hello, world!' },
          { opcode: T, payload: 'Hello, world!', rsv2: true, rsv3: true },
          { opcode: OP.PING, payload: 'ping' },
        ]);
        await s.expectMessage(T, 'Hello, world!');
        await s.expectFail(1002);
      },
    },
    {
      id: '3.4',
      title: 'valid text, then text with RSV1, then ping, octet-wise chops',
      async run(s) {
        await s.peer.sendOctetWise(
          { opcode: T, payload: 'Hello, world!' },
          { opcode: T, payload: 'Hello, world!', rsv1: true },
          { opcode: OP.PING, payload: 'ping' },
        );
        await s.expectMessage(T, 'Hello, world!');
        await s.expectFail(1002);
      },
    },
    {
      id: '3.5',
      title: 'binary message with RSV1+RSV3 (Autobahn RSV = 5)',
      async run(s) {
        await s.send({ opcode: B, payload: hex('00 ff fe fd'), rsv1: true, rsv3: true });
        await s.expectFail(1002);
      },
    },
    {
      id: '3.6',
      title: 'ping with RSV1+RSV2 (Autobahn RSV = 6)',
      async run(s) {
        await s.send({ opcode: OP.PING, payload: 'ping', rsv1: true, rsv2: true });
        await s.expectFail(1002);
      },
    },
    {
      id: '3.7',
      title: 'close with RSV1+RSV2+RSV3 (Autobahn RSV = 7)',
      async run(s) {
        await s.send({ opcode: OP.CLOSE, payload: closePayload(1000), rsv1: true, rsv2: true, rsv3: true });
        await s.expectFail(1002);
      },
    },
  ];
  let n = 1;
  for (const [opName, opcode, payload] of [
    ['text', T, 'reserved bits'],
    ['binary', B, hex('01 02 03')],
    ['ping', OP.PING, 'ping'],
    ['close', OP.CLOSE, closePayload(1000, 'bye')],
  ] as const) {
    for (const [rsvName, rsv] of RSV_NAMES) {
      cases.push({
        id: `3.8.${n++}`,
        title: `valid text, then ${opName} with ${rsvName}: echo, then 1002`,
        async run(s) {
          await s.send({ opcode: T, payload: 'first' }, { opcode, payload, ...rsv });
          await s.expectMessage(T, 'first');
          await s.expectFail(1002);
        },
      });
    }
  }
  cases.push({
    id: '3.9.1',
    title: 'continuation frame with RSV2 inside a fragmented text message',
    async run(s) {
      await s.send({ opcode: T, payload: 'frag1', fin: false }, { opcode: OP.CONT, payload: 'frag2', fin: true, rsv2: true });
      await s.expectFail(1002);
    },
  });
  return { name: '3 reserved bits', cases };
}

// ---- group 4: opcodes -----------------------------------------------------------------------

function group4(): GroupDef {
  // RFC 6455 5.2: opcodes 0x3-0x7 are "reserved for further non-control frames", 0xB-0xF "for
  // further control frames"; 10.7 / 5.2: an unknown opcode fails the connection (1002, 7.4.1).
  const cases: CaseDef[] = [];
  for (const [sub, ops] of [
    [1, [3, 4, 5, 6, 7]],
    [2, [11, 12, 13, 14, 15]],
  ] as const) {
    let n = 1;
    for (const op of ops) {
      cases.push({
        id: `4.${sub}.${n++}`,
        title: `reserved opcode ${op}, no payload`,
        async run(s) {
          await s.send({ opcode: op });
          await s.expectFail(1002);
        },
      });
      cases.push({
        id: `4.${sub}.${n++}`,
        title: `valid text, reserved opcode ${op} with payload, ping: echo, then 1002, no pong`,
        async run(s) {
          await s.send({ opcode: T, payload: 'Hello, world!' }, { opcode: op, payload: 'reserved opcode payload' }, { opcode: OP.PING, payload: 'ping' });
          await s.expectMessage(T, 'Hello, world!');
          await s.expectFail(1002);
        },
      });
    }
  }
  return { name: '4 opcodes', cases };
}

// ---- group 5: fragmentation -----------------------------------------------------------------

function group5(): GroupDef {
  const two = pieces(T, ['fragment1', 'fragment2']);
  const withPing: FrameSpec[] = [two[0]!, { opcode: OP.PING, payload: 'ping payload' }, two[1]!];
  const contFin = (fin: boolean): FrameSpec => ({ opcode: OP.CONT, payload: 'non-continuation payload', fin });
  const cases: CaseDef[] = [
    {
      id: '5.1',
      title: 'ping in 2 fragments fails with 1002',
      async run(s) {
        // RFC 6455 5.4 / 5.5: "Control frames themselves MUST NOT be fragmented."
        await s.send({ opcode: OP.PING, payload: 'fragment1', fin: false }, { opcode: OP.CONT, payload: 'fragment2' });
        await s.expectFail(1002);
      },
    },
    {
      id: '5.2',
      title: 'pong in 2 fragments fails with 1002',
      async run(s) {
        await s.send({ opcode: OP.PONG, payload: 'fragment1', fin: false }, { opcode: OP.CONT, payload: 'fragment2' });
        await s.expectFail(1002);
      },
    },
    {
      id: '5.3',
      title: 'text in 2 fragments, one write',
      async run(s) {
        // RFC 6455 5.4: a fragmented message is reassembled from its fragments.
        await s.send(...two);
        await s.expectMessage(T, 'fragment1fragment2');
        await s.closeNormally();
      },
    },
    {
      id: '5.4',
      title: 'text in 2 fragments, octet-wise chops',
      async run(s) {
        await s.peer.sendOctetWise(...two);
        await s.expectMessage(T, 'fragment1fragment2');
        await s.closeNormally();
      },
    },
    {
      id: '5.5',
      title: 'text in 2 fragments, frame-wise chops',
      async run(s) {
        await s.peer.sendFrameWise(two);
        await s.expectMessage(T, 'fragment1fragment2');
        await s.closeNormally();
      },
    },
    {
      id: '5.6',
      title: 'text in 2 fragments with a ping between: pong, then echo',
      async run(s) {
        // RFC 6455 5.4: "Control frames MAY be injected in the middle of a fragmented message."
        await s.send(...withPing);
        await s.expectPong('ping payload');
        await s.expectMessage(T, 'fragment1fragment2');
        await s.closeNormally();
      },
    },
    {
      id: '5.7',
      title: 'text in 2 fragments with a ping between, octet-wise chops',
      async run(s) {
        await s.peer.sendOctetWise(...withPing);
        await s.expectPong('ping payload');
        await s.expectMessage(T, 'fragment1fragment2');
        await s.closeNormally();
      },
    },
    {
      id: '5.8',
      title: 'text in 2 fragments with a ping between, frame-wise chops',
      async run(s) {
        await s.peer.sendFrameWise(withPing);
        await s.expectPong('ping payload');
        await s.expectMessage(T, 'fragment1fragment2');
        await s.closeNormally();
      },
    },
  ];
  // 5.9-5.14: continuation with nothing to continue. RFC 6455 5.4: a fragmented message starts
  // with a non-continuation opcode; a continuation frame outside a message is a protocol error.
  let n = 9;
  for (const fin of [true, false]) {
    for (const [how, send] of [
      ['one write', (s: Session) => s.send(contFin(fin), { opcode: T, payload: 'Hello, world!' })],
      ['octet-wise chops', (s: Session) => s.peer.sendOctetWise(contFin(fin), { opcode: T, payload: 'Hello, world!' })],
      ['frame-wise chops', (s: Session) => s.peer.sendFrameWise([contFin(fin), { opcode: T, payload: 'Hello, world!' }])],
    ] as const) {
      cases.push({
        id: `5.${n++}`,
        title: `continuation frame with FIN=${fin ? 1 : 0} and nothing to continue, ${how}`,
        async run(s) {
          await send(s);
          await s.expectFail(1002);
        },
      });
    }
  }
  cases.push(
    {
      id: '5.15',
      title: 'text in 2 fragments, then a continuation with nothing to continue, then text',
      async run(s) {
        await s.send(...two, contFin(false), { opcode: T, payload: 'Hello, world!' });
        await s.expectMessage(T, 'fragment1fragment2');
        await s.expectFail(1002);
      },
    },
    {
      id: '5.16',
      title: '2x (continuation FIN=0 with nothing to continue, text in 2 fragments)',
      async run(s) {
        await s.send(contFin(false), ...two, contFin(false), ...two);
        await s.expectFail(1002);
      },
    },
    {
      id: '5.17',
      title: '2x (continuation FIN=1 with nothing to continue, text in 2 fragments)',
      async run(s) {
        await s.send(contFin(true), ...two, contFin(true), ...two);
        await s.expectFail(1002);
      },
    },
    {
      id: '5.18',
      title: 'text in 2 fragments with both frames opcode text',
      async run(s) {
        await s.send({ opcode: T, payload: 'fragment1', fin: false }, { opcode: T, payload: 'fragment2' });
        await s.expectFail(1002);
      },
    },
    {
      id: '5.19',
      title: 'text in 5 fragments with pings after fragments 2 and 4, each answered before the message completes',
      async run(s) {
        // RFC 6455 5.4 / 5.5.2: the ping is answered while the message is still being
        // assembled; we send the next fragment only after the pong arrived.
        const f = pieces(T, ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5']);
        await s.send(f[0]!, f[1]!, { opcode: OP.PING, payload: 'pongme 1!' });
        await s.expectPong('pongme 1!');
        await s.send(f[2]!, f[3]!, { opcode: OP.PING, payload: 'pongme 2!' });
        await s.expectPong('pongme 2!');
        await s.send(f[4]!);
        await s.expectMessage(T, 'fragment1fragment2fragment3fragment4fragment5');
        await s.closeNormally();
      },
    },
    {
      id: '5.20',
      title: 'same as 5.19, frame-wise chops',
      async run(s) {
        const f = pieces(T, ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5']);
        await s.peer.sendFrameWise([f[0]!, f[1]!, { opcode: OP.PING, payload: 'pongme 1!' }]);
        await s.expectPong('pongme 1!');
        await s.peer.sendFrameWise([f[2]!, f[3]!, { opcode: OP.PING, payload: 'pongme 2!' }]);
        await s.expectPong('pongme 2!');
        await s.peer.sendFrameWise([f[4]!]);
        await s.expectMessage(T, 'fragment1fragment2fragment3fragment4fragment5');
        await s.closeNormally();
      },
    },
    {
      id: '5.21',
      title: 'binary in 2 fragments',
      async run(s) {
        const data = binaryData(300);
        await s.send(...fragments(B, data, 150));
        await s.expectMessage(B, data);
        await s.closeNormally();
      },
    },
    {
      id: '5.22',
      title: 'binary in 100 fragments of 37 bytes',
      async run(s) {
        const data = binaryData(3700);
        await s.send(...fragments(B, data, 37));
        await s.expectMessage(B, data);
        await s.closeNormally();
      },
    },
    {
      id: '5.23',
      title: 'text in many fragments including empty ones',
      async run(s) {
        const parts = ['', 'a', '', 'bc', 'def', '', '', 'ghij', ''];
        await s.send(...pieces(T, parts));
        await s.expectMessage(T, parts.join(''));
        await s.closeNormally();
      },
    },
    {
      id: '5.24',
      title: 'unsolicited pong between fragments is ignored',
      async run(s) {
        await s.send(two[0]!, { opcode: OP.PONG, payload: 'unsolicited' }, two[1]!);
        await s.expectMessage(T, 'fragment1fragment2');
        await s.closeNormally();
      },
    },
    {
      id: '5.25',
      title: 'binary in 3 fragments with pings between, octet-wise chops',
      async run(s) {
        const data = binaryData(90);
        const f = fragments(B, data, 30);
        await s.peer.sendOctetWise(f[0]!, { opcode: OP.PING, payload: 'p1' }, f[1]!, { opcode: OP.PING, payload: 'p2' }, f[2]!);
        await s.expectPong('p1');
        await s.expectPong('p2');
        await s.expectMessage(B, data);
        await s.closeNormally();
      },
    },
    {
      id: '5.26',
      title: 'close with FIN=0 fails with 1002',
      async run(s) {
        // RFC 6455 5.5: control frames MUST NOT be fragmented.
        await s.send({ opcode: OP.CLOSE, payload: closePayload(1000), fin: false });
        await s.expectFail(1002);
      },
    },
    {
      id: '5.27',
      title: 'binary frame while a fragmented text message is open fails with 1002',
      async run(s) {
        // RFC 6455 5.4: the fragments of one message are not interleaved with another message.
        await s.send({ opcode: T, payload: 'frag1', fin: false }, { opcode: B, payload: hex('0102') });
        await s.expectFail(1002);
      },
    },
    {
      id: '5.28',
      title: 'text frame while a fragmented binary message is open fails with 1002',
      async run(s) {
        await s.send({ opcode: B, payload: hex('0102'), fin: false }, { opcode: T, payload: 'text' });
        await s.expectFail(1002);
      },
    },
    {
      id: '5.29',
      title: 'text in 3 fragments then a second message, one write: both echoed in order',
      async run(s) {
        await s.send(...pieces(T, ['one', 'two', 'three']), ...pieces(B, [hex('01'), hex('02')]));
        await s.expectMessage(T, 'onetwothree');
        await s.expectMessage(B, hex('0102'));
        await s.closeNormally();
      },
    },
  );
  return { name: '5 fragmentation', cases };
}

// ---- group 6: UTF-8 -------------------------------------------------------------------------

/** "κόσμε" in UTF-8 (Markus Kuhn's test word, used throughout Autobahn 6.x). */
const KOSME = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');

interface Utf8Row {
  id: string;
  title: string;
  bytes: Buffer;
  valid: boolean;
}

function utf8Rows(): Utf8Row[] {
  const rows: Utf8Row[] = [];
  const add = (id: string, title: string, h: string | Buffer, valid: boolean) =>
    rows.push({ id, title, bytes: typeof h === 'string' ? hex(h) : h, valid });
  // 6.5: valid texts.
  add('6.5.1', 'κόσμε', KOSME, true);
  add('6.5.2', 'all ASCII 0x00-0x7F', Buffer.from(Array.from({ length: 128 }, (_, i) => i)), true);
  add('6.5.3', '2-byte characters ßöä£', Buffer.from('ßöä£', 'utf8'), true);
  add('6.5.4', '3-byte characters €✓中文', Buffer.from('€✓中文', 'utf8'), true);
  add('6.5.5', '4-byte characters 😀𝄞', Buffer.from('😀𝄞', 'utf8'), true);
  add('6.5.6', 'U+FFFF', 'ef bf bf', true);
  add('6.5.7', 'U+10FFFF', 'f4 8f bf bf', true);
  add('6.5.8', 'Hello-µ@ßöäüàá-UTF-8!!', Buffer.from('Hello-µ@ßöäüàá-UTF-8!!', 'utf8'), true);
  // 6.6: prefixes of κόσμε; valid exactly when they end on a character boundary.
  const boundaries = new Set([2, 5, 7, 9, 11]);
  for (let i = 1; i <= 11; i++) add(`6.6.${i}`, `first ${i} bytes of κόσμε`, KOSME.subarray(0, i), boundaries.has(i));
  // 6.7 / 6.8: first possible sequence of each length.
  add('6.7.1', 'U+0000', '00', true);
  add('6.7.2', 'U+0080', 'c2 80', true);
  add('6.7.3', 'U+0800', 'e0 a0 80', true);
  add('6.7.4', 'U+10000', 'f0 90 80 80', true);
  add('6.8.1', '5-byte sequence f8 88 80 80 80', 'f8 88 80 80 80', false);
  add('6.8.2', '6-byte sequence fc 84 80 80 80 80', 'fc 84 80 80 80 80', false);
  // 6.9 / 6.10: last possible sequence of each length.
  add('6.9.1', 'U+007F', '7f', true);
  add('6.9.2', 'U+07FF', 'df bf', true);
  add('6.9.3', 'U+FFFF', 'ef bf bf', true);
  add('6.9.4', 'U+10FFFF', 'f4 8f bf bf', true);
  add('6.10.1', 'f7 bf bf bf (above U+10FFFF)', 'f7 bf bf bf', false);
  add('6.10.2', '5-byte fb bf bf bf bf', 'fb bf bf bf bf', false);
  add('6.10.3', '6-byte fd bf bf bf bf bf', 'fd bf bf bf bf bf', false);
  // 6.11: other boundary conditions.
  add('6.11.1', 'U+D7FF', 'ed 9f bf', true);
  add('6.11.2', 'U+E000', 'ee 80 80', true);
  add('6.11.3', 'U+FFFD', 'ef bf bd', true);
  add('6.11.4', 'U+10FFFF', 'f4 8f bf bf', true);
  add('6.11.5', 'U+110000 (f4 90 80 80)', 'f4 90 80 80', false);
  // 6.12: unexpected continuation bytes.
  add('6.12.1', 'lone 80', '80', false);
  add('6.12.2', 'lone bf', 'bf', false);
  add('6.12.3', '80 bf', '80 bf', false);
  add('6.12.4', '80 bf 80', '80 bf 80', false);
  add('6.12.5', '80 bf 80 bf', '80 bf 80 bf', false);
  add('6.12.6', '80 bf 80 bf 80', '80 bf 80 bf 80', false);
  add('6.12.7', '80 bf 80 bf 80 bf', '80 bf 80 bf 80 bf', false);
  add('6.12.8', 'all 64 continuation bytes 80-bf', Buffer.from(Array.from({ length: 64 }, (_, i) => 0x80 + i)), false);
  // 6.13: lonely start bytes, each followed by a space.
  const lonely = (from: number, to: number) => Buffer.from(Array.from({ length: to - from + 1 }, (_, i) => [from + i, 0x20]).flat());
  add('6.13.1', 'lonely 2-byte starts c0-df, each + space', lonely(0xc0, 0xdf), false);
  add('6.13.2', 'lonely 3-byte starts e0-ef, each + space', lonely(0xe0, 0xef), false);
  add('6.13.3', 'lonely 4-byte starts f0-f7, each + space', lonely(0xf0, 0xf7), false);
  add('6.13.4', 'lonely 5-byte starts f8-fb, each + space', lonely(0xf8, 0xfb), false);
  add('6.13.5', 'lonely 6-byte starts fc-fd, each + space', lonely(0xfc, 0xfd), false);
  // 6.14: sequences with the last continuation byte missing (truncated at message end).
  const truncated = ['c0', 'e0 80', 'f0 80 80', 'f8 80 80 80', 'fc 80 80 80 80', 'df', 'ef bf', 'f7 bf bf', 'fb bf bf bf', 'fd bf bf bf bf'];
  truncated.forEach((t, i) => add(`6.14.${i + 1}`, `truncated ${t}`, t, false));
  add('6.14.11', 'truncated valid 2-byte lead c2 at message end', '41 c2', false);
  add('6.14.12', 'truncated € (e2 82) at message end', '41 e2 82', false);
  add('6.14.13', 'truncated 😀 (f0 9f 98) at message end', '41 f0 9f 98', false);
  // 6.15: concatenation of the incomplete sequences.
  add('6.15.1', 'all of 6.14.1-10 concatenated', truncated.join(' '), false);
  // 6.16: impossible bytes.
  add('6.16.1', 'fe', 'fe', false);
  add('6.16.2', 'ff', 'ff', false);
  add('6.16.3', 'fe fe ff ff', 'fe fe ff ff', false);
  // 6.17-6.19: overlong encodings.
  add('6.17.1', "overlong '/' c0 af", 'c0 af', false);
  add('6.17.2', "overlong '/' e0 80 af", 'e0 80 af', false);
  add('6.17.3', "overlong '/' f0 80 80 af", 'f0 80 80 af', false);
  add('6.17.4', "overlong '/' f8 80 80 80 af", 'f8 80 80 80 af', false);
  add('6.17.5', "overlong '/' fc 80 80 80 80 af", 'fc 80 80 80 80 af', false);
  add('6.18.1', 'maximum overlong c1 bf', 'c1 bf', false);
  add('6.18.2', 'maximum overlong e0 9f bf', 'e0 9f bf', false);
  add('6.18.3', 'maximum overlong f0 8f bf bf', 'f0 8f bf bf', false);
  add('6.18.4', 'maximum overlong f8 87 bf bf bf', 'f8 87 bf bf bf', false);
  add('6.18.5', 'maximum overlong fc 83 bf bf bf bf', 'fc 83 bf bf bf bf', false);
  add('6.19.1', 'overlong NUL c0 80', 'c0 80', false);
  add('6.19.2', 'overlong NUL e0 80 80', 'e0 80 80', false);
  add('6.19.3', 'overlong NUL f0 80 80 80', 'f0 80 80 80', false);
  add('6.19.4', 'overlong NUL f8 80 80 80 80', 'f8 80 80 80 80', false);
  add('6.19.5', 'overlong NUL fc 80 80 80 80 80', 'fc 80 80 80 80 80', false);
  // 6.20 / 6.21: UTF-16 surrogates (not Unicode scalar values, RFC 3629 section 3).
  ['ed a0 80', 'ed ad bf', 'ed ae 80', 'ed af bf', 'ed b0 80', 'ed be 80', 'ed bf bf'].forEach((t, i) =>
    add(`6.20.${i + 1}`, `single surrogate ${t}`, t, false),
  );
  [
    'ed a0 80 ed b0 80',
    'ed a0 80 ed bf bf',
    'ed ad bf ed b0 80',
    'ed ad bf ed bf bf',
    'ed ae 80 ed b0 80',
    'ed ae 80 ed bf bf',
    'ed af bf ed b0 80',
    'ed af bf ed bf bf',
  ].forEach((t, i) => add(`6.21.${i + 1}`, `paired surrogates ${t}`, t, false));
  // 6.22: noncharacters are valid UTF-8.
  [
    ['U+FFFE', 'ef bf be'],
    ['U+FFFF', 'ef bf bf'],
    ['U+1FFFE', 'f0 9f bf be'],
    ['U+1FFFF', 'f0 9f bf bf'],
    ['U+10FFFE', 'f4 8f bf be'],
    ['U+10FFFF', 'f4 8f bf bf'],
    ['U+FDD0', 'ef b7 90'],
    ['U+FDEF', 'ef b7 af'],
  ].forEach(([name, t], i) => add(`6.22.${i + 1}`, `noncharacter ${name}`, t!, true));
  // 6.23: specials.
  add('6.23.1', 'U+FEFF (BOM)', 'ef bb bf', true);
  add('6.23.2', 'U+FFFD after text', Buffer.concat([Buffer.from('abc'), hex('ef bf bd')]), true);
  return rows;
}

function group6(): GroupDef {
  // RFC 6455 5.6: "the 'Payload data' is text data encoded as UTF-8"; 8.1: an endpoint that
  // finds a text payload is not valid UTF-8 "MUST _Fail the WebSocket Connection_"; 7.4.1:
  // code 1007 for "data within a message that was not consistent with the type of the message".
  const hello = Buffer.from('Hello-µ@ßöäüàá-UTF-8!!', 'utf8');
  const cases: CaseDef[] = [
    {
      id: '6.1.1',
      title: 'empty text frame',
      async run(s) {
        await s.send({ opcode: T, payload: '' });
        await s.expectMessage(T, '');
        await s.closeNormally();
      },
    },
    {
      id: '6.1.2',
      title: 'text in 3 empty fragments',
      async run(s) {
        await s.send(...pieces(T, ['', '', '']));
        await s.expectMessage(T, '');
        await s.closeNormally();
      },
    },
    {
      id: '6.1.3',
      title: 'text fragments: empty, "middle frame payload", empty',
      async run(s) {
        await s.send(...pieces(T, ['', 'middle frame payload', '']));
        await s.expectMessage(T, 'middle frame payload');
        await s.closeNormally();
      },
    },
    {
      id: '6.2.1',
      title: 'valid UTF-8 text in one frame',
      async run(s) {
        await s.send({ opcode: T, payload: hello });
        await s.expectMessage(T, hello);
        await s.closeNormally();
      },
    },
    {
      id: '6.2.2',
      title: 'valid UTF-8 text in 1-byte fragments (fragments end inside characters)',
      async run(s) {
        await s.send(...fragments(T, hello, 1));
        await s.expectMessage(T, hello);
        await s.closeNormally();
      },
    },
    {
      id: '6.2.3',
      title: 'valid UTF-8 text in one frame, octet-wise chops',
      async run(s) {
        await s.peer.sendOctetWise({ opcode: T, payload: hello });
        await s.expectMessage(T, hello);
        await s.closeNormally();
      },
    },
    {
      id: '6.2.4',
      title: 'κόσμε in one frame, octet-wise chops',
      async run(s) {
        await s.peer.sendOctetWise({ opcode: T, payload: KOSME });
        await s.expectMessage(T, KOSME);
        await s.closeNormally();
      },
    },
    {
      id: '6.3.1',
      title: 'invalid UTF-8 (κόσμε f4 90 80 80 -edited) in one frame',
      async run(s) {
        await s.send({ opcode: T, payload: Buffer.concat([KOSME, hex('f4 90 80 80'), Buffer.from('-edited')]) });
        await s.expectFail(1007);
      },
    },
    {
      id: '6.3.2',
      title: 'invalid UTF-8 (κόσμε f4 90 80 80 -edited) in one frame, octet-wise chops',
      async run(s) {
        await s.peer.sendOctetWise({ opcode: T, payload: Buffer.concat([KOSME, hex('f4 90 80 80'), Buffer.from('-edited')]) });
        await s.expectFail(1007);
      },
    },
  ];

  // 6.4.x fail fast: the invalid bytes arrive, the rest of the message is withheld; the close
  // must come without it (RFC 6455 8.1 / 5.6: the message can no longer become valid UTF-8).
  const tail = Buffer.from('edited');
  const failFast = (
    id: string,
    title: string,
    plan: (s: Session) => { upToInvalid: () => Promise<void>; rest: () => Promise<void>; atFrameBoundary: boolean },
  ): CaseDef => ({
    id,
    title,
    async run(s) {
      const p = plan(s);
      await p.upToInvalid();
      let ev: PeerEvent;
      try {
        ev = await s.nextEvent(FAIL_FAST_WAIT_MS, 'the close frame while the rest of the message is withheld');
      } catch (err) {
        // Diagnose: does it fail once the rest arrives?
        await p.rest();
        const late = await s.nextEvent(FAIL_FAST_WAIT_MS).then(describeEvent, (e: Error) => e.message);
        assert.fail(`no fail-fast: ${(err as Error).message}; after the rest of the message was sent: ${late}`);
      }
      if (ev.type !== 'close' || ev.code !== 1007) assert.fail(`expected a close frame with code 1007, got ${describeEvent(ev)}`);
      await s.finishClose(p.atFrameBoundary, 1007);
    },
  });
  // 6.4.1 / 6.4.2: three fragments, the third withheld.
  const threeFragments = (first: Buffer, second: Buffer, third: Buffer) => (s: Session) => ({
    async upToInvalid() {
      await s.send({ opcode: T, payload: first, fin: false });
      await sleep(20);
      await s.send({ opcode: OP.CONT, payload: second, fin: false });
    },
    rest: () => s.send({ opcode: OP.CONT, payload: third, fin: true }),
    atFrameBoundary: true,
  });
  // 6.4.3 / 6.4.4: one frame whose payload arrives in three chops, the third withheld.
  const threeChops = (first: Buffer, second: Buffer, third: Buffer) => (s: Session) => {
    const frame = s.bytes({ opcode: T, payload: Buffer.concat([first, second, third]) });
    const cut1 = frame.length - third.length - second.length;
    const cut2 = frame.length - third.length;
    return {
      async upToInvalid() {
        await s.peer.write(frame.subarray(0, cut1));
        await sleep(20);
        await s.peer.write(frame.subarray(cut1, cut2));
      },
      rest: () => s.peer.write(frame.subarray(cut2)),
      atFrameBoundary: false,
    };
  };
  cases.push(
    failFast('6.4.1', '3 fragments, 2nd is f4 90 80 80: 1007 before the 3rd is sent', threeFragments(KOSME, hex('f4 90 80 80'), tail)),
    failFast(
      '6.4.2',
      '3 fragments, 1st ends in f4, 2nd is 90: 1007 before the 3rd is sent',
      threeFragments(Buffer.concat([KOSME, hex('f4')]), hex('90'), Buffer.concat([hex('80 80'), tail])),
    ),
    failFast('6.4.3', 'one frame in 3 chops, 2nd chop is f4 90 80 80: 1007 before the 3rd chop', threeChops(KOSME, hex('f4 90 80 80'), tail)),
    failFast(
      '6.4.4',
      'one frame in 3 chops, 1st ends in f4, 2nd chop is 90: 1007 before the 3rd chop',
      threeChops(Buffer.concat([KOSME, hex('f4')]), hex('90'), Buffer.concat([hex('80 80'), tail])),
    ),
  );

  // Table rows: single frame each.
  for (const row of utf8Rows()) {
    cases.push({
      id: row.id,
      title: `${row.valid ? 'valid' : 'invalid'}: ${row.title}`,
      async run(s) {
        await s.send({ opcode: T, payload: row.bytes });
        if (row.valid) {
          await s.expectMessage(T, row.bytes);
          await s.closeNormally();
        } else {
          await s.expectFail(1007);
        }
      },
    });
  }

  // 6.24: sequences split across fragment and chop boundaries.
  const multi = Buffer.from('aß€😀κόσμε𝄞z', 'utf8');
  cases.push(
    {
      id: '6.24.1',
      title: 'valid multi-byte text split into 2 fragments at every byte offset',
      async run(s) {
        const specs: FrameSpec[] = [];
        for (let i = 1; i < multi.length; i++) specs.push(...pieces(T, [multi.subarray(0, i), multi.subarray(i)]));
        await s.send(...specs);
        for (let i = 1; i < multi.length; i++) await s.expectMessage(T, multi);
        await s.closeNormally();
      },
    },
    {
      id: '6.24.2',
      title: 'valid multi-byte text in 3-byte fragments, octet-wise chops',
      async run(s) {
        await s.peer.sendOctetWise(...fragments(T, multi, 3));
        await s.expectMessage(T, multi);
        await s.closeNormally();
      },
    },
    {
      id: '6.24.3',
      title: 'valid 64 KiB multi-byte text in one frame, 7-byte chops',
      async run(s) {
        const data = utf8Text(65536);
        await s.peer.writeChopped(s.bytes({ opcode: T, payload: data }), [7, 7, 7, 7, 7, 7, 7, 4093]);
        await s.expectMessage(T, data);
        await s.closeNormally();
      },
    },
  );
  const splitInvalid: Array<[string, string, Array<string | Buffer>]> = [
    ['6.24.4', 'surrogate split across fragments: ed | a0 80', ['61 ed', 'a0 80 62']],
    ['6.24.5', 'above U+10FFFF split across fragments: f4 | 90 80 80', ['61 f4', '90 80 80']],
    ['6.24.6', 'overlong NUL split across fragments: c0 | 80', ['c0', '80']],
    ['6.24.7', 'truncated e2 82 at the end of the last non-empty fragment, then an empty final fragment', ['41 e2 82', '']],
    ['6.24.8', 'truncated e2 82 then ASCII in the next fragment', ['41 e2 82', '41']],
    ['6.24.9', 'κόσμε, then a lone continuation byte as the final fragment', [KOSME, '80']],
    ['6.24.10', '4-byte sequence split over 3 fragments, invalid in the last: f0 9f | 98 | 41', ['f0 9f', '98', '41']],
  ];
  for (const [id, title, parts] of splitInvalid) {
    cases.push({
      id,
      title: `invalid: ${title}`,
      async run(s) {
        await s.send(...pieces(T, parts.map((p) => (typeof p === 'string' ? hex(p) : p))));
        await s.expectFail(1007);
      },
    });
  }
  return { name: '6 UTF-8', cases };
}

// ---- group 7: closing -----------------------------------------------------------------------

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

function group7(): GroupDef {
  const cases: CaseDef[] = [
    {
      id: '7.1.1',
      title: 'text message, then close: echo, then close echo',
      async run(s) {
        await s.peer.sendText('Hello World!');
        await s.expectMessage(T, 'Hello World!');
        await s.closeNormally();
      },
    },
    {
      id: '7.1.2',
      title: 'close, then a second close: one close answer only',
      async run(s) {
        await s.send({ opcode: OP.CLOSE, payload: closePayload(1000) }, { opcode: OP.CLOSE, payload: closePayload(1000) });
        s.peer.closeSent = true;
        await s.expectCloseFrame(1000);
        await s.finishClose(false);
      },
    },
    {
      id: '7.1.3',
      title: 'close, then ping: no pong',
      async run(s) {
        // RFC 6455 1.4 / 5.5.1: after the close, the receiving endpoint discards further data.
        await s.send({ opcode: OP.CLOSE, payload: closePayload(1000) }, { opcode: OP.PING, payload: 'Hello World!' });
        s.peer.closeSent = true;
        await s.expectCloseFrame(1000);
        await s.finishClose(false);
      },
    },
    {
      id: '7.1.4',
      title: 'close, then text: no echo',
      async run(s) {
        await s.send({ opcode: OP.CLOSE, payload: closePayload(1000) }, { opcode: T, payload: 'Hello World!' });
        s.peer.closeSent = true;
        await s.expectCloseFrame(1000);
        await s.finishClose(false);
        assert.equal(s.messagesReceived, 0, 'our endpoint delivered a message sent after the close frame');
      },
    },
    {
      id: '7.1.5',
      title: 'first text fragment, close, last fragment: close echo, no message',
      async run(s) {
        // RFC 6455 5.4: control frames may come between fragments; after the close frame the
        // rest is not processed, so the message never completes.
        await s.send({ opcode: T, payload: 'fragment1', fin: false }, { opcode: OP.CLOSE, payload: closePayload(1000) }, { opcode: OP.CONT, payload: 'fragment2' });
        s.peer.closeSent = true;
        await s.expectCloseFrame(1000);
        await s.finishClose(false);
        assert.equal(s.messagesReceived, 0, 'a message completed by a fragment sent after the close frame');
      },
    },
    {
      id: '7.1.6',
      title: '256 KiB text message, then close, then ping: echo, close, no pong',
      async run(s) {
        const data = utf8Text(256 * 1024);
        await s.send({ opcode: T, payload: data }, { opcode: OP.CLOSE, payload: closePayload(1000) }, { opcode: OP.PING, payload: 'Hello World!' });
        s.peer.closeSent = true;
        await s.expectMessage(T, data);
        await s.expectCloseFrame(1000);
        await s.finishClose(false);
      },
    },
    {
      id: '7.3.1',
      title: 'close without payload: answered with a close without code or with 1000',
      async run(s) {
        // RFC 6455 5.5.1: an endpoint that receives a close MUST answer with a close; with no
        // status code received there is none to echo. Our 'close' event reports 1005 (7.1.5).
        await s.closeNormally(undefined);
      },
    },
    {
      id: '7.3.2',
      title: 'close with a 1-byte payload fails with 1002',
      async run(s) {
        // RFC 6455 5.5.1: a close body, if present, starts with a 2-byte status code.
        await s.send({ opcode: OP.CLOSE, payload: hex('03') });
        await s.expectFail(1002);
      },
    },
    {
      id: '7.3.3',
      title: 'close 1000 without reason',
      async run(s) {
        await s.closeNormally(1000);
      },
    },
    {
      id: '7.3.4',
      title: 'close 1000 with a short reason',
      async run(s) {
        await s.closeNormally(1000, 'Hello World!');
      },
    },
    {
      id: '7.3.5',
      title: 'close 1000 with a 123-byte reason (payload 125)',
      async run(s) {
        await s.closeNormally(1000, '*'.repeat(123));
      },
    },
    {
      id: '7.3.6',
      title: 'close 1000 with a 124-byte reason (payload 126) fails with 1002',
      async run(s) {
        // RFC 6455 5.5: control frame payloads are at most 125 bytes.
        await s.send({ opcode: OP.CLOSE, payload: closePayload(1000, '*'.repeat(124)) });
        await s.expectFail(1002);
      },
    },
    {
      id: '7.5.1',
      title: 'close reason with invalid UTF-8 fails with 1007',
      async run(s) {
        // RFC 6455 5.5.1: the close reason is UTF-8; 8.1: invalid UTF-8 fails the connection.
        await s.send({ opcode: OP.CLOSE, payload: Buffer.concat([closePayload(1000), KOSME, hex('f4 90 80 80'), Buffer.from('-edited')]) });
        await s.expectFail(1007);
      },
    },
  ];
  // 7.7.x: every status code RFC 6455 7.4.1 / 7.4.2 lets a peer send is echoed.
  VALID_CODES.forEach((code, i) => {
    cases.push({
      id: `7.7.${i + 1}`,
      title: `close with code ${code} and a reason: close echo with code ${code}`,
      async run(s) {
        await s.closeNormally(code, `reason for ${code}`);
      },
    });
  });
  // 7.9.x: codes a peer must not send (7.4.1: 1004/1005/1006/1015 reserved or "MUST NOT be set
  // as a status code in a Close control frame"; 7.4.2: 0-999 not used, 1016-2999 reserved for
  // the protocol, >= 5000 undefined) fail the connection with 1002.
  INVALID_CODES.forEach((code, i) => {
    cases.push({
      id: `7.9.${i + 1}`,
      title: `close with invalid code ${code} fails with 1002`,
      async run(s) {
        await s.send({ opcode: OP.CLOSE, payload: closePayload(code, 'reason') });
        await s.expectFail(1002);
      },
    });
  });
  // 7.10.x: closing handshake started by our side.
  cases.push(
    {
      id: '7.10.1',
      title: "our close(4001, 'bye'): close frame 4001 'bye'; the peer's answer (4002 'ack') reaches our 'close' event",
      async run(s) {
        await s.waitOpen();
        s.ours.close(4001, 'bye');
        const ev = await s.expectCloseFrame(4001);
        assert.equal(ev.reason.toString(), 'bye', 'close reason sent by our endpoint');
        await s.peer.sendClose(4002, 'ack');
        if (s.role === 'server') {
          // RFC 6455 7.1.1: the server closes TCP once the closing handshake is complete.
          await s.peer.waitRemoteEnd(DEFAULT_WAIT_MS, 'our server to close TCP after the closing handshake (RFC 6455 7.1.1)');
        } else {
          s.peer.end();
        }
        await s.peer.waitClosed();
        const info = await s.waitOursClosed();
        // RFC 6455 7.1.5: the connection close code is the one in the first close frame received.
        assert.deepEqual(info, { code: 4002, reason: 'ack' });
        assert.equal(s.peer.pendingFrames, 0, 'frames after the close frame');
      },
    },
    {
      id: '7.10.2',
      title: 'our close() without arguments: close frame without code (or 1000)',
      async run(s) {
        await s.waitOpen();
        s.ours.close();
        await s.expectCloseFrame('empty-or-1000');
        await s.peer.sendClose();
        await s.finishClose(false);
        const info = await s.waitOursClosed();
        assert.equal(info.code, 1005, "our 'close' event code when the peer's close had no code (RFC 6455 7.1.5)");
      },
    },
    {
      id: '7.10.3',
      title: 'our close(1000, "κόσμε"): the reason arrives as those UTF-8 bytes',
      async run(s) {
        await s.waitOpen();
        s.ours.close(1000, KOSME.toString('utf8'));
        const ev = await s.expectCloseFrame(1000);
        assertSameBytes(ev.reason, KOSME, 'close reason');
        await s.peer.sendClose(1000);
        await s.finishClose(false);
      },
    },
    {
      id: '7.10.4',
      title: 'a text message arriving after our close frame is not echoed',
      async run(s) {
        // RFC 6455 5.5.1: "After sending a Close frame, the application MUST NOT send any more
        // data frames." (finishClose fails on any frame after the close frame.)
        await s.waitOpen();
        s.ours.close(1000);
        await s.expectCloseFrame(1000);
        await s.peer.sendText('too late');
        await s.peer.sendClose(1000);
        await s.finishClose(false);
      },
    },
    {
      id: '7.10.5',
      title: 'close frame and TCP close from the peer with a message still being assembled',
      async run(s) {
        await s.send({ opcode: B, payload: hex('0102'), fin: false });
        await s.closeNormally(1001, 'going away');
        assert.equal(s.messagesReceived, 0);
      },
    },
  );
  return { name: '7 closing', cases };
}

// ---- group 9: limits / performance ---------------------------------------------------------

const KiB = 1024;
const MiB = 1024 * 1024;

function sizeName(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`;
}

function group9(): GroupDef {
  const cases: CaseDef[] = [];
  const mk = (opcode: number) => (n: number) => (opcode === T ? utf8Text(n) : binaryData(n));
  const big = { timeoutMs: 120_000 };
  const wait = 30_000;
  // 9.1 / 9.2: one frame. RFC 6455 5.2: 64-bit lengths.
  for (const [sub, opcode] of [
    [1, T],
    [2, B],
  ] as const) {
    [64 * KiB, 256 * KiB, MiB, 4 * MiB, 16 * MiB].forEach((n, i) => {
      cases.push({
        id: `9.${sub}.${i + 1}`,
        title: `${opcode === T ? 'text' : 'binary'} message of ${sizeName(n)} in one frame`,
        ...big,
        async run(s) {
          const data = mk(opcode)(n);
          await s.send({ opcode, payload: data });
          await s.expectMessage(opcode, data, wait);
          await s.closeNormally();
        },
      });
    });
  }
  // 9.3 / 9.4: fragmented. RFC 6455 5.4.
  for (const [sub, opcode] of [
    [3, T],
    [4, B],
  ] as const) {
    (
      [
        [MiB, 64],
        [MiB, 4 * KiB],
        [MiB, 64 * KiB],
        [4 * MiB, 4 * KiB],
        [4 * MiB, 64 * KiB],
        [16 * MiB, MiB],
      ] as const
    ).forEach(([n, frame], i) => {
      cases.push({
        id: `9.${sub}.${i + 1}`,
        title: `${opcode === T ? 'text' : 'binary'} message of ${sizeName(n)} in frames of ${frame >= KiB ? sizeName(frame) : `${frame} B`}`,
        ...big,
        async run(s) {
          const data = mk(opcode)(n);
          await s.send(...fragments(opcode, data, frame));
          await s.expectMessage(opcode, data, wait);
          await s.closeNormally();
        },
      });
    });
  }
  // 9.5 / 9.6: one frame of 1 MiB written in chops.
  for (const [sub, opcode] of [
    [5, T],
    [6, B],
  ] as const) {
    [KiB, 4 * KiB, 16 * KiB, 64 * KiB].forEach((chop, i) => {
      cases.push({
        id: `9.${sub}.${i + 1}`,
        title: `${opcode === T ? 'text' : 'binary'} message of 1 MiB in one frame, written in ${sizeName(chop)} chops`,
        ...big,
        async run(s) {
          const data = mk(opcode)(MiB);
          await s.peer.writeChopped(s.bytes({ opcode, payload: data }), [chop]);
          await s.expectMessage(opcode, data, wait);
          await s.closeNormally();
        },
      });
    });
  }
  // 9.7 / 9.8: many messages back to back, echoed in order.
  for (const [sub, opcode] of [
    [7, T],
    [8, B],
  ] as const) {
    ([
      [1000, 0],
      [1000, 64],
      [200, 4 * KiB],
    ] as const).forEach(([count, size], i) => {
      cases.push({
        id: `9.${sub}.${i + 1}`,
        title: `${count} ${opcode === T ? 'text' : 'binary'} messages of ${size} bytes in one write, echoed in order`,
        ...big,
        async run(s) {
          const msgs = Array.from({ length: count }, () => mk(opcode)(size));
          await s.send(...msgs.map((m) => ({ opcode, payload: m })));
          for (const m of msgs) await s.expectMessage(opcode, m, wait);
          await s.closeNormally();
        },
      });
    });
  }
  return { name: '9 limits and performance', cases };
}

// ---- group 10: misc / maxPayload -----------------------------------------------------------

function group10(): GroupDef {
  const cases: CaseDef[] = [
    {
      id: '10.1.1',
      title: '65536-byte text message in frames of 1300 bytes',
      async run(s) {
        const data = utf8Text(65536);
        await s.send(...fragments(T, data, 1300));
        await s.expectMessage(T, data);
        await s.closeNormally();
      },
    },
    {
      id: '10.2.1',
      title: 'maxPayload 1024: a 1024-byte message passes, a 1025-byte one fails with 1009',
      maxPayload: 1024,
      async run(s) {
        // RFC 6455 7.4.1: 1009 "a message that is too big for it to process".
        const ok = utf8Text(1024);
        await s.send({ opcode: T, payload: ok }, { opcode: T, payload: utf8Text(1025) });
        await s.expectMessage(T, ok);
        await s.expectFail(1009);
      },
    },
    {
      id: '10.2.2',
      title: 'maxPayload 1024: a 2048-byte binary frame fails with 1009',
      maxPayload: 1024,
      async run(s) {
        await s.send({ opcode: B, payload: binaryData(2048) });
        await s.expectFail(1009);
      },
    },
    {
      id: '10.2.3',
      title: 'maxPayload 1024: a message of 3 fragments of 512 bytes fails with 1009',
      maxPayload: 1024,
      async run(s) {
        // The limit is on the message, not only on one frame.
        await s.send(...fragments(B, binaryData(1536), 512));
        await s.expectFail(1009);
      },
    },
    {
      id: '10.2.4',
      title: 'maxPayload 1024: a frame header announcing 1 MiB fails with 1009 before the payload arrives',
      maxPayload: 1024,
      async run(s) {
        const header = s.bytes({ opcode: B, payload: Buffer.alloc(0), declaredLength: MiB });
        await s.peer.write(header);
        await s.expectFail(1009, { replyClose: false });
      },
    },
  ];
  return { name: '10 misc and maxPayload', cases };
}

export const GROUPS: GroupDef[] = [group1(), group2(), group3(), group4(), group5(), group6(), group7(), group9(), group10()];

/** Registers every group as a `describe` block for the given role of our implementation. */
export function registerConformance(role: Role): void {
  for (const group of GROUPS) {
    describe(`group ${group.name} (${role})`, () => {
      for (const c of group.cases) {
        if (c.roles && !c.roles.includes(role)) continue;
        it(`${c.id} ${c.title}`, { timeout: c.timeoutMs ?? 30_000 }, async () => {
          const opts: SessionOptions = {};
          if (c.maxPayload !== undefined) opts.maxPayload = c.maxPayload;
          if (c.appendAfterResponse) {
            if (role !== 'client') throw new Error('appendAfterResponse is a client-role option');
            opts.appendAfterResponse = c.appendAfterResponse();
          }
          const s = await Session.open(role, opts);
          try {
            await c.run(s);
          } finally {
            await s.dispose();
          }
        });
      }
    });
  }
}

/** Case counts per group for a role (for reports). */
export function caseCounts(role: Role): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of GROUPS) out[g.name] = g.cases.filter((c) => !c.roles || c.roles.includes(role)).length;
  return out;
}
