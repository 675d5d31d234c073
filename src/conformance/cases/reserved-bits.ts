/**
 * Conformance group 3 reserved bits: RFC 6455 section 5.2 (RSV1-3).
 */
import type { CaseDef, GroupDef } from '../case.js';
import { closePayload, hex, OP } from '../frames.js';

const T = OP.TEXT;
const B = OP.BINARY;

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

export function reservedBits(): GroupDef {
  // RFC 6455 5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings
  // for non-zero values. If a nonzero value is received and none of the negotiated extensions
  // defines the meaning of such a nonzero value, the receiving endpoint MUST _Fail the
  // WebSocket Connection_." No extension is ever negotiated with the raw peer. Where a valid
  // message comes before the bad frame, failing without echoing it is non-strict (Autobahn).
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
        if (await s.expectEchoUnlessFailed(T, 'Hello, world!', 1002)) await s.expectFail(1002);
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
        if (await s.expectEchoUnlessFailed(T, 'Hello, world!', 1002)) await s.expectFail(1002);
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
        if (await s.expectEchoUnlessFailed(T, 'Hello, world!', 1002)) await s.expectFail(1002);
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
          if (await s.expectEchoUnlessFailed(T, 'first', 1002)) await s.expectFail(1002);
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
  return { name: '3 reserved bits', rfc: '5.2', cases };
}
