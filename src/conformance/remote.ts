/**
 * Runs the server-role conformance cases against any WebSocket echo server reachable by URL,
 * as Autobahn|Testsuite's fuzzingclient does: one fresh connection per case, one case at a
 * time. Only the wire is seen, so cases that configure or watch the server through its API
 * are reported as not applicable, with the reason.
 */
import { appliesTo, CASE_TIMEOUT_MS, remoteInapplicability, type CaseDef, type GroupDef } from './case.js';
import { GROUPS } from './cases/index.js';
import { OP } from './frames.js';
import { connectRawClient } from './raw-client.js';
import type { RawConnection } from './raw-connection.js';
import { Session } from './session.js';
import { DEFAULT_WAIT_MS, withTimeout } from './wait.js';

export interface RemoteCheckOptions {
  /** Extra handshake request headers. */
  headers?: Readonly<Record<string, string>>;
  /** wss://: accept any certificate. */
  insecure?: boolean;
  /** Bound for each single wait (a reply, a close, the handshake); default DEFAULT_WAIT_MS. */
  waitMs?: number;
  /** Run only cases whose id is one of these or starts with one of them plus "."; default all. */
  prefixes?: readonly string[];
  /** Called before each case runs (for progress output). */
  onCase?: (c: CaseDef, index: number, total: number) => void;
}

export type Outcome = 'pass' | 'fail' | 'n/a';

export interface CaseResult {
  group: GroupDef;
  case: CaseDef;
  outcome: Outcome;
  /** fail: what happened; n/a: why the case cannot run remotely. */
  detail?: string;
  ms: number;
}

/** Whether case `id` is selected by `prefix` ("1.1" selects 1.1.1 and 1.1.8, not 1.10). */
export function matchesPrefix(id: string, prefix: string): boolean {
  return id === prefix || id.startsWith(`${prefix}.`);
}

/** The server-role cases with their groups, in table order, filtered by id prefixes. */
export function selectServerCases(prefixes?: readonly string[]): Array<{ group: GroupDef; case: CaseDef }> {
  const out: Array<{ group: GroupDef; case: CaseDef }> = [];
  for (const group of GROUPS) {
    for (const c of group.cases) {
      if (!appliesTo(c, 'server')) continue;
      if (prefixes && !prefixes.some((p) => matchesPrefix(c.id, p))) continue;
      out.push({ group, case: c });
    }
  }
  return out;
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
}

/**
 * Opens one connection, sends a text message and expects it back, so that a server that is
 * unreachable, refuses the handshake or does not echo is reported once, before any case.
 * Rejects with an error saying which of these it is.
 */
export async function probeEchoServer(url: URL, opts: RemoteCheckOptions = {}): Promise<void> {
  const waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
  let peer: RawConnection;
  try {
    peer = await connectRawClient(url, { headers: opts.headers ?? {}, insecure: opts.insecure ?? false, timeoutMs: waitMs });
  } catch (err) {
    throw new Error(`cannot open a WebSocket connection to ${url.href}: ${message(err)}`);
  }
  const s = new Session('server', peer, undefined, async () => peer.destroy(), waitMs);
  try {
    await s.send({ opcode: OP.TEXT, payload: 'fullduplex check: echo probe' });
    await s.expectMessage(OP.TEXT, 'fullduplex check: echo probe');
  } catch (err) {
    throw new Error(`${url.href} does not look like an echo server (a text message was not sent back): ${message(err)}`);
  } finally {
    await s.dispose();
  }
}

/** Runs one case against the server at `url`. */
export async function runRemoteCase(url: URL, group: GroupDef, c: CaseDef, opts: RemoteCheckOptions = {}): Promise<CaseResult> {
  const started = Date.now();
  const done = (outcome: Outcome, detail?: string): CaseResult => ({
    group,
    case: c,
    outcome,
    ...(detail === undefined ? {} : { detail }),
    ms: Date.now() - started,
  });
  const why = remoteInapplicability(c);
  if (why !== undefined) return done('n/a', why);
  const waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
  let peer: RawConnection;
  try {
    peer = await connectRawClient(url, { headers: opts.headers ?? {}, insecure: opts.insecure ?? false, timeoutMs: waitMs });
  } catch (err) {
    return done('fail', `cannot open the connection: ${message(err)}`);
  }
  const s = new Session('server', peer, undefined, async () => peer.destroy(), waitMs);
  const limit = Math.max(c.timeoutMs ?? CASE_TIMEOUT_MS, 6 * waitMs);
  try {
    await withTimeout(c.run(s), limit, `case ${c.id} to finish`);
    return done('pass');
  } catch (err) {
    return done('fail', message(err));
  } finally {
    await s.dispose();
  }
}

/** Runs the selected server-role cases one after the other against the server at `url`. */
export async function checkRemoteServer(url: URL, opts: RemoteCheckOptions = {}): Promise<CaseResult[]> {
  const selected = selectServerCases(opts.prefixes);
  const results: CaseResult[] = [];
  for (const [i, { group, case: c }] of selected.entries()) {
    opts.onCase?.(c, i, selected.length);
    results.push(await runRemoteCase(url, group, c, opts));
  }
  return results;
}
