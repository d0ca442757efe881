/**
 * The rate limit is shared by api processes: two real api processes on the
 * same Redis, requests alternating between them, one bucket per subject.
 */
import { afterAll, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { uniq } from './helpers/harness.js';
import { freePort } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('two api processes share one bucket per token subject', { timeout: 90_000 }, async () => {
  const env = { QUEUE_PREFIX: uniq('test-ratelimit'), RATE_LIMIT_USER_PER_MIN: '4' };
  const ports = [await freePort(), await freePort()];
  const apis = ports.map((port) => spawnRole('src/api/server.ts', { env: { ...env, PORT: String(port) } }, cleanups));
  for (const api of apis) await api.waitForLog((l) => l.msg === 'api listening', 60_000, 'an api');

  const tenant = uniq('tenant-rl');
  const token = await signToken(TEST_JWT_SECRET, { sub: 'reader', tenant });
  const get = (port: number) => fetch(`http://127.0.0.1:${port}/api/v1/notifications/unread-count`, { headers: { authorization: `Bearer ${token}` } });
  const statuses: number[] = [];
  const remaining: string[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await get(ports[i % 2]);
    statuses.push(res.status);
    remaining.push(res.headers.get('ratelimit-remaining') ?? '');
    if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  }
  expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
  expect(remaining).toEqual(['3', '2', '1', '0', '0', '0']);
  // another subject still has its whole bucket
  const other = await signToken(TEST_JWT_SECRET, { sub: 'someone-else', tenant });
  const res = await fetch(`http://127.0.0.1:${ports[1]}/api/v1/notifications/unread-count`, { headers: { authorization: `Bearer ${other}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('ratelimit-remaining')).toBe('3');
});
