import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { audienceOf } from '../src/domain/inbox/audience.js';
import { userAudience } from '../src/feed/topics.js';
import { Batcher } from './batcher.js';
import { packDrafts } from './ingest-payload.js';
import { queueReady } from './connection.js';
import { DIGEST_JOB, INGEST_JOB, PRIORITY, RECURRING_JOB, deliveryJobOptions } from './defaults.js';
import { deliveryJobId, digestJobId, fireJobId, ingestJobId, wakeJobId } from './job-ids.js';
import {
  EXTERNAL_CHANNELS,
  type DeliveryJob,
  type DigestJob,
  type ExternalChannel,
  type IngestJob,
  type NotificationDraft,
  type RecurringJob,
  type WakeRequest,
} from './jobs.js';
import { SINGLE_LAYOUT, digestName, recurringName, shardNames, shardOf, type QueueLayout } from './shards.js';

/** A bulk send becomes jobs of at most this many notifications (one INSERT each). */
export const INGEST_CHUNK = 500;

/**
 * Single sends start an ingest job at most this often (ms): a lone send is
 * enqueued at once, a stream of them shares a job per interval. Each job
 * costs the api, Redis and the worker about the same whatever it carries:
 * at 1,000 sends/s on the benchmark machine, going from ~2 to ~5
 * notifications per job took a fifth off the CPU each notification costs
 * (api, worker, Redis and PostgreSQL together), and a machine with less to
 * do answers sooner: bench/README.md.
 */
export const ENQUEUE_EVERY_MS = 5;

/**
 * Every BullMQ producer of a process: one Queue object per Herald queue.
 * Each process builds it once (src/api/deps.ts for the api, workers/process.ts
 * for a worker), passes it down and closes it with its Lifecycle; nothing
 * else makes a Queue.
 */
export interface Producers {
  /** the queues' names and shard counts (queues/shards.ts) */
  layout: QueueLayout;
  /** the first ingest shard: the ingest queue when INGEST_SHARDS is 1 */
  ingest: Queue<IngestJob>;
  /** every ingest shard, shard 0 first */
  ingestShards: Queue<IngestJob>[];
  /** the ingest shard of a tenant's user (or audience key): one user's notifications always go through the same one */
  ingestFor(tenant: string, recipient: string): Queue<IngestJob>;
  /** the first shard of each external channel's queue, each with its own worker process and rate limit */
  delivery: Record<ExternalChannel, Queue<DeliveryJob>>;
  /** every shard of each external channel's queue */
  deliveryShards: Record<ExternalChannel, Queue<DeliveryJob>[]>;
  /** the shard of a channel's queue a delivery to `recipient` goes through */
  deliveryFor(channel: ExternalChannel, tenant: string, recipient: string): Queue<DeliveryJob>;
  recurring: Queue<RecurringJob>;
  /** digest windows (src/domain/digest/): one delayed job per (tenant, user, channel, key) window */
  digest: Queue<DigestJob>;
  /** Every queue, for bull-board and queue depths. */
  all(): Queue[];
  /** A queue by its BullMQ name (a worker's own shard); undefined for a name this layout does not have. */
  byName(name: string): Queue | undefined;
  /**
   * Enqueues notifications for ingest and resolves once Redis holds them.
   * Concurrent calls share jobs: a job costs the same few Redis scripts
   * whether it carries one notification or five hundred, so single sends
   * under load cost about what bulk sends do. A lone call is flushed at
   * once; after that, calls wait for the next flush, at most
   * ENQUEUE_EVERY_MS later and never while one add is still on its way to
   * Redis. Each notification goes to its recipient's ingest shard.
   */
  enqueueNotifications(drafts: NotificationDraft[]): Promise<void>;
  /** Adds delivery jobs, one addBulk per channel shard; job ids come from delivery ids, so adding twice adds nothing. */
  enqueueDeliveries(jobs: DeliveryJob[]): Promise<void>;
  /** Adds the delayed job that brings a snoozed notification back at `wake.until`; adding the same snooze twice adds one job. */
  scheduleWake(wake: WakeRequest): Promise<void>;
  /**
   * Removes the wake job of a snooze that was replaced or undone. Best
   * effort: a job already running or gone is left alone, and one that runs
   * anyway finds the receipt changed and does nothing.
   */
  cancelWake(wake: Pick<WakeRequest, 'tenant' | 'user_id' | 'notification_id' | 'until'>): Promise<void>;
  /**
   * Adds the delayed job of each digest window, due `windowMs` after the
   * window's start. A window's job id is fixed by its start, so adding it
   * again for every event that joins the window adds nothing and never
   * pushes it back.
   */
  scheduleDigests(windows: Array<{ job: DigestJob; windowMs: number }>): Promise<void>;
  /** Closes every queue; the connections are their owners' to close. */
  close(): Promise<void>;
}

