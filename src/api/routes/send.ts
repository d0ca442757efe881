import { ROOT_CONTEXT, SpanKind, propagation } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { SCOPES } from '../../auth/jwt.js';
import { ValidationError, type FieldError } from '../../errors.js';
import { acceptNotifications } from '../../domain/sending/accept.js';
import { fieldErrors, parseNotification, type NotificationInput } from '../../domain/sending/input.js';
import { recipientZones } from '../../domain/sending/schedule-local.js';
import { attachmentLimits } from '../../domain/attachments/files.js';
import { checkInlineSizes } from '../../domain/attachments/inline.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { requireScope } from '../middleware/auth.js';
import { MAX_BODY_BYTES, bodyTooLarge } from '../middleware/body-limit.js';
import { ATTR } from '../../tracing/attributes.js';
import { inSpan } from '../../tracing/spans.js';
import { tracingOn } from '../../tracing/tracer.js';

export const BULK_MAX = 1000;

export const bulkShape = z.strictObject({ notifications: z.array(z.unknown()).min(1).max(BULK_MAX) });

/** POST /notifications and /notifications/bulk (scope notify:send). */
export function sendRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const limits = attachmentLimits(deps.config);
  const accept = {
    redis: deps.redis,
    queues: deps.queues,
    prefix: deps.config.QUEUE_PREFIX,
    zones: recipientZones(deps.orm),
    attachments: { orm: deps.orm, limits },
  };

  app.post('/notifications/bulk', requireScope(SCOPES.send), (c) => inSpan('POST /notifications/bulk', () => requestAttributes(c, '/api/v1/notifications/bulk'), async (span) => {
    const body = bulkShape.safeParse(await readJson(c));
    if (!body.success) throw new ValidationError(fieldErrors(body.error));
    const inputs: NotificationInput[] = [];
    const errors: FieldError[] = [];
    body.data.notifications.forEach((item, i) => {
      const parsed = parseNotification(item, ['notifications', i]);
      if (parsed.ok) inputs.push(parsed.value);
      else errors.push(...parsed.errors);
    });
    if (errors.length) throw new ValidationError(errors);
    inputs.forEach((input, i) => checkInlineSizes(input.attachments, limits, ['notifications', i]));
    const results = await acceptNotifications(accept, c.get('principal'), inputs);
    const ids = results.flatMap((r) => r.ids);
    // a bulk request's ids are counted, not listed: its notifications' own spans name them
    span?.setAttributes({ [ATTR.notificationCount]: ids.length, [ATTR_HTTP_RESPONSE_STATUS_CODE]: 202 });
    return c.json({ ids, count: ids.length }, 202);
  }, { kind: SpanKind.SERVER, parent: callerContext(c) }));

  app.post('/notifications', requireScope(SCOPES.send), (c) => inSpan('POST /notifications', () => requestAttributes(c, '/api/v1/notifications'), async (span) => {
    const body = await readJson(c);
    // the route's body limit allows for inline attachments (src/api/app.ts): the rest of the body keeps 1 MiB
    const size = (await c.req.arrayBuffer()).byteLength;
    if (size > MAX_BODY_BYTES && size - inlineBase64Length(body) > MAX_BODY_BYTES) bodyTooLarge(MAX_BODY_BYTES);
    const parsed = parseNotification(body);
    if (!parsed.ok) throw new ValidationError(parsed.errors);
    checkInlineSizes(parsed.value.attachments, limits);
    const [result] = await acceptNotifications(accept, c.get('principal'), [parsed.value]);
    const [first] = result.notifications;
    const ids = result.ids;
    if (result.replayed) c.header('idempotent-replayed', 'true');
    span?.setAttributes({ [ATTR.notificationId]: first.id, [ATTR.notificationCount]: ids.length, [ATTR_HTTP_RESPONSE_STATUS_CODE]: 202 });
    return c.json({ ...first, ids, count: ids.length, ...(ids.length > 1 ? { notifications: result.notifications } : {}) }, 202);
  }, { kind: SpanKind.SERVER, parent: callerContext(c) }));

  return app;
}

/**
 * The caller's trace, when its request carries a W3C `traceparent` header:
 * the send's spans join it (a service that traces its own work sees the
 * notification's path under it). Without one, or with tracing off, a new
 * trace (the active context: nothing is read).
 */
function callerContext(c: Context<ApiEnv>) {
  if (!tracingOn()) return undefined;
  const traceparent = c.req.header('traceparent');
  if (!traceparent) return undefined;
  const tracestate = c.req.header('tracestate');
  return propagation.extract(ROOT_CONTEXT, tracestate ? { traceparent, tracestate } : { traceparent });
}

/** What a send request's span says before it is handled: the route and the sender's tenant. */
const requestAttributes = (c: Context<ApiEnv>, route: string) => ({
  [ATTR_HTTP_REQUEST_METHOD]: 'POST',
  [ATTR_HTTP_ROUTE]: route,
  [ATTR.tenant]: c.get('principal').tenant,
});

/** Characters of inline attachment content (`attachments[].content_base64`) in a send's raw body. */
function inlineBase64Length(body: unknown): number {
  const list = (body as { attachments?: unknown } | null)?.attachments;
  if (!Array.isArray(list)) return 0;
  let n = 0;
  for (const a of list) {
    const b64 = (a as { content_base64?: unknown } | null)?.content_base64;
    if (typeof b64 === 'string') n += b64.length;
  }
  return n;
}
