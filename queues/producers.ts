import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { Batcher } from './batcher.js';
import { queueReady } from './connection.js';
import { INGEST_JOB, PRIORITY } from './defaults.js';
import type { IngestJob, NotificationDraft } from './jobs.js';
import { QUEUE } from './names.js';

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

export interface Producers {
  ingest: Queue<IngestJob>;
  close(): Promise<void>;
}

export function createProducers(connection: Redis, prefix: string): Producers {
  const ingest = new Queue<IngestJob>(QUEUE.ingest, { connection, prefix, defaultJobOptions: INGEST_JOB });
  // The connection's owner logs outages; without a listener BullMQ prints every reconnect error to stderr.
  ingest.on('error', () => undefined);
  return {
    ingest,
    async close() {
      await ingest.close();
    },
  };
}

/** The deterministic id of a delayed firing job: `fire-` and the first notification id it fires. */
export const fireJobId = (notificationId: string) => `fire-${notificationId}`;

const batchers = new WeakMap<Queue<IngestJob>, Batcher<NotificationDraft>>();

/**
 * Enqueues notifications for ingest and resolves once Redis holds them.
 * Concurrent calls share jobs: a job costs the same few Redis scripts
 * whether it carries one notification or five hundred, so single sends
 * under load cost about what bulk sends do. A lone call is flushed at once;
 * after that, calls wait for the next flush, at most ENQUEUE_EVERY_MS later
 * and never while one add is still on its way to Redis.
 */
export function enqueueNotifications(queue: Queue<IngestJob>, drafts: NotificationDraft[]): Promise<void> {
  let batcher = batchers.get(queue);
  if (!batcher) batchers.set(queue, (batcher = new Batcher((items) => addNotificationJobs(queue, items), { max: INGEST_CHUNK, everyMs: ENQUEUE_EVERY_MS, inFlight: 1 })));
  return batcher.add(drafts);
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
        data: { notifications: chunk } as IngestJob,
        opts: { jobId: `n-${first.id}`, priority: PRIORITY[first.priority] } as JobsOptions,
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
      jobs.push(fireJob(chunk[0].tenant, chunk.map((d) => d.id), Date.parse(chunk[0].schedule_at!)));
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
export function fireJob(tenant: string, ids: string[], at: number) {
  return {
    name: 'fire',
    data: { notifications: [], fire: { tenant, ids } } as IngestJob,
    opts: { jobId: fireJobId(ids[0]), delay: Math.max(0, at - Date.now()) } as JobsOptions,
  };
}
