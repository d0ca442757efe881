/** Process entry: the HTTP api. */
import { serve } from '@hono/node-server';
import { loadConfigOrExit } from '../config.js';
import { migrate } from '../db/orm.js';
import { buildApiDeps } from '../deps.js';
import { Lifecycle } from '../lifecycle.js';
import { createLogger } from '../logger.js';
import { createApp } from './app.js';

const config = loadConfigOrExit();
const logger = createLogger(config, 'api');
if (config.jwtSecretIsDefault) logger.warn('JWT_SECRET is not set: using the DEVELOPMENT secret. Anyone can mint tokens. Set JWT_SECRET.');
const life = new Lifecycle(logger);
life.handleSignals();

await migrate({ url: config.DATABASE_URL, logger });
const deps = await buildApiDeps(config, logger, life);
const server = serve({ fetch: createApp(deps).fetch, port: config.PORT }, (info) =>
  logger.info({ port: info.port }, 'api listening'),
);
life.add('http server', () => new Promise<void>((resolve) => server.close(() => resolve())));
