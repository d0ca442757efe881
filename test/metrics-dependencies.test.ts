import { afterEach, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { producerConnection } from '../queues/connection.js';
import { openOrm, type Orm } from '../src/db/orm.js';
import { Lifecycle } from '../src/lifecycle.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { watchDependencies } from '../src/metrics/dependencies.js';
import { dependencyUp } from '../src/metrics/metrics.js';
import { READY_CHECK_TIMEOUT_MS } from '../src/readiness.js';
import { waitFor } from './helpers/harness.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './helpers/env.js';

/**
 * herald_dependency_up follows the api's periodic check of PostgreSQL and
 * Redis: 1 while each answers, 0 once one fails or hangs past the readiness
 * timeout, 1 again when it is back, and the check stops with the process.
 */
const logger = createLogger(loadConfig({ LOG_LEVEL: 'silent' }), 'test');
let life: Lifecycle | undefined;
afterEach(async () => {
  await life?.close();
  life = undefined;
});

async function up(): Promise<Record<string, number>> {
  return Object.fromEntries((await dependencyUp.get()).values.map((v) => [v.labels.dependency, v.value]));
}

test('both are up against the real PostgreSQL and Redis', async () => {
  life = new Lifecycle(logger);
  const orm = await openOrm({ url: TEST_DATABASE_URL, poolMax: 1 });
  life.add('postgres', () => orm.close());
  const redis = producerConnection(TEST_REDIS_URL);
  life.add('redis', () => redis.quit());
  dependencyUp.reset();
  watchDependencies({ orm, redis }, logger, life, 100);
  await waitFor(async () => JSON.stringify(await up()) === JSON.stringify({ postgres: 1, redis: 1 }), 5000, 'both up');
});

test('a failing PostgreSQL and a hung Redis read 0, and 1 again once they answer', async () => {
  life = new Lifecycle(logger);
  let postgres: 'fail' | 'ok' = 'fail';
  let redisHangs = true;
  const orm = { em: { getConnection: () => ({ execute: async () => (postgres === 'ok' ? [{}] : Promise.reject(new Error('connection refused'))) }) } };
  const redis = { ping: () => (redisHangs ? new Promise(() => undefined) : Promise.resolve('PONG')) };
  dependencyUp.reset();
  const started = Date.now();
  watchDependencies({ orm: orm as unknown as Orm, redis: redis as unknown as Redis }, logger, life, 100);
  await waitFor(async () => (await up()).postgres === 0 && (await up()).redis === 0, READY_CHECK_TIMEOUT_MS + 2000, 'both down');
  // a hung ping is down once the readiness timeout has run out, not before
  expect(Date.now() - started).toBeGreaterThanOrEqual(READY_CHECK_TIMEOUT_MS - 50);

  postgres = 'ok';
  redisHangs = false;
  await waitFor(async () => JSON.stringify(await up()) === JSON.stringify({ postgres: 1, redis: 1 }), READY_CHECK_TIMEOUT_MS + 2000, 'both up again');

  // stopped with the process: its releaser waits for the check in flight (hung on Redis here), and none runs after it
  redisHangs = true;
  await new Promise((resolve) => setTimeout(resolve, 250));
  await life.close();
  life = undefined;
  expect(await up()).toEqual({ postgres: 1, redis: 0 });
  postgres = 'fail';
  redisHangs = false;
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(await up()).toEqual({ postgres: 1, redis: 0 });
});
