import { Hono } from 'hono';
import { z } from 'zod';
import type { ExternalChannel } from '../../../queues/jobs.js';
import { SCOPES } from '../../auth/jwt.js';
import { isExternal } from '../../channels/index.js';
import { deliveryQueuesOn, enqueueDeliveries } from '../../channels/queues.js';
import { ValidationError, type FieldError } from '../../errors.js';
import { insertPlanned, listDeliveries, markFailed } from '../../domain/deliveries.js';
import { deliveryJob } from '../../domain/deliveries-plan.js';
import { newId } from '../../domain/ids.js';
import { CHANNELS, METADATA_MAX_BYTES, PRIORITIES, TYPES, fieldErrors } from '../../domain/notification-input.js';
import { addressOf, classifyAddress, findRecipientByAddress } from '../../domain/recipients.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { requireScope } from '../middleware/auth.js';

/** Longest `?wait=` honoured, in seconds (the request must still end well before the api's request timeout). */
export const MULTI_CHANNEL_MAX_WAIT_S = 25;
const POLL_MS = 100;

const ALIASES: Record<string, string> = { app_push: 'push', system: 'app', in_app: 'app' };
const channel = z.string().transform((s, ctx) => {
  const c = ALIASES[s] ?? s;
  if (!isExternal(c)) {
    ctx.addIssue({
      code: 'custom',
      message: (CHANNELS as readonly string[]).includes(c)
        ? `'${s}' needs an inbox; a multi-channel send goes to an address (email, sms, wechat, feishu, push, webhook)`
        : `unknown channel '${s}'`,
    });
    return z.NEVER;
  }
  return c as ExternalChannel;
});
const metadata = z.record(z.string(), z.unknown()).refine((m) => Buffer.byteLength(JSON.stringify(m)) <= METADATA_MAX_BYTES, {
  message: `must be at most ${METADATA_MAX_BYTES} bytes of JSON`,
});

/** Seed 1's multi-channel body (plus priority, type and fallback_channels). */
const multiChannelSchema = z.strictObject({
  channels: z.array(channel).min(1).max(12).transform((l) => [...new Set(l)]),
  recipient: z.string().trim().min(1).max(256),
  title: z.string().trim().min(1).max(200),
  content: z.string().min(1).max(2000).optional(),
  message: z.string().min(1).max(2000).optional(),
  extra_data: metadata.optional(),
  metadata: metadata.optional(),
  type: z.enum(TYPES).default('info'),
  priority: z.enum(PRIORITIES).default('normal'),
  fallback_channels: z.array(channel).max(12).transform((l) => [...new Set(l)]).optional(),
});

const waitQuery = z.object({ wait: z.coerce.number().min(0).max(3600).optional() });

/** POST /notifications/multi-channel: straight to an address on each channel, no inbox row. */
export function multiChannelRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();

  app.post('/notifications/multi-channel', requireScope(SCOPES.send), async (c) => {
    const q = waitQuery.safeParse(c.req.query());
    if (!q.success) throw new ValidationError(fieldErrors(q.error), 'The query has invalid parameters.');
    const parsed = multiChannelSchema.safeParse(await readJson(c));
    if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
    const body = parsed.data;
    const errors: FieldError[] = [];
    if (body.content === undefined && body.message === undefined) errors.push({ path: 'content', message: 'required (or message)' });
    if (body.extra_data && body.metadata) errors.push({ path: 'extra_data', message: 'send metadata or extra_data, not both' });
    if (errors.length) throw new ValidationError(errors);

    const who = c.get('principal');
    const em = deps.orm.em.fork();
    const id = newId();
    const meta = body.metadata ?? body.extra_data ?? {};
    // a recipient named by user id, email or phone reaches that user's addresses; anything else is used as given
    const known = await findRecipientByAddress(em, who.tenant, body.recipient);
    const seed = {
      tenant: who.tenant,
      notification_id: id,
      sender: who.sub,
      message: {
        title: body.title,
        content: (body.content ?? body.message)!,
        type: body.type,
        priority: body.priority,
        metadata: meta,
        created_at: new Date().toISOString(),
      },
    };
    const jobs = body.channels.map((ch) => {
      const address = (known && addressOf(known, ch, meta)) || classifyAddress(body.recipient, ch);
      const recipient = known ? { recipient: known.user_id, direct: false } : { recipient: body.recipient, direct: true };
      return deliveryJob(seed, { ...recipient, address }, ch, body.fallback_channels ?? [], null);
    });
    await insertPlanned(em, jobs);
    try {
      await enqueueDeliveries(deliveryQueuesOn(deps.redis, deps.config.QUEUE_PREFIX), jobs);
    } catch (err) {
      // no job will ever run for these records: say so in them rather than leave them queued forever
      await Promise.all(jobs.map((j) => markFailed(em, j.delivery_id, 'not_enqueued', (err as Error).message))).catch(() => undefined);
      throw err;
    }

    if (q.data.wait === undefined) {
      return c.json({ id, success: true, message: '通知已受理', results: Object.fromEntries(body.channels.map((ch) => [ch, 'queued'])) }, 202);
    }

    // ?wait=: poll the records until nothing is in flight (a fallback's record is written before its failed predecessor is final)
    const deadline = Date.now() + Math.min(q.data.wait, MULTI_CHANNEL_MAX_WAIT_S, deps.config.REQUEST_TIMEOUT_MS / 1000 - 2) * 1000;
    let rows = await listDeliveries(em, who.tenant, id);
    while (rows.some((r) => r.status === 'queued' || r.status === 'sending') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      rows = await listDeliveries(deps.orm.em.fork(), who.tenant, id);
    }
    const pending = rows.filter((r) => r.status === 'queued' || r.status === 'sending').map((r) => r.channel);
    const results: Record<string, boolean> = Object.fromEntries(rows.map((r) => [r.channel, r.status === 'sent']));
    const success = Object.values(results).some(Boolean);
    const message = pending.length
      ? `仍在发送: ${pending.join(', ')}`
      : success
        ? '通知已发送'
        : '通知发送失败';
    return c.json({
      id,
      success,
      message,
      results,
      ...(pending.length ? { pending } : {}),
      errors: Object.fromEntries(rows.filter((r) => r.status === 'failed').map((r) => [r.channel, `${r.reason}: ${r.last_error ?? ''}`])),
    });
  });

  return app;
}
