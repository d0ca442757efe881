import type { ExternalChannel } from '../queues/jobs.js';
import { createSendingProvider, rateLimitOf } from '../src/channels/index.js';
import { OutboxProvider } from '../src/channels/outbox.js';
import { startMetricsReporting } from '../src/metrics/report.js';
import { preferenceGate } from '../src/domain/preferences/preferences.js';
import { createDeliveryWorker } from './delivery-worker.js';
import { consumedShards, shardNames, shardProblems } from '../queues/shards.js';
import { openWorkerProcess } from './process.js';
import { attachmentSource, fetchOptions } from '../src/domain/attachments/source.js';

/** The body of every channel worker process: wire the deps, say whether the channel is configured, run. */
export async function runChannelWorker(channel: ExternalChannel): Promise<void> {
  const { config, logger, life, orm, connection, redis, queues } = await openWorkerProcess(channel, (c) => shardProblems(c, channel));

  // email reads its notifications' attachments from PostgreSQL, fetching urls once (src/domain/attachments/source.ts)
  const attachments = channel === 'email' ? attachmentSource({ orm, redis, prefix: config.QUEUE_PREFIX, logger, fetch: fetchOptions(config) }) : undefined;
  const provider = createSendingProvider(channel, config, orm, { attachments });
  life.add('provider', () => provider.close?.());
  if (provider instanceof OutboxProvider)
    logger.warn(
      { channel, vendor: provider.adapter.vendor, missing: provider.because, mode: 'outbox' },
      `${channel} is in OUTBOX mode (NODE_ENV=development and ${provider.because.join(', ')} unset): its messages are stored, not sent; read them at GET /admin/outbox`,
    );
  else if (provider.missing.length)
    logger.warn({ channel, vendor: provider.vendor, missing: provider.missing }, `${channel} is NOT configured: its deliveries fail with reason not_configured`);
  else logger.info({ channel, vendor: provider.vendor }, `${channel} is configured`);

  const shards = consumedShards(shardNames(queues.layout, channel), config.WORKER_SHARDS);
  const all = queues.layout.shards[channel];
  // the process's concurrency is shared by the shards it consumes: one Worker (and blocking connection) per shard
  const concurrency = Math.max(1, Math.ceil(config.CHANNEL_CONCURRENCY / shards.length));
  const workers = shards.map((queue) =>
    createDeliveryWorker(
    {
      orm,
      redis,
      prefix: config.QUEUE_PREFIX,
      logger,
      provider,
      queues,
      timeoutMs: config.PROVIDER_TIMEOUT_MS,
      // SMTP cannot be asked whether an interrupted message went out: the operator chooses at least or at most once
      onUnknown: channel === 'email' ? config.EMAIL_ON_UNKNOWN : 'resend',
      // the user's preferences: channel off → skipped; do-not-disturb and mute → held until they end
      gate: preferenceGate(orm),
      connection,
    },
    {
      concurrency,
      ratePerSec: rateLimitOf(channel, config),
      lockDurationMs: config.CHANNEL_LOCK_MS,
      stalledIntervalMs: config.CHANNEL_STALLED_INTERVAL_MS,
      queue,
      shards: all,
    },
    ),
  );
  for (const [i, worker] of workers.entries()) life.add(`${channel} worker ${shards[i]}`, () => worker.close());
  startMetricsReporting(config, logger, life, channel);
  if (config.CHANNEL_LOCK_MS <= config.PROVIDER_TIMEOUT_MS)
    logger.warn(
      { lock_ms: config.CHANNEL_LOCK_MS, provider_timeout_ms: config.PROVIDER_TIMEOUT_MS },
      'CHANNEL_LOCK_MS is not above PROVIDER_TIMEOUT_MS: a worker cut off from Redis during a slow provider call may lose its job to another, which sends again',
    );
  logger.info(
    { concurrency: config.CHANNEL_CONCURRENCY, shards, rate_per_sec: rateLimitOf(channel, config), ...(channel === 'email' ? { email_on_unknown: config.EMAIL_ON_UNKNOWN } : {}) },
    `${channel} worker started`,
  );
}
