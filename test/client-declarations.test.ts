/**
 * The declarations `npm run build:client` writes beside the bundles: an app
 * that imports herald-client.js or herald-inbox.js gets HeraldClient's and
 * HeraldInbox's real types (a wrong event name or a missing argument does
 * not compile), through the files a copy of dist-client holds.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, expect, test } from 'vitest';
import { emitClientDeclarations } from '../scripts/client-declarations.js';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const APP = `
import { HeraldClient, HeraldError, type Notification, type StateEvent } from './herald-client.js';
import { HeraldInbox } from './herald-inbox.js';

const herald = new HeraldClient({ apiUrl: 'https://h.example', wsUrl: 'wss://h.example/api/v1/ws', getToken: async () => 'jwt' });
herald.on('notification', (n: Notification) => n.title.toUpperCase() + (n.actions[0]?.label ?? ''));
herald.on('unread_count', (n) => n.toFixed(0));
herald.on('state', (e: StateEvent) => e.ids.join());
herald.on('connection', (c) => c.state === 'polling');
const counts: Promise<number[]> = herald.count([{ seen: false }, { archived: true, type: ['alert'] }]);
const cached: Notification[] = herald.cached();
const leads: boolean = herald.leader;
void herald.snooze('id', new Date()).then((s) => s.snoozed_until);
void herald.list({ is_read: false, limit: 20 }).catch((e) => e instanceof HeraldError && e.status);
const inbox: HTMLElement = new HeraldInbox();
(inbox as HeraldInbox).client = herald;
// @ts-expect-error there is no such event
herald.on('notifications', () => undefined);
// @ts-expect-error snooze needs the time it ends
void herald.snooze('id');
// @ts-expect-error a count filter names known fields only
void herald.count([{ unknown: true }]);
export { counts, cached, leads };
`;

test('an app compiles against dist-client/herald-client.d.ts and herald-inbox.d.ts, and wrong calls do not', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'herald-types-'));
  dirs.push(dir);
  const written = await emitClientDeclarations(dir);
  expect(written.map((f) => f.slice(dir.length + 1)).sort()).toEqual(['herald-client.d.ts', 'herald-inbox.d.ts']);
  await writeFile(join(dir, 'app.ts'), APP);
  const program = ts.createProgram([join(dir, 'app.ts')], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: [],
    strict: true,
    noEmit: true,
  });
  const messages = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  expect(messages).toEqual([]);
  // the app resolved the copies in `dir`, not the sources
  expect(program.getSourceFiles().some((f) => f.fileName.startsWith(join(dir, 'types/src/client/')))).toBe(true);
  expect(program.getSourceFiles().some((f) => f.fileName.includes('/src/client/') && !f.fileName.startsWith(dir))).toBe(false);
});
