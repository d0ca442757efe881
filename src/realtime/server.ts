/**
 * Process entry: a realtime node (uWebSockets.js), on WS_THREADS threads.
 * Run as many as needed side by side.
 */
import { loadConfigOrExit } from '../config.js';
import { Lifecycle } from '../lifecycle.js';
import { createLogger } from '../logger.js';
import { startMetricsReporting } from '../metrics/report.js';
import { runRealtimeNode } from './run.js';
import { runRealtimeThreads } from './threads.js';
import { UwsFallbackError, assertNative } from './uws.js';

const config = loadConfigOrExit();
const logger = createLogger(config, 'realtime');
try {
  assertNative();
} catch (err) {
  if (!(err instanceof UwsFallbackError)) throw err;
  logger.fatal(err.message);
  process.exit(1);
}
if (config.jwtSecretIsDefault) logger.warn('JWT_SECRET is not set: using the DEVELOPMENT secret. Anyone can mint tokens. Set JWT_SECRET.');
const life = new Lifecycle(logger);
life.handleSignals(config.SHUTDOWN_TIMEOUT_MS);

if (config.WS_THREADS > 1) {
  try {
    await runRealtimeThreads(config.WS_THREADS, config.WS_PORT, logger, life);
  } catch (err) {
    logger.fatal({ err }, 'realtime threads did not start');
    await life.close();
    await life.flushLogs();
    process.exit(1);
  }
} else {
  await runRealtimeNode(config, logger, life);
  startMetricsReporting(config, logger, life, 'realtime');
}
