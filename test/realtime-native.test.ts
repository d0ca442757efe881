import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { expect, test } from 'vitest';
import { isNative } from '../src/realtime/uws.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './helpers/env.js';

/** The realtime node refuses to run on uWebSockets.js's slow pure-JS fallback. */

test('the native binary is what loads here, and the fallback module is told apart', () => {
  expect(isNative()).toBe(true);
  // the package's own fallback (what it returns when the binary fails to load)
  const fallback = createRequire(import.meta.url)('uWebSockets.js/dist/index.js');
  expect(typeof fallback.App).toBe('function');
  expect(isNative(fallback)).toBe(false);
});

test('the process entry exits 1 with a clear message when the package falls back', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/realtime/server.ts'], {
    env: { ...process.env, UWS_USE_FALLBACK: '1', WS_PORT: '0', DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code).toBe(1);
  expect(out).toContain('will not run on it');
  expect(out).not.toContain('realtime node listening');
});
