/**
 * Fuzz of the realtime layer's decoders and of a live server with input that is almost right:
 * fragments of real Engine.IO and Socket.IO packets, shuffled and cut. The decoders never throw
 * (a bad payload is `null`, a bad packet a ParseError result); a live server closes a connection
 * fed such input with 'parse error' (or 'transport error', or 'transport close' for a CLOSE
 * packet) or keeps it working, never crashes, and a well-behaved client beside it is never disturbed.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import fc from 'fast-check';
import { decodePayload, encodePayload, PACKET_TYPES } from '../src/realtime/engine/packet.ts';
import { checkPacket, Decoder, ParseError } from '../src/realtime/parser.js';
import { stopAll, within } from './helpers/realtime-harness.js';
import { echoServer, RawSocketIo } from './helpers/realtime-raw.ts';

afterEach(stopAll);

/** Pieces of Socket.IO packets ("<type>[<n>-][<nsp>,][<id>][JSON]"), joined at random. */
const sioText = fc
  .array(
    fc.oneof(
      fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', '-', '1-', '2-', '11-', '/', '/a,', '/nowhere,', ','),
      fc.constantFrom('12', '9007199254740991', '9007199254740993', '-1', '[', ']', '{', '}', '"', 'null'),
      fc.constantFrom('["a"]', '["echo",1]', '["__proto__",1]', '["connect"]', '{"_placeholder":true,"num":0}', '{"__proto__":{"x":1}}'),
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 6 }),
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((parts) => parts.join(''));

/** One Engine.IO message: a Socket.IO packet in a MESSAGE, another Engine.IO packet, or binary data. */
const engineFrame = fc.oneof(
  { weight: 6, arbitrary: sioText.map((t) => '4' + t) },
  { weight: 1, arbitrary: fc.constantFrom('', '2', '3', '5', '6', '0{}', '1', 'b', 'hello', '4') },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 6 }).map((u) => Buffer.from(u)) },
);

test('fuzz: the Engine.IO payload decoder returns packets or null, and what it accepts re-encodes to the same', () => {
  const segment = fc.oneof(
    engineFrame.filter((f): f is string => typeof f === 'string'),
    fc.base64String({ maxLength: 12 }).map((b) => 'b' + b),
    fc.string({ maxLength: 4 }),
  );
  fc.assert(
    fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segments) => {
      const payload = decodePayload(segments.join('\x1e'));
      if (payload === null) return;
      assert.equal(payload.length, segments.length);
      for (const p of payload) {
        assert.ok(PACKET_TYPES.includes(p.type));
        if (Buffer.isBuffer(p.data)) assert.equal(p.type, 'message');
        else assert.ok(p.data === undefined || typeof p.data === 'string');
      }
      assert.deepEqual(decodePayload(encodePayload(payload)), payload);
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: the Socket.IO decoder returns packets that pass the schema, or a ParseError, and stays failed after one', () => {
  const chunk = fc.oneof(
    sioText,
    fc.uint8Array({ maxLength: 6 }).map((u) => Buffer.from(u)),
  );
  fc.assert(
    fc.property(fc.array(chunk, { minLength: 1, maxLength: 8 }), (chunks) => {
      const decoder = new Decoder();
      let failed = false;
      for (const c of chunks) {
        const r = decoder.add(c);
        if (failed) assert.equal(r.kind, 'error');
        if (r.kind === 'error') {
          assert.ok(r.error instanceof ParseError);
          assert.match(r.error.message, /^invalid Socket\.IO packet: /);
          failed = true;
        } else if (r.kind === 'packet') {
          assert.equal(checkPacket(r.packet), undefined);
          assert.ok((r.packet.attachments ?? 0) <= decoder.maxAttachments);
          // Placeholders are resolved in binary packets (in others they are plain data, as in socket.io-parser).
          if (r.packet.attachments !== undefined) {
            assert.ok(!JSON.stringify(r.packet.data).includes('"_placeholder":true'), 'a placeholder left in');
          }
        }
      }
    }),
    { numRuns: 3000 },
  );
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

test('fuzz: a live server fed near-miss frames closes that connection or keeps it working; a good client is never disturbed', async () => {
  const { io, url, client } = await echoServer();
  const good = await client();
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(engineFrame, { minLength: 1, maxLength: 6 }), async (frames) => {
      const id = run++;
      const raw = await RawSocketIo.open(url);
      const socket = io.of('/').sockets.get(await raw.connect())!;
      let reason: string | undefined;
      socket.on('disconnect', (r: string) => (reason = r));
      // Then a CONNECT to "/" (ignored while connected; a fresh socket after a DISCONNECT among the frames).
      raw.send(...frames, '40');
      // Either the connection ends, or it still answers: whichever comes first.
      const kept = await within(
        Promise.race([raw.roundTrip(id).then(() => true), raw.closed.then(() => false)]),
        'the raw connection to answer or close',
      ).catch((error: Error) => {
        if (raw.ws.readyState === raw.ws.CLOSED) return false;
        throw error;
      });
      if (kept) {
        await raw.close();
      } else {
        await within(raw.closed, 'the raw connection to close');
        assert.ok(
          reason === undefined || ['parse error', 'transport error', 'transport close', 'client namespace disconnect'].includes(reason),
          `disconnect reason ${reason} for ${JSON.stringify(frames)}`,
        );
      }
      assert.equal(await within(good.emitWithAck('echo', id), 'the good client'), id);
    }),
    { numRuns: 60 },
  );
  assert.equal(good.connected, true);
});
