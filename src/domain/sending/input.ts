import { z } from 'zod';
import type { Channel, NotificationDraft, NotificationType, Priority, Target } from '../../../queues/jobs.js';
import type { FieldError } from '../../errors.js';
import { newId } from '../ids.js';
import { digestSchema } from '../digest/window.js';
import { ATTACHMENTS_MAX, isBase64, sanitizeFilename } from '../attachments/files.js';
import { parseRfc3339, rfc3339Time } from '../time/rfc3339.js';
import { isTimeZone, parseWallClock } from '../time/zoned-time.js';

export const TYPES = ['info', 'success', 'warning', 'error', 'alert', 'system'] as const satisfies readonly NotificationType[];
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const satisfies readonly Priority[];
export const CHANNELS = ['app', 'email', 'sms', 'wechat', 'feishu', 'push', 'webhook'] as const satisfies readonly Channel[];
/** Names the legacy APIs use for the same channels. */
const CHANNEL_ALIASES: Record<string, Channel> = { system: 'app', in_app: 'app', app_push: 'push' };

export const METADATA_MAX_BYTES = 8 * 1024;

const channel = z
  .string()
  // the names it takes, for the api's OpenAPI document (a transform has no JSON Schema of its own)
  .meta({ enum: [...CHANNELS, ...Object.keys(CHANNEL_ALIASES)], description: 'system and in_app mean app; app_push means push' })
  .transform((s, ctx) => {
    const c = (CHANNEL_ALIASES[s] ?? s) as Channel;
    if (!(CHANNELS as readonly string[]).includes(c)) {
      ctx.addIssue({ code: 'custom', message: `unknown channel '${s}'; expected one of ${CHANNELS.join(', ')}` });
      return z.NEVER;
    }
    return c;
  });
const channelList = z.array(channel).max(CHANNELS.length * 2).transform((l) => [...new Set(l)]);

const metadata = z.record(z.string(), z.unknown()).refine((m) => Buffer.byteLength(JSON.stringify(m)) <= METADATA_MAX_BYTES, {
  message: `must be at most ${METADATA_MAX_BYTES} bytes of JSON`,
});

const id = z.string().trim().min(1).max(128);

export const LINK_MAX_CHARS = 2048;
export const ACTIONS_MAX = 3;

/**
 * A link a client renders as an anchor or opens on a click: http(s) only, so
 * a sender cannot hand every recipient a javascript: or data: link.
 */
const link = z
  .string()
  .trim()
  .max(LINK_MAX_CHARS)
  .url()
  .refine((s) => /^https?:\/\//i.test(s), 'must be an http(s) URL');

const action = z.strictObject({
  label: z.string().trim().min(1).max(40),
  url: link,
  style: z.enum(['primary', 'secondary']).default('secondary'),
});

/**
 * A file for the notification's emails (other channels ignore it): its
 * bytes inline in base64, or a URL the email worker fetches once, at the
 * first delivery. The filename is sanitised (src/domain/attachments/files.ts).
 */
const attachment = z.strictObject({
  filename: z.string().max(255).describe('the name the recipient sees; path parts and control characters are removed'),
  content_type: z
    .string()
    .trim()
    .max(255)
    .regex(/^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(?:[ \t]*;[^\u0000-\u001f\u007f]*)?$/, 'must be a media type, e.g. application/pdf')
    .optional()
    .describe('default: the type given by the url, else guessed from the filename'),
  url: link.optional().describe('fetched by the email worker at the first delivery (http or https; public addresses only)'),
  content_base64: z
    .string()
    .refine(isBase64, 'must be base64 (RFC 4648, padded, no line breaks)')
    .optional()
    .describe('the bytes, base64; size-capped by ATTACHMENT_MAX_BYTES each and ATTACHMENTS_MAX_TOTAL_BYTES together'),
});

/** Both legacy request shapes: the 智链OS API's (message, extra_data, user_id/role/store_id) and the VoiceHelper API's (content, metadata, user_ids). */
export const notificationSchema = z.strictObject({
  title: z.string().trim().min(1).max(200),
  content: z.string().min(1).max(2000).optional(),
  message: z.string().min(1).max(2000).optional(),
  type: z.enum(TYPES).default('info'),
  priority: z.enum(PRIORITIES).default('normal'),
  user_id: id.optional(),
  user_ids: z.array(id).min(1).max(1000).optional(),
  role: id.optional(),
  store_id: id.optional(),
  broadcast: z.boolean().optional(),
  channels: channelList.optional(),
  fallback_channels: channelList.optional(),
  metadata: metadata.optional(),
  extra_data: metadata.optional(),
  source: z.string().max(100).optional(),
  schedule_at: rfc3339Time().optional(),
  /** a wall-clock time with no offset, sent at that time in each recipient's own time zone (src/domain/sending/schedule-local.ts) */
  schedule_local: z
    .string()
    .refine((s) => parseWallClock(s) !== null, 'must be a local time with no offset, e.g. 2026-12-01T09:00')
    .optional(),
  /** schedule_local's time zone for recipients without one of their own (default UTC) */
  timezone: z.string().refine(isTimeZone, 'is not an IANA time zone, e.g. Asia/Shanghai').optional(),
  group_key: z.string().min(1).max(200).optional(),
  idempotency_key: z.string().min(1).max(200).optional(),
  /** what a client opens when the notification is clicked */
  url: link.optional(),
  /** a picture a client shows with it */
  image_url: link.optional(),
  /** buttons; POST /notifications/{id}/actions/{n} records that a user took button n (from 0) */
  actions: z.array(action).max(ACTIONS_MAX).optional(),
  /** external deliveries held and sent as one message per user, channel and key (src/domain/digest/) */
  digest: digestSchema.optional(),
  /** files attached to the notification's emails: exactly one of url and content_base64 each */
  attachments: z.array(attachment).max(ATTACHMENTS_MAX).optional(),
});

export type NotificationInput = z.infer<typeof notificationSchema>;

/** Zod issues as problem+json entries: one per bad field, unknown fields named one by one. */
export function fieldErrors(error: z.ZodError, prefix: (string | number)[] = []): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    const base = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...base, key].join('.'), message: 'unknown field' });
    } else {
      out.push({ path: base.join('.') || '(body)', message: issue.message });
    }
  }
  return out;
}

