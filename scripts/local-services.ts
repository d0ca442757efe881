/**
 * What `npm start` checks before it starts Herald on one machine: is there a
 * PostgreSQL, and is there a Redis (and is it configured the way BullMQ needs).
 * When DATABASE_URL / REDIS_URL are left unset and nothing answers on their
 * default ports, it runs its own (data under .herald/) so a newcomer gets going.
 */
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { connectRedis } from '../queues/redis-target.js';
import { loadConfig, type Config } from '../src/config.js';
import { openEmbeddedPostgres } from '../src/db/embedded.js';
import type { Lifecycle } from '../src/lifecycle.js';
import type { Logger } from '../src/logger.js';
import { findOnPath, startEmbeddedRedis } from './embedded-redis.js';

export interface LocalServiceDeps {
  config: Config;
  logger: Logger;
  /** the embedded servers register their stop here */
  life: Lifecycle;
  /** the repository root, against which the EMBEDDED_*_DIR settings are resolved */
  root: string;
}

const DEFAULTS = loadConfig({});
const hidePassword = (url: string) => url.replace(/:[^:@/]+@/, ':***@');

/** True when something accepts a TCP connection at host:port within timeoutMs. */
export function tcpAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

export interface RedisCheck {
  ok: boolean;
  /** why not, when !ok */
  error?: string;
  /** advice when Redis answers but is configured against BullMQ's needs */
  warnings: string[];
}

/** Pings REDIS_URL once (no retries) and reads the settings BullMQ depends on. */
export async function checkRedis(url: string, timeoutMs = 2000): Promise<RedisCheck> {
  const redis = connectRedis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    const warnings: string[] = [];
    const policy = await redis.config('GET', 'maxmemory-policy').catch(() => null); // managed Redis may forbid CONFIG
    if (Array.isArray(policy) && policy[1] && policy[1] !== 'noeviction') {
      warnings.push(`Redis maxmemory-policy is ${policy[1]}: BullMQ needs noeviction, or Redis may drop queued jobs under memory pressure.`);
    }
    const aof = await redis.config('GET', 'appendonly').catch(() => null);
    const fsync = await redis.config('GET', 'appendfsync').catch(() => null);
    if (Array.isArray(aof) && aof[1] === 'no') {
      warnings.push('Redis runs without its append-only file (appendonly no): a Redis restart loses every queued notification. Set appendonly yes and appendfsync always.');
    } else if (Array.isArray(fsync) && fsync[1] && fsync[1] !== 'always') {
      warnings.push(`Redis appendfsync is ${fsync[1]}: a Redis crash can lose notifications accepted in the last second or two. appendfsync always keeps every accepted one.`);
    }
    return { ok: true, warnings };
  } catch (err) {
    return { ok: false, error: (err as Error).message, warnings: [] };
  } finally {
    redis.disconnect();
  }
}

/**
 * The Redis `npm start` runs against: REDIS_URL when it answers; when REDIS_URL
 * is unset, nothing answers on 127.0.0.1:6379 and redis-server is on the PATH,
 * one it starts itself (AOF on, noeviction, data in EMBEDDED_REDIS_DIR),
 * stopped by `life` once the roles are down. Otherwise `help` says what to do.
 */
export async function localRedis(deps: LocalServiceDeps): Promise<{ url: string } | { help: string }> {
  const { config, logger, life } = deps;
  const checked = await checkRedis(config.REDIS_URL);
  if (checked.ok) {
    for (const w of checked.warnings) logger.warn(w);
    return { url: config.REDIS_URL };
  }
  const binary = findOnPath('redis-server');
  if (config.REDIS_URL !== DEFAULTS.REDIS_URL || !binary || (await tcpAnswers('127.0.0.1', 6379))) {
    return { help: redisHelp(config.REDIS_URL, checked.error ?? 'no answer') };
  }
  const dataDir = resolve(deps.root, config.EMBEDDED_REDIS_DIR);
  logger.info({ dataDir, binary }, 'nothing answers on localhost:6379 and REDIS_URL is not set: starting an embedded Redis');
  const starting = startEmbeddedRedis({ dataDir, port: 6379, binary, onLog: (line) => logger.debug({ redis: line }) });
  // Registered before it answers, so a Ctrl-C while it loads its data still stops it.
  life.add('embedded Redis', async () => {
    const redis = await starting.catch(() => undefined);
    if (!redis) return;
    await redis.stop();
    logger.info('embedded Redis stopped');
  });
  try {
    const redis = await starting;
    logger.info({ url: redis.url, redisPid: redis.pid, dataDir }, 'embedded Redis started');
    return { url: redis.url };
  } catch (err) {
    return { help: redisHelp(config.REDIS_URL, `the embedded Redis did not start: ${(err as Error).message}`) };
  }
}

/**
 * The PostgreSQL `npm start` runs against: DATABASE_URL; when it is unset and
 * nothing answers on localhost:5432, an embedded one (data in EMBEDDED_PG_DIR),
 * stopped by `life` once everything else is down.
 */
export async function localPostgres(deps: LocalServiceDeps): Promise<string> {
  const { config, logger, life } = deps;
  if (config.DATABASE_URL !== DEFAULTS.DATABASE_URL || (await tcpAnswers('127.0.0.1', 5432))) return config.DATABASE_URL;
  const dataDir = resolve(deps.root, config.EMBEDDED_PG_DIR);
  logger.info({ dataDir }, 'nothing answers on localhost:5432 and DATABASE_URL is not set: starting an embedded PostgreSQL');
  const pg = await openEmbeddedPostgres({ dataDir, port: 5432, onLog: (line) => logger.debug({ postgres: line }) });
  // Registered before it starts, so a Ctrl-C during a slow first start still stops it.
  life.add('embedded PostgreSQL', async () => {
    await pg.stop();
    logger.info('embedded PostgreSQL stopped');
  });
  await pg.start();
  logger.info({ url: hidePassword(pg.url) }, 'embedded PostgreSQL started');
  return pg.url;
}

/** The message `npm start` prints when no Redis answers. */
export function redisHelp(url: string, error: string): string {
  return [
    `Herald needs Redis (its queues and realtime fan-out live there), and nothing answers at ${url} (${error}).`,
    'Start one, then run npm start again. Any of:',
    '  docker run -d --name herald-redis -p 6379:6379 redis:7 redis-server --appendonly yes --appendfsync always --maxmemory-policy noeviction',
    '  docker compose up -d redis          (from this repository)',
    '  sudo apt-get install redis-server   (Debian/Ubuntu)   |   brew install redis && brew services start redis   (macOS)',
    '  or only put redis-server on the PATH and leave REDIS_URL unset: npm start then runs one itself (data in .herald/redis)',
    'Or set REDIS_URL to a Redis you already run.',
  ].join('\n');
}

/** The message `npm start` prints when PostgreSQL cannot be reached or migrated. */
export function postgresHelp(url: string, err: Error): string {
  const shown = hidePassword(url);
  return [
    `Herald could not prepare its database at ${shown}: ${err.message}`,
    'Start PostgreSQL there (or fix DATABASE_URL), then run npm start again. Any of:',
    '  unset DATABASE_URL: with nothing on localhost:5432, npm start runs an embedded PostgreSQL under .herald/',
    '  docker run -d --name herald-postgres -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16',
    '  docker compose up -d postgres        (from this repository; DATABASE_URL=postgres://herald:herald@127.0.0.1:5432/herald)',
  ].join('\n');
}
