/**
 * Conformance group 2 ping/pong: RFC 6455 sections 5.5.2 and 5.5.3 (Ping and Pong).
 */
import type { CaseDef, GroupDef } from '../case.js';
import { hex, OP } from '../frames.js';


export function pingPong(): GroupDef {
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
      rfc: '5.5',
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
  return { name: '2 ping/pong', rfc: '5.5.2, 5.5.3', cases };
}
