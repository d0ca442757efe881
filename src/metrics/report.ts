import { hostname } from 'node:os';
import { isMainThread, threadId } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import { producerConnection } from '../../queues/connection.js';
import type { Config } from '../config.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { collectProcessMetrics, registry } from './metrics.js';

/**
 * How the metrics of many processes become one `GET /metrics`:
 *
 * every Herald process (api, ingest, channel workers, scheduler, realtime
 * nodes) pushes `registry.getMetricsAsJSON()` to Redis every
 * METRICS_PUSH_INTERVAL_MS under its own key with a TTL of three intervals,
 * and indexes the key in a sorted set scored by its deadline. The api's
 * `GET /metrics` reads the live entries and merges them with prom-client's
 * AggregatorRegistry (src/metrics/cluster.ts).
 *
 * Why push rather than scrape each process: workers have no HTTP port, a
 * deployment can run any number of each role behind one service name, and
 * Redis is already the one thing every process talks to. A process that dies
 * drops out by itself when its key expires.
 *
 * Every series carries `role` and `process` (host:pid) labels, so series of
 * different processes never collide: counters of a restarted process start a
 * new series instead of making a cluster-wide sum go down (which Prometheus
 * would read as a reset). Sum across processes in PromQL: `sum by (channel) (...)`.
 */

/** This process's label value: unique per host and pid (and thread, for the threads of a realtime process). */
export const PROCESS_LABEL = `${hostname()}:${process.pid}${isMainThread ? '' : `:t${threadId}`}`;

// one hash tag: the index and the entries are written in one transaction and read with one MGET, which a Redis Cluster allows within a slot only
export const metricsIndexKey = (prefix: string) => `${prefix}:{metrics}:processes`;
export const metricsEntryKey = (prefix: string, processLabel: string) => `${prefix}:{metrics}:process:${processLabel}`;

/** Writes this process's registry to Redis once. */
export async function pushMetrics(redis: Redis, prefix: string, ttlMs: number): Promise<void> {
  const json = JSON.stringify(await registry.getMetricsAsJSON());
  const key = metricsEntryKey(prefix, PROCESS_LABEL);
  await redis
    .multi()
    .set(key, json, 'PX', ttlMs)
    .zadd(metricsIndexKey(prefix), Date.now() + ttlMs, PROCESS_LABEL)
    .exec();
}

export interface MetricsReporter {
  /** pushes now (tests, and the last push before exit) */
  push(): Promise<void>;
}

/**
 * The one call each process entry makes: Node process metrics on, labels
 * `role` and `process` on every series, and a push to Redis every interval on
 * a connection of its own that fails fast (a push during a Redis outage is
 * skipped, never queued). On shutdown the entry is removed.
 */
export function startMetricsReporting(
  config: Pick<Config, 'REDIS_URL' | 'QUEUE_PREFIX' | 'METRICS_PUSH_INTERVAL_MS'>,
  logger: Logger,
  life: Lifecycle,
  role: string,
  /** false in all but one thread of a process: its process_* figures (CPU, memory, fds) are the whole process's (default true) */
  processWide = true,
): MetricsReporter {
  collectProcessMetrics(role, processWide);
  registry.setDefaultLabels({ role, process: PROCESS_LABEL });
  const prefix = config.QUEUE_PREFIX;
  const interval = config.METRICS_PUSH_INTERVAL_MS;
  const redis = producerConnection(config.REDIS_URL, { connectionName: `herald-metrics-${role}` });
  let failing = false;
  redis.on('error', () => undefined); // reported once per outage by push() below
  const push = async () => {
    try {
      await pushMetrics(redis, prefix, interval * 3);
      if (failing) logger.info('metrics push resumed');
      failing = false;
    } catch (err) {
      if (!failing) logger.warn({ err: (err as Error).message }, 'metrics push to Redis failed; retrying every interval');
      failing = true;
    }
  };
  const timer = setInterval(() => void push(), interval);
  timer.unref();
  // The first push waits for the connection, so a process starting up does not report a failure that is not one.
  redis.once('ready', () => void push());
  life.add('metrics reporting', async () => {
    clearInterval(timer);
    await redis
      .multi()
      .del(metricsEntryKey(prefix, PROCESS_LABEL))
      .zrem(metricsIndexKey(prefix), PROCESS_LABEL)
      .exec()
      .catch(() => undefined);
    await redis.quit().catch(() => redis.disconnect());
  });
  return { push };
}
