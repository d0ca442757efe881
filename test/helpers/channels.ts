import type { Worker } from 'bullmq';
import { workerConnection } from '../../queues/connection.js';
import type { ExternalChannel } from '../../queues/jobs.js';
import { createProducers, type Producers } from '../../queues/producers.js';
import { createProvider } from '../../src/channels/index.js';
import type { ChannelProvider } from '../../src/channels/types.js';
import { loadConfig } from '../../src/config.js';
import { openContact } from '../../src/crypto/process-keys.js';
import { createDeliveryWorker, type DeliveryWorkerOptions } from '../../workers/delivery-worker.js';
import type { DeliveryGate } from '../../workers/processors/deliver.js';
import { waitFor, type Harness } from './harness.js';

export interface ChannelWorker {
  worker: Worker;
  provider: ChannelProvider;
  queues: Producers['delivery'];
}

/**
 * A channel worker in this test process, on the harness's queue prefix and
 * database, with its provider configured from `env` (the variables of
 * as in production, pointed at local fakes). Closed with the harness.
 */
export async function startChannelWorker(
  h: Harness,
  channel: ExternalChannel,
  env: Record<string, string> = {},
  opts: DeliveryWorkerOptions & { gate?: DeliveryGate; timeoutMs?: number } = {},
): Promise<ChannelWorker> {
  const providerConfig = loadConfig({ NODE_ENV: 'test', ...env });
  const provider = createProvider(channel, providerConfig);
  const connection = workerConnection(h.config.REDIS_URL);
  const redis = workerConnection(h.config.REDIS_URL);
  const queues = createProducers(redis, h.prefix);
  const worker = createDeliveryWorker(
    {
      orm: h.orm,
      redis,
      prefix: h.prefix,
      logger: h.deps.logger.child({ channel }),
      provider,
      queues,
      timeoutMs: opts.timeoutMs ?? 2000,
      gate: opts.gate,
      connection,
    },
    { concurrency: 10, ...opts },
  );
  h.life.add(`${channel} worker`, async () => {
    await worker.close();
    await provider.close?.();
    await queues.delivery[channel].obliterate({ force: true }).catch(() => undefined);
    await queues.close();
    await connection.quit();
    await redis.quit();
  });
  await worker.waitUntilReady();
  return { worker, provider, queues: queues.delivery };
}

/** The deliveries of a notification, straight from PostgreSQL, with the sealed address (and a direct send's recipient) opened. */
export async function deliveriesOf(h: Harness, notificationId: string) {
  const rows = await h.orm.em.fork().execute<any[]>(`select * from deliveries where notification_id = ? order by created_at, channel`, [notificationId]);
  return rows.map((d) => ({ ...d, address: openContact(d.address), recipient: d.direct ? openContact(d.recipient) : d.recipient }));
}

/** A notification's stored status. */
export async function statusOf(h: Harness, notificationId: string): Promise<string | undefined> {
  const [row] = await h.orm.em.fork().execute<{ status: string }[]>(`select status from notifications where id = ?`, [notificationId]);
  return row?.status;
}

/** Waits for a notification's status (it is refreshed right after each of its deliveries settles). */
export function statusBecomes(h: Harness, notificationId: string, status: string): Promise<boolean> {
  return waitFor(async () => (await statusOf(h, notificationId)) === status, 10_000, `status ${status}`);
}
