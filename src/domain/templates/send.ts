import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { UnprocessableError, ValidationError, type FieldError } from '../../errors.js';
import { PRIORITIES, TYPES, fieldErrors, notificationSchema, parseNotification, type NotificationInput } from '../sending/input.js';
import { renderText, type Vars } from './render.js';
import type { TemplateRow } from './templates.js';
import { isExternal } from '../../channels/index.js';
import type { DirectSend } from '../delivery/direct-send.js';
import { findRecipientByAddress } from '../delivery/recipients.js';

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

/** Per-channel texts keyed like `html`, `*_html` are HTML: their values are escaped. */
const isHtmlKey = (key: string) => key === 'html' || key.endsWith('_html');

export interface RenderedTemplate {
  title: string;
  content: string;
  /** per-channel texts, rendered (email: subject, html; sms: template_code, …) */
  channels: Record<string, Record<string, string>>;
}

/** Renders every text of a template once; every missing variable is named in one 422. */
export function renderTemplate(t: Pick<TemplateRow, 'name' | 'title' | 'content' | 'channel_overrides'>, vars: Vars): RenderedTemplate {
  const missing = new Map<string, string[]>();
  const note = (where: string, paths: string[]) => paths.forEach((p) => missing.set(p, [...(missing.get(p) ?? []), where]));
  const title = renderText(t.title, vars);
  note('title', title.missing);
  const content = renderText(t.content, vars);
  note('content', content.missing);
  const channels: Record<string, Record<string, string>> = {};
  for (const [channel, texts] of Object.entries(t.channel_overrides)) {
    channels[channel] = {};
    for (const [key, text] of Object.entries(texts)) {
      // {title} in a channel text means the rendered title unless the caller passed a variable of that name
      const r = renderText(text, { title: title.text, content: content.text, ...vars }, { html: isHtmlKey(key) });
      note(`${channel}.${key}`, r.missing);
      channels[channel][key] = r.text;
    }
  }
  if (missing.size) {
    const errors: FieldError[] = [...missing].map(([path, where]) => ({
      path: `template_vars.${path}`,
      message: `is required by template ${t.name} (${where.join(', ')})`,
    }));
    throw new UnprocessableError(`Template ${t.name} needs variables that were not given: ${[...missing.keys()].join(', ')}.`, errors);
  }
  return { title: title.text, content: content.text, channels };
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
  const { template_name: _n, template_id: _i, template_vars, recipient: _r, ...rest } = req;
  const metadata: Record<string, unknown> = {
    ...(req.metadata ?? req.extra_data ?? {}),
    template_name: t.name,
    template_version: t.version,
  };
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
