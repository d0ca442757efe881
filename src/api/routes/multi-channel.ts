import { Hono } from 'hono';
import { z } from 'zod';
import { EXTERNAL_CHANNELS, type ExternalChannel } from '../../../queues/jobs.js';
import { SCOPES } from '../../auth/jwt.js';
import { isExternal } from '../../channels/index.js';
import { ValidationError, type FieldError } from '../../errors.js';
import { DIRECT_MAX_WAIT_S, sendDirect, waitForOutcome } from '../../domain/delivery/direct-send.js';
import { CHANNELS, METADATA_MAX_BYTES, PRIORITIES, TYPES, fieldErrors } from '../../domain/sending/input.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { requireScope } from '../middleware/auth.js';


const ALIASES: Record<string, string> = { app_push: 'push', system: 'app', in_app: 'app' };
const takenAliases = Object.keys(ALIASES).filter((a) => isExternal(ALIASES[a]));
// the names it takes, for the api's OpenAPI document (a transform has no JSON Schema of its own)
const channel = z.string().meta({ enum: [...EXTERNAL_CHANNELS, ...takenAliases], description: 'app_push means push' }).transform((s, ctx) => {
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

/** The 智链OS API's multi-channel body (plus priority, type and fallback_channels). */
export const multiChannelSchema = z.strictObject({
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

export const waitQuery = z.object({ wait: z.coerce.number().min(0).max(3600).optional() });

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
    const id = await sendDirect({ orm: deps.orm, queues: deps.queues }, who, {
      recipient: body.recipient,
      channels: body.channels,
      fallback_channels: body.fallback_channels ?? [],
      title: body.title,
      content: (body.content ?? body.message)!,
      type: body.type,
      priority: body.priority,
      metadata: body.metadata ?? body.extra_data ?? {},
    });

    if (q.data.wait === undefined) {
      return c.json({ id, success: true, message: '通知已受理', results: Object.fromEntries(body.channels.map((ch) => [ch, 'queued'])) }, 202);
    }
    const waitMs = Math.min(q.data.wait, DIRECT_MAX_WAIT_S, deps.config.REQUEST_TIMEOUT_MS / 1000 - 2) * 1000;
    return c.json({ id, ...(await waitForOutcome(deps.orm, who.tenant, id, waitMs)) });
  });

  return app;
}
