/**
 * What `npm start` checks before it starts Herald on one machine: is there a
 * PostgreSQL, and is there a Redis (and is it configured the way BullMQ needs).
 */
import { Socket } from 'node:net';
import { Redis } from 'ioredis';

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
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    const warnings: string[] = [];
    const policy = await redis.config('GET', 'maxmemory-policy').catch(() => null); // managed Redis may forbid CONFIG
    if (Array.isArray(policy) && policy[1] && policy[1] !== 'noeviction') {
      warnings.push(`Redis maxmemory-policy is ${policy[1]}: BullMQ needs noeviction, or Redis may drop queued jobs under memory pressure.`);
    }
    return { ok: true, warnings };
  } catch (err) {
    return { ok: false, error: (err as Error).message, warnings: [] };
  } finally {
    redis.disconnect();
  }
}

/** The message `npm start` prints when no Redis answers. */
export function redisHelp(url: string, error: string): string {
  return [
    `Herald needs Redis (its queues and realtime fan-out live there), and nothing answers at ${url} (${error}).`,
    'Start one, then run npm start again. Any of:',
    '  docker run -d --name herald-redis -p 6379:6379 redis:7 redis-server --appendonly yes --maxmemory-policy noeviction',
    '  docker compose up -d redis          (from this repository)',
    '  sudo apt-get install redis-server   (Debian/Ubuntu)   |   brew install redis && brew services start redis   (macOS)',
    'Or set REDIS_URL to a Redis you already run.',
  ].join('\n');
}

/** The message `npm start` prints when PostgreSQL cannot be reached or migrated. */
export function postgresHelp(url: string, err: Error): string {
  const shown = url.replace(/:[^:@/]+@/, ':***@');
  return [
    `Herald could not prepare its database at ${shown}: ${err.message}`,
    'Start PostgreSQL there (or fix DATABASE_URL), then run npm start again. Any of:',
    '  unset DATABASE_URL: with nothing on localhost:5432, npm start runs an embedded PostgreSQL under .herald/',
    '  docker run -d --name herald-postgres -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16',
    '  docker compose up -d postgres        (from this repository; DATABASE_URL=postgres://herald:herald@127.0.0.1:5432/herald)',
  ].join('\n');
}
