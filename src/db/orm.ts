import { Socket } from 'node:net';
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

/** Where MikroORM records which migrations have run. */
const MIGRATIONS_TABLE = 'herald_migrations';

export function ormOptions(opts: DbOptions): Options {
  return {
    clientUrl: opts.url,
    entities,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: false },
    pool: { min: 0, max: opts.poolMax ?? 10 },
    replicas: (opts.readUrls ?? []).map((url) => ({ name: new URL(url).host, clientUrl: url })),
    migrations: {
      tableName: MIGRATIONS_TABLE,
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

/**
 * Creates the database named in the URL when it does not exist yet.
 * `stream` makes the sockets (migrate passes one that it can destroy).
 */
export async function ensureDatabase(url: string, stream?: () => Socket): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), stream });
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

export interface MigrateOptions extends DbOptions {
  /**
   * Abandons the attempt while it is still connecting, creating the database,
   * waiting for the migration lock or listing what is pending (default: never).
   * Every connection the attempt opened is destroyed, so a server that accepted
   * but never answers holds nothing, and the promise rejects with the signal's
   * reason. Once migrations run the signal is ignored: a migration cut short
   * halfway is worse than a slow one.
   */
  signal?: AbortSignal;
}

/**
 * Sockets for every connection of one migration attempt, so that abandoning
 * it closes them all: pg's own connect and query have no deadline, and a
 * pool cannot be closed while a connection in it waits for an answer.
 */
function attemptSockets() {
  const open = new Set<Socket>();
  return {
    stream: () => {
      const socket = new Socket();
      open.add(socket);
      socket.once('close', () => open.delete(socket));
      return socket;
    },
    destroyAll: () => {
      for (const socket of open) socket.destroy();
    },
  };
}

/**
 * Creates the database if missing and runs pending migrations. Concurrent
 * starters are serialised by an advisory lock so only one migrates.
 */
export function migrate(opts: MigrateOptions): Promise<void> {
  const { signal } = opts;
  if (!signal) return runMigrations(opts, undefined, () => undefined);
  return new Promise<void>((resolve, reject) => {
    signal.throwIfAborted();
    const sockets = attemptSockets();
    // The attempt then unwinds on its own (its connections fail) and closes its ORM.
    const abandon = () => {
      sockets.destroyAll();
      reject(signal.reason);
    };
    const keep = () => signal.removeEventListener('abort', abandon);
    signal.addEventListener('abort', abandon, { once: true });
    runMigrations(opts, sockets.stream, keep).then(resolve, reject).finally(keep);
  });
}

async function runMigrations(opts: MigrateOptions, stream: (() => Socket) | undefined, committed: () => void): Promise<void> {
  const stillWanted = () => opts.signal?.throwIfAborted();
  await ensureDatabase(opts.url, stream);
  stillWanted();
  const orm = await MikroORM.init({ ...ormOptions(opts), pool: { min: 0, max: 2 }, ...(stream && { driverOptions: { connection: { stream } } }) });
  try {
    stillWanted();
    const knex = orm.em.getConnection().getKnex();
    const lock = await knex.client.acquireConnection();
    try {
      await lock.query('select pg_advisory_lock(727001)');
      stillWanted();
      const pending = await orm.getMigrator().getPendingMigrations();
      stillWanted();
      committed();
      if (pending.length) {
        opts.logger?.info({ migrations: pending.map((m) => m.name) }, 'running migrations');
        await orm.getMigrator().up();
      }
    } finally {
      // On a connection that is gone the server has already released the lock with the session.
      await lock.query('select pg_advisory_unlock(727001)').catch(() => undefined);
      await knex.client.releaseConnection(lock);
    }
  } finally {
    await orm.close(true);
  }
}

/**
 * The known migrations not yet recorded as run, found by reading only.
 * MikroORM's Migrator.getPendingMigrations() first makes sure the database
 * and its table exist: finding the database missing, it points the ORM at the
 * "postgres" database to create it, and when another process creates it in
 * that moment the create fails and the ORM stays there, so every later query
 * of the process goes to the wrong database. A check made while serving must
 * change nothing.
 */
export async function pendingMigrations(orm: Orm): Promise<string[]> {
  const known = migrationsList.map((m) => m.name);
  let rows: Array<{ name: string }>;
  try {
    rows = await orm.em.getConnection().execute(`select name from "${MIGRATIONS_TABLE}"`);
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return known; // no table yet: nothing has run
    throw err;
  }
  // MikroORM records a name without the extension of the file it came from
  const ran = new Set(rows.map((r) => r.name.replace(/\.(js|ts)$/, '')));
  return known.filter((name) => !ran.has(name));
}

/** True when every known migration has run. */
export async function migrationsCurrent(orm: Orm): Promise<boolean> {
  return (await pendingMigrations(orm)).length === 0;
}
