import type { Redis } from 'ioredis';
import { pendingMigrations, type Orm } from './db/orm.js';

/** How long one readiness check may take before it counts as down (a hung database must not hang /ready). */
export const READY_CHECK_TIMEOUT_MS = 2000;

export interface Readiness {
  ok: boolean;
  /** 'ok' or 'down: <why>' per dependency */
  checks: Record<string, string>;
}

function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** What GET /ready checks, each on its own. */
export const READINESS_CHECKS = ['postgres', 'migrations', 'redis'] as const;
export type ReadinessCheck = (typeof READINESS_CHECKS)[number];

/**
 * Whether this process can do its work: PostgreSQL answers, every migration
 * this code knows has run (a new release against an old schema is not
 * ready), and Redis answers. Used by the api's and the realtime node's GET /ready,
 * and (`only` postgres and redis) by the api's periodic dependency check (src/metrics/dependencies.ts).
 */
export async function checkReadiness(
  deps: { orm: Orm; redis: Redis },
  timeoutMs = READY_CHECK_TIMEOUT_MS,
  only: readonly ReadinessCheck[] = READINESS_CHECKS,
): Promise<Readiness> {
  const checks: Record<string, string> = {};
  const run = async (name: ReadinessCheck, check: () => Promise<string>) => {
    if (!only.includes(name)) return;
    try {
      checks[name] = await bounded(check(), timeoutMs);
    } catch (err) {
      checks[name] = `down: ${(err as Error).message}`;
    }
  };
  await Promise.all([
    run('postgres', async () => {
      await deps.orm.em.getConnection().execute('select 1');
      return 'ok';
    }),
    run('migrations', async () => {
      // read only: the migrator's own listing creates what it finds missing (see pendingMigrations)
      const pending = await pendingMigrations(deps.orm);
      return pending.length ? `down: pending ${pending.join(', ')}` : 'ok';
    }),
    run('redis', async () => {
      await deps.redis.ping();
      return 'ok';
    }),
  ]);
  return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
}
