/**
 * The text report of a remote conformance check: a per-group table (passed / non-strict /
 * failed / errors / not applicable), one line per failed and per non-strict case with the
 * expectation, its RFC 6455 section and what happened, the cases that could not run, then the
 * cases that cannot run against a remote server and why.
 */
import { rfcOf } from './case.js';
import { printable } from './printable.js';
import type { CaseResult, Outcome, RemoteRun } from './remote.js';

/** Longest detail printed for one case. */
const DETAIL_LIMIT = 600;

type Counts = Record<Outcome, number>;

interface Row extends Counts {
  name: string;
}

function emptyRow(name: string): Row {
  return { name, pass: 0, 'non-strict': 0, fail: 0, error: 0, 'n/a': 0 };
}

function countRows(results: readonly CaseResult[]): { rows: Row[]; total: Row } {
  const rows = new Map<string, Row>();
  const total = emptyRow('total');
  for (const r of results) {
    let row = rows.get(r.group.name);
    if (!row) rows.set(r.group.name, (row = emptyRow(r.group.name)));
    row[r.outcome]++;
    total[r.outcome]++;
  }
  return { rows: [...rows.values()], total };
}

const COLUMNS: ReadonlyArray<[Outcome, string]> = [
  ['pass', 'passed'],
  ['non-strict', 'non-strict'],
  ['fail', 'failed'],
  ['error', 'errors'],
  ['n/a', 'not applicable'],
];

/** The per-group table, header and total line included. */
export function formatTable(results: readonly CaseResult[]): string {
  const { rows, total } = countRows(results);
  const width = Math.max(5, ...rows.map((r) => r.name.length), total.name.length);
  const line = (name: string, cells: ReadonlyArray<string | number>) =>
    `${name.padEnd(width)}${cells.map((c, i) => `  ${String(c).padStart(COLUMNS[i]![1].length)}`).join('')}`;
  const header = line('group', COLUMNS.map(([, title]) => title));
  const rule = '-'.repeat(header.length);
  const out = [header, rule];
  for (const r of rows) out.push(line(r.name, COLUMNS.map(([k]) => r[k])));
  out.push(rule, line(total.name, COLUMNS.map(([k]) => total[k])));
  return `${out.join('\n')}\n`;
}

export interface ReportOptions {
  /** --strict: non-strict outcomes count as failures. */
  strict?: boolean;
}

/** The whole report: summary, table, failures, non-strict cases, errors, not-applicable cases. */
export function formatReport(target: string, run: RemoteRun, opts: ReportOptions = {}): string {
  const { results, stopped, notRun } = run;
  const { total } = countRows(results);
  const of = (o: Outcome) => results.filter((r) => r.outcome === o);
  const applicable = results.length - total['n/a'];
  let out = `RFC 6455 conformance of ${printable(target)}: ${total.pass} of ${applicable} applicable cases passed`;
  if (total['non-strict']) out += `, ${total['non-strict']} non-strict${opts.strict ? ' (counted as failed: --strict)' : ''}`;
  if (total.fail) out += `, ${total.fail} failed`;
  if (total.error) out += `, ${total.error} could not run`;
  if (total['n/a']) out += `, ${total['n/a']} not applicable`;
  if (notRun) out += `, ${notRun} not run`;
  out += '\n';
  if (stopped !== undefined) out += `Run stopped early: ${stopped}\n`;
  out += '\n' + formatTable(results);
  const line = (tag: string, r: CaseResult) =>
    `${tag} ${r.case.id}  expected (RFC 6455 ${rfcOf(r.case, r.group)}): ${r.case.title}; got: ${printable(r.detail ?? 'no detail', DETAIL_LIMIT)}\n`;
  const failed = of('fail');
  if (failed.length) {
    out += `\nFailed:\n`;
    for (const r of failed) out += line('FAIL', r);
  }
  const nonStrict = of('non-strict');
  if (nonStrict.length) {
    out +=
      `\nNon-strict (what RFC 6455 requires holds, a stricter expectation does not, as Autobahn's NON-STRICT; ` +
      `${opts.strict ? '--strict counts them as failures' : 'not failures unless --strict'}):\n`;
    for (const r of nonStrict) out += line('NON-STRICT', r);
  }
  const errors = of('error');
  if (errors.length) {
    out += `\nCould not run (errors of the run, not conformance failures):\n`;
    for (const r of errors) out += `ERROR ${r.case.id}  ${r.case.title}: ${printable(r.detail ?? 'no detail', DETAIL_LIMIT)}\n`;
  }
  const na = of('n/a');
  if (na.length) {
    out += `\nNot applicable to a server reached over the network (the test suite runs them in process):\n`;
    for (const r of na) out += `N/A  ${r.case.id}  ${r.case.title}: ${r.detail ?? ''}\n`;
  }
  return out;
}

/** Whether a run's results make the check fail (exit status 1). */
export function runFailed(run: RemoteRun, opts: ReportOptions = {}): boolean {
  if (run.stopped !== undefined) return true;
  return run.results.some((r) => r.outcome === 'fail' || r.outcome === 'error' || (opts.strict === true && r.outcome === 'non-strict'));
}
