import { Hono } from 'hono';
import { checkReadiness } from '../../readiness.js';
import type { ApiDeps, ApiEnv } from '../env.js';

/** Liveness and readiness; no token needed. */
export function healthRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const alive = (c: import('hono').Context) => c.json({ status: 'ok', service: 'herald-api', time: new Date().toISOString() });
  app.get('/health', alive);
  app.get('/api/v1/health', alive);
  // 503 as problem+json naming what is down, so a load balancer drains this
  // instance and an operator reading the answer knows where to look.
  app.get('/ready', async (c) => {
    const { ok, checks } = await checkReadiness(deps);
    if (ok) return c.json({ status: 'ready', checks });
    const down = Object.entries(checks).filter(([, v]) => v !== 'ok').map(([k]) => k);
    return c.body(
      JSON.stringify({
        type: 'https://herald.dev/problems/not-ready',
        title: 'Service Unavailable',
        status: 503,
        detail: `Not ready: ${down.join(', ')} ${down.length > 1 ? 'are' : 'is'} down.`,
        down,
        checks,
      }),
      503,
      { 'content-type': 'application/problem+json', 'retry-after': '5' },
    );
  });
  return app;
}
