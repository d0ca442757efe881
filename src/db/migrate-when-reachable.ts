import type { Lifecycle } from '../lifecycle.js';
import { migrate, type DbOptions } from './orm.js';

/** PostgreSQL could not be reached (as opposed to a migration that failed). */
const isUnreachable = (err: unknown) =>
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN|57P0[123])$/.test(String((err as { code?: unknown }).code ?? '')) ||
  /Connection terminated|timeout exceeded when trying to connect/i.test((err as Error).message ?? '');

export interface MigrateWhenReachableOptions extends DbOptions {
  /** Pause between two attempts while PostgreSQL cannot be reached (default 2000 ms). */
  retryMs?: number;
  /**
   * How long one attempt may take to connect, create the database, get the
   * migration lock and list what is pending (default 15000 ms; the migrations
   * themselves are not bounded). Past it the attempt is abandoned, its
   * connections are closed and it counts as PostgreSQL not answering: a
   * connect or query that never settles (a server that accepted while it was
   * coming up, a half-open connection) would otherwise stop every later try.
   */
  attemptTimeoutMs?: number;
}

/** One attempt, abandoned past `timeoutMs` with an error that says so. */
function attempt(opts: DbOptions, timeoutMs: number, stop: AbortSignal): Promise<void> {
  const timedOut = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([stop, timedOut]);
  return migrate({ ...opts, signal }).catch((err) => {
    if (!timedOut.aborted) throw err;
    throw Object.assign(new Error(`PostgreSQL gave no answer within ${timeoutMs} ms (connecting, creating the database, taking the migration lock or listing pending migrations); the attempt was abandoned and its connections closed`), { code: 'ETIMEDOUT' });
  });
}

/**
 * Runs the migrations before the api serves, as usual. When PostgreSQL cannot
 * be reached, the api starts anyway (a send is accepted into Redis without touching PostgreSQL)
 * and keeps trying every `retryMs` in the background; until it succeeds,
 * /ready reports the database and the migrations as down. A migration that
 * fails for any other reason still stops the process.
 */
export async function migrateWhenReachable(opts: MigrateWhenReachableOptions, life: Lifecycle): Promise<'migrated' | 'retrying'> {
  const { retryMs = 2000, attemptTimeoutMs = 15_000, ...db } = opts;
  const stop = new AbortController();
  try {
    await attempt(db, attemptTimeoutMs, stop.signal);
    return 'migrated';
  } catch (err) {
    if (!isUnreachable(err)) throw err;
    opts.logger?.warn({ err: (err as Error).message }, 'PostgreSQL is unreachable: serving sends meanwhile, migrations will run when it answers');
  }
  let timer: NodeJS.Timeout | undefined;
  life.add('migration retries', () => {
    stop.abort(new Error('shutting down'));
    clearTimeout(timer);
  });
  const later = () => {
    timer = setTimeout(() => void retry(), retryMs);
    timer.unref();
  };
  let attempts = 1;
  const retry = async (): Promise<void> => {
    if (stop.signal.aborted) return;
    attempts += 1;
    try {
      await attempt(db, attemptTimeoutMs, stop.signal);
      opts.logger?.info({ attempts }, 'PostgreSQL answered: migrations are current');
    } catch (err) {
      if (stop.signal.aborted) return;
      // every failed attempt says why, so an api that stays unready can be explained from its log
      const why = { attempt: attempts, retryInMs: retryMs, err: isUnreachable(err) ? (err as Error).message : err };
      if (isUnreachable(err)) opts.logger?.warn(why, 'migration attempt failed: PostgreSQL is unreachable');
      else opts.logger?.error(why, 'migrations failed; retrying');
      later();
    }
  };
  later();
  return 'retrying';
}
