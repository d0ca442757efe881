/**
 * A vitest reporter for CI: when the run ends it writes what the last line of
 * .ci/run is made from (.ci/summarise.mjs prints it). Every way a run can go
 * wrong counts as a failure, so the line can never read "0 failed" for a run
 * that did not pass:
 *   - a failed test;
 *   - a test that did not run: skipped, todo, or left out because a hook
 *     before it threw;
 *   - an error outside any test: a file that failed to load, a beforeAll or
 *     afterAll (of the file or of a describe) that threw;
 *   - an unhandled error or rejection during the run;
 *   - a run that failed with none of the above (a global setup that threw,
 *     no test files found).
 * The file is CI_SUMMARY_FILE, or .ci/out/summary.json under the directory
 * vitest runs in.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

export default class SummaryReporter {
  onInit(vitest) {
    this.root = vitest.config.root;
  }

  onTestRunEnd(testModules, unhandledErrors, reason) {
    const passed = [];
    const failed = [];
    const notRun = [];
    const errors = [];
    for (const module of testModules) {
      const file = relative(this.root ?? process.cwd(), module.moduleId);
      for (const err of module.errors()) errors.push(`${file}: ${err.message}`);
      for (const suite of module.children.allSuites()) {
        for (const err of suite.errors()) errors.push(`${file} > ${suite.fullName}: ${err.message}`);
      }
      for (const test of module.children.allTests()) {
        const name = `${file} > ${test.fullName}`;
        const state = test.result().state;
        if (state === 'passed') passed.push(name);
        else if (state === 'failed') failed.push(name);
        else notRun.push(`${name} (${test.options.mode === 'todo' ? 'todo' : 'skipped'})`);
      }
    }
    for (const err of unhandledErrors) errors.push(`unhandled: ${err.message}`);
    if (reason !== 'passed' && failed.length + notRun.length + errors.length === 0) {
      errors.push(`the run ${reason} before any test could fail (global setup, configuration or no test files: see the output above)`);
    }
    const file = resolve(process.env.CI_SUMMARY_FILE ?? resolve(this.root ?? process.cwd(), '.ci/out/summary.json'));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ reason, passed: passed.length, failed, notRun, errors }, null, 1));
  }
}
