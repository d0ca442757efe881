/**
 * bench/ops: what operations cost, each next to a same-run baseline.
 *
 *   npx tsx bench/ops.ts            (N=20000 IN_FLIGHT=64 PROCESSES=20)
 *
 * 1. The rate limiter's GCRA Lua script vs a bare Redis INCR (one round trip
 *    each, same connection, same concurrency).
 * 2. A request through bearerAuth + rateLimit + requestTimeout + accessLog vs
 *    bearerAuth alone, in-process (app.request), on a trivial route.
 * 3. GET /metrics merging PROCESSES pushed registries plus queue depths vs
 *    serialising this process's registry alone.
 */
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { createProducers } from '../queues/producers.js';
import type { ApiEnv } from '../src/api/env.js';
import { accessLog } from '../src/api/middleware/access-log.js';
import { bearerAuth } from '../src/api/middleware/auth.js';
import { rateLimit } from '../src/api/middleware/rate-limit.js';
import { takeToken } from '../src/ratelimit/gcra.js';
import { requestContext } from '../src/api/middleware/request-context.js';
import { requestTimeout } from '../src/api/middleware/timeout.js';
import { createVerifier, signToken } from '../src/auth/jwt.js';
import { createLogger } from '../src/logger.js';
import { collectProcessMetrics, registry } from '../src/metrics/metrics.js';
import { createClusterMetrics } from '../src/metrics/cluster.js';
import { metricsEntryKey, metricsIndexKey } from '../src/metrics/report.js';

const N = Number(process.env.N ?? 20_000);
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 64);
const PROCESSES = Number(process.env.PROCESSES ?? 20);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `herald-bench-ops-${randomBytes(3).toString('hex')}`;

async function rate(label: string, n: number, fn: (i: number) => Promise<unknown>, inFlight = IN_FLIGHT): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  const perSec = n / ((performance.now() - started) / 1000);
  console.log(`  ${label.padEnd(58)} ${Math.round(perSec).toLocaleString('en').padStart(9)} /s`);
  return perSec;
}

async function main() {
  const redis = new Redis(REDIS_URL);
  const logger = createLogger({ LOG_LEVEL: 'info', PRETTY_LOGS: false }, 'bench');
  console.log(`bench/ops  N=${N} in flight=${IN_FLIGHT}`);

  console.log('\n1. rate limiter (one Redis round trip per request)');
  const incr = await rate('baseline: bare INCR', N, (i) => redis.incr(`${prefix}:incr:${i % 1000}`));
  const gcra = await rate('GCRA script (takeToken), 1000 subjects', N, (i) => takeToken(redis, `${prefix}:rl:${i % 1000}`, 1_000_000));
  console.log(`  ratio GCRA / INCR: ${(gcra / incr).toFixed(2)}`);

  console.log('\n2. HTTP middleware, in-process app.request on a trivial route');
  const verifier = createVerifier({ secret: 'bench-secret-0123456789abcdef' });
  const token = await signToken('bench-secret-0123456789abcdef', { sub: 'svc', scope: 'notify:send' });
  const build = (ops: boolean, limiter = ops) => {
    const app = new Hono<ApiEnv>();
    app.use('*', requestContext(logger));
    if (ops) app.use('*', accessLog(), requestTimeout(30_000));
    app.use('*', bearerAuth(verifier));
    if (limiter) app.use('*', rateLimit({ redis, prefix, limits: { user: 1_000_000, service: 1_000_000, scopes: new Map() } }));
    app.get('/ping', (c) => c.json({ ok: true }));
    return app;
  };
  const headers = { authorization: `Bearer ${token}` };
  const bare = build(false);
  const full = build(true);
  // warm up every path first so JIT compilation is not billed to whichever runs first
  for (const app of [bare, build(true, false), full]) await rate('(warm-up)', 2000, async () => app.request('/ping', { headers }));
  const base = await rate('baseline: requestContext + bearerAuth', N, async () => bare.request('/ping', { headers }));
  const local = build(true, false);
  const noRedis = await rate('+ accessLog + requestTimeout', N, async () => local.request('/ping', { headers }));
  const ops = await rate('+ accessLog + requestTimeout + rateLimit (Redis)', N, async () => full.request('/ping', { headers }));
  console.log(`  ratio without the limiter / baseline: ${(noRedis / base).toFixed(2)}`);
  console.log(`  ratio with ops middleware / baseline: ${(ops / base).toFixed(2)}`);

  console.log(`\n3. GET /metrics with ${PROCESSES} pushed processes + queue depths`);
  collectProcessMetrics('bench');
  const json = JSON.stringify(await registry.getMetricsAsJSON());
  const multi = redis.multi();
  for (let p = 0; p < PROCESSES; p++) {
    const label = `bench-host:${p}`;
    multi.set(metricsEntryKey(prefix, label), json.replaceAll('"role":"bench"', `"role":"bench","process":"${label}"`), 'PX', 60_000);
    multi.zadd(metricsIndexKey(prefix), Date.now() + 60_000, label);
  }
  await multi.exec();
  const queues = createProducers(redis, prefix);
  const cluster = createClusterMetrics({ redis, prefix, logger, queues });
  const SCRAPES = 200;
  const own = await rate('baseline: this registry alone (registry.metrics())', SCRAPES, () => registry.metrics(), 1);
  const merged = await rate(`merged: ${PROCESSES} processes + queue depths`, SCRAPES, () => cluster(), 1);
  console.log(`  ratio merged / own: ${(merged / own).toFixed(3)}   (scrape takes ${(1000 / merged).toFixed(1)} ms)`);

  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await queues.close();
  await redis.quit();
}

await main();
process.exit(0);
