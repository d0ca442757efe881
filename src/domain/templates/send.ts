import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { UnprocessableError, ValidationError, type FieldError } from '../../errors.js';
import { PRIORITIES, TYPES, fieldErrors, notificationSchema, parseNotification, type NotificationInput } from '../sending/input.js';
import type { RenderedTexts } from './bodies.js';
import { renderLiquid, type RenderContext, type Vars } from './liquid.js';
import { LOCALE, textsFor, type Variants } from './variants.js';
import { isHtmlKey, type TemplateRow } from './templates.js';
import { isExternal } from '../../channels/index.js';
import type { DirectSend } from '../delivery/direct-send.js';
import { findRecipientByAddress } from '../delivery/recipients.js';
import type { RecipientRow } from '../../db/entities/recipient.js';

/**
 * POST /notifications/template: the 智链OS API's `template_name`, `template_vars`,
 * `recipient`, plus every targeting, scheduling and delivery field of a
 * plain send. The template gives title, content, type, priority and
 * channels; the request may override type, priority and channels.
 */
const { title: _t, content: _c, message: _m, type: _ty, priority: _p, ...sendFields } = notificationSchema.shape;
export const templateSendSchema = z.strictObject({
  template_name: z.string().trim().min(1).max(100).optional(),
  template_id: z.string().trim().min(1).max(100).optional(),
  template_vars: z.record(z.string(), z.unknown()).default({}),
  /** a user id, or the email or phone of a known recipient (PUT /recipients) */
  recipient: z.string().trim().min(1).max(320).optional(),
  /** the locale to render in for targets that have none of their own (roles, stores, the tenant, bare addresses, users without one) */
  locale: z
    .string()
    .regex(LOCALE, 'must be a locale, e.g. zh-CN')
    .optional()
    .describe('the locale for targets without their own (roles, stores, the tenant, addresses): picks the variant, formats currency'),
  type: z.enum(TYPES).optional(),
  priority: z.enum(PRIORITIES).optional(),
  ...sendFields,
});
export type TemplateSend = z.infer<typeof templateSendSchema>;

export function parseTemplateSend(body: unknown): TemplateSend {
  const parsed = templateSendSchema.safeParse(body);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  if (!parsed.data.template_name && !parsed.data.template_id)
    throw new ValidationError([{ path: 'template_name', message: 'required (or template_id)' }]);
  return parsed.data;
}

export interface RenderedTemplate extends RenderedTexts {
  /** the variant the recipient's locale picked; absent for the template's own texts */
  locale?: string;
}

/**
 * Renders every text of a template once, in the variant the locale picks;
 * dates in `timezone`, money in `locale`. Every missing variable is named
 * in one 422, as is a text that fails while rendering.
 */
export function renderTemplate(
  t: Pick<TemplateRow, 'name' | 'title' | 'content' | 'channel_overrides'> & { variants?: Variants },
  vars: Vars,
  ctx: RenderContext = {},
  /** the request field the variables came in, for the 422's paths */
  varsField = 'template_vars',
): RenderedTemplate {
  const texts = textsFor(t, ctx.locale);
  const missing = new Map<string, string[]>();
  const note = (where: string, paths: string[]) => paths.forEach((p) => missing.set(p, [...(missing.get(p) ?? []), where]));
  const render = (where: string, text: string, scope: Vars, html = false) => {
    try {
      const r = renderLiquid(text, scope, { html, ...ctx });
      note(where, r.missing);
      return r.text;
    } catch (err) {
      throw new UnprocessableError(`Template ${t.name} could not be rendered.`, [{ path: where, message: (err as Error).message }]);
    }
  };
  const title = render('title', texts.title, vars);
  const content = render('content', texts.content, vars);
  const channels: Record<string, Record<string, string>> = {};
  for (const [channel, byKey] of Object.entries(texts.channel_overrides)) {
    channels[channel] = {};
    // {title} in a channel text means the rendered title unless the caller passed a variable of that name
    for (const [key, text] of Object.entries(byKey)) channels[channel][key] = render(`${channel}.${key}`, text, { title, content, ...vars }, isHtmlKey(key));
  }
  if (missing.size) {
    const errors: FieldError[] = [...missing].map(([path, where]) => ({
      path: `${varsField}.${path}`,
      message: `is required by template ${t.name} (${where.join(', ')})`,
    }));
    throw new UnprocessableError(`Template ${t.name} needs variables that were not given: ${[...missing.keys()].join(', ')}.`, errors);
  }
  return { title, content, channels, ...(texts.locale ? { locale: texts.locale } : {}) };
}

