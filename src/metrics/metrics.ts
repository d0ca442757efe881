import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Herald's Prometheus metrics, recorded where the events happen.
 * Each process has its own registry; how registries of several processes are
 * gathered into the one `GET /metrics` answer is decided by the metrics
 * exposition code (the other files of src/metrics/), not here.
 */
export const registry = new Registry();

/** Notifications stored by the ingest worker (one per stored row). */
export const notificationCreated = new Counter({
  name: 'notification_created_total',
  help: 'Notifications created (stored).',
  labelNames: ['type', 'priority'] as const,
  registers: [registry],
});

/**
 * Accepted notifications PostgreSQL refused to store for their content (the ingest worker isolates each one
 * and stores the rest of its batch), per reason: invalid_data, constraint, too_complex, invalid_draft.
 */
export const notificationRejected = new Counter({
  name: 'notification_rejected_total',
  help: 'Accepted notifications that could not be stored, per reason.',
  labelNames: ['reason'] as const,
  registers: [registry],
});

/** Deliveries that reached the user's device or provider, per channel ('app' for the inbox). */
export const notificationSent = new Counter({
  name: 'notification_sent_total',
  help: 'Notifications delivered, per channel.',
  labelNames: ['channel'] as const,
  registers: [registry],
});

/** Deliveries that failed for good, per channel and reason (retryable|permanent|throttled|not_configured|...). */
export const notificationFailed = new Counter({
  name: 'notification_failed_total',
  help: 'Notification deliveries that failed, per channel and reason.',
  labelNames: ['channel', 'reason'] as const,
  registers: [registry],
});

/** External deliveries held for a digest instead of being sent alone, per channel (counted once per delivery). */
export const digestMembers = new Counter({
  name: 'herald_digest_members_total',
  help: 'Deliveries held for a digest, per channel.',
  labelNames: ['channel'] as const,
  registers: [registry],
});

/** Digests made: one combined message handed to its channel queue per (user, channel, key) window, counted once. */
export const digestSent = new Counter({
  name: 'herald_digest_sent_total',
  help: 'Digest messages enqueued for delivery, per channel.',
  labelNames: ['channel'] as const,
  registers: [registry],
});

/** Live WebSocket connections of this process; summed across realtime nodes when aggregated. */
export const websocketConnections = new Gauge({
  name: 'websocket_connections_active',
  help: 'Open WebSocket connections.',
  registers: [registry],
});

