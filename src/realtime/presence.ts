import type { Redis } from 'ioredis';

/**
 * Live WebSocket connection counts, cluster-wide. Each realtime node reports
 * its own count every few seconds with a deadline; readers sum the nodes
 * whose deadline has not passed, so a crashed node drops out by itself.
 */
// one hash tag: they are written in one transaction, which a Redis Cluster allows within a slot only
const nodesKey = (prefix: string) => `${prefix}:{ws}:nodes`;
const countsKey = (prefix: string) => `${prefix}:{ws}:counts`;

export async function reportConnections(redis: Redis, prefix: string, nodeId: string, count: number, ttlMs = 15_000): Promise<void> {
  await redis
    .multi()
    .zadd(nodesKey(prefix), Date.now() + ttlMs, nodeId)
    .hset(countsKey(prefix), nodeId, count)
    .exec();
}

export async function forgetNode(redis: Redis, prefix: string, nodeId: string): Promise<void> {
  await redis.multi().zrem(nodesKey(prefix), nodeId).hdel(countsKey(prefix), nodeId).exec();
}

/** The ids of the nodes whose presence has not expired. */
export const liveNodes = (redis: Redis, prefix: string, now = Date.now()): Promise<string[]> => redis.zrangebyscore(nodesKey(prefix), now, '+inf');

export async function clusterConnections(redis: Redis, prefix: string): Promise<number> {
  const alive = await liveNodes(redis, prefix);
  if (!alive.length) return 0;
  const counts = await redis.hmget(countsKey(prefix), ...alive);
  return counts.reduce((sum, c) => sum + Number(c ?? 0), 0);
}

/**
 * Housekeeping (the scheduler process runs it): nodes whose deadline passed
 * more than `graceMs` ago crashed without forgetting themselves; their
 * entries no longer count but would stay in Redis forever. A node that was
 * only stalled adds itself back at its next report.
 */
export async function forgetDeadNodes(redis: Redis, prefix: string, graceMs = 3600_000, now = Date.now()): Promise<string[]> {
  const dead = await redis.zrangebyscore(nodesKey(prefix), '-inf', now - graceMs);
  if (dead.length) await redis.multi().zrem(nodesKey(prefix), ...dead).hdel(countsKey(prefix), ...dead).exec();
  return dead;
}
