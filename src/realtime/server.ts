/** Process entry: a realtime node (uWebSockets.js). Run as many as needed side by side. */
import { loadConfigOrExit } from '../config.js';
import { Lifecycle } from '../lifecycle.js';
import { createLogger } from '../logger.js';
import { startMetricsReporting } from '../metrics-report.js';
import { runRealtimeNode } from './run.js';
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

await runRealtimeNode(config, logger, life);
startMetricsReporting(config, logger, life, 'realtime');
