import { z } from 'zod';

/**
 * Per-locale variants of a template. A variant names only what it changes:
 * the generic title and content, and per-channel bodies (email subject,
 * html, text; sms text and template_code; wechat and feishu markdown; push
 * title and body). What it leaves out comes from the template itself, key by
 * key, so a variant that translates the content should translate the
 * channel bodies the template has too.
 *
 * A recipient's locale picks one variant: the exact tag, then each shorter
 * tag (zh-Hant-TW → zh-Hant → zh), else the template's own texts.
 */
const text = (max: number) => z.string().max(max);

/** Per-channel bodies; the keys each channel's adapter and the preview know. */
export const channelBodiesShape = {
  email: z.strictObject({ subject: text(200).optional(), html: text(100_000).optional(), text: text(100_000).optional() }).optional(),
  sms: z.strictObject({ text: text(2000).optional(), template_code: text(100).optional() }).optional(),
  wechat: z.strictObject({ markdown: text(4000).optional() }).optional(),
  feishu: z.strictObject({ markdown: text(4000).optional() }).optional(),
  push: z.strictObject({ title: text(200).optional(), body: text(2000).optional() }).optional(),
};
export const VARIANT_CHANNELS = Object.keys(channelBodiesShape) as Array<keyof typeof channelBodiesShape>;

export const variantSchema = z.strictObject({
  title: z.string().trim().min(1).max(200).optional(),
  content: z.string().min(1).max(2000).optional(),
  ...channelBodiesShape,
});
export type Variant = z.infer<typeof variantSchema>;

/** A locale tag as recipients carry it: zh-CN, en, zh-Hant-TW (an underscore is read as a hyphen). */
export const LOCALE = /^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/;

export const variantsSchema = z
  .record(z.string().regex(LOCALE, 'must be a locale, e.g. zh-CN or en'), variantSchema)
  .refine((v) => Object.keys(v).length <= 50, 'at most 50 locales');
export type Variants = Record<string, Variant>;

const normal = (locale: string) => locale.replace(/_/g, '-').toLowerCase();

/** The tags a locale falls back through, most specific first: zh-TW → [zh-tw, zh]. */
export function localeChain(locale: string | null | undefined): string[] {
  if (!locale) return [];
  const parts = normal(locale).split('-');
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('-'));
}

/** The variant key a locale picks, or null for the template's own texts. */
export function pickLocale(variants: Variants, locale: string | null | undefined): string | null {
  const byNormal = new Map(Object.keys(variants).map((k) => [normal(k), k]));
  for (const tag of localeChain(locale)) {
    const key = byNormal.get(tag);
    if (key) return key;
  }
  return null;
}

export interface Texts {
  title: string;
  content: string;
  channel_overrides: Record<string, Record<string, string>>;
}

/** The texts a recipient of `locale` gets: the picked variant over the template's own, key by key. */
export function textsFor(t: Texts & { variants?: Variants }, locale: string | null | undefined): Texts & { locale: string | null } {
  const key = pickLocale(t.variants ?? {}, locale);
  if (!key) return { title: t.title, content: t.content, channel_overrides: t.channel_overrides, locale: null };
  const { title, content, ...bodies } = t.variants![key];
  const channels: Record<string, Record<string, string>> = Object.fromEntries(Object.entries(t.channel_overrides).map(([c, o]) => [c, { ...o }]));
  for (const [channel, texts] of Object.entries(bodies)) {
    if (!texts) continue;
    for (const [k, v] of Object.entries(texts)) if (typeof v === 'string') (channels[channel] ??= {})[k] = v;
  }
  return { title: title ?? t.title, content: content ?? t.content, channel_overrides: channels, locale: key };
}

/** Every text of a template with the field path it lives at (for syntax checks and variable lists). */
export function allTexts(t: Partial<Texts> & { variants?: Variants }): Array<{ path: string; text: string; key: string }> {
  const out: Array<{ path: string; text: string; key: string }> = [];
  if (t.title !== undefined) out.push({ path: 'title', text: t.title, key: 'title' });
  if (t.content !== undefined) out.push({ path: 'content', text: t.content, key: 'content' });
  for (const [channel, texts] of Object.entries(t.channel_overrides ?? {}))
    for (const [k, v] of Object.entries(texts)) out.push({ path: `channel_overrides.${channel}.${k}`, text: v, key: k });
  for (const [locale, variant] of Object.entries(t.variants ?? {})) {
    for (const [field, value] of Object.entries(variant)) {
      if (typeof value === 'string') out.push({ path: `variants.${locale}.${field}`, text: value, key: field });
      else if (value) for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out.push({ path: `variants.${locale}.${field}.${k}`, text: v, key: k });
    }
  }
  return out;
}
