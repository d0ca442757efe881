import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { README_PATH, undocumentedVariables, withConfigTable } from '../scripts/config-docs.js';

test('every configuration variable has a description and a group in src/config.ts', () => {
  expect(undocumentedVariables()).toEqual([]);
});

test("README.md's configuration table is what `npm run docs:config` writes", () => {
  const readme = readFileSync(README_PATH, 'utf8');
  // On failure: run `npm run docs:config` and commit README.md.
  expect(readme).toBe(withConfigTable(readme));
});
