/**
 * Leased token buckets (src/api/middleware/rate-lease.ts) against the real
 * Redis: two instances stand for two api processes sharing one bucket.
 */
import { Redis } from 'ioredis';
import { afterAll, expect, test } from 'vitest';
import { takeTokens } from '../src/ratelimit/gcra.js';
import { LeasedBuckets } from '../src/api/middleware/rate-lease.js';
import { TEST_REDIS_URL } from './helpers/env.js';
import { uniq } from './helpers/harness.js';

const conns: Redis[] = [];
const connect = () => {
  const r = new Redis(TEST_REDIS_URL);
  conns.push(r);
  return r;
};
afterAll(async () => {
  await Promise.all(conns.map((r) => r.quit()));
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts the GCRA calls Redis receives for `key` (MONITOR on its own connection). */
async function countCalls(key: string) {
  const monitor = await connect().monitor();
  let calls = 0;
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (/^eval(sha)?$/i.test(args[0]) && args[3] === key) calls++;
  });
  return { calls: () => calls, stop: () => monitor.disconnect() };
}

test('the script takes as many tokens as fit, then refuses with a retry time; tokens given back can be taken again', async () => {
  const redis = connect();
  const key = uniq('gcra-lease');
  // 10 per 10 minutes: nothing refills during the test
  expect((await takeTokens(redis, key, 10, 600_000, 4)).took).toBe(4);
  expect((await takeTokens(redis, key, 10, 600_000, 4)).took).toBe(4);
  const partial = await takeTokens(redis, key, 10, 600_000, 4);
  expect(partial).toMatchObject({ took: 2, remaining: 0 });
  const refused = await takeTokens(redis, key, 10, 600_000, 1);
  expect(refused.took).toBe(0);
  expect(refused.retryAfterMs).toBeGreaterThan(50_000);
  expect((await takeTokens(redis, key, 10, 600_000, 5, 3)).took).toBe(3);
  expect((await takeTokens(redis, key, 10, 600_000, 1)).took).toBe(0);
});

test('a busy subject takes its tokens a lease at a time: one Redis call per lease, not per request', async () => {
  const key = uniq('lease-busy');
  const buckets = new LeasedBuckets(connect(), { leaseMs: 100 });
  const counter = await countCalls(key);
  // 60,000 per minute: a lease of 100 ms is 100 tokens
  const sequential = [];
  for (let i = 0; i < 500; i++) sequential.push(await buckets.take(key, 60_000));
  const concurrent = await Promise.all(Array.from({ length: 500 }, () => buckets.take(key, 60_000)));
  await sleep(100); // MONITOR's stream trails the calls
  const decisions = [...sequential, ...concurrent];
  expect(decisions.every((d) => d.allowed)).toBe(true);
  expect(decisions.every((d) => d.remaining >= 58_000 && d.remaining < 60_000)).toBe(true);
  // 1,000 requests, 100 tokens a lease: ~10 calls (more if a lease ran out of time first)
  expect(counter.calls()).toBeGreaterThanOrEqual(10);
  expect(counter.calls()).toBeLessThanOrEqual(40);
  counter.stop();
});

test('a subject allowed less than a token per lease asks Redis for every request, with exact remaining counts', async () => {
  const key = uniq('lease-user');
  const buckets = new LeasedBuckets(connect(), { leaseMs: 100 });
  const counter = await countCalls(key);
  const decisions = [];
  for (let i = 0; i < 6; i++) decisions.push(await buckets.take(key, 4));
  await sleep(100);
  expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, false, false]);
  expect(decisions.map((d) => d.remaining)).toEqual([3, 2, 1, 0, 0, 0]);
  expect(counter.calls()).toBe(6);
  counter.stop();
});

test('two processes leasing from one bucket never admit more than the limit between them', async () => {
  const key = uniq('lease-shared');
  const a = new LeasedBuckets(connect(), { leaseMs: 100 });
  const b = new LeasedBuckets(connect(), { leaseMs: 100 });
  // 6,000 per minute (one token per 10 ms), leases of 10 tokens; 7,000 requests as fast as they go
  const started = Date.now();
  let allowed = 0;
  for (let i = 0; i < 700; i++) {
    const round = await Promise.all(Array.from({ length: 10 }, (_, j) => ((i + j) % 2 ? a : b).take(key, 6000)));
    allowed += round.filter((d) => d.allowed).length;
  }
  const refilled = Math.ceil((Date.now() - started) / 10) + 1;
  expect(allowed).toBeLessThanOrEqual(6000 + refilled);
  // at most a lease each is held back at any time
  expect(allowed).toBeGreaterThanOrEqual(6000 - 20);
});

test('what a lease did not use goes back to the bucket for the next caller', async () => {
  const key = uniq('lease-back');
  // 600 per minute (one token per 100 ms), leases of 1 s = 10 tokens
  const a = new LeasedBuckets(connect(), { leaseMs: 1000 });
  const b = new LeasedBuckets(connect(), { leaseMs: 1000 });
  expect((await a.take(key, 600)).allowed).toBe(true); // a holds 9 more
  while ((await b.take(key, 600)).allowed); // b drains the rest
  await sleep(1100); // a's lease runs out; ~11 tokens refill
  while ((await b.take(key, 600)).allowed); // b takes the refill too
  // a gives its 9 back with its next call and has them again: 9 requests at once, where the
  // bucket alone would have refilled one or two by now
  const again = [];
  for (let i = 0; i < 9; i++) again.push(await a.take(key, 600));
  expect(again.map((d) => d.allowed)).toEqual(Array(9).fill(true));
});