/** Checks that zod cannot express on one field: content/message, targets, schedule time. */
function crossFieldErrors(input: NotificationInput, prefix: (string | number)[], now: number): FieldError[] {
  const p = (f: string) => [...prefix, f].join('.');
  const errors: FieldError[] = [];
  if (input.content === undefined && input.message === undefined) errors.push({ path: p('content'), message: 'required (or message)' });
  if (input.content !== undefined && input.message !== undefined && input.content !== input.message)
    errors.push({ path: p('message'), message: 'differs from content; send one of them' });
  if (input.metadata && input.extra_data) errors.push({ path: p('extra_data'), message: 'send metadata or extra_data, not both' });
  if (!input.user_id && !input.user_ids && !input.role && !input.store_id && !input.broadcast)
    errors.push({ path: p('user_id'), message: 'a target is required: user_id, user_ids, role, store_id or broadcast: true' });
  if (input.schedule_at && parseRfc3339(input.schedule_at)!.getTime() <= now) errors.push({ path: p('schedule_at'), message: 'is in the past' });
  if (input.schedule_at && input.schedule_local) errors.push({ path: p('schedule_local'), message: 'send schedule_at or schedule_local, not both' });
  if (input.timezone && !input.schedule_local) errors.push({ path: p('timezone'), message: 'only applies to schedule_local' });
  input.attachments?.forEach((a, i) => {
    const at = (f: string) => p(`attachments.${i}.${f}`);
    if (!sanitizeFilename(a.filename)) errors.push({ path: at('filename'), message: 'is required (a name with something left after path parts and control characters are removed)' });
    if ((a.url === undefined) === (a.content_base64 === undefined)) errors.push({ path: at('url'), message: 'send exactly one of url and content_base64' });
  });
  return errors;
}

export type ParseResult = { ok: true; value: NotificationInput } | { ok: false; errors: FieldError[] };

export function parseNotification(body: unknown, prefix: (string | number)[] = [], now = Date.now()): ParseResult {
  const parsed = notificationSchema.safeParse(body);
  if (!parsed.success) return { ok: false, errors: fieldErrors(parsed.error, prefix) };
  const errors = crossFieldErrors(parsed.data, prefix, now);
  return errors.length ? { ok: false, errors } : { ok: true, value: parsed.data };
}

/** The audiences a request names: one stored notification each. */
export function targetsOf(input: NotificationInput): Target[] {
  const targets: Target[] = [];
  const users = new Set<string>([...(input.user_id ? [input.user_id] : []), ...(input.user_ids ?? [])]);
  for (const u of users) targets.push({ kind: 'user', id: u });
  if (input.role) targets.push({ kind: 'role', id: input.role });
  if (input.store_id) targets.push({ kind: 'store', id: input.store_id });
  if (input.broadcast) targets.push({ kind: 'tenant' });
  return targets;
}

/** Turns one validated request into the drafts the ingest worker stores. */
export function toDrafts(input: NotificationInput, ctx: { tenant: string; sender: string; now?: number }): NotificationDraft[] {
  const now = ctx.now ?? Date.now();
  const created = new Date(now).toISOString();
  return targetsOf(input).map((target) => ({
    id: newId(now),
    tenant: ctx.tenant,
    target,
    title: input.title,
    content: (input.content ?? input.message)!,
    type: input.type,
    priority: input.priority,
    channels: input.channels?.length ? input.channels : ['app'],
    fallback_channels: input.fallback_channels ?? [],
    // the digest travels in metadata, stored with the notification, where planning its deliveries reads it
    metadata: input.digest ? { ...(input.metadata ?? input.extra_data), digest: input.digest } : (input.metadata ?? input.extra_data ?? {}),
    source: input.source ?? null,
    group_key: input.group_key ?? null,
    idempotency_key: input.idempotency_key ?? null,
    sender: ctx.sender,
    created_at: created,
    schedule_at: input.schedule_at ? parseRfc3339(input.schedule_at)!.toISOString() : null,
    url: input.url ?? null,
    image_url: input.image_url ?? null,
    actions: input.actions ?? [],
  }));
}
