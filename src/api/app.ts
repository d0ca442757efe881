import { Hono } from 'hono';
import type { ApiDeps, ApiEnv } from './env.js';
import { accessLog } from './middleware/access-log.js';
import { bearerAuth } from './middleware/auth.js';
import { MAX_BODY_BYTES, bodyLimit } from './middleware/body-limit.js';
import { base64Length } from '../domain/attachments/files.js';
import { httpMetrics } from './middleware/http-metrics.js';
import { rateLimit, rateLimitsFrom } from './middleware/rate-limit.js';
import { requestTimeout } from './middleware/timeout.js';
import { openApiRoutes } from './openapi/routes.js';
import { clientRoutes } from './routes/client.js';
import { inboxDemoRoutes } from './routes/inbox-demo.js';
import { adminRoutes } from './routes/admin.js';
import { adminChannelRoutes } from './routes/admin-channels.js';
import { adminOutboxRoutes } from './routes/admin-outbox.js';
import { metricsRoutes } from './routes/metrics.js';
import { notFound, onError } from './middleware/problem.js';
import { requestContext } from './middleware/request-context.js';
import { strictUrl } from './middleware/strict-url.js';
import { healthRoutes } from './routes/health.js';
import { inboxRoutes } from './routes/inbox.js';
import { sendRoutes } from './routes/send.js';
import { deliveryRoutes } from './routes/deliveries.js';
import { multiChannelRoutes } from './routes/multi-channel.js';
import { recipientRoutes } from './routes/recipients.js';
import { recallRoutes } from './routes/recall.js';
import { templateRoutes } from './routes/templates.js';
import { preferenceRoutes } from './routes/preferences.js';
import { scheduleRoutes } from './routes/schedules.js';
import { actionRoutes } from './routes/actions.js';
import { meRoutes } from './routes/me.js';
import { adminAuditRoutes } from './routes/admin-audit.js';
import { adminRefusalRecorder } from '../domain/audit/refusals.js';


/** The Herald HTTP api. Tests call `createApp(deps).request(...)` with no server. */
export function createApp(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  app.onError(onError(deps.logger));
  app.notFound(notFound);
  app.use('*', requestContext(deps.logger));
  app.use('*', accessLog());
  app.use('*', httpMetrics());
  app.use('*', requestTimeout(deps.config.REQUEST_TIMEOUT_MS));
  // a malformed or NUL-bearing path segment or query value is a 400 here, before any route decodes it
  app.use('*', strictUrl(() => app.routes));
  app.route('/', healthRoutes(deps));
  app.route('/', metricsRoutes(deps));
  app.route('/', adminRoutes(deps));
  // operator tools beside the board: the development outbox (404 outside development) and the channel self-test
  app.route('/', adminOutboxRoutes(deps));
  app.route('/', adminChannelRoutes(deps));
  // the API description: no token, outside /api/v1's auth and rate limit
  app.route('/', openApiRoutes());
  // the browser client's script: no token, outside /api/v1's auth and rate limit
  app.route('/', clientRoutes());
  // the widget's demo page: no token in the request's headers, outside /api/v1 (off in production unless INBOX_DEMO)
  app.route('/', inboxDemoRoutes(deps.config));

  const v1 = new Hono<ApiEnv>();
  v1.use('*', bearerAuth(deps.verifier));
  // after bearerAuth: the bucket is the token's subject
  const limiterRedis = deps.rateLimitRedis ?? deps.redis;
  // refusals of admin tokens go to the audit log, at most one per token subject a minute
  const onRefused = adminRefusalRecorder({ orm: deps.orm, redis: limiterRedis, prefix: deps.config.QUEUE_PREFIX, logger: deps.logger });
  v1.use('*', rateLimit({ redis: limiterRedis, prefix: deps.config.QUEUE_PREFIX, limits: rateLimitsFrom(deps.config), onRefused }));
  // a single send may carry its attachments inline: its body may be larger by their base64 (the
  // attachments' own caps are checked when it is read, 413 naming the file); every other body keeps 1 MiB
  const sendLimit = bodyLimit(MAX_BODY_BYTES + base64Length(deps.config.ATTACHMENTS_MAX_TOTAL_BYTES));
  const otherLimit = bodyLimit(MAX_BODY_BYTES);
  v1.use('*', function limitBodyByRoute(c, next) {
    return (c.req.method === 'POST' && c.req.path === '/api/v1/notifications' ? sendLimit : otherLimit)(c, next);
  });
  // Order matters: Hono tries routes in registration order, and the inbox's
  // GET /notifications/:id would swallow any static GET /notifications/<word>
  // mounted after it. Mount routers with static paths before inboxRoutes.
  v1.route('/', sendRoutes(deps));
  v1.route('/', multiChannelRoutes(deps));
  v1.route('/', deliveryRoutes(deps));
  v1.route('/', recipientRoutes(deps));
  v1.route('/', templateRoutes(deps));
  v1.route('/', recallRoutes(deps));
  v1.route('/', scheduleRoutes(deps));
  v1.route('/', preferenceRoutes(deps));
  v1.route('/', actionRoutes(deps));
  v1.route('/', meRoutes(deps));
  v1.route('/', adminAuditRoutes(deps));
  v1.route('/', inboxRoutes(deps));
  app.route('/api/v1', v1);
  return app;
}
