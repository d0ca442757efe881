import { z } from 'zod';
import { isTimeZone } from '../time/zoned-time.js';
import { CHANNELS } from '../sending/input.js';
import { channelBody, type ChannelBody } from './bodies.js';
import { renderTemplate } from './send.js';
import type { TemplateRow } from './templates.js';
import { LOCALE } from './variants.js';

/** POST /templates/:ref/preview: a template rendered as a recipient would get it, sent nowhere. */
export const templatePreviewSchema = z.strictObject({
  variables: z.record(z.string(), z.unknown()).default({}),
  locale: z.string().regex(LOCALE, 'must be a locale, e.g. zh-CN').optional().describe("the recipient's locale: picks the variant"),
  channel: z.enum(CHANNELS).optional().describe("only this channel's body (default: each of the template's channels)"),
  timezone: z.string().refine(isTimeZone, 'is not an IANA time zone, e.g. Asia/Shanghai').optional().describe('for the date filter (default UTC)'),
});
export type TemplatePreviewInput = z.infer<typeof templatePreviewSchema>;

export interface TemplatePreview {
  template: string;
  template_version: number;
  locale: string | null;
  timezone: string;
  title: string;
  content: string;
  channels: Record<string, ChannelBody>;
}

export function previewTemplate(t: TemplateRow, input: TemplatePreviewInput): TemplatePreview {
  const timezone = input.timezone ?? 'UTC';
  // a missing variable is the same 422 a send answers, naming it under `variables`
  const rendered = renderTemplate(t, input.variables, { locale: input.locale, timezone }, 'variables');
  const channels = input.channel ? [input.channel] : t.channels;
  return {
    template: t.name,
    template_version: t.version,
    locale: rendered.locale ?? null,
    timezone,
    title: rendered.title,
    content: rendered.content,
    channels: Object.fromEntries(channels.map((c) => [c, channelBody(rendered, c)])),
  };
}
