import pg from 'pg';
import { DEV_DATA_KEYS } from '../../src/config.js';

/** Where the tests find PostgreSQL and Redis (the machine's own, never mocks). */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_JWT_SECRET = 'herald-test-secret-0123456789abcdef';
/** The data keys every test process uses, given explicitly so NODE_ENV=production processes start: the development key, which the test runner's own process falls back to. */
export const TEST_DATA_KEYS = DEV_DATA_KEYS;

/** Runs `sql` on the test server's `postgres` database (creating and dropping databases of a test's own) and returns its rows. */
export async function onPostgres(sql: string): Promise<Array<Record<string, unknown>>> {
  const admin = new URL(TEST_DATABASE_URL);
  admin.pathname = '/postgres';
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}
