/**
 * Conformance group 9 limits and performance: RFC 6455 sections 5.2 and 5.4 (large messages).
 */
import type { CaseDef, GroupDef } from '../case.js';
import { OP } from '../frames.js';
import { binaryData, fragments, utf8Text } from '../payloads.js';

const T = OP.TEXT;
const B = OP.BINARY;

const KiB = 1024;
const MiB = 1024 * 1024;

function sizeName(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`;
}

export function limits(): GroupDef {
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
  return { name: '9 limits and performance', rfc: '5.2, 5.4', cases };
}
