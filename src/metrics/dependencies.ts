import type { Redis } from 'ioredis';
import type { Orm } from '../db/orm.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { checkReadiness, type ReadinessCheck } from '../readiness.js';
import { dependencyUp } from './metrics.js';

/** The dependencies herald_dependency_up reports; pending migrations are a release's state, left to GET /ready. */
export const WATCHED_DEPENDENCIES = ['postgres', 'redis'] as const satisfies readonly ReadinessCheck[];

/**
 * Checks PostgreSQL and Redis the way GET /ready does (each bounded by
 * READY_CHECK_TIMEOUT_MS) every `intervalMs`, the next check starting only
 * once the last has ended, and sets herald_dependency_up from the answers.
 * Checked on a timer rather than per scrape: a scrape must answer at once
 * even when a dependency hangs, and its answer is read from this process's
 * registry live, so the api's view of Redis shows up even while Redis is down
 * (when the other processes' metrics do not). The first check runs at once;
 * a dependency going down or coming back is logged once.
 */
export function watchDependencies(deps: { orm: Orm; redis: Redis }, logger: Logger, life: Lifecycle, intervalMs: number): void {
  const down = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const check = async () => {
    const { checks } = await checkReadiness(deps, undefined, WATCHED_DEPENDENCIES);
    for (const dependency of WATCHED_DEPENDENCIES) {
      const ok = checks[dependency] === 'ok';
      dependencyUp.set({ dependency }, ok ? 1 : 0);
      if (!ok && !down.has(dependency)) logger.warn({ dependency, check: checks[dependency] }, 'dependency unreachable');
      if (ok && down.delete(dependency)) logger.info({ dependency }, 'dependency reachable again');
      if (!ok) down.add(dependency);
    }
  };
  const next = () => {
    if (stopped) return;
    running = check().finally(() => {
      if (!stopped) timer = setTimeout(next, intervalMs).unref();
    });
  };
  next();
  life.add('dependency checks', async () => {
    stopped = true;
    clearTimeout(timer);
    await running; // a check in flight ends before PostgreSQL and Redis are closed
  });
}
