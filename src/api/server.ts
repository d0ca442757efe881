/** Process entry: the HTTP api. */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { DEV_DATA_KEYS_WARNING, loadConfigOrExit } from '../config.js';
import { migrateWhenReachable } from '../db/migrate-when-reachable.js';
import { buildApiDeps } from './deps.js';
import { Lifecycle } from '../lifecycle.js';
import { createLogger } from '../logger.js';
import { setupTracing } from '../tracing/setup.js';
import { watchDependencies } from '../metrics/dependencies.js';
import { startMetricsReporting } from '../metrics/report.js';
import { createApp } from './app.js';
import { closeIdleAfterPendingReads } from './keep-alive.js';

const config = loadConfigOrExit();
const logger = createLogger(config, 'api');
if (config.jwtSecretIsDefault) logger.warn('JWT_SECRET is not set: using the DEVELOPMENT secret. Anyone can mint tokens. Set JWT_SECRET.');
if (config.dataKeysAreDefault) logger.warn(DEV_DATA_KEYS_WARNING);
const life = new Lifecycle(logger);
life.handleSignals(config.SHUTDOWN_TIMEOUT_MS);
// first of the releasers, so the last to close: the spans of requests finishing during shutdown are sent too
setupTracing(config, 'api', life);

await migrateWhenReachable({ url: config.DATABASE_URL, logger }, life);
const deps = await buildApiDeps(config, logger, life);
const server = serve({ fetch: createApp(deps).fetch, port: config.PORT }, (info) =>
  logger.info({ port: info.port }, 'api listening'),
);
// A client that trickles its request cannot hold a socket past the request timeout either.
(server as Server).requestTimeout = config.REQUEST_TIMEOUT_MS + 5000;
// Outlive the idle timeout of a load balancer or proxy pooling connections to the api, so it is always the one
// that closes an idle connection (HTTP_KEEP_ALIVE_TIMEOUT_MS in src/config.ts). Shutdown closes idle ones at once.
(server as Server).keepAliveTimeout = config.HTTP_KEEP_ALIVE_TIMEOUT_MS;
// ...and never drop a request that reached an idle connection in time but was read after a stall.
closeIdleAfterPendingReads(server as Server);
// Shutdown: stop accepting, let requests in flight finish, and close keep-alive
// sockets as soon as they fall idle (server.close() alone closes only those idle at the call).
life.add(
  'http server',
  () =>
    new Promise<void>((resolve) => {
      const sweep = setInterval(() => (server as Server).closeIdleConnections(), 100);
      server.close(() => {
        clearInterval(sweep);
        resolve();
      });
    }),
);
startMetricsReporting(config, logger, life, 'api');
watchDependencies(deps, logger, life, config.METRICS_PUSH_INTERVAL_MS);
