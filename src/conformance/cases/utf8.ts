/**
 * Conformance group 6 UTF-8: RFC 6455 sections 5.6 and 8.1 (UTF-8 text).
 */
import type { CaseDef, GroupDef } from '../case.js';
import { fail } from '../checks.js';
import { hex, OP, type FrameSpec } from '../frames.js';
import { fragments, KOSME, pieces, utf8Text } from '../payloads.js';
import { describeEvent, type PeerEvent } from '../raw-connection.js';
import type { Session } from '../session.js';
import { sleep, TimeoutError } from '../wait.js';

const T = OP.TEXT;
/** How long the fail-fast cases wait for the close frame while the rest is withheld. */
const FAIL_FAST_WAIT_MS = 2000;

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

export function utf8(): GroupDef {
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
  // RFC 6455 8.1 does not say when the check must happen: an implementation that fails with
  // 1007 only once the rest arrived is non-strict (as in Autobahn).
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
        if (!(err instanceof TimeoutError)) throw err;
        // Does it fail once the rest arrives?
        await p.rest();
        let late: PeerEvent;
        try {
          late = await s.nextEvent(FAIL_FAST_WAIT_MS, 'the close frame after the rest of the message was sent');
        } catch (e) {
          const why = `no fail-fast: ${err.message}; after the rest of the message was sent: ${(e as Error).message}`;
          if (e instanceof TimeoutError) throw new TimeoutError(why);
          fail(why);
        }
        if (late.type !== 'close' || late.code !== 1007) {
          fail(`no fail-fast: ${err.message}; after the rest of the message was sent: ${describeEvent(late)}`);
        }
        s.nonStrict(
          `late UTF-8 check: no close frame within ${FAIL_FAST_WAIT_MS} ms while the rest of the message was withheld; ` +
            `${describeEvent(late)} once the rest was sent`,
        );
        await s.finishClose(true, 1007);
        return;
      }
      if (ev.type !== 'close' || ev.code !== 1007) fail(`expected a close frame with code 1007, got ${describeEvent(ev)}`);
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
      ...(row.valid ? { rfc: '5.6' } : {}),
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
  return { name: '6 UTF-8', rfc: '8.1, 7.4.1', cases };
}