/**
 * `sendConnection` carries the ingest queue (default: `connection`). A worker
 * gives it a fail-fast connection, like the api's, so a send it makes while
 * Redis is away (a recurring occurrence, an admin alert) fails and its job
 * is retried; its other queues stay on its waiting connection, where an add
 * waits for Redis instead of failing the step that made it.
 */
export function createProducers(connection: Redis, prefix: string, sendConnection: Redis = connection, layout: QueueLayout = SINGLE_LAYOUT): Producers {
  const open = <T>(name: string, defaultJobOptions: JobsOptions, on = connection) => {
    const queue = new Queue<T>(name, { connection: on, prefix, defaultJobOptions });
    // The connection's owner logs outages; without a listener BullMQ prints every reconnect error to stderr.
    queue.on('error', () => undefined);
    return queue;
  };
  const ingestShards = shardNames(layout, 'ingest').map((name) => open<IngestJob>(name, INGEST_JOB, sendConnection));
  const deliveryShards = Object.fromEntries(
    EXTERNAL_CHANNELS.map((c) => [c, shardNames(layout, c).map((name) => open<DeliveryJob>(name, deliveryJobOptions(c)))]),
  ) as Record<ExternalChannel, Queue<DeliveryJob>[]>;
  const recurring = open<RecurringJob>(recurringName(layout), RECURRING_JOB);
  const digest = open<DigestJob>(digestName(layout), DIGEST_JOB);
  const all = new Map<string, Queue>([...ingestShards, recurring, digest, ...Object.values(deliveryShards).flat()].map((q) => [q.name, q]));
  const ingestFor = (tenant: string, recipient: string) => ingestShards[shardOf(tenant, recipient, ingestShards.length)];
  const deliveryFor = (channel: ExternalChannel, tenant: string, recipient: string) =>
    deliveryShards[channel][shardOf(tenant, recipient, deliveryShards[channel].length)];
  const notifications = new Batcher<NotificationDraft>((drafts) => addToShards(ingestShards, drafts), {
    max: INGEST_CHUNK,
    everyMs: ENQUEUE_EVERY_MS,
    inFlight: 1,
  });
  const wakeQueue = (wake: Pick<WakeRequest, 'tenant' | 'user_id'>) => ingestFor(wake.tenant, userAudience(wake.user_id));
  return {
    layout,
    ingest: ingestShards[0],
    ingestShards,
    ingestFor,
    delivery: Object.fromEntries(EXTERNAL_CHANNELS.map((c) => [c, deliveryShards[c][0]])) as Record<ExternalChannel, Queue<DeliveryJob>>,
    deliveryShards,
    deliveryFor,
    recurring,
    digest,
    all: () => [...all.values()],
    byName: (name) => all.get(name),
    enqueueNotifications: (drafts) => notifications.add(drafts),
    enqueueDeliveries: (jobs) => addDeliveryJobs(deliveryFor, jobs),
    async scheduleWake(wake) {
      const queue = wakeQueue(wake);
      await queueReady(queue);
      const job = wakeJob(wake);
      await queue.add(job.name, job.data, job.opts);
    },
    async cancelWake(wake) {
      await wakeQueue(wake)
        .remove(wakeJobId(wake.tenant, wake.user_id, wake.notification_id, wake.until))
        .catch(() => 0);
    },
    async scheduleDigests(windows) {
      if (!windows.length) return;
      await queueReady(digest);
      await digest.addBulk(windows.map((w) => digestJob(w.job, w.windowMs)));
    },
    async close() {
      await Promise.all([...all.values()].map((q) => q.close()));
    },
  };
}

/** Adds drafts to the ingest shard of each one's tenant and audience, every shard at once. */
async function addToShards(shards: Queue<IngestJob>[], drafts: NotificationDraft[]): Promise<void> {
  if (shards.length === 1) return addNotificationJobs(shards[0], drafts);
  const byShard = new Map<number, NotificationDraft[]>();
  for (const d of drafts) {
    const i = shardOf(d.tenant, audienceOf(d.target), shards.length);
    let list = byShard.get(i);
    if (!list) byShard.set(i, (list = []));
    list.push(d);
  }
  await Promise.all([...byShard].map(([i, list]) => addNotificationJobs(shards[i], list)));
}

