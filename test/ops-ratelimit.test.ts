/**
 * The rate limit is shared by api processes: two real api processes on the
 * same Redis, requests alternating between them, one bucket per subject.
 */
import { afterAll, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { TEST_DATABASE_URL, TEST_JWT_SECRET, TEST_REDIS_URL } from './helpers/env.js';
import { uniq } from './helpers/harness.js';
import { freePort, spawnEntry, type Proc } from './helpers/procs.js';

const procs: Proc[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
});

test('two api processes share one bucket per token subject', { timeout: 90_000 }, async () => {
  const env = {
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    JWT_SECRET: TEST_JWT_SECRET,
    QUEUE_PREFIX: uniq('test-ratelimit'),
    RATE_LIMIT_USER_PER_MIN: '4',
    LOG_LEVEL: 'info',
  };
  const ports = [await freePort(), await freePort()];
  for (const port of ports) procs.push(spawnEntry('src/api/server.ts', { ...env, PORT: String(port) }));
  for (const p of procs) await p.waitForLog((l) => l.msg === 'api listening', 60_000, 'an api');

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
