import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import pg from 'pg';
import { migrationsList } from '../../migrations/index.js';
import { entities } from './entities/index.js';
import type { Logger } from '../logger.js';

export type Orm = MikroORM;

export interface DbOptions {
  url: string;
  readUrls?: string[];
  poolMax?: number;
  logger?: Logger;
}

export function ormOptions(opts: DbOptions): Options {
  return {
    clientUrl: opts.url,
    entities,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: false },
    pool: { min: 0, max: opts.poolMax ?? 10 },
    replicas: (opts.readUrls ?? []).map((url) => ({ name: new URL(url).host, clientUrl: url })),
    migrations: {
      tableName: 'herald_migrations',
      migrationsList,
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
    },
    debug: false,
    allowGlobalContext: false,
  };
}

/** Creates the database named in the URL when it does not exist yet. */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) {
      try {
        await client.query(`create database "${name.replace(/"/g, '""')}"`);
      } catch (err) {
        // another process created it at the same moment
        if ((err as { code?: string }).code !== '42P04') throw err;
      }
    }
  } finally {
    await client.end();
  }
}

/**
 * Opens the ORM (no schema changes). Connections are made on first use, so a
 * worker started while PostgreSQL is down runs, retries its jobs with
 * backoff, and works once the database is back instead of exiting.
 */
export function openOrm(opts: DbOptions): Promise<Orm> {
  return MikroORM.init({ ...ormOptions(opts), connect: false });
}

/**
 * Creates the database if missing and runs pending migrations. Concurrent
 * starters are serialised by an advisory lock so only one migrates.
 */
export async function migrate(opts: DbOptions): Promise<void> {
  await ensureDatabase(opts.url);
  const orm = await MikroORM.init({ ...ormOptions(opts), pool: { min: 0, max: 2 } });
  try {
    const conn = orm.em.getConnection();
    const knex = conn.getKnex();
    const lock = await knex.client.acquireConnection();
    try {
      await lock.query('select pg_advisory_lock(727001)');
      const pending = await orm.getMigrator().getPendingMigrations();
      if (pending.length) {
        opts.logger?.info({ migrations: pending.map((m) => m.name) }, 'running migrations');
        await orm.getMigrator().up();
      }
    } finally {
      await lock.query('select pg_advisory_unlock(727001)');
      await knex.client.releaseConnection(lock);
    }
  } finally {
    await orm.close(true);
  }
}

/** True when every known migration has run (used by /ready). */
export async function migrationsCurrent(orm: Orm): Promise<boolean> {
  return (await orm.getMigrator().getPendingMigrations()).length === 0;
}
