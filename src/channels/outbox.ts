import type { EntityManager } from '@mikro-orm/postgresql';
import type { ExternalChannel } from '../../queues/jobs.js';
import type { Orm } from '../db/orm.js';
import { pgArray } from '../db/query.js';
import { blindIndex, blindIndexes } from '../crypto/blind-index.js';
import { dataKeys, openContact, sealContact } from '../crypto/process-keys.js';
import { renderHtml, withRich } from './email/smtp.js';
import { bodyOf, linkLines, richOf } from './rich.js';
import { classifyUnknown, type ChannelProvider, type DeliveryError, type OutgoingMessage, type SendResult } from './types.js';

/** Messages each tenant's outbox keeps: storing one more drops the oldest beyond these. */
export const OUTBOX_KEEP = 1000;

/** What the outbox keeps of one message: what the channel's adapter would have sent, as that channel renders it. */
export interface OutboxMessage {
  id: string;
  tenant: string;
  channel: ExternalChannel;
  address: string;
  /** the email subject, else the title the channel shows */
  subject: string;
  /** the text the recipient would read (an email's text part, the SMS text, the IM or push body) */
  text: string;
  /** email only: the HTML part */
  html: string | null;
  /** the notification's metadata as sent */
  metadata: Record<string, unknown>;
  /** what the channel shows beside the text: type, priority, link, picture, buttons, an SMS template */
  rich: Record<string, unknown>;
  delivery_id: string;
  notification_id: string;
  created_at: string;
}

type Rendered = Pick<OutboxMessage, 'subject' | 'text' | 'html' | 'rich'>;

/**
 * A message as `channel` renders it: a template's own body for the channel
 * when it has one, links listed under text bodies, the picture and buttons
 * drawn into an email's HTML part (as the SMTP adapter does).
 */
export function renderForOutbox(channel: ExternalChannel, m: OutgoingMessage): Rendered {
  const body = bodyOf(m, channel);
  const rich = richOf(m);
  const links = linkLines(rich);
  const withLinks = (text: string) => (links.length ? `${text}\n\n${links.join('\n')}` : text);
  const shown: Record<string, unknown> = { type: m.type, priority: m.priority, ...rich };
  if (channel === 'email') {
    const html = withRich(body.html ?? renderHtml({ type: m.type, title: body.title, content: body.content }), rich);
    return { subject: body.title, text: withLinks(body.content), html, rich: shown };
  }
  if (channel === 'sms') {
    const code = typeof m.metadata.sms_template_code === 'string' ? m.metadata.sms_template_code : body.template_code;
    if (code) shown.template_code = code;
    if (m.metadata.sms_template_params && typeof m.metadata.sms_template_params === 'object') shown.template_params = m.metadata.sms_template_params;
    return { subject: body.title, text: body.content, html: null, rich: shown };
  }
  if (body.markdown) shown.markdown = true;
  return { subject: body.title, text: channel === 'push' ? body.content : withLinks(body.content), html: null, rich: shown };
}

/**
 * Stores a message and drops the tenant's oldest beyond OUTBOX_KEEP. A
 * delivery stored before (its job ran again) keeps its row: the id of that
 * row comes back, nothing is stored twice. The address is sealed like every
 * stored address (a development database may still hold real ones), with a
 * blind index for the listing's address filter.
 */
export async function storeInOutbox(em: EntityManager, channel: ExternalChannel, m: OutgoingMessage): Promise<string> {
  const r = renderForOutbox(channel, m);
  const [row] = await em.execute<{ id: string }[]>(
    `insert into dev_outbox (tenant, channel, address, address_bidx, subject, text_body, html_body, metadata, rich, delivery_id, notification_id)
     values (?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?)
     on conflict (delivery_id) do update set delivery_id = excluded.delivery_id
     returning id::text as id`,
    [m.tenant, channel, sealContact(m.address), blindIndex(dataKeys(), 'address', m.address), r.subject, r.text, r.html, JSON.stringify(m.metadata ?? {}), JSON.stringify(r.rich), m.deliveryId, m.notificationId],
  );
  await em.execute(
    `delete from dev_outbox where tenant = ? and id < (select id from dev_outbox where tenant = ? order by id desc offset ${OUTBOX_KEEP - 1} limit 1)`,
    [m.tenant, m.tenant],
  );
  return row.id;
}