/** Looks like an email or a phone number, rather than a user id. */
const isAddress = (recipient: string): boolean => recipient.includes('@') || /^\+?[0-9][0-9 -]{5,19}$/.test(recipient);

/**
 * A 智链OS-style `recipient`: a user id, or the email or phone of a known
 * recipient. `null` when it is an address no recipient has: the message then goes
 * straight to that address (see toDirectSend).
 */
export async function resolveRecipient(em: EntityManager, tenant: string, recipient: string): Promise<string | null> {
  const row = await findRecipientByAddress(em, tenant, recipient);
  if (row) return row.user_id;
  return isAddress(recipient) ? null : recipient;
}

/** The targets of a plain send, besides `recipient`. */
export const hasTargets = (req: TemplateSend): boolean => Boolean(req.user_id || req.user_ids?.length || req.role || req.store_id || req.broadcast);

/**
 * A template sent to an address nobody has (the 智链OS API's `"recipient":
 * "manager@example.com"`) goes straight to that address on the template's
 * external channels, with delivery records and no inbox row, like
 * POST /notifications/multi-channel. In-app channels have no inbox to reach
 * and are reported as skipped.
 */
export function toDirectSend(t: TemplateRow, req: TemplateSend, rendered: RenderedTemplate, recipient: string): { send: DirectSend; skipped: string[] } {
  const channels = (req.channels ?? t.channels) as string[];
  const external = channels.filter(isExternal);
  const errors: FieldError[] = [];
  if (!external.length)
    errors.push({ path: 'recipient', message: `is an address, and template ${t.name} sends only in-app (${channels.join(', ')}): send user_id, or channels with an external one` });
  if (rendered.title.length > 200) errors.push({ path: 'title', message: 'the rendered title is longer than 200 characters' });
  if (rendered.content.length > 2000) errors.push({ path: 'content', message: 'the rendered content is longer than 2000 characters' });
  if (errors.length) throw new UnprocessableError(`Template ${t.name} cannot be sent to ${recipient}.`, errors);
  const metadata: Record<string, unknown> = { ...(req.metadata ?? req.extra_data ?? {}), template_name: t.name, template_version: t.version };
  if (Object.keys(rendered.channels).length) metadata.channel_content = rendered.channels;
  if (rendered.channels.sms?.template_code) {
    metadata.sms_template_code = rendered.channels.sms.template_code;
    metadata.sms_template_params = req.template_vars;
  }
  return {
    send: {
      recipient,
      channels: external,
      fallback_channels: (req.fallback_channels ?? []).filter(isExternal),
      title: rendered.title,
      content: rendered.content,
      type: req.type ?? (t.type as DirectSend['type']),
      priority: req.priority ?? (t.priority as DirectSend['priority']),
      metadata,
    },
    skipped: channels.filter((c) => !isExternal(c)),
  };
}

/**
 * The plain notification a template send becomes, validated by the same
 * rules (and limits) as POST /notifications, so a rendered text that is too
 * long is refused exactly like a typed one. The rendering, the template's
 * name and version and the per-channel texts travel in metadata.
 */
