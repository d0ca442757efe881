import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { INGEST_JOB, PRIORITY } from './defaults.js';
import type { IngestJob, NotificationDraft } from './jobs.js';
import { QUEUE } from './names.js';

/** A bulk send becomes jobs of at most this many notifications (one INSERT each). */
export const INGEST_CHUNK = 500;

export interface Producers {
  ingest: Queue<IngestJob>;
  close(): Promise<void>;
}

export function createProducers(connection: Redis, prefix: string): Producers {
  const ingest = new Queue<IngestJob>(QUEUE.ingest, { connection, prefix, defaultJobOptions: INGEST_JOB });
  return {
    ingest,
    async close() {
      await ingest.close();
    },
  };
}

/**
 * Enqueues notifications for ingest: one job per (priority, schedule time)
 * group and chunk. The job id is derived from the first notification id, so
 * a retried enqueue of the same drafts adds nothing.
 */
export async function enqueueNotifications(queue: Queue<IngestJob>, drafts: NotificationDraft[]): Promise<void> {
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
      const delay = first.schedule_at ? Math.max(0, Date.parse(first.schedule_at) - Date.now()) : 0;
      jobs.push({
        name: 'notify',
        data: { notifications: chunk },
        opts: { jobId: `n-${first.id}`, priority: PRIORITY[first.priority], ...(delay > 0 ? { delay } : {}) },
      });
    }
  }
  if (jobs.length === 1) await queue.add(jobs[0].name, jobs[0].data, jobs[0].opts);
  else await queue.addBulk(jobs);
}
