/**
 * A Session is one connection between the raw conformance peer and the implementation under
 * test, with the expectations the cases are written in (echo, pong, close frame, failing the
 * connection, the closing handshake), each citing its RFC 6455 section when it does not hold.
 *
 * What the wire shows is checked for every implementation. An implementation running in the
 * same process (the test suite's own server and client) also exposes an Endpoint, and the
 * session then checks what only it can show: its 'close' event's code, its 'error' events, how
 * many messages it delivered, and it can be told to start the closing handshake.
 */
import { checkEqual, check, checkSameBytes, fail } from './checks.js';
import { OP, toBuffer, type FrameSpec } from './frames.js';
import { ConnectionEnded, describeEvent, type PeerEvent, type RawConnection } from './raw-connection.js';
import { DEFAULT_WAIT_MS, TimeoutError } from './wait.js';

/** Role of the implementation under test (the raw peer plays the other one). */
export type Role = 'server' | 'client';

/** What an in-process implementation lets a case see and do besides the wire. */
export interface Endpoint {
  /** Messages the implementation delivered to its application (the echo handler counts them). */
  readonly messagesReceived: number;
  /** Its 'error' events so far. */
  readonly errors: readonly Error[];
  /** Starts the closing handshake from the implementation's side. */
  close(code?: number, reason?: string): void;
  /** Resolves once the implementation is open (at once for a server). */
  waitOpen(timeoutMs: number): Promise<void>;
  /** Resolves with the code and reason of the implementation's 'close' event. */
  waitClosed(timeoutMs: number): Promise<{ code: number; reason: string }>;
}

export type CloseEvent = Extract<PeerEvent, { type: 'close' }>;

/** Close codes a case accepts: one, several, or "no code or 1000". */
export type CloseCodes = number | readonly number[] | 'empty-or-1000';

function codesLabel(codes: CloseCodes): string {
  return codes === 'empty-or-1000'
    ? 'a close frame with no code or code 1000'
    : `a close frame with code ${typeof codes === 'number' ? codes : codes.join(' or ')}`;
}

function codeMatches(codes: CloseCodes, code: number | undefined): boolean {
  if (codes === 'empty-or-1000') return code === undefined || code === 1000;
  return code !== undefined && (typeof codes === 'number' ? [codes] : codes).includes(code);
}

/**
 * A Session is strict or not. Strict (the default; the test suite's own implementation): every
 * expectation is Autobahn's strict one. Not strict (`fullduplex check` against any server): a
 * behaviour RFC 6455 allows but that misses the stricter expectation (Autobahn's NON-STRICT) is
 * noted with nonStrict() and the case goes on; the server's own pings (keepalives) are
 * answered and skipped while a case waits for something else.
 */
export class Session {
  /** Deviations noted by nonStrict() (only in a session that is not strict). */
  readonly nonStrictNotes: string[] = [];
  /** Pings from the implementation that nextEvent skipped (not strict only). */
  pingsSkipped = 0;

  /**
   * @param role role of the implementation under test
   * @param peer the raw side of the connection
   * @param endpoint the implementation's own view, when it runs in this process
   * @param disposeTransport tears down everything the session opened
   * @param waitMs default bound for every wait
   * @param strict whether non-strict behaviour fails the case (see the class comment)
   */
  constructor(
    readonly role: Role,
    readonly peer: RawConnection,
    readonly endpoint: Endpoint | undefined,
    private readonly disposeTransport: () => Promise<void>,
    readonly waitMs: number = DEFAULT_WAIT_MS,
    readonly strict: boolean = true,
  ) {}

  /**
   * A behaviour RFC 6455 allows but that misses the stricter expectation: a strict session
   * fails the case with `note`; otherwise it is noted and the case goes on.
   */
  nonStrict(note: string): void {
    if (this.strict) fail(`${note} [non-strict; this run is strict]`);
    this.nonStrictNotes.push(note);
  }

  async dispose(): Promise<void> {
    await this.disposeTransport();
  }

  /** The in-process endpoint; a case that uses it must be marked in-process only. */
  get ours(): Endpoint {
    if (!this.endpoint) fail('this case needs the implementation to run in process');
    return this.endpoint;
  }

  // -- shorthands for the raw peer --------------------------------------------------------------

  /** Writes all frames in a single TCP write. */
  send(...specs: FrameSpec[]): Promise<void> {
    return this.peer.send(...specs);
  }

  /** All frames in one buffer, encoded with the raw peer's masking. */
  bytes(...specs: FrameSpec[]): Buffer {
    return Buffer.concat(specs.map((s) => this.peer.frame(s)));
  }

  // -- expectations -----------------------------------------------------------------------------

