import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { producerConnection, whenReady, workerConnection } from '../../queues/connection.js';
import { createProducers } from '../../queues/producers.js';
import { createApp } from '../../src/api/app.js';
import type { ApiDeps } from '../../src/api/env.js';
import { createVerifier, signToken, type TokenClaims } from '../../src/auth/jwt.js';
import { loadConfig, type Config } from '../../src/config.js';
import { openOrm, type Orm } from '../../src/db/orm.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { createLogger } from '../../src/logger.js';
import { createIngestWorker } from '../../workers/ingest-worker.js';
import { TEST_DATA_KEYS, TEST_DATABASE_URL, TEST_JWT_SECRET, TEST_REDIS_URL } from './env.js';

export const uniq = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

export interface Harness {
  config: Config;
  deps: ApiDeps;
  orm: Orm;
  redis: Redis;
  app: ReturnType<typeof createApp>;
  tenant: string;
  prefix: string;
  life: Lifecycle;
  /** a token in this harness's tenant */
  token(claims: Partial<TokenClaims> & { sub: string }): Promise<string>;
  /** a service token with notify:send */
  serviceToken(extraScope?: string): Promise<string>;
  /** JSON request against the app (no server) */
  request(method: string, path: string, opts?: { token?: string; body?: unknown; raw?: string }): Promise<{ status: number; body: any; headers: Headers }>;
  /** `orderWaitMs`: how long its batches' frames wait for the tenant's earlier ones (WS_REORDER_WAIT_MS) */
  startIngest(opts?: { concurrency?: number; orderWaitMs?: number }): Promise<Worker>;
  close(): Promise<void>;
}

/**
 * One test file's world: its own tenant and queue prefix on the real
 * PostgreSQL and Redis, so files run side by side without meeting.
 */
export async function createHarness(env: Record<string, string> = {}): Promise<Harness> {
  const tenant = uniq('tenant');
  const prefix = uniq('test');
  const config = loadConfig({
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    JWT_SECRET: TEST_JWT_SECRET,
    HERALD_DATA_KEYS: TEST_DATA_KEYS,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    NODE_ENV: 'test',
    ...env,
  });
  const logger = createLogger(config, 'test');
  const life = new Lifecycle(logger);
  const orm = await openOrm({ url: config.DATABASE_URL, poolMax: 5 });
  life.add('orm', () => orm.close());
  const redis = producerConnection(config.REDIS_URL);
  redis.on('error', () => undefined);
  await whenReady(redis);
  life.add('redis', () => redis.quit());
  const producers = createProducers(redis, prefix);
  life.add('queues', async () => {
    await producers.ingest.obliterate({ force: true }).catch(() => undefined);
    await producers.close();
  });
  const deps: ApiDeps = {
    config,
    logger,
    orm,
    redis,
    queues: producers,
    verifier: createVerifier({ secret: TEST_JWT_SECRET }),
  };
  const app = createApp(deps);

  const token = (claims: Partial<TokenClaims> & { sub: string }) => signToken(TEST_JWT_SECRET, { tenant, ...claims });

  return {
    config,
    deps,
    orm,
    redis,
    app,
    tenant,
    prefix,
    life,
    token,
    serviceToken: (extra = '') => token({ sub: uniq('svc'), scope: `notify:send ${extra}`.trim() }),
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = {};
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await app.request(path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async startIngest(opts = {}) {
      const connection = workerConnection(config.REDIS_URL);
      const publisher = workerConnection(config.REDIS_URL);
      const worker = createIngestWorker({ orm, redis: publisher, prefix, logger, queues: producers, connection, orderWaitMs: opts.orderWaitMs ?? config.WS_REORDER_WAIT_MS }, { concurrency: opts.concurrency ?? 50 });
      life.add('ingest worker', async () => {
        await worker.close();
        await connection.quit();
        await publisher.quit();
      });
      await worker.waitUntilReady();
      return worker;
    },
    async close() {
      await life.close();
    },
  };
}

/** Polls `fn` until it returns a truthy value (or throws after timeoutMs), and returns that value. */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 10_000,
  label = 'condition',
): Promise<Exclude<Awaited<T>, null | undefined | false | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as Exclude<Awaited<T>, null | undefined | false | 0 | ''>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${label}${last ? `: ${(last as Error).message}` : ''}`);
}

/** Serves the harness's api app over HTTP on a free loopback port (closed with the harness) and returns its origin. */
export async function listenApi(h: Harness): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  h.life.add('api server', () => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
