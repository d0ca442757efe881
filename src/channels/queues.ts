import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { queueReady } from '../../queues/connection.js';
import { PRIORITY, deliveryJobOptions } from '../../queues/defaults.js';
import type { DeliveryJob, ExternalChannel } from '../../queues/jobs.js';
import { QUEUE } from '../../queues/names.js';
import { deliveryJobId } from '../domain/delivery/records.js';
import { EXTERNAL_CHANNELS } from './index.js';

export type DeliveryQueues = Record<ExternalChannel, Queue<DeliveryJob>> & { close(): Promise<void> };

/** Producers for every channel queue on one (shared) connection. */
export function createDeliveryQueues(connection: Redis, prefix: string): DeliveryQueues {
  const queues = Object.fromEntries(
    EXTERNAL_CHANNELS.map((c) => [c, new Queue<DeliveryJob>(QUEUE[c], { connection, prefix, defaultJobOptions: deliveryJobOptions(c) })]),
  ) as Record<ExternalChannel, Queue<DeliveryJob>>;
  // the connection's owner logs outages; without a listener BullMQ prints every reconnect error
  for (const c of EXTERNAL_CHANNELS) queues[c].on('error', () => undefined);
  return {
    ...queues,
    async close() {
      await Promise.all(EXTERNAL_CHANNELS.map((c) => queues[c].close()));
    },
  };
}

/** Adds delivery jobs, one addBulk per channel; job ids come from delivery ids, so adding twice adds nothing. */
export async function enqueueDeliveries(queues: DeliveryQueues, jobs: DeliveryJob[]): Promise<void> {
  const byChannel = new Map<ExternalChannel, DeliveryJob[]>();
  for (const j of jobs) {
    let list = byChannel.get(j.channel);
    if (!list) byChannel.set(j.channel, (list = []));
    list.push(j);
  }
  // BullMQ waits without limit for a connection that was never ready: fail within a second instead (the api answers 503)
  await Promise.all([...byChannel.keys()].map((channel) => queueReady(queues[channel])));
  await Promise.all(
    [...byChannel].map(([channel, list]) =>
      queues[channel].addBulk(
        list.map((j) => ({
          name: j.channel,
          data: j,
          opts: { ...deliveryJobOptions(channel), jobId: deliveryJobId(j.delivery_id), priority: PRIORITY[j.message.priority] },
        })),
      ),
    ),
  );
}

const cache = new WeakMap<Redis, DeliveryQueues>();
/**
 * The delivery producers of a connection, made on first use. Lets the
 * ingest worker's post-store step enqueue deliveries without another
 * connection: the queues live exactly as long as the connection they use.
 */
export function deliveryQueuesOn(connection: Redis, prefix: string): DeliveryQueues {
  let q = cache.get(connection);
  if (!q) cache.set(connection, (q = createDeliveryQueues(connection, prefix)));
  return q;
}