  /**
   * The next message or control frame. Not strict: a ping is answered (when this peer is between
   * frames and has not sent a close frame) and skipped, since a server may send keepalive pings
   * at any time (RFC 6455 5.5.2) and no case waits for one.
   */
  async nextEvent(timeoutMs = this.waitMs, what?: string): Promise<PeerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ev = await this.peer.nextEvent(Math.max(1, deadline - Date.now()), what);
      if (this.strict || ev.type !== 'ping') return ev;
      this.pingsSkipped++;
      if (!this.peer.closeSent && this.peer.atFrameBoundary && this.peer.writable) await this.peer.sendPong(ev.data);
    }
  }

  /**
   * After `err` from a wait for a close frame: when the implementation closed TCP without any
   * close frame (and mid-frame nothing was left), RFC 6455 7.1.7 says it SHOULD have sent one:
   * non-strict; waits for the connection to be gone and returns true. Otherwise false.
   */
  private async endedWithoutClose(err: unknown, codes: CloseCodes): Promise<boolean> {
    if (!(err instanceof ConnectionEnded) || err.leftover > 0 || this.peer.closeReceived) return false;
    this.nonStrict(
      `the connection was closed at the TCP level without ${codesLabel(codes)} ` +
        '(RFC 6455 7.1.7: the endpoint SHOULD send a close frame when it fails the connection)',
    );
    await this.peer.waitClosed(this.waitMs, 'the TCP connection to close');
    check(this.peer.violations.length === 0, `framing rules broken: ${this.peer.violations.join('; ')}`);
    if (this.endpoint) await this.endpoint.waitClosed(this.waitMs);
    return true;
  }

  /** The next thing the implementation sends is this message, byte-exact (an echo). */
  async expectMessage(opcode: 1 | 2, data: Uint8Array | string, timeoutMs = this.waitMs): Promise<void> {
    const want = toBuffer(data);
    const kind = opcode === OP.TEXT ? 'text' : 'binary';
    const ev = await this.nextEvent(timeoutMs, `the echo of a ${want.length}-byte ${kind} message`);
    checkEcho(ev, opcode, want);
  }

  /**
   * For cases that send a valid message and then an error: the next thing the implementation
   * sends is the echo of that message (returns true; the case then expects the failure), or
   * the implementation fails the connection (close frame with one of `codes`, or TCP closed)
   * without echoing first: non-strict (Autobahn's expectation "echo, then fail" is strict
   * only; RFC 6455 does not require the message to be delivered once the connection fails);
   * the close is finished and it returns false.
   */
  async expectEchoUnlessFailed(opcode: 1 | 2, data: Uint8Array | string, codes: CloseCodes, timeoutMs = this.waitMs): Promise<boolean> {
    const want = toBuffer(data);
    const kind = opcode === OP.TEXT ? 'text' : 'binary';
    let ev: PeerEvent;
    try {
      ev = await this.nextEvent(timeoutMs, `the echo of a ${want.length}-byte ${kind} message`);
    } catch (err) {
      if (await this.endedWithoutClose(err, codes)) {
        this.nonStrict(`the valid ${want.length}-byte ${kind} message sent before the error was not echoed`);
        return false;
      }
      throw err;
    }
    if (ev.type === 'close' && codeMatches(codes, ev.code)) {
      this.nonStrict(
        `${describeEvent(ev)} came without the echo of the valid ${want.length}-byte ${kind} message sent before it ` +
          '(the message was dropped when the connection closed)',
      );
      await this.finishClose(true, ev.code);
      return false;
    }
    checkEcho(ev, opcode, want);
    return true;
  }

  /** The next thing the implementation sends is a pong with this payload (RFC 6455 5.5.3). */
  async expectPong(data: Uint8Array | string, timeoutMs = this.waitMs): Promise<void> {
    const want = toBuffer(data);
    const ev = await this.nextEvent(timeoutMs, `a pong with a ${want.length}-byte payload`);
    if (ev.type !== 'pong') fail(`expected a pong (RFC 6455 5.5.2), got ${describeEvent(ev)}`);
    checkSameBytes(ev.data, want, "pong payload (RFC 6455 5.5.3: identical to the ping's)");
  }

  /** The next thing the implementation sends is a close frame; returns it. */
  async expectCloseFrame(codes: CloseCodes, timeoutMs = this.waitMs, what?: string): Promise<CloseEvent> {
    const label = codesLabel(codes);
    const ev = await this.nextEvent(timeoutMs, what ?? label);
    if (ev.type !== 'close') fail(`expected ${label}, got ${describeEvent(ev)}`);
    check(codeMatches(codes, ev.code), `expected ${label}, got ${describeEvent(ev)}`);
    return ev;
  }

  /**
   * The implementation must _Fail the WebSocket Connection_ (RFC 6455 7.1.7): the next frame is
   * a close frame with the given code (7.4.1), then the connection ends. `replyClose` false
   * when the raw peer is in the middle of a frame and cannot send a close frame. Closing TCP
   * without a close frame is non-strict (7.1.7: the endpoint SHOULD send one).
   */
  async expectFail(codes: number | readonly number[], opts: { replyClose?: boolean; timeoutMs?: number } = {}): Promise<void> {
    let ev: CloseEvent;
    try {
      ev = await this.expectCloseFrame(codes, opts.timeoutMs ?? this.waitMs);
    } catch (err) {
      if (await this.endedWithoutClose(err, codes)) return;
      throw err;
    }
    await this.finishClose(opts.replyClose ?? true, ev.code);
  }

  /**
   * After the implementation sent its close frame: the raw peer answers with a close frame (if
   * `reply`), then the connection must end. Server under test: it closes TCP (RFC 6455 7.1.1:
   * "the underlying TCP connection ... SHOULD be closed first by the server"; 7.1.7: after
   * failing, the endpoint MUST close the connection). Client under test: the raw server closes
   * TCP and the client's 'close' event must fire. Either way nothing may follow the close
   * frame (5.5.1). A server that leaves TCP open for the client to close is non-strict (7.1.1
   * is a SHOULD); the raw client then closes it.
   */
  async finishClose(reply: boolean, replyCode?: number): Promise<void> {
    if (reply && !this.peer.closeSent && this.peer.writable && !this.peer.remoteEnded) {
      await this.peer.sendClose(replyCode);
    }
    if (this.role === 'server') {
      try {
        await this.peer.waitRemoteEnd(this.waitMs, 'the server to close the TCP connection after the close frame (RFC 6455 7.1.1)');
      } catch (err) {
        if (this.strict || !(err instanceof TimeoutError)) throw err;
        this.nonStrict(
          `the server did not close the TCP connection within ${this.waitMs} ms of the closing handshake ` +
            '(RFC 6455 7.1.1: the server SHOULD close it first); the check closed it',
        );
        this.peer.end();
      }
    } else {
      this.peer.end();
    }
    await this.peer.waitClosed(this.waitMs, 'the TCP connection to close');
    check(this.peer.pendingFrames === 0, `${this.peer.pendingFrames} frame(s) sent after the close frame (RFC 6455 5.5.1)`);
    check(this.peer.violations.length === 0, `framing rules broken: ${this.peer.violations.join('; ')}`);
    if (this.endpoint) await this.endpoint.waitClosed(this.waitMs);
  }

  /**
   * Closing handshake started by the raw peer (RFC 6455 5.5.1, 7.1.2): send a close frame,
   * expect the close echoed with the same code or 1000 (5.5.1: "typically echos the status code"), the
   * TCP connection closed; in process also the 'close' event reporting the code we sent
   * (7.1.5; 1005 if none, 7.4.1) and no 'error' event.
   */
  async closeNormally(code: number | undefined = 1000, reason = ''): Promise<void> {
    await this.peer.sendClose(code, reason);
    // 5.5.1: the endpoint "typically echos the status code it received"; 1000 is as good an
    // answer (Autobahn accepts both).
    await this.expectCloseFrame(code === undefined ? 'empty-or-1000' : code === 1000 ? 1000 : [code, 1000]);
    await this.finishClose(false);
    if (this.endpoint) {
      const info = await this.endpoint.waitClosed(this.waitMs);
      checkEqual(info.code, code ?? 1005, "the 'close' event's code is the one the peer sent (RFC 6455 7.1.5)");
      checkEqual(
        this.endpoint.errors.map((e) => e.message),
        [],
        "'error' emitted in a case without any protocol violation",
      );
    }
  }

  /** In process: the implementation delivered no message to its application. */
  checkNothingDelivered(what: string): void {
    if (this.endpoint) checkEqual(this.endpoint.messagesReceived, 0, what);
  }
}

/** Fails unless `ev` is a `opcode` message with exactly `want` (an echo). */
function checkEcho(ev: PeerEvent, opcode: 1 | 2, want: Buffer): void {
  const kind = opcode === OP.TEXT ? 'text' : 'binary';
  if (ev.type !== 'message') fail(`expected the echo of a ${want.length}-byte ${kind} message, got ${describeEvent(ev)}`);
  check(ev.opcode === opcode, `echo has the wrong message type: expected ${kind}, got ${describeEvent(ev)}`);
  checkSameBytes(ev.data, want, `echoed ${kind} message`);
}
