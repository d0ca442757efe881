import { producerConnection, workerConnection } from '../queues/connection.js';
import type { ExternalChannel } from '../queues/jobs.js';
import { createProducers } from '../queues/producers.js';
import { createProvider, rateLimitOf } from '../src/channels/index.js';
import { createDeliveryQueues } from '../src/channels/queues.js';
import { loadConfigOrExit } from '../src/config.js';
import { openOrm } from '../src/db/orm.js';
import { Lifecycle } from '../src/lifecycle.js';
import { createLogger } from '../src/logger.js';
import { startMetricsReporting } from '../src/metrics-report.js';
import { preferenceGate } from '../src/domain/preferences.js';
import { createDeliveryWorker } from './delivery-worker.js';

/** The body of every channel worker process: wire the deps, say whether the channel is configured, run. */
export async function runChannelWorker(channel: ExternalChannel): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config, channel);
  const life = new Lifecycle(logger);
  life.handleSignals(config.SHUTDOWN_TIMEOUT_MS);

  const orm = await openOrm({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, logger });
  life.add('postgres', () => orm.close());
  const connection = workerConnection(config.REDIS_URL);
  life.add('redis', () => connection.quit());
  const redis = workerConnection(config.REDIS_URL);
  life.add('redis producer', () => redis.quit());
  const queues = createDeliveryQueues(redis, config.QUEUE_PREFIX);
  life.add('delivery queues', () => queues.close());
  // the ingest queue (for admin alerts) on a fail-fast connection, like the api's
  const ingestRedis = producerConnection(config.REDIS_URL);
  ingestRedis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  life.add('redis ingest producer', () => ingestRedis.quit());
  const producers = createProducers(ingestRedis, config.QUEUE_PREFIX);
  life.add('ingest queue', () => producers.close());

  const provider = createProvider(channel, config);
  life.add('provider', () => provider.close?.());
  if (provider.missing.length)
    logger.warn({ channel, vendor: provider.vendor, missing: provider.missing }, `${channel} is NOT configured: its deliveries fail with reason not_configured`);
  else logger.info({ channel, vendor: provider.vendor }, `${channel} is configured`);

  const worker = createDeliveryWorker(
    {
      orm,
      redis,
      prefix: config.QUEUE_PREFIX,
      logger,
      provider,
      queues,
      ingest: producers.ingest,
      timeoutMs: config.PROVIDER_TIMEOUT_MS,
      // the user's preferences (issue #5): channel off → skipped; do-not-disturb and mute → held until they end
      gate: preferenceGate(orm),
      connection,
    },
    { concurrency: config.CHANNEL_CONCURRENCY, ratePerSec: rateLimitOf(channel, config), lockDurationMs: config.CHANNEL_LOCK_MS, stalledIntervalMs: config.CHANNEL_STALLED_INTERVAL_MS },
  );
  life.add(`${channel} worker`, () => worker.close());
  startMetricsReporting(config, logger, life, channel);
  logger.info({ concurrency: config.CHANNEL_CONCURRENCY, rate_per_sec: rateLimitOf(channel, config) }, `${channel} worker started`);
}
