import { Redis } from 'ioredis';
import { migrate } from '../src/db/orm.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './helpers/env.js';

/** Once per run: the test database exists and is migrated, Redis answers. */
export default async function setup(): Promise<void> {
  await migrate({ url: TEST_DATABASE_URL });
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  await redis.ping();
  await redis.quit();
}
