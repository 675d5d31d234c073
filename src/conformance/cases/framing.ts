/**
 * Conformance group 1 framing: RFC 6455 section 5.2 (base framing) and 5.3 (masking).
 */
import type { CaseDef, GroupDef } from '../case.js';
import { check } from '../checks.js';
import { encodeFrame, hex, OP } from '../frames.js';
import { binaryData, octetWisePlan, utf8Text } from '../payloads.js';

const T = OP.TEXT;
const B = OP.BINARY;

const FRAMING_LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

export function framing(): GroupDef {
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
      rfc: '5.3',
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
      rfc: '5.1',
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
      rfc: '5.1',
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
      rfc: '4.1',
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
      rfc: '5.3',
      roles: ['client'],
      async run(s) {
        // RFC 6455 5.3: "The masking key ... MUST be derived from a strong source of entropy"
        // and be fresh per frame; 20 frames with (almost) all distinct random keys.
        for (let i = 0; i < 20; i++) await s.send({ opcode: T, payload: `message ${i}` });
        for (let i = 0; i < 20; i++) await s.expectMessage(T, `message ${i}`);
        const keys = new Set(s.peer.received.slice(0, 20).map((f) => f.maskKey?.toString('hex')));
        check(keys.size >= 19, `only ${keys.size} distinct masking keys in 20 frames (RFC 6455 5.3)`);
        await s.closeNormally();
      },
    },
  );
  return { name: '1 framing', rfc: '5.2', cases };
}
