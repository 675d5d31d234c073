/**
 * Runs the server-role conformance cases against any WebSocket echo server reachable by URL,
 * as Autobahn|Testsuite's fuzzingclient does: one fresh connection per case, one case at a
 * time. Only the wire is seen, so cases that configure or watch the server through its API
 * are reported as not applicable, with the reason.
 *
 * Sessions are not strict: what RFC 6455 allows but the stricter expectation misses is the
 * outcome "non-strict" (Autobahn's NON-STRICT), not a failure. A case that cannot open its
 * connection is an error of the run, not a conformance failure. The run stops after
 * MAX_CONSECUTIVE_STALLS cases in a row that timed out or could not connect.
 */
import { appliesTo, CASE_TIMEOUT_MS, remoteInapplicability, type CaseDef, type GroupDef } from './case.js';
import { GROUPS } from './cases/index.js';
import { OP } from './frames.js';
import { connectRawClient } from './raw-client.js';
import type { RawConnection } from './raw-connection.js';
import { Session } from './session.js';
import { DEFAULT_WAIT_MS, TimeoutError, withTimeout } from './wait.js';

/** Cases in a row that time out or cannot connect after which the run stops. */
export const MAX_CONSECUTIVE_STALLS = 5;

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
  /** Bound on what a connection holds of what the server sent; default 64 MiB. */
  maxBytes?: number;
}

/**
 * pass; non-strict: passed what RFC 6455 requires, missed a stricter expectation; fail; error:
 * the case could not run (its connection could not be opened); n/a: cannot run remotely.
 */
export type Outcome = 'pass' | 'non-strict' | 'fail' | 'error' | 'n/a';

export interface CaseResult {
  group: GroupDef;
  case: CaseDef;
  outcome: Outcome;
  /** non-strict: the deviations; fail / error: what happened; n/a: why the case cannot run remotely. */
  detail?: string;
  /** The case ended because a wait ran out of time (or, for an error, the connection could not be opened). */
  stalled?: boolean;
  ms: number;
}

/** What checkRemoteServer returns: the results of the cases that ran, and why it stopped early. */
export interface RemoteRun {
  results: CaseResult[];
  /** Set when the run stopped before the last selected case. */
  stopped?: string;
  /** Selected cases that did not run. */
  notRun: number;
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
    peer = await connectRawClient(url, connectOptions(opts, waitMs));
  } catch (err) {
    throw new Error(`cannot open a WebSocket connection to ${url.href}: ${message(err)}`);
  }
  const s = new Session('server', peer, undefined, async () => peer.destroy(), waitMs, false);
  try {
    await s.send({ opcode: OP.TEXT, payload: 'fullduplex check: echo probe' });
    await s.expectMessage(OP.TEXT, 'fullduplex check: echo probe');
  } catch (err) {
    throw new Error(`${url.href} does not look like an echo server (a text message was not sent back): ${message(err)}`);
  } finally {
    await s.dispose();
  }
}

function connectOptions(opts: RemoteCheckOptions, waitMs: number) {
  return {
    headers: opts.headers ?? {},
    insecure: opts.insecure ?? false,
    timeoutMs: waitMs,
    ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }),
  };
}

/** Runs one case against the server at `url`. */
export async function runRemoteCase(url: URL, group: GroupDef, c: CaseDef, opts: RemoteCheckOptions = {}): Promise<CaseResult> {
  const started = Date.now();
  const done = (outcome: Outcome, detail?: string, stalled = false): CaseResult => ({
    group,
    case: c,
    outcome,
    ...(detail === undefined ? {} : { detail }),
    ...(stalled ? { stalled } : {}),
    ms: Date.now() - started,
  });
  const why = remoteInapplicability(c);
  if (why !== undefined) return done('n/a', why);
  const waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
  let peer: RawConnection;
  try {
    peer = await connectRawClient(url, connectOptions(opts, waitMs));
  } catch (err) {
    return done('error', `cannot open the connection: ${message(err)}`, true);
  }
  const s = new Session('server', peer, undefined, async () => peer.destroy(), waitMs, false);
  const limit = Math.max(c.timeoutMs ?? CASE_TIMEOUT_MS, 6 * waitMs);
  try {
    await withTimeout(c.run(s), limit, `case ${c.id} to finish`);
    return s.nonStrictNotes.length ? done('non-strict', s.nonStrictNotes.join('; ')) : done('pass');
  } catch (err) {
    return done('fail', message(err), err instanceof TimeoutError);
  } finally {
    await s.dispose();
  }
}

/**
 * Runs the selected server-role cases one after the other against the server at `url`; stops
 * after MAX_CONSECUTIVE_STALLS cases in a row timed out or could not connect (a server that
 * stopped answering would otherwise hold the run for every remaining case's time limit).
 */
export async function checkRemoteServer(url: URL, opts: RemoteCheckOptions = {}): Promise<RemoteRun> {
  const selected = selectServerCases(opts.prefixes);
  const results: CaseResult[] = [];
  const stalled: string[] = [];
  for (const [i, { group, case: c }] of selected.entries()) {
    opts.onCase?.(c, i, selected.length);
    const r = await runRemoteCase(url, group, c, opts);
    results.push(r);
    if (r.outcome === 'n/a') continue;
    if (r.stalled) stalled.push(c.id);
    else stalled.length = 0;
    if (stalled.length >= MAX_CONSECUTIVE_STALLS && i + 1 < selected.length) {
      const notRun = selected.length - i - 1;
      return {
        results,
        notRun,
        stopped:
          `stopped after ${stalled.length} cases in a row (${stalled.join(', ')}) timed out or could not connect; ` +
          `${notRun} selected case${notRun === 1 ? '' : 's'} not run`,
      };
    }
  }
  return { results, notRun: 0 };
}
