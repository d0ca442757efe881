import { createRequire } from 'node:module';
import { afterAll, expect, test } from 'vitest';
import { isNative } from '../src/realtime/uws.js';
import { spawnRole } from './helpers/roles.js';

/** The realtime node refuses to run on uWebSockets.js's slow pure-JS fallback. */

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('the native binary is what loads here, and the fallback module is told apart', () => {
  expect(isNative()).toBe(true);
  // the package's own fallback (what it returns when the binary fails to load)
  const fallback = createRequire(import.meta.url)('uWebSockets.js/dist/index.js');
  expect(typeof fallback.App).toBe('function');
  expect(isNative(fallback)).toBe(false);
});

test('the process entry exits 1 with a clear message when the package falls back', async () => {
  const node = spawnRole('src/realtime/server.ts', { env: { UWS_USE_FALLBACK: '1', WS_PORT: '0' } }, cleanups);
  expect(await node.exited).toBe(1);
  const out = node.lines.join('\n');
  expect(out).toContain('will not run on it');
  expect(out).not.toContain('realtime node listening');
});
