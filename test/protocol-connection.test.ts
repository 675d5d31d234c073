import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Connection, type ProtocolError, ReadyState } from '../src/protocol/index.ts';

/** A Connection whose output is an array and whose events go to a log. */
class LoggedConnection extends Connection {
  readonly out: Buffer[] = [];
  constructor(
    private readonly name: string,
    private readonly log: string[],
  ) {
    super({ role: name as 'client' | 'server', maxPayload: 0, skipUtf8Validation: false, autoPong: true });
  }
  protected write(data: Buffer): void {
    this.out.push(Buffer.from(data));
  }
  protected handleMessage(d: Buffer, b: boolean): void {
    this.log.push(`${this.name} message ${b ? 'binary' : 'text'} ${d.toString()}`);
  }
  protected handlePing(d: Buffer): void {
    this.log.push(`${this.name} ping ${d.toString()}`);
  }
  protected handlePong(d: Buffer): void {
    this.log.push(`${this.name} pong ${d.toString()}`);
  }
  protected handlePeerClose(code: number, reason: Buffer): void {
    this.log.push(`${this.name} peer-close ${code} ${reason.toString()}`);
  }
  protected handleProtocolError(e: ProtocolError): void {
    this.log.push(`${this.name} error ${e.closeCode}`);
  }
}

function endpoint(role: 'client' | 'server', log: string[]) {
  const conn = new LoggedConnection(role, log);
  return { conn, out: conn.out };
}

/** Delivers everything each side wrote to the other until both are quiet. */
function pump(a: ReturnType<typeof endpoint>, b: ReturnType<typeof endpoint>) {
  for (let i = 0; i < 10 && (a.out.length || b.out.length); i++) {
    for (const chunk of a.out.splice(0)) b.conn.receive(chunk);
    for (const chunk of b.out.splice(0)) a.conn.receive(chunk);
  }
}

describe('connection state machine (RFC 6455 section 7)', () => {
  test('messages, fragments and auto-pong between a client and a server', () => {
    const log: string[] = [];
    const c = endpoint('client', log);
    const s = endpoint('server', log);
    c.conn.send('hi', false);
    c.conn.send(Buffer.from('pa'), true, false);
    c.conn.send(Buffer.from('rt'), true, true);
    s.conn.ping(Buffer.from('x'));
    pump(c, s);
    assert.deepEqual(log, ['server message text hi', 'server message binary part', 'client ping x', 'server pong x']);
  });

  test('closing handshake started by the client: the server echoes code and reason', () => {
    const log: string[] = [];
    const c = endpoint('client', log);
    const s = endpoint('server', log);
    c.conn.close(4000, 'bye');
    assert.equal(c.conn.readyState, ReadyState.CLOSING);
    pump(c, s);
    assert.deepEqual(log, ['server peer-close 4000 bye', 'client peer-close 4000 bye']);
    assert.ok(c.conn.closingHandshakeDone && s.conn.closingHandshakeDone);
    assert.equal(c.conn.closeCode, 4000);
  });

  test('closing handshake started by the server without a code reports 1005', () => {
    const log: string[] = [];
    const c = endpoint('client', log);
    const s = endpoint('server', log);
    s.conn.close();
    pump(c, s);
    assert.deepEqual(log, ['client peer-close 1005 ', 'server peer-close 1005 ']);
  });

  test('no pong is sent once closing; close() is idempotent', () => {
    const log: string[] = [];
    const c = endpoint('client', log);
    const s = endpoint('server', log);
    s.conn.close(1000);
    s.conn.close(1001);
    assert.equal(s.out.length, 1);
    c.conn.ping(Buffer.from('late'));
    for (const chunk of c.out.splice(0)) s.conn.receive(chunk);
    assert.equal(s.out.length, 1, 'no pong after our Close frame');
  });

  test('a protocol error queues a Close frame with the error code', () => {
    const log: string[] = [];
    const c = endpoint('client', log);
    const s = endpoint('server', log);
    s.conn.receive(Buffer.from([0x83, 0x80, 1, 2, 3, 4])); // opcode 3, masked, empty
    assert.deepEqual(log, ['server error 1002']);
    for (const chunk of s.out.splice(0)) c.conn.receive(chunk);
    assert.deepEqual(log, ['server error 1002', 'client peer-close 1002 ']);
  });
});
