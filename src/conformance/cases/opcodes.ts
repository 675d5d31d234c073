/**
 * Conformance group 4 opcodes: RFC 6455 section 5.2 (reserved opcodes).
 */
import type { CaseDef, GroupDef } from '../case.js';
import { OP } from '../frames.js';

const T = OP.TEXT;

export function opcodes(): GroupDef {
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
          if (await s.expectEchoUnlessFailed(T, 'Hello, world!', 1002)) await s.expectFail(1002);
        },
      });
    }
  }
  return { name: '4 opcodes', rfc: '5.2', cases };
}
