/**
 * The shape of the conformance case table: groups of cases modelled on the Autobahn|Testsuite
 * groups 1-7, 9 and 10. Case ids follow Autobahn where a case is Autobahn's; ids Autobahn does
 * not have continue its numbering within the group. The implementation under test is an echo
 * endpoint: every message goes back to its sender, text as text and binary as binary.
 */
import type { Role, Session } from './session.js';

export interface CaseDef {
  id: string;
  title: string;
  /** RFC 6455 section(s) the expectation comes from; default the group's. */
  rfc?: string;
  /** Roles of the implementation under test this case applies to; default both. */
  roles?: readonly Role[];
  /** The implementation's maxPayload for this case (so it only runs in process). */
  maxPayload?: number;
  /**
   * Why the case only runs against an implementation in this process (it drives or watches
   * the implementation through its API); a remote check reports it as not applicable.
   */
  inProcessOnly?: string;
  /** Client role: frames written with the 101 response. */
  appendAfterResponse?: () => Buffer;
  /** Time limit for the whole case (a safety net; every wait inside has its own). */
  timeoutMs?: number;
  run: (s: Session) => Promise<void>;
}

export interface GroupDef {
  /** "1 framing", "6 UTF-8", ... */
  name: string;
  /** RFC 6455 section(s) most of the group's cases test. */
  rfc: string;
  cases: CaseDef[];
}

/** Default time limit of a case. */
export const CASE_TIMEOUT_MS = 30_000;

/** Whether a case applies to an implementation in `role`. */
export function appliesTo(c: CaseDef, role: Role): boolean {
  return !c.roles || c.roles.includes(role);
}

/**
 * Why a case cannot run against a remote implementation (one only reachable over the
 * network), or undefined when it can.
 */
export function remoteInapplicability(c: CaseDef): string | undefined {
  if (c.inProcessOnly !== undefined) return c.inProcessOnly;
  if (c.maxPayload !== undefined) return `needs the server's maxPayload set to ${c.maxPayload}`;
  if (c.appendAfterResponse) return 'needs to write frames with the handshake response';
  return undefined;
}

/** The RFC 6455 section(s) a case's expectation comes from. */
export function rfcOf(c: CaseDef, group: GroupDef): string {
  return c.rfc ?? group.rfc;
}
