/**
 * The text report of a remote conformance check: a per-group table (passed / failed / not
 * applicable), one line per failed case with the expectation, its RFC 6455 section and what
 * happened, then the cases that could not run against a remote server and why.
 */
import { rfcOf } from './case.js';
import type { CaseResult } from './remote.js';

interface Row {
  name: string;
  pass: number;
  fail: number;
  na: number;
}

function countRows(results: readonly CaseResult[]): { rows: Row[]; total: Row } {
  const rows = new Map<string, Row>();
  const total: Row = { name: 'total', pass: 0, fail: 0, na: 0 };
  for (const r of results) {
    let row = rows.get(r.group.name);
    if (!row) rows.set(r.group.name, (row = { name: r.group.name, pass: 0, fail: 0, na: 0 }));
    const key = r.outcome === 'pass' ? 'pass' : r.outcome === 'fail' ? 'fail' : 'na';
    row[key]++;
    total[key]++;
  }
  return { rows: [...rows.values()], total };
}

/** The per-group table, header and total line included. */
export function formatTable(results: readonly CaseResult[]): string {
  const { rows, total } = countRows(results);
  const width = Math.max(5, ...rows.map((r) => r.name.length), total.name.length);
  const line = (name: string, a: string | number, b: string | number, c: string | number) =>
    `${name.padEnd(width)}  ${String(a).padStart(6)}  ${String(b).padStart(6)}  ${String(c).padStart(14)}`;
  const out = [line('group', 'passed', 'failed', 'not applicable'), '-'.repeat(width + 32)];
  for (const r of rows) out.push(line(r.name, r.pass, r.fail, r.na));
  out.push('-'.repeat(width + 32), line(total.name, total.pass, total.fail, total.na));
  return `${out.join('\n')}\n`;
}

/** The whole report: table, failures, not-applicable cases. */
export function formatReport(target: string, results: readonly CaseResult[]): string {
  const failed = results.filter((r) => r.outcome === 'fail');
  const na = results.filter((r) => r.outcome === 'n/a');
  const applicable = results.length - na.length;
  let out = `RFC 6455 conformance of ${target}: ${applicable - failed.length} of ${applicable} applicable cases passed`;
  out += na.length ? `, ${na.length} not applicable\n\n` : '\n\n';
  out += formatTable(results);
  if (failed.length) {
    out += `\nFailed:\n`;
    for (const r of failed) {
      out += `FAIL ${r.case.id}  expected (RFC 6455 ${rfcOf(r.case, r.group)}): ${r.case.title}; got: ${r.detail ?? 'no detail'}\n`;
    }
  }
  if (na.length) {
    out += `\nNot applicable to a server reached over the network (the test suite runs them in process):\n`;
    for (const r of na) out += `N/A  ${r.case.id}  ${r.case.title}: ${r.detail ?? ''}\n`;
  }
  return out;
}