export function toNotificationInput(t: TemplateRow, req: TemplateSend, rendered: RenderedTemplate, userId: string | null): NotificationInput {
  const { template_name: _n, template_id: _i, template_vars, recipient: _r, locale: _l, ...rest } = req;
  // without schedule_local the request's time zone was for the template's dates only
  if (!req.schedule_local) delete rest.timezone;
  const metadata: Record<string, unknown> = {
    ...(req.metadata ?? req.extra_data ?? {}),
    template_name: t.name,
    template_version: t.version,
  };
  if (rendered.locale) metadata.template_locale = rendered.locale;
  if (Object.keys(rendered.channels).length) metadata.channel_content = rendered.channels;
  const sms = rendered.channels.sms;
  if (sms?.template_code) {
    metadata.sms_template_code = sms.template_code;
    metadata.sms_template_params = template_vars;
  }
  const body: Record<string, unknown> = {
    ...rest,
    metadata,
    extra_data: undefined,
    title: rendered.title,
    content: rendered.content,
    type: req.type ?? t.type,
    priority: req.priority ?? t.priority,
    channels: req.channels ?? t.channels,
  };
  if (userId && !req.user_id && !req.user_ids?.includes(userId)) body.user_id = userId;
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  const parsed = parseNotification(body);
  if (parsed.ok) return parsed.value;
  // the request's own fields were checked already: what fails here came from the template
  const fromTemplate = parsed.errors.filter((e) => /^(title|content|metadata)\b/.test(e.path));
  if (fromTemplate.length === parsed.errors.length)
    throw new UnprocessableError(`Template ${t.name} rendered a notification that is not valid.`, parsed.errors);
  throw new ValidationError(parsed.errors);
}

/** One notification of a template send: the users (and, for one of them, the request's other targets) that read the same rendering. */
export interface RenderingGroup {
  rendered: RenderedTemplate;
  users: string[];
  /** this group also carries the request's role, store and tenant targets */
  others: boolean;
}

/** The time zone and locale a template is rendered in for targets with none of their own. */
export const requestContext = (req: Pick<TemplateSend, 'locale' | 'timezone'>): RenderContext => ({ locale: req.locale ?? null, timezone: req.timezone ?? 'UTC' });

/**
 * Renders a template send for each of its users in their own locale
 * (which picks the variant) and time zone (PUT /recipients), and for its
 * role, store and tenant targets in the request's. Users who read the same
 * text share one group; most sends are therefore one group, as before.
 * Members of a role or store are not split by locale: they read the
 * request's rendering.
 */
export async function renderForRecipients(
  lookup: (userIds: string[]) => Promise<Map<string, Pick<RecipientRow, 'locale' | 'timezone'>>>,
  t: TemplateRow,
  req: TemplateSend,
  userId: string | null,
): Promise<RenderingGroup[]> {
  const fallback = requestContext(req);
  const users = [...new Set([...(userId ? [userId] : []), ...(req.user_id ? [req.user_id] : []), ...(req.user_ids ?? [])])];
  const others = Boolean(req.role || req.store_id || req.broadcast);
  const rows = users.length ? await lookup(users) : new Map<string, Pick<RecipientRow, 'locale' | 'timezone'>>();
  const byContext = new Map<string, RenderedTemplate>();
  const render = (ctx: RenderContext) => {
    const key = `${ctx.locale ?? ''}|${ctx.timezone ?? ''}`;
    let r = byContext.get(key);
    if (!r) byContext.set(key, (r = renderTemplate(t, req.template_vars, ctx)));
    return r;
  };
  const groups = new Map<string, RenderingGroup>();
  const join = (rendered: RenderedTemplate, user: string | null) => {
    const key = JSON.stringify(rendered);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { rendered, users: [], others: false }));
    if (user === null) g.others = true;
    else g.users.push(user);
  };
  for (const u of users) {
    const row = rows.get(u);
    join(render({ locale: row?.locale ?? fallback.locale, timezone: row?.timezone ?? fallback.timezone }), u);
  }
  if (others || !users.length) join(render(fallback), null);
  return [...groups.values()];
}

/**
 * The notifications of a template send rendered in several ways: one per
 * group, each with its own users; the group that carries the other targets
 * keeps them. An idempotency key stays one per group (the first group's is
 * the request's own), so a retry replays every group.
 */
export function groupInputs(t: TemplateRow, req: TemplateSend, groups: RenderingGroup[]): NotificationInput[] {
  return groups.map((g, i) => {
    const targets: Partial<TemplateSend> = {
      user_id: g.users.length === 1 ? g.users[0] : undefined,
      user_ids: g.users.length > 1 ? g.users : undefined,
      role: g.others ? req.role : undefined,
      store_id: g.others ? req.store_id : undefined,
      broadcast: g.others ? req.broadcast : undefined,
    };
    const input = toNotificationInput(t, { ...req, ...targets }, g.rendered, null);
    return i > 0 && input.idempotency_key ? { ...input, idempotency_key: `${input.idempotency_key}#${i}` } : input;
  });
}
