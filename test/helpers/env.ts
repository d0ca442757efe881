import pg from 'pg';

/** Where the tests find PostgreSQL and Redis (the machine's own, never mocks). */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_JWT_SECRET = 'herald-test-secret-0123456789abcdef';

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