/**
 * Adds the ingest jobs for drafts: one job per (priority, schedule time)
 * group and chunk of at most INGEST_CHUNK. The job id is derived from the
 * first notification id, so a retried enqueue of the same drafts adds nothing.
 *
 * A scheduled notification is stored at once (status 'scheduled', in no
 * inbox); a delayed job fires it at schedule_at, one job per tenant, time
 * and chunk, so a bulk send due at 09:00 is a couple of jobs, not thousands.
 */
export async function addNotificationJobs(queue: Queue<IngestJob>, drafts: NotificationDraft[]): Promise<void> {
  await queueReady(queue);
  const groups = new Map<string, NotificationDraft[]>();
  for (const d of drafts) {
    const key = `${d.priority}|${d.schedule_at ?? ''}`;
    let list = groups.get(key);
    if (!list) groups.set(key, (list = []));
    list.push(d);
  }
  const jobs = [];
  for (const list of groups.values()) {
    for (let i = 0; i < list.length; i += INGEST_CHUNK) {
      const chunk = list.slice(i, i + INGEST_CHUNK);
      const first = chunk[0];
      jobs.push({
        name: 'notify',
        data: packDrafts(chunk) as IngestJob,
        opts: { jobId: ingestJobId(first.id), priority: PRIORITY[first.priority] } as JobsOptions,
      });
    }
  }
  const due = new Map<string, NotificationDraft[]>();
  for (const d of drafts) {
    if (!d.schedule_at) continue;
    const key = `${d.tenant}\u001f${d.schedule_at}`;
    let list = due.get(key);
    if (!list) due.set(key, (list = []));
    list.push(d);
  }
  for (const list of due.values())
    for (let i = 0; i < list.length; i += INGEST_CHUNK) {
      const chunk = list.slice(i, i + INGEST_CHUNK);
      jobs.push(fireJob(chunk[0].tenant, chunk.map((d) => d.id), Date.parse(chunk[0].schedule_at!), chunk[0].trace));
    }
  if (jobs.length === 1) await queue.add(jobs[0].name, jobs[0].data, jobs[0].opts);
  else await queue.addBulk(jobs);
}

/**
 * The delayed job that fires stored scheduled notifications of one tenant
 * at `at` (ms since epoch). It has no priority on purpose: BullMQ runs
 * unprioritised jobs before prioritised ones, so a firing is never held up
 * behind a backlog of ingest jobs.
 */
export function fireJob(tenant: string, ids: string[], at: number, trace?: string) {
  return {
    name: 'fire',
    data: { notifications: [], fire: trace ? { tenant, ids, trace } : { tenant, ids } } as IngestJob,
    opts: { jobId: fireJobId(ids[0]), delay: Math.max(0, at - Date.now()) } as JobsOptions,
  };
}

/**
 * The delayed job that wakes one user's snoozed notification at
 * `wake.until`. No priority, like a firing: it runs ahead of any backlog of
 * ingest jobs, so a notification comes back on time.
 */
export function wakeJob(wake: WakeRequest) {
  return {
    name: 'wake',
    data: { notifications: [], wake } as IngestJob,
    opts: { jobId: wakeJobId(wake.tenant, wake.user_id, wake.notification_id, wake.until), delay: Math.max(0, Date.parse(wake.until) - Date.now()) } as JobsOptions,
  };
}

/**
 * The delayed job of one digest window. No priority, like a firing: it runs
 * ahead of any backlog, so a digest goes out when its window ends.
 */
export function digestJob(job: DigestJob, windowMs: number) {
  return {
    name: 'digest',
    data: job,
    opts: {
      jobId: digestJobId(job.tenant, job.user_id, job.channel, job.key, job.window_start),
      delay: Math.max(0, Date.parse(job.window_start) + windowMs - Date.now()),
    } as JobsOptions,
  };
}

async function addDeliveryJobs(
  queueOf: (channel: ExternalChannel, tenant: string, recipient: string) => Queue<DeliveryJob>,
  jobs: DeliveryJob[],
): Promise<void> {
  const byQueue = new Map<Queue<DeliveryJob>, DeliveryJob[]>();
  for (const j of jobs) {
    const queue = queueOf(j.channel, j.tenant, j.recipient);
    let list = byQueue.get(queue);
    if (!list) byQueue.set(queue, (list = []));
    list.push(j);
  }
  // BullMQ waits without limit for a connection that was never ready: fail within a second instead (the api answers 503)
  await Promise.all([...byQueue.keys()].map((queue) => queueReady(queue)));
  await Promise.all(
    [...byQueue].map(([queue, list]) =>
      queue.addBulk(
        list.map((j) => ({
          name: j.channel,
          data: j,
          opts: { ...deliveryJobOptions(j.channel), jobId: deliveryJobId(j.delivery_id), priority: PRIORITY[j.message.priority] },
        })),
      ),
    ),
  );
}
