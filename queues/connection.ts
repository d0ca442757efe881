import type { Redis, RedisOptions } from 'ioredis';
import { connectRedis } from './redis-target.js';

/**
 * Redis connections (to one server, through Sentinel or to a Cluster: see redis-target.ts). Producers (the api) fail fast when Redis is away so a
 * request is answered 503 at once instead of hanging; workers wait for Redis
 * forever (BullMQ requires maxRetriesPerRequest: null for blocking calls).
 */
export function producerConnection(url: string, extra: RedisOptions = {}): Redis {
  return connectRedis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...extra,
  });
}

export function workerConnection(url: string, extra: RedisOptions = {}): Redis {
  return connectRedis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...extra,
  });
}

/** Resolves once the connection is ready (or rejects after timeoutMs). */
export async function whenReady(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/**
 * Resolves when the queue's connection is ready, or rejects within
 * `timeoutMs`. BullMQ itself waits without limit for a connection that has
 * never been ready (an api started while Redis was down), so producers call
 * this first and answer 503 at once instead of hanging.
 */
export async function queueReady(queue: { opts: { connection?: unknown } }, timeoutMs = 1000): Promise<void> {
  const conn = queue.opts.connection as Redis | undefined;
  // a Redis or a Cluster (connectRedis): both say 'ready' and emit it
  if (conn && typeof conn.status === 'string' && conn.status !== 'ready') await whenReady(conn, timeoutMs);
}
