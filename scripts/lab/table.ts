/** The lab's result table (plain text for the terminal, or Markdown for the README). */
import type { ScenarioResult } from '../../test/helpers/lab.js';
import { natSummary } from './scenario.js';

/**
 * A run is as expected when it connected on the path the draft expects (or a listed alternative),
 * or (TURN stopped, no direct path) failed with a reason.
 */
export function resultOk(r: ScenarioResult): boolean {
  if (r.status === 'pass') return (r.variant !== 'noturn' || r.scenario.expect.withoutTurn === 'connects') && (!!r.pathAsDraft || !!r.pathAlternative);
  if (r.status === 'expected-fail') return true;
  return false;
}

function outcome(r: ScenarioResult): string {
  switch (r.status) {
    case 'pass':
      if (r.variant === 'noturn' && r.scenario.expect.withoutTurn === 'fails') return 'UNEXPECTED PASS';
      return r.pathAsDraft ? 'PASS' : r.pathAlternative ? 'PASS (alternative path*)' : 'FAIL: connected on a path the draft does not expect';
    case 'expected-fail':
      return 'fails as expected';
    case 'needs':
      return `needs ${r.needs}`;
    default:
      return 'FAIL';
  }
}

function tone(r: ScenarioResult): string {
  const c = r.caller;
  if (!c) return '-';
  const mark = (ok: boolean | undefined, hz: number | undefined): string => `${hz ?? '?'}Hz ${ok ? 'yes' : 'no'}`;
  if (!r.callee) return `echo ${mark(c.toneOk, c.heardHz)}`;
  return `A heard ${mark(c.toneOk, c.heardHz)}, B heard ${mark(r.callee.toneOk, r.callee.heardHz)}`;
}

function expected(r: ScenarioResult): string {
  const e = r.scenario.expect;
  const gateway = r.scenario.phones[r.scenario.call.to]?.sipp;
  return gateway ? `A ${e.caller.join('->')} (m/c line)` : `A ${e.caller.join('->')}, B ${e.callee.join('->')}`;
}

export function rows(results: ScenarioResult[]): string[][] {
  return results.map((r) => [
    r.scenario.id,
    r.variant === 'clean' ? 'clean' : r.variant === 'loss' ? '5% loss' : 'TURN stopped',
    natSummary(r.scenario),
    expected(r),
    r.caller?.pair?.text ?? '-',
    r.callee?.pair?.text ?? (r.scenario.phones[r.scenario.call.to]?.sipp ? 'SIPp (no ICE)' : '-'),
    r.answerToMediaMs !== undefined ? String(r.answerToMediaMs) : '-',
    tone(r),
    r.signalling,
    outcome(r) + (r.status !== 'pass' && r.reason ? `: ${r.reason.replace(/ \(logs: [^)]*\)/, '')}` : ''),
  ]);
}

const HEADER = ['scenario', 'run', 'NATs', 'draft expects (local->remote)', 'A selected pair', 'B selected pair', 'answer->2-way media ms', 'tone', 'SIP', 'result'];

/** One line per scenario: where icephone's path differs from the draft's text and why; alternatives seen. */
export function formatNotes(results: ScenarioResult[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const r of results) {
    if (seen.has(r.scenario.id)) continue;
    seen.add(r.scenario.id);
    if (r.scenario.expect.note) lines.push(`- ${r.scenario.id}: ${r.scenario.expect.note}.`);
  }
  for (const r of results) {
    if (r.status === 'pass' && r.pathAlternative) lines.push(`- * ${r.scenario.id} ${r.variant}: ${r.pathAlternative}.`);
  }
  return lines.join('\n');
}

export function formatTable(results: ScenarioResult[], markdown = false): string {
  const body = rows(results);
  if (markdown) {
    const esc = (s: string): string => s.replace(/\|/g, '\\|');
    return [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
  }
  const widths = HEADER.map((h, i) => Math.min(70, Math.max(h.length, ...body.map((r) => r[i]!.length))));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(HEADER), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
