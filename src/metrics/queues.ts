import type { Producers } from '../../queues/producers.js';

/** One metric as `Registry.getMetricsAsJSON()` lists it (what AggregatorRegistry merges). */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

/** The states an operator watches. BullMQ keeps waiting jobs that have a priority (every Herald notification job) in `prioritized`, not `waiting`. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed', 'waiting-children'] as const;

/**
 * Depth of every queue (each shard of a sharded one) per state, read at scrape time.
 * Queue depths are one fact about Redis, not about a process, so they are
 * computed by the api that answers the scrape and carry no `process` label.
 * BullMQ waits for a connection that has never been ready instead of
 * failing: the caller checks the connection first.
 */
export async function readQueueDepths(queues: Pick<Producers, 'all'>): Promise<MetricJson> {
  const values: MetricJson['values'] = [];
  await Promise.all(
    queues.all().map(async (queue) => {
      const counts = await queue.getJobCounts(...QUEUE_STATES);
      for (const state of QUEUE_STATES) values.push({ value: counts[state] ?? 0, labels: { queue: queue.name, state } });
    }),
  );
  return {
    name: 'herald_queue_jobs',
    help: 'Jobs in each Herald queue, per state (read from Redis at scrape time).',
    type: 'gauge',
    aggregator: 'first',
    values,
  };
}
