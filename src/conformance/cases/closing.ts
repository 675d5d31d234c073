/**
 * Conformance group 7 closing: RFC 6455 sections 5.5.1, 7 and 7.4 (closing handshake, status codes).
 */
import type { CaseDef, GroupDef } from '../case.js';
import { checkEqual, checkSameBytes } from '../checks.js';
import { closePayload, hex, OP } from '../frames.js';
import { KOSME, utf8Text } from '../payloads.js';

const T = OP.TEXT;
const B = OP.BINARY;

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

export function closing(): GroupDef {
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
        s.checkNothingDelivered('messages delivered from after the close frame');
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
        s.checkNothingDelivered('messages completed by a fragment sent after the close frame');
      },
    },
    {
      id: '7.1.6',
      title: '256 KiB text message, then close, then ping: echo, close, no pong',
      async run(s) {
        const data = utf8Text(256 * 1024);
        await s.send({ opcode: T, payload: data }, { opcode: OP.CLOSE, payload: closePayload(1000) }, { opcode: OP.PING, payload: 'Hello World!' });
        s.peer.closeSent = true;
        // Answering the close before the message was echoed is non-strict (Autobahn grades
        // 7.1.6 informational: the close may be processed before the echo is written).
        if (!(await s.expectEchoUnlessFailed(T, data, 1000))) return;
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
      rfc: '5.5.1',
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
      rfc: '5.5',
      async run(s) {
        // RFC 6455 5.5: control frame payloads are at most 125 bytes.
        await s.send({ opcode: OP.CLOSE, payload: closePayload(1000, '*'.repeat(124)) });
        await s.expectFail(1002);
      },
    },
    {
      id: '7.5.1',
      title: 'close reason with invalid UTF-8 fails with 1007',
      rfc: '5.5.1, 8.1',
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
      title: `close with code ${code} and a reason: close echo with code ${code} (or 1000)`,
      rfc: '7.4.1, 7.4.2',
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
      rfc: '7.4.1, 7.4.2',
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
      rfc: '7.1.2, 7.1.5',
      inProcessOnly: 'needs the server to start the closing handshake on command',
      async run(s) {
        await s.ours.waitOpen(s.waitMs);
        s.ours.close(4001, 'bye');
        const ev = await s.expectCloseFrame(4001);
        checkEqual(ev.reason.toString(), 'bye', 'close reason sent');
        await s.peer.sendClose(4002, 'ack');
        if (s.role === 'server') {
          // RFC 6455 7.1.1: the server closes TCP once the closing handshake is complete.
          await s.peer.waitRemoteEnd(s.waitMs, 'the server to close TCP after the closing handshake (RFC 6455 7.1.1)');
        } else {
          s.peer.end();
        }
        await s.peer.waitClosed(s.waitMs);
        const info = await s.ours.waitClosed(s.waitMs);
        // RFC 6455 7.1.5: the connection close code is the one in the first close frame received.
        checkEqual(info, { code: 4002, reason: 'ack' }, "the 'close' event (RFC 6455 7.1.5)");
        checkEqual(s.peer.pendingFrames, 0, 'frames after the close frame (RFC 6455 5.5.1)');
      },
    },
    {
      id: '7.10.2',
      title: 'our close() without arguments: close frame without code (or 1000)',
      rfc: '7.1.2, 7.1.5',
      inProcessOnly: 'needs the server to start the closing handshake on command',
      async run(s) {
        await s.ours.waitOpen(s.waitMs);
        s.ours.close();
        await s.expectCloseFrame('empty-or-1000');
        await s.peer.sendClose();
        await s.finishClose(false);
        const info = await s.ours.waitClosed(s.waitMs);
        checkEqual(info.code, 1005, "our 'close' event code when the peer's close had no code (RFC 6455 7.1.5)");
      },
    },
    {
      id: '7.10.3',
      title: 'our close(1000, "κόσμε"): the reason arrives as those UTF-8 bytes',
      rfc: '7.1.2, 7.1.5',
      inProcessOnly: 'needs the server to start the closing handshake on command',
      async run(s) {
        await s.ours.waitOpen(s.waitMs);
        s.ours.close(1000, KOSME.toString('utf8'));
        const ev = await s.expectCloseFrame(1000);
        checkSameBytes(ev.reason, KOSME, 'close reason');
        await s.peer.sendClose(1000);
        await s.finishClose(false);
      },
    },
    {
      id: '7.10.4',
      title: 'a text message arriving after our close frame is not echoed',
      rfc: '7.1.2, 7.1.5',
      inProcessOnly: 'needs the server to start the closing handshake on command',
      async run(s) {
        // RFC 6455 5.5.1: "After sending a Close frame, the application MUST NOT send any more
        // data frames." (finishClose fails on any frame after the close frame.)
        await s.ours.waitOpen(s.waitMs);
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
        s.checkNothingDelivered('messages delivered from an unfinished fragmented message');
      },
    },
  );
  return { name: '7 closing', rfc: '5.5.1, 7.4', cases };
}
