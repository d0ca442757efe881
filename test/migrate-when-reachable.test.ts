/**
 * The api migrating while PostgreSQL comes and goes, against the test
 * PostgreSQL and Redis, each test in a database of its own that does not
 * exist yet: a readiness check meanwhile only reads, and a migration attempt
 * that gets no answer is abandoned, its connections closed, and retried.
 */
import { createServer, connect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { migrateWhenReachable } from '../src/db/migrate-when-reachable.js';
import { ensureDatabase, migrate, openOrm, pendingMigrations } from '../src/db/orm.js';
import { Lifecycle } from '../src/lifecycle.js';
import { createLogger } from '../src/logger.js';
import { checkReadiness } from '../src/readiness.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, onPostgres } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A database name nobody uses yet, dropped when the file is done; `host` replaces the test PostgreSQL's host:port. */
function freshDatabase(host?: string) {
  const name = uniq('herald_migrate').replace(/-/g, '_');
  cleanups.push(() => onPostgres(`drop database if exists "${name}" with (force)`));
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  if (host) url.host = host;
  return { name, url: url.toString() };
}

const databaseExists = async (name: string) => (await onPostgres(`select 1 from pg_database where datname = '${name}'`)).length === 1;

/**
 * Stands in front of the test PostgreSQL: while stalling it accepts
 * connections and never sends a byte (a server that took the connection and
 * hangs); after `pass()` it forwards new connections to PostgreSQL.
 */
async function stallingGate() {
  const target = new URL(TEST_DATABASE_URL);
  const stalled: Array<{ socket: Socket; closed: boolean }> = [];
  let passing = false;
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    if (!passing) {
      const entry = { socket, closed: false };
      socket.once('close', () => (entry.closed = true));
      socket.resume(); // read (and drop) what the client sends, or its hang-up would go unnoticed
      stalled.push(entry);
      return;
    }
    const upstream = connect(Number(target.port || 5432), target.hostname);
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of stalled) s.socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return {
    host: `127.0.0.1:${(server.address() as { port: number }).port}`,
    stalled,
    pass: () => (passing = true),
  };
}

function capturedLogger() {
  const lines: Array<Record<string, any>> = [];
  const logger = createLogger({ LOG_LEVEL: 'info', PRETTY_LOGS: false }, 'api', { write: (l: string) => void lines.push(JSON.parse(l)) });
  return { logger, lines };
}

describe('readiness while the database is being created', () => {
  test('a readiness check against a database that does not exist yet only reads: it creates nothing', { timeout: 30_000 }, async () => {
    const { name, url } = freshDatabase();
    const orm = await openOrm({ url });
    cleanups.push(() => orm.close(true));
    const redis = new Redis(TEST_REDIS_URL);
    cleanups.push(() => redis.quit());

    const { ok, checks } = await checkReadiness({ orm, redis });
    expect(ok).toBe(false);
    expect(checks.migrations).toMatch(/^down: /);
    expect(await databaseExists(name)).toBe(false);
  });

  test('when the migration creates the database during a readiness check, the api keeps querying its own database and turns ready once migrated', { timeout: 60_000 }, async () => {
    const { name, url } = freshDatabase();
    const orm = await openOrm({ url });
    cleanups.push(() => orm.close(true));
    const redis = new Redis(TEST_REDIS_URL);
    cleanups.push(() => redis.quit());

    const [during] = await Promise.all([checkReadiness({ orm, redis }), ensureDatabase(url)]);
    expect(during.ok).toBe(false);
    const [{ db }] = await orm.em.getConnection().execute<Array<{ db: string }>>('select current_database() as db');
    expect(db).toBe(name);

    await migrate({ url });
    expect(await checkReadiness({ orm, redis })).toEqual({ ok: true, checks: { postgres: 'ok', migrations: 'ok', redis: 'ok' } });
    expect(await pendingMigrations(orm)).toEqual([]);
  });
});

describe('a migration attempt that gets no answer', () => {
  test('is abandoned with its connections closed, logged with its reason, and retried until PostgreSQL answers', { timeout: 60_000 }, async () => {
    const gate = await stallingGate();
    const { name, url } = freshDatabase(gate.host);
    const { logger, lines } = capturedLogger();
    const life = new Lifecycle(logger);
    cleanups.push(() => life.close());

    // The first attempt hangs on the stalled connection: the api must start anyway.
    expect(await migrateWhenReachable({ url, logger, attemptTimeoutMs: 1000, retryMs: 200 }, life)).toBe('retrying');
    const first = lines.find((l) => /PostgreSQL is unreachable/.test(l.msg));
    expect(first?.err).toMatch(/no answer within 1000 ms/);
    // ...and the connection it opened is closed, not left for the server to hold.
    await waitFor(() => gate.stalled[0]?.closed, 5000, 'the abandoned attempt to close its connection');
    const retried = await waitFor(() => lines.find((l) => l.msg === 'migration attempt failed: PostgreSQL is unreachable'), 10_000, 'a retry to fail and say why');
    expect(retried).toMatchObject({ attempt: 2, retryInMs: 200 });
    expect(retried.err).toMatch(/no answer within 1000 ms/);

    gate.pass();
    await waitFor(() => lines.find((l) => l.msg === 'PostgreSQL answered: migrations are current'), 30_000, 'a retry to migrate once PostgreSQL answers');
    expect(gate.stalled.every((s) => s.closed)).toBe(true);
    expect(await databaseExists(name)).toBe(true);
    const orm = await openOrm({ url: url.replace(gate.host, new URL(TEST_DATABASE_URL).host) });
    cleanups.push(() => orm.close(true));
    expect(await pendingMigrations(orm)).toEqual([]);
  });
});
