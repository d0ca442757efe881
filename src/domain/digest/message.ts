import type { EntityManager } from '@mikro-orm/postgresql';
import type { DeliveryMessage, Priority } from '../../../queues/jobs.js';
import type { Logger } from '../../logger.js';
import { renderTemplate } from '../templates/send.js';
import { findByName } from '../templates/templates.js';

/** A tenant's template of this name, when it has one, renders its digests instead of the built-in text. */
export const DIGEST_TEMPLATE = 'digest';

/** Titles listed by the built-in text; the rest are counted ("… and 12 more"). */
export const DIGEST_LISTED = 50;

/** One notification a digest carries, as its template sees it (`notifications` is a list of these). */
export interface DigestItem {
  id: string;
  title: string;
  content: string;
  type: string;
  priority: string;
  /** ISO time */
  created_at: string;
}

const RANK: Record<string, number> = { low: 0, normal: 1, high: 2, urgent: 3 };

/** "You have 3 new notifications" and one line per title. */
export function defaultDigestText(items: DigestItem[]): { title: string; content: string } {
  const n = items.length;
  const lines = items.slice(0, DIGEST_LISTED).map((i) => `• ${i.title}`);
  if (n > DIGEST_LISTED) lines.push(`… and ${n - DIGEST_LISTED} more`);
  return { title: `You have ${n} new notification${n === 1 ? '' : 's'}`, content: lines.join('\n') };
}

/**
 * The one message of a digest. The tenant's `digest` template (or a system
 * one) renders it when there is one, with the variables `count`, `key`,
 * `notifications` (DigestItem[]) and `titles`; a template that cannot be
 * rendered with them falls back to the built-in text, logged, rather than
 * holding the digest back. Its metadata names the digest and every
 * notification in it; the template's per-channel texts go in
 * metadata.channel_content, as for a template send.
 */
export async function digestMessage(
  deps: { em: EntityManager; logger: Logger },
  tenant: string,
  key: string,
  items: DigestItem[],
): Promise<DeliveryMessage> {
  const metadata: Record<string, unknown> = {
    digest: { key, count: items.length, notifications: items.map((i) => ({ id: i.id, title: i.title, created_at: i.created_at })) },
  };
  let text = defaultDigestText(items);
  const template = await findByName(deps.em, tenant, DIGEST_TEMPLATE);
  if (template?.is_active) {
    try {
      const rendered = renderTemplate(template, { count: items.length, key, notifications: items, titles: items.map((i) => i.title) });
      text = { title: rendered.title, content: rendered.content };
      metadata.template_name = template.name;
      metadata.template_version = template.version;
      if (Object.keys(rendered.channels).length) metadata.channel_content = rendered.channels;
    } catch (err) {
      deps.logger.warn({ err: (err as Error).message, tenant, template: template.name }, 'the digest template could not be rendered: the built-in text is sent');
    }
  }
  const top = items.reduce((p, i) => (RANK[i.priority] > RANK[p] ? i.priority : p), 'low');
  return {
    ...text,
    type: 'info',
    priority: top as Priority,
    metadata,
    // latency is measured from the first notification: the window is part of what the recipient waited
    created_at: items[0].created_at,
  };
}
