import { Hono } from 'hono';
import type { ApiDeps, ApiEnv } from '../env.js';

/** Liveness and readiness; no token needed. */
export function healthRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const alive = (c: import('hono').Context) => c.json({ status: 'ok', service: 'herald-api', time: new Date().toISOString() });
  app.get('/health', alive);
  app.get('/api/v1/health', alive);
  app.get('/ready', async (c) => {
    const checks: Record<string, string> = {};
    await Promise.all([
      deps.orm.em
        .getConnection()
        .execute('select 1')
        .then(() => (checks.postgres = 'ok'))
        .catch((err: Error) => (checks.postgres = `down: ${err.message}`)),
      deps.redis
        .ping()
        .then(() => (checks.redis = 'ok'))
        .catch((err: Error) => (checks.redis = `down: ${err.message}`)),
    ]);
    const ok = Object.values(checks).every((v) => v === 'ok');
    return c.json({ status: ok ? 'ready' : 'unavailable', checks }, ok ? 200 : 503);
  });
  return app;
}
