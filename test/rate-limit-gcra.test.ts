import { Redis } from 'ioredis';
import { afterAll, expect, test } from 'vitest';
import { takeToken } from '../src/ratelimit/gcra.js';
import { TEST_REDIS_URL } from './helpers/env.js';
import { uniq } from './helpers/harness.js';

const redis = new Redis(TEST_REDIS_URL);
afterAll(() => redis.quit());

test('a limit so high that a request adds less than a millisecond still answers (no "invalid expire time")', async () => {
  const key = uniq('gcra');
  for (let i = 0; i < 50; i++) {
    const d = await takeToken(redis, key, 1_000_000_000, 60_000);
    expect(d.allowed).toBe(true);
  }
});

test('a small limit admits its burst, then refuses with a retry time', async () => {
  const key = uniq('gcra');
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await takeToken(redis, key, 3, 60_000));
  expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
  expect(results[3].retryAfterMs).toBeGreaterThan(0);
  expect(results[3].retryAfterMs).toBeLessThanOrEqual(20_000);
});