export interface OutboxQuery {
  limit: number;
  /** the id of the last message of the previous page: this page starts below it */
  cursor?: string;
  channel?: ExternalChannel;
  address?: string;
}

/** A tenant's outbox, newest first, a page at a time; next_cursor is null on the last page. */
export async function listOutbox(em: EntityManager, tenant: string, q: OutboxQuery): Promise<{ messages: OutboxMessage[]; next_cursor: string | null }> {
  const where = ['tenant = ?'];
  const params: unknown[] = [tenant];
  if (q.cursor) (where.push('id < ?'), params.push(q.cursor));
  if (q.channel) (where.push('channel = ?'), params.push(q.channel));
  // by blind index under every listed key; a row stored before encryption (no index yet) by its plain address
  if (q.address) {
    where.push('(address_bidx = any(?::text[]) or (address_bidx is null and address = ?))');
    params.push(pgArray(blindIndexes(dataKeys(), 'address', q.address)), q.address);
  }
  const rows = await em.execute<Array<Omit<OutboxMessage, 'text' | 'html' | 'created_at'> & { text_body: string; html_body: string | null; created_at: Date }>>(
    `select id::text as id, tenant, channel, address, subject, text_body, html_body, metadata, rich, delivery_id, notification_id, created_at
       from dev_outbox where ${where.join(' and ')} order by id desc limit ?`,
    [...params, q.limit + 1],
  );
  const page = rows.slice(0, q.limit);
  return {
    messages: page.map(({ text_body, html_body, created_at, ...r }) => ({
      id: r.id,
      tenant: r.tenant,
      channel: r.channel,
      address: openContact(r.address),
      subject: r.subject,
      text: text_body,
      html: html_body,
      metadata: r.metadata,
      rich: r.rich,
      delivery_id: r.delivery_id,
      notification_id: r.notification_id,
      created_at: new Date(created_at).toISOString(),
    })),
    next_cursor: rows.length > q.limit ? page[page.length - 1].id : null,
  };
}

/** Empties a tenant's outbox; returns how many messages it held. */
export async function clearOutbox(em: EntityManager, tenant: string): Promise<number> {
  const rows = await em.execute(`delete from dev_outbox where tenant = ? returning id`, [tenant]);
  return rows.length;
}

/**
 * The development stand-in for a channel without credentials: each message
 * is stored in the outbox (GET /admin/outbox) and the delivery recorded
 * sent with provider message id `outbox:<id>`, so a newcomer running
 * Herald on their machine sees what their users would receive instead of a
 * wall of not_configured failures. Only ever built with
 * NODE_ENV=development (see createSendingProvider): elsewhere an
 * unconfigured channel fails its deliveries, never pretends to send.
 */
export class OutboxProvider implements ChannelProvider {
  readonly channel: ExternalChannel;
  readonly vendor = 'outbox';
  readonly missing: string[] = [];

  constructor(
    private readonly orm: Orm,
    /** the channel's real adapter, unconfigured: its `missing` says why this one stands in */
    readonly adapter: ChannelProvider,
  ) {
    this.channel = adapter.channel;
  }

  /** The variables the real adapter lacks. */
  get because(): string[] {
    return this.adapter.missing;
  }

  async send(m: OutgoingMessage): Promise<SendResult> {
    const id = await storeInOutbox(this.orm.em.fork(), this.channel, m);
    return { providerMessageId: `outbox:${id}` };
  }

  /** PostgreSQL trouble is worth retrying, as any unknown failure. */
  classify(err: unknown): DeliveryError {
    return classifyUnknown(err);
  }

  async close(): Promise<void> {
    await this.adapter.close?.();
  }
}
