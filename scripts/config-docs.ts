/**
 * `npm run docs:config`: rewrites README.md's configuration table, between
 * `<!-- config:start -->` and `<!-- config:end -->`, from the schema in
 * src/config.ts: every variable in its group (CONFIG_GROUPS order, then
 * schema order), its default and its description, all read from the
 * schema itself so the table cannot drift from the code.
 * test/config-docs.test.ts fails when README.md holds anything else.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { CONFIG_GROUPS, configSchema, type ConfigDoc, type ConfigGroup } from '../src/config.js';

export const TABLE_START = '<!-- config:start -->';
export const TABLE_END = '<!-- config:end -->';
export const README_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md');

export interface ConfigEntry {
  name: string;
  group: ConfigGroup;
  /** markdown, as the table shows it */
  shownDefault: string;
  description: string;
}

/** The names of the variables whose schema entry has no description (or no group). */
export function undocumentedVariables(): string[] {
  return Object.entries(configSchema.shape)
    .filter(([, field]) => {
      const doc = docOf(field);
      return !doc.description?.trim() || !CONFIG_GROUPS.includes(doc.group as ConfigGroup);
    })
    .map(([name]) => name);
}

/** Every variable as the table shows it, in the table's order. */
export function configEntries(): ConfigEntry[] {
  const missing = undocumentedVariables();
  if (missing.length) throw new Error(`src/config.ts: no description or group for ${missing.join(', ')}`);
  const entries = Object.entries(configSchema.shape).map(([name, field]): ConfigEntry => {
    const doc = docOf(field) as ConfigDoc;
    return { name, group: doc.group, shownDefault: doc.shownDefault ?? defaultOf(field), description: doc.description };
  });
  // Array.prototype.sort is stable: schema order holds inside a group.
  return entries.sort((a, b) => CONFIG_GROUPS.indexOf(a.group) - CONFIG_GROUPS.indexOf(b.group));
}

/** The markdown that goes between the markers: one table per group. */
export function configTable(): string {
  const entries = configEntries();
  const sections = CONFIG_GROUPS.filter((g) => entries.some((e) => e.group === g)).map((group) => {
    const rows = entries
      .filter((e) => e.group === group)
      .map((e) => `| \`${e.name}\` | ${cell(e.shownDefault)} | ${cell(e.description)} |`);
    return [`### ${group}`, '', '| variable | default | description |', '|---|---|---|', ...rows].join('\n');
  });
  return sections.join('\n\n');
}

/** `readme` with the text between the markers replaced by a fresh table. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md needs ${TABLE_START} followed by ${TABLE_END}`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${configTable()}\n${readme.slice(end)}`;
}

function docOf(field: z.ZodType): Partial<ConfigDoc> {
  return (field.meta() ?? {}) as Partial<ConfigDoc>;
}

/** What the variable is when unset; a computed default must be given as shownDefault instead. */
function defaultOf(field: z.ZodType): string {
  const unset = field.safeParse(undefined);
  if (!unset.success) return 'required';
  if (unset.data === undefined) return '—';
  if (unset.data === '') return '(empty)';
  return `\`${String(unset.data)}\``;
}

/** A table cell: a `|` would end it early. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const before = readFileSync(README_PATH, 'utf8');
  const after = withConfigTable(before);
  if (after === before) {
    console.log('README.md: the configuration table is up to date');
  } else {
    writeFileSync(README_PATH, after);
    console.log('README.md: configuration table rewritten');
  }
}
