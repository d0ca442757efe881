/** bench/faults' final table: one row per fault, then each row's notes and what the columns mean. */
import type { Fault, RowResult } from './fault-run.js';

const time = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);

const COLUMNS: Array<[string, (r: RowResult) => string]> = [
  ['fault', (r) => r.name],
  ['accepted', (r) => String(r.accepted)],
  ['not acc.', (r) => String(r.refused)],
  ['stored', (r) => String(r.stored)],
  ['lost', (r) => String(r.lost)],
  ['dup inbox', (r) => String(r.dupInbox)],
  ['delivered', (r) => `${r.deliveriesDone}/${r.deliveriesDue}`],
  ['dup sends', (r) => String(r.dupSends)],
  ['frames missed', (r) => `${r.framesMissed}/${r.framesDue}`],
  ['dup frames', (r) => String(r.dupFrames)],
  ['recover', (r) => time(r.recoverMs)],
  ['caught up', (r) => time(r.caughtUpMs)],
];

export function formatRow(r: RowResult): string {
  return COLUMNS.map(([h, f]) => `${h} ${f(r)}`).join(' · ');
}

export function formatTable(results: RowResult[], faults: Fault[]): string {
  const cells = results.map((r) => COLUMNS.map(([, f]) => f(r)));
  const widths = COLUMNS.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join(' | ')} |`;
  const out = [line(COLUMNS.map(([h]) => h)), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...cells.map(line)];
  out.push('');
  for (const r of results) {
    const what = faults.find((f) => f.name === r.name)?.what ?? '';
    out.push(`${r.name} (${r.seconds.toFixed(0)} s): ${what}`);
    for (const n of r.notes) out.push(`  - ${n}`);
  }
  out.push(
    '',
    'accepted: sends answered 202 (plus jobs put straight into the queue); not acc.: sends answered otherwise or not at all;',
    'stored / lost: accepted notifications found / not found in PostgreSQL once the drain ended; dup inbox: the same send stored twice;',
    'delivered: external deliveries the provider fake received / deliveries the stored notifications asked for;',
    'dup sends: provider calls beyond the first for one delivery (an SMTP message or webhook call the receiver got twice);',
    'frames missed: stored notifications of a connected user that its client never got, after its ?since= reconnects;',
    'recover: fault → the first notification sent after it that was stored, framed (and on a channel row delivered);',
    'caught up: fault → everything accepted up to that moment stored, framed (and delivered); never: something is still missing.',
  );
  return out.join('\n');
}
