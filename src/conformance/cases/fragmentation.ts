/**
 * Conformance group 5 fragmentation: RFC 6455 section 5.4 (fragmentation).
 */
import type { CaseDef, GroupDef } from '../case.js';
import { closePayload, hex, OP, type FrameSpec } from '../frames.js';
import { binaryData, fragments, pieces } from '../payloads.js';
import type { Session } from '../session.js';

const T = OP.TEXT;
const B = OP.BINARY;

export function fragmentation(): GroupDef {
  const two = pieces(T, ['fragment1', 'fragment2']);
  const withPing: FrameSpec[] = [two[0]!, { opcode: OP.PING, payload: 'ping payload' }, two[1]!];
  const contFin = (fin: boolean): FrameSpec => ({ opcode: OP.CONT, payload: 'non-continuation payload', fin });
  const cases: CaseDef[] = [
    {
      id: '5.1',
      title: 'ping in 2 fragments fails with 1002',
      rfc: '5.4, 5.5',
      async run(s) {
        // RFC 6455 5.4 / 5.5: "Control frames themselves MUST NOT be fragmented."
        await s.send({ opcode: OP.PING, payload: 'fragment1', fin: false }, { opcode: OP.CONT, payload: 'fragment2' });
        await s.expectFail(1002);
      },
    },
    {
      id: '5.2',
      title: 'pong in 2 fragments fails with 1002',
      rfc: '5.4, 5.5',
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
      rfc: '5.4, 5.5.2',
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
        if (await s.expectEchoUnlessFailed(T, 'fragment1fragment2', 1002)) await s.expectFail(1002);
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
      rfc: '5.5',
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
  return { name: '5 fragmentation', rfc: '5.4', cases };
}
