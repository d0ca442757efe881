import calculateSlot from 'cluster-key-slot';
import { EXTERNAL_CHANNELS, type ExternalChannel } from './jobs.js';
import { QUEUE } from './names.js';
import { isClusterUrl } from './redis-target.js';

/** The queues that can be split into shards: ingest and each external channel's delivery queue. */
export type ShardedQueue = 'ingest' | ExternalChannel;
export const SHARDED_QUEUES: readonly ShardedQueue[] = ['ingest', ...EXTERNAL_CHANNELS];

/**
 * How a deployment's queues are laid out in Redis: how many shards each
 * sharded queue has, and whether Redis is a Cluster.
 *
 * BullMQ keeps a queue's keys under `<prefix>:<name>:…`, and its scripts
 * touch several of them at once, so on a Cluster they must share a hash
 * slot: each queue name there is a hash tag, `{…}`. A tag is picked so the
 * shards of one queue land in different slices of the slot space (shard i
 * of n in the i-th n-th of it): a cluster whose primaries split the slots
 * evenly, as `redis-cli --cluster create` does, puts each shard on a
 * different primary, and queue throughput grows with the primaries.
 *
 * On one Redis (or Sentinel) the first shard keeps the queue's plain name,
 * so a deployment that never shards has the queue names it always had.
 *
 * WARNING: the names depend on the shard counts. Jobs waiting in a shard
 * that a new count no longer has stay there: drain the queue (stop the api
 * and let the workers finish) before changing `*_SHARDS`.
 */
export interface QueueLayout {
  cluster: boolean;
  shards: Record<ShardedQueue, number>;
}

export const SINGLE_LAYOUT: QueueLayout = { cluster: false, shards: Object.fromEntries(SHARDED_QUEUES.map((q) => [q, 1])) as Record<ShardedQueue, number> };

/** The layout from the configuration's `*_SHARDS` and REDIS_URL. */
export function layoutOf(config: {
  REDIS_URL: string;
  INGEST_SHARDS: number;
  EMAIL_SHARDS: number;
  SMS_SHARDS: number;
  WECHAT_SHARDS: number;
  FEISHU_SHARDS: number;
  PUSH_SHARDS: number;
  WEBHOOK_SHARDS: number;
}): QueueLayout {
  return {
    cluster: isClusterUrl(config.REDIS_URL),
    shards: {
      ingest: config.INGEST_SHARDS,
      email: config.EMAIL_SHARDS,
      sms: config.SMS_SHARDS,
      wechat: config.WECHAT_SHARDS,
      feishu: config.FEISHU_SHARDS,
      push: config.PUSH_SHARDS,
      webhook: config.WEBHOOK_SHARDS,
    },
  };
}

const SLOTS = 16384;

/** The hash tag of shard `i` of `n`: the first of `base-i`, `base-i.1`, … whose slot lies in the i-th n-th of the slots. */
function shardTag(base: string, i: number, n: number): string {
  const plain = i === 0 ? base : `${base}-${i}`;
  if (n === 1) return plain;
  const from = Math.floor((i * SLOTS) / n);
  const to = Math.floor(((i + 1) * SLOTS) / n);
  for (let k = 0; ; k++) {
    const tag = k === 0 ? plain : `${plain}.${k}`;
    const slot = calculateSlot(tag);
    if (slot >= from && slot < to) return tag;
  }
}

/** The BullMQ names of a sharded queue's shards, shard 0 first. */
export function shardNames(layout: QueueLayout, queue: ShardedQueue): string[] {
  return shardedQueueNames(queue === 'ingest' ? QUEUE.ingest : QUEUE[queue], layout.shards[queue], layout.cluster);
}

/** The names of `n` shards of a queue named `base` (shard 0 first), hash-tagged on a cluster. */
export function shardedQueueNames(base: string, n: number, cluster: boolean): string[] {
  return Array.from({ length: n }, (_, i) => {
    if (!cluster) return i === 0 ? base : `${base}-${i}`;
    return `{${shardTag(base, i, n)}}`;
  });
}

/** The BullMQ name of the recurring-schedules queue (never sharded: a scheduler's jobs are few). */
export const recurringName = (layout: QueueLayout): string => (layout.cluster ? `{${QUEUE.recurring}}` : QUEUE.recurring);

/** The BullMQ name of the digest queue (never sharded: one job per digest window, each a few statements). */
export const digestName = (layout: QueueLayout): string => (layout.cluster ? `{${QUEUE.digest}}` : QUEUE.digest);

/** Every queue name of the layout. */
export function allQueueNames(layout: QueueLayout): string[] {
  return [...SHARDED_QUEUES.flatMap((q) => shardNames(layout, q)), recurringName(layout), digestName(layout)];
}

/**
 * The shard of a tenant's recipient (a user id or audience key, or an
 * address): FNV-1a, stable across processes and releases, so one user's
 * notifications always take the same shard and keep their order.
 */
export function shardOf(tenant: string, recipient: string, n: number): number {
  if (n === 1) return 0;
  let h = 0x811c9dc5;
  const s = `${tenant}\u001f${recipient}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % n;
}

/** The shards a worker consumes: WORKER_SHARDS (e.g. "0,2") or every one; a number past the count is refused. */
export function consumedShards(names: string[], list: string | undefined): string[] {
  if (!list) return names;
  const picked = [...new Set(list.split(',').map(Number))];
  const bad = picked.filter((i) => i >= names.length);
  if (bad.length) throw new Error(`WORKER_SHARDS names shard ${bad.join(', ')}, but the queue has ${names.length}`);
  return picked.map((i) => names[i]);
}

/** What is wrong with WORKER_SHARDS for a worker of `queue` (empty when nothing): the process refuses to start on it. */
export function shardProblems(config: Parameters<typeof layoutOf>[0] & { WORKER_SHARDS?: string }, queue: ShardedQueue): string[] {
  try {
    consumedShards(shardNames(layoutOf(config), queue), config.WORKER_SHARDS);
    return [];
  } catch (err) {
    return [`WORKER_SHARDS: ${(err as Error).message}`];
  }
}
