/**
 * Runs the conformance case table of src/conformance/cases/ (Autobahn|Testsuite groups 1-7, 9
 * and 10) against OUR server (the raw peer is a client) and OUR client (the raw peer is a
 * server), in process: besides the wire, each case also sees our endpoint's events (its
 * 'close' code, its 'error' events, how many messages it delivered) and can make it close.
 *
 * The implementation under test is an echo endpoint: every message goes back to its sender,
 * text as text and binary as binary.
 */
import { describe, it } from 'node:test';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from '../../src/index.ts';
import { appliesTo, CASE_TIMEOUT_MS } from '../../src/conformance/case.ts';
import { GROUPS } from '../../src/conformance/cases/index.ts';
import { connectRawClient } from '../../src/conformance/raw-client.ts';
import { Session, type Endpoint, type Role } from '../../src/conformance/session.ts';
import { DEFAULT_WAIT_MS, withTimeout } from '../../src/conformance/wait.ts';
import { RawServer } from './raw-peer.ts';

export { GROUPS };
export type { Role };

type OurSocket = InstanceType<typeof WebSocket>;

const BIG_MAX_PAYLOAD = 64 * 1024 * 1024;

interface SessionOptions {
  maxPayload?: number;
  /** Client role only: frames the raw server writes in the same TCP write as the 101. */
  appendAfterResponse?: Uint8Array;
}

/**
 * Our WebSocket (either role) as the cases see it: the echo handler and the event recorders
 * are wired synchronously when it is created, so nothing that happens before the session
 * exists is missed.
 */
class OurEndpoint implements Endpoint {
  readonly errors: Error[] = [];
  messagesReceived = 0;
  private opened = false;
  private closeInfo: { code: number; reason: string } | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(readonly ws: OurSocket) {
    ws.on('message', (data, isBinary) => {
      this.messagesReceived++;
      try {
        ws.send(data as Buffer, { binary: isBinary });
      } catch (err) {
        this.errors.push(err as Error);
      }
    });
    ws.on('error', (err) => this.errors.push(err));
    ws.on('open', () => this.update(() => (this.opened = true)));
    ws.on('close', (code, reason) => this.update(() => (this.closeInfo = { code, reason: Buffer.from(reason).toString('utf8') })));
  }

  /** A server-side socket is open from its 'connection' event on. */
  markOpen(): void {
    this.update(() => (this.opened = true));
  }

  private update(change: () => void): void {
    change();
    for (const w of [...this.waiters]) w();
  }

  private waitFor(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ready()) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  waitOpen(timeoutMs: number): Promise<void> {
    return this.waitFor(() => this.opened, timeoutMs, "our endpoint's 'open' event");
  }

  async waitClosed(timeoutMs: number): Promise<{ code: number; reason: string }> {
    await this.waitFor(() => this.closeInfo !== undefined, timeoutMs, "our endpoint's 'close' event");
    return this.closeInfo!;
  }
}

/** Opens a session between the raw peer and our implementation in `role`. */
export async function openLocalSession(role: Role, opts: SessionOptions = {}): Promise<Session> {
  const maxPayload = opts.maxPayload ?? BIG_MAX_PAYLOAD;
  if (role === 'server') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload });
    const closeServer = async () => {
      for (const c of wss.clients) c.terminate();
      await withTimeout(
        new Promise<void>((resolve) => wss.close(() => resolve())),
        DEFAULT_WAIT_MS,
        'our WebSocketServer to close',
      ).catch(() => {});
    };
    try {
      await withTimeout(once(wss, 'listening'), DEFAULT_WAIT_MS, 'our WebSocketServer to listen');
      const port = (wss.address() as AddressInfo).port;
      const connection = new Promise<OurEndpoint>((resolve) => {
        wss.once('connection', (ws: OurSocket) => {
          const endpoint = new OurEndpoint(ws);
          endpoint.markOpen();
          resolve(endpoint);
        });
      });
      const peer = await connectRawClient(port);
      let ours: OurEndpoint;
      try {
        ours = await withTimeout(connection, DEFAULT_WAIT_MS, "our server's 'connection' event");
      } catch (err) {
        peer.destroy();
        throw err;
      }
      // Strict (the last argument): our own implementation must meet every expectation,
      // non-strict behaviour included, and no ping of ours is skipped.
      return new Session(
        role,
        peer,
        ours,
        async () => {
          peer.destroy();
          ours.ws.terminate();
          await closeServer();
        },
        DEFAULT_WAIT_MS,
        true,
      );
    } catch (err) {
      await closeServer();
      throw err;
    }
  }
  const rs = await RawServer.listen();
  let ws: OurSocket | undefined;
  try {
    ws = new WebSocket(rs.url(), { maxPayload });
    const ours = new OurEndpoint(ws);
    const acceptOpts = opts.appendAfterResponse ? { appendAfterResponse: opts.appendAfterResponse } : {};
    const { conn } = await rs.accept(acceptOpts);
    return new Session(
      role,
      conn,
      ours,
      async () => {
        conn.destroy();
        ours.ws.terminate();
        await rs.close();
      },
      DEFAULT_WAIT_MS,
      true, // strict, as above
    );
  } catch (err) {
    ws?.terminate();
    await rs.close();
    throw err;
  }
}

/** Registers every group as a `describe` block for the given role of our implementation. */
export function registerConformance(role: Role): void {
  for (const group of GROUPS) {
    describe(`group ${group.name} (${role})`, () => {
      for (const c of group.cases) {
        if (!appliesTo(c, role)) continue;
        it(`${c.id} ${c.title}`, { timeout: c.timeoutMs ?? CASE_TIMEOUT_MS }, async () => {
          const opts: SessionOptions = {};
          if (c.maxPayload !== undefined) opts.maxPayload = c.maxPayload;
          if (c.appendAfterResponse) {
            if (role !== 'client') throw new Error('appendAfterResponse is a client-role option');
            opts.appendAfterResponse = c.appendAfterResponse();
          }
          const s = await openLocalSession(role, opts);
          try {
            await c.run(s);
          } finally {
            await s.dispose();
          }
        });
      }
    });
  }
}

/** Case counts per group for a role (for reports). */
export function caseCounts(role: Role): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of GROUPS) out[g.name] = g.cases.filter((c) => appliesTo(c, role)).length;
  return out;
}
