import type { NotificationAction } from '../../queues/jobs.js';
import { channelBody, type ChannelBody } from '../domain/templates/bodies.js';
import type { OutgoingMessage } from './types.js';

/**
 * What a channel adapter shows of a message beyond its text: the
 * notification's link, picture and buttons, and the channel's own body
 * from a template. Jobs planned before these existed have none of them.
 */
export interface Rich {
  url: string | null;
  image_url: string | null;
  /** at most three, as the api accepts them */
  actions: NotificationAction[];
}

const httpUrl = (v: unknown): string | null => (typeof v === 'string' && /^https?:\/\//i.test(v) ? v : null);

/** The link, picture and buttons of a message; metadata.url (how links were sent before they had a field) counts as the link. */
export function richOf(m: Pick<OutgoingMessage, 'url' | 'image_url' | 'actions' | 'metadata'>): Rich {
  const actions = (Array.isArray(m.actions) ? m.actions : []).filter((a) => a && typeof a.label === 'string' && httpUrl(a.url)).slice(0, 3);
  return { url: httpUrl(m.url) ?? httpUrl(m.metadata.url), image_url: httpUrl(m.image_url), actions };
}

/** metadata.channel_content as the template send stored it, keeping only string values (metadata is the sender's JSON). */
function channelContent(metadata: Record<string, unknown>): Record<string, Record<string, string>> {
  const raw = metadata.channel_content;
  if (!raw || typeof raw !== 'object') return {};
  const out: Record<string, Record<string, string>> = {};
  for (const [channel, texts] of Object.entries(raw as Record<string, unknown>)) {
    if (!texts || typeof texts !== 'object') continue;
    out[channel] = Object.fromEntries(Object.entries(texts as Record<string, unknown>).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  }
  return out;
}

/** The channel's own body from a template when it has one, else the message's title and content. */
export function bodyOf(m: Pick<OutgoingMessage, 'title' | 'content' | 'metadata'>, channel: string): ChannelBody {
  return channelBody({ title: m.title, content: m.content, channels: channelContent(m.metadata) }, channel);
}

/** The links a text-only rendering lists: the notification's link, then each button's. */
export function linkLines(r: Rich, open = '详情'): string[] {
  return [...(r.url ? [`${open}: ${r.url}`] : []), ...r.actions.map((a) => `${a.label}: ${a.url}`)];
}

/** What a channel left out, for the delivery record's note; null when it showed everything. */
export const noteOf = (notes: string[]): string | null => (notes.length ? notes.join('; ') : null);
