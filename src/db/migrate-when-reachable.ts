import type { Lifecycle } from '../lifecycle.js';
import { migrate, type DbOptions } from './orm.js';

/** PostgreSQL could not be reached (as opposed to a migration that failed). */
const isUnreachable = (err: unknown) =>
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN|57P0[123])$/.test(String((err as { code?: unknown }).code ?? '')) ||
  /Connection terminated|timeout exceeded when trying to connect/i.test((err as Error).message ?? '');

/**
 * Runs the migrations before the api serves, as usual. When PostgreSQL cannot
 * be reached, the api starts anyway (a send is accepted into Redis without touching PostgreSQL)
 * and keeps trying every `retryMs` in the background; until it succeeds,
 * /ready reports the database and the migrations as down. A migration that
 * fails for any other reason still stops the process.
 */
export async function migrateWhenReachable(opts: DbOptions & { retryMs?: number }, life: Lifecycle): Promise<'migrated' | 'retrying'> {
  try {
    await migrate(opts);
    return 'migrated';
  } catch (err) {
    if (!isUnreachable(err)) throw err;
    opts.logger?.warn({ err: (err as Error).message }, 'PostgreSQL is unreachable: serving sends meanwhile, migrations will run when it answers');
  }
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  life.add('migration retries', () => {
    stopped = true;
    clearTimeout(timer);
  });
  const retry = async (): Promise<void> => {
    if (stopped) return;
    try {
      await migrate(opts);
      opts.logger?.info('PostgreSQL answered: migrations are current');
    } catch (err) {
      if (!isUnreachable(err)) opts.logger?.error({ err }, 'migrations failed; retrying');
      timer = setTimeout(() => void retry(), opts.retryMs ?? 2000);
      timer.unref();
    }
  };
  timer = setTimeout(() => void retry(), opts.retryMs ?? 2000);
  timer.unref();
  return 'retrying';
}
