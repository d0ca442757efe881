import { join } from 'node:path';
import type { Lifecycle } from '../../src/lifecycle.js';
import { TEST_DATA_KEYS, TEST_DATABASE_URL, TEST_JWT_SECRET, TEST_REDIS_URL } from './env.js';
import { uniq, type Harness } from './harness.js';
import { ROOT, spawnProcess, type Proc } from './procs.js';

/** Variables set on top of the shared ones; `undefined` leaves a variable unset. */
export type EnvOverrides = Record<string, string | undefined>;

/** Where a test registers what to undo when it ends: a list it runs last-first in afterAll, or a harness's lifecycle. */
export type Cleanups = Array<() => unknown> | Pick<Lifecycle, 'add'>;

export interface RoleOptions {
  /** variables on top of the shared test environment (roleEnv's); `undefined` leaves one unset */
  env?: EnvOverrides;
  /**
   * a harness whose PostgreSQL database, Redis and queue prefix the process
   * shares, so it works the test's own queues (default: the test PostgreSQL
   * and Redis, and a queue prefix of its own)
   */
  harness?: Harness;
  /**
   * a build directory: the process runs the entry's compiled `.js` there with
   * plain node, as the image does (default: the TypeScript entry through tsx,
   * as `npm start` does)
   */
  compiled?: string;
}

/**
 * The environment every Herald process runs with in the tests: the test
 * PostgreSQL and Redis, the test JWT secret, JSON logs at info (the lines the
 * tests wait for and read), and a queue prefix of its own unless `overrides`
 * names one (processes that must meet share one).
 */
export function roleEnv(overrides: EnvOverrides = {}): Record<string, string> {
  const env: EnvOverrides = {
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    JWT_SECRET: TEST_JWT_SECRET,
    HERALD_DATA_KEYS: TEST_DATA_KEYS,
    QUEUE_PREFIX: uniq('test-role'),
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/**
 * Runs a Herald process entry (`src/api/server.ts`, `workers/ingest.ts`,
 * `src/realtime/server.ts`, `scripts/start.ts`, …) with the shared test
 * environment, collecting what it writes, and registers its SIGKILL with
 * `cleanups` so that nothing it started outlives the test.
 */
export function spawnRole(entry: string, options: RoleOptions, cleanups: Cleanups): Proc {
  const { harness: h } = options;
  const env = roleEnv({ ...(h && { DATABASE_URL: h.config.DATABASE_URL, REDIS_URL: h.config.REDIS_URL, QUEUE_PREFIX: h.prefix }), ...options.env });
  const args = options.compiled ? [join(options.compiled, entry.replace(/\.ts$/, '.js'))] : ['--import', 'tsx', join(ROOT, entry)];
  const proc = spawnProcess(process.execPath, args, env);
  const stop = () => proc.stop('SIGKILL');
  if (Array.isArray(cleanups)) cleanups.push(stop);
  else cleanups.add(`${entry} process`, stop);
  return proc;
}

/**
 * The three roles a page needs, as separate processes sharing `env` (which
 * must name QUEUE_PREFIX, PORT and WS_PORT): the api, the ingest worker and
 * the realtime node, each waited for until it serves.
 */
export async function startServingRoles(env: EnvOverrides, cleanups: Cleanups): Promise<{ api: Proc; ingest: Proc; realtime: Proc }> {
  const [api, ingest, realtime] = ['src/api/server.ts', 'workers/ingest.ts', 'src/realtime/server.ts'].map((entry) => spawnRole(entry, { env }, cleanups));
  await Promise.all([
    api.waitForLog((l) => l.msg === 'api listening', 60_000, 'the api to listen'),
    ingest.waitForLog((l) => l.msg === 'ingest worker started', 60_000, 'the ingest worker to start'),
    realtime.waitForLog((l) => l.msg === 'realtime node listening', 60_000, 'the realtime node to listen'),
  ]);
  return { api, ingest, realtime };
}
