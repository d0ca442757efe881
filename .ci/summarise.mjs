/**
 * The end of .ci/run: `node .ci/summarise.mjs <summary.json> <vitest exit status>`
 * prints what failed or did not run, one line each kind, then the last line
 * `N passed, N failed`, and exits 1 unless everything passed. Tests that did
 * not run (skipped, todo) count as failed; so does every error outside a
 * test; a run vitest failed with nothing counted (or no summary at all)
 * counts 1.
 */
import { existsSync, readFileSync } from 'node:fs';

const [file, statusArg] = process.argv.slice(2);
const status = Number(statusArg ?? 0);
const say = (label, items) => {
  if (items.length > 0) console.log(`[ci] ${label} (${items.length}): ${items.join(' | ')}`);
};

let summary = { passed: 0, failed: [], notRun: [], errors: [] };
if (!file || !existsSync(file)) {
  summary.errors.push(`vitest wrote no summary (exit ${status})`);
} else {
  summary = JSON.parse(readFileSync(file, 'utf8'));
}
let failures = summary.failed.length + summary.notRun.length + summary.errors.length;
if (status !== 0 && failures === 0) {
  summary.errors.push(`vitest exited ${status} with nothing counted as failed`);
  failures = 1;
}
say('failed', summary.failed);
say('not run, counted as failed', summary.notRun);
say('errors outside a test, each counted as failed', summary.errors);
console.log(`${summary.passed} passed, ${failures} failed`);
process.exit(failures === 0 && status === 0 ? 0 : 1);
