/**
 * Conformance group 10 misc and maxPayload: RFC 6455 sections 5.4 and 7.4.1 (1009).
 */
import type { CaseDef, GroupDef } from '../case.js';
import { OP } from '../frames.js';
import { binaryData, fragments, utf8Text } from '../payloads.js';

const T = OP.TEXT;
const B = OP.BINARY;
const MiB = 1024 * 1024;

export function misc(): GroupDef {
  const cases: CaseDef[] = [
    {
      id: '10.1.1',
      title: '65536-byte text message in frames of 1300 bytes',
      rfc: '5.4',
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
        if (await s.expectEchoUnlessFailed(T, ok, 1009)) await s.expectFail(1009);
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
  return { name: '10 misc and maxPayload', rfc: '7.4.1', cases };
}
