import type { Redis } from 'ioredis';
import { AggregatorRegistry } from 'prom-client';
import type { Producers } from '../../queues/producers.js';
import type { Logger } from '../logger.js';
import { registry } from './metrics.js';
import { readQueueDepths, type MetricJson } from './queues.js';
import { PROCESS_LABEL, metricsEntryKey, metricsIndexKey } from './report.js';

/** The registries other processes pushed (src/metrics/report.ts) and whose TTL has not run out. */
export async function readPushedMetrics(redis: Redis, prefix: string): Promise<Map<string, MetricJson[]>> {
  const index = metricsIndexKey(prefix);
  const now = Date.now();
  await redis.zremrangebyscore(index, '-inf', now);
  const processes = await redis.zrangebyscore(index, now, '+inf');
  const out = new Map<string, MetricJson[]>();
  if (!processes.length) return out;
  const entries = await redis.mget(...processes.map((p) => metricsEntryKey(prefix, p)));
  processes.forEach((p, i) => {
    const raw = entries[i];
    if (raw) out.set(p, JSON.parse(raw) as MetricJson[]);
  });
  return out;
}

/** Says on the scrape itself whether the other processes' metrics could be read. */
const clusterUp = (up: boolean, processes: number): MetricJson[] => [
  {
    name: 'herald_metrics_cluster_up',
    help: '1 when the metrics pushed by other Herald processes could be read from Redis.',
    type: 'gauge',
    aggregator: 'first',
    values: [{ value: up ? 1 : 0, labels: {} }],
  },
  {
    name: 'herald_metrics_processes',
    help: 'Herald processes whose metrics are in this answer.',
    type: 'gauge',
    aggregator: 'first',
    values: [{ value: processes, labels: {} }],
  },
];

/**
 * Builds the cluster-wide exposition: this process's registry read live, the
 * other processes' pushed registries, and the queue depths. When Redis is
 * down the answer still carries this process's metrics and says so in
 * herald_metrics_cluster_up, so a scrape never fails because of an outage.
 */
export function createClusterMetrics(deps: { redis: Redis; prefix: string; logger: Logger; queues: Pick<Producers, 'all'> }) {
  return async function clusterMetrics(): Promise<{ text: string; contentType: string }> {
    const own = (await registry.getMetricsAsJSON()) as unknown as MetricJson[];
    const parts: MetricJson[][] = [own];
    let up = true;
    let processes = 1;
    try {
      // BullMQ waits for a connection that has never been ready instead of failing: skip at once
      if (deps.redis.status !== 'ready') throw new Error(`Redis is ${deps.redis.status}`);
      const [pushed, depths] = await Promise.all([readPushedMetrics(deps.redis, deps.prefix), readQueueDepths(deps.queues)]);
      for (const [label, metrics] of pushed) {
        if (label === PROCESS_LABEL) continue; // our own entry is older than `own`
        parts.push(metrics);
        processes++;
      }
      parts.push([depths]);
    } catch (err) {
      up = false;
      deps.logger.warn({ err: (err as Error).message }, 'metrics of other processes unavailable');
    }
    parts.push(clusterUp(up, processes));
    const merged = AggregatorRegistry.aggregate(parts as unknown as Parameters<typeof AggregatorRegistry.aggregate>[0]);
    return { text: await merged.metrics(), contentType: merged.contentType };
  };
}