/** Time from a notification's creation (api accepted it) to its delivery on a channel. */
export const deliveryDuration = new Histogram({
  name: 'notification_delivery_duration_seconds',
  help: 'Seconds from notification creation to delivery, per channel.',
  labelNames: ['channel'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [registry],
});

/**
 * Whether the api reached each dependency (postgres, redis) at its last check, 1 or 0, set every
 * METRICS_PUSH_INTERVAL_MS by src/metrics/dependencies.ts rather than at scrape time, so a scrape never
 * waits on a hung database. Each api process reports its own view under its own `process` label, and
 * the series are kept apart when merged: an api cut off from PostgreSQL while the others reach it is
 * one series at 0, which `min by (dependency)` finds and an operator can trace to that process.
 * `min` is the aggregator in case two answers ever carry the same labels: a dependency is only as
 * reachable as the worst view of it, never averaged into a fraction.
 */
export const dependencyUp = new Gauge({
  name: 'herald_dependency_up',
  help: '1 when the api reached the dependency (postgres, redis) at its last check, else 0.',
  labelNames: ['dependency'] as const,
  aggregator: 'min',
  registers: [registry],
});

/**
 * Always 1, exported once per process (not per realtime thread) from the moment it reports its
 * metrics: `sum by (role) (herald_process_up)` counts the live processes of each role. A process that
 * dies drops out when its pushed metrics expire (three METRICS_PUSH_INTERVAL_MS). Registered by
 * collectProcessMetrics, so a thread that is not its process's reporter exports no series at all.
 */
export const processUp = new Gauge({
  name: 'herald_process_up',
  help: 'Herald processes reporting their metrics (1 per process), labelled with their role.',
  registers: [],
});

/**
 * Text frames the realtime nodes of this process handed to uWS, per kind, counted in plain numbers
 * where they are sent and added to realtime_frames_sent_total when the registry is read (every push):
 * fan-out is the node's hot path, where one topic publish reaches every subscriber of the topic
 * (counted with uWS's numSubscribers), and a prom-client call, which hashes its labels, is kept off it.
 *   feed: live frames from the Redis feed (topic publishes, frames that skip some users, frames
 *         buffered or checked against the seam while a socket caught up);
 *   sync: the welcome and the notifications replayed on `?since=`;
 *   reply: answers to a client's message (pong, errors).
 */
export const framesSentTally = { feed: 0, sync: 0, reply: 0 };

export const framesSent = new Counter({
  name: 'realtime_frames_sent_total',
  help: 'WebSocket text frames realtime nodes handed to their sockets, per kind (feed, sync, reply).',
  labelNames: ['kind'] as const,
  registers: [registry],
  collect() {
    for (const kind of ['feed', 'sync', 'reply'] as const) {
      const n = framesSentTally[kind];
      if (!n) continue; // only the processes that send frames get series
      framesSentTally[kind] = 0;
      this.inc({ kind }, n);
    }
  },
});

let defaultsOn = false;
/**
 * Node process metrics (CPU, memory, event loop lag), once per process. In a
 * worker thread the process_* ones (CPU, RSS, fds, start time) and
 * herald_process_up are still the whole process's: processWide = false leaves
 * them to one thread so a sum over threads does not count the process twice
 * (heap and event loop lag stay, being the thread's own).
 */
export function collectProcessMetrics(role: string, processWide = true): void {
  if (defaultsOn) return;
  defaultsOn = true;
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });
  if (processWide) {
    registry.registerMetric(processUp);
    processUp.set(1);
    return;
  }
  for (const m of registry.getMetricsAsArray()) if (m.name.startsWith('process_')) registry.removeSingleMetric(m.name);
}

/** BullMQ job processing time (active → completed or failed), per queue; recorded by observeJobs (src/metrics/jobs.ts). */
export const jobDuration = new Histogram({
  name: 'herald_job_duration_seconds',
  help: 'Seconds a BullMQ job spent being processed, per queue and outcome.',
  labelNames: ['queue', 'status'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

/** Time a job waited in its queue before a worker took it (first attempt only, delay excluded). */
export const jobWait = new Histogram({
  name: 'herald_job_wait_seconds',
  help: 'Seconds a BullMQ job waited before its first attempt started, per queue.',
  labelNames: ['queue'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [registry],
});

/** api requests by route pattern (never the raw path, so ids do not explode the series) and status. */
export const httpRequestDuration = new Histogram({
  name: 'herald_http_request_duration_seconds',
  help: 'Seconds the api took to answer, per method, route pattern and status.',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

/** Messages a realtime node's feed subscriber received, per kind (topic, order, control): its inbound pub/sub traffic. */
export const feedMessagesReceived = new Counter({
  name: 'realtime_feed_messages_received_total',
  help: 'Pub/sub messages received by realtime nodes, per kind (topic, order, control).',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/** Bytes of those messages (payload only). */
export const feedBytesReceived = new Counter({
  name: 'realtime_feed_bytes_received_total',
  help: 'Payload bytes of the pub/sub messages received by realtime nodes, per kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/** SUBSCRIBE / UNSUBSCRIBE commands realtime nodes sent for their topics (each carries many channels). */
export const feedSubscribeCommands = new Counter({
  name: 'realtime_feed_subscribe_commands_total',
  help: 'Feed SUBSCRIBE and UNSUBSCRIBE commands sent by realtime nodes.',
  labelNames: ['command'] as const,
  registers: [registry],
});
