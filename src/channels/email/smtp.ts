import nodemailer, { type Transporter } from 'nodemailer';
import type { Priority } from '../../../queues/jobs.js';
import type { Config } from '../../config.js';
import { escapeHtml } from '../escape.js';
import { classifyUnknown, permanent, retryable, type ChannelProvider, type DeliveryError, type OutgoingMessage, type SendResult } from '../types.js';

type SmtpConfig = Pick<Config, 'SMTP_HOST' | 'SMTP_PORT' | 'SMTP_USER' | 'SMTP_PASSWORD' | 'SMTP_FROM' | 'SMTP_SECURE' | 'PROVIDER_TIMEOUT_MS'>;

const MAIL_PRIORITY: Record<Priority, 'high' | 'normal' | 'low'> = { urgent: 'high', high: 'high', normal: 'normal', low: 'low' };

/** The HTML part: every value escaped, line breaks kept. */
export function renderHtml(m: Pick<OutgoingMessage, 'title' | 'content' | 'type'>): string {
  const body = escapeHtml(m.content).replace(/\r?\n/g, '<br>\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(m.title)}</title></head>
<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;line-height:1.5;color:#222">
<h2 style="margin:0 0 12px">${escapeHtml(m.title)}</h2>
<div data-type="${escapeHtml(m.type)}">${body}</div>
</body></html>`;
}

/**
 * A template's rendered email texts (issue #5: POST /notifications/template
 * stores them in metadata.channel_content.email, values already escaped for
 * HTML), used in place of the generic subject and body when present.
 */
function templateEmail(m: Pick<OutgoingMessage, 'metadata'>): { subject?: string; html?: string } {
  const email = (m.metadata.channel_content as Record<string, Record<string, unknown>> | undefined)?.email;
  return {
    subject: typeof email?.subject === 'string' ? email.subject : undefined,
    html: typeof email?.html === 'string' ? email.html : undefined,
  };
}

/** The domain of the From address, for Message-IDs (herald.local when it has none). */
const domainOf = (from: string) => /@([^>\s]+)/.exec(from)?.[1] ?? 'herald.local';

/**
 * Email over SMTP with nodemailer (pooled connections). The Message-ID is
 * derived from the delivery id, so a repeated attempt of one delivery is the
 * same message to every mail system that de-duplicates by Message-ID.
 */
export class SmtpProvider implements ChannelProvider {
  readonly channel = 'email' as const;
  readonly vendor = 'smtp';
  readonly missing: string[];
  private readonly from: string;
  private transport?: Transporter;

  constructor(private readonly cfg: SmtpConfig) {
    this.missing = cfg.SMTP_HOST ? [] : ['SMTP_HOST'];
    this.from = cfg.SMTP_FROM ?? cfg.SMTP_USER ?? 'herald@localhost';
  }

  private getTransport(): Transporter {
    this.transport ??= nodemailer.createTransport({
      host: this.cfg.SMTP_HOST,
      port: this.cfg.SMTP_PORT,
      secure: this.cfg.SMTP_SECURE,
      auth: this.cfg.SMTP_USER ? { user: this.cfg.SMTP_USER, pass: this.cfg.SMTP_PASSWORD ?? '' } : undefined,
      pool: true,
      maxConnections: 5,
      connectionTimeout: this.cfg.PROVIDER_TIMEOUT_MS,
      greetingTimeout: this.cfg.PROVIDER_TIMEOUT_MS,
      socketTimeout: this.cfg.PROVIDER_TIMEOUT_MS,
    });
    return this.transport;
  }

  messageId(deliveryId: string): string {
    return `<${deliveryId}@${domainOf(this.from)}>`;
  }

  async send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const template = templateEmail(m);
    const sending = this.getTransport().sendMail({
      from: this.from,
      to: m.address,
      subject: template.subject ?? m.title,
      text: m.content,
      html: template.html ?? renderHtml(m),
      messageId: this.messageId(m.deliveryId),
      priority: MAIL_PRIORITY[m.priority],
      headers: { 'X-Herald-Notification': m.notificationId, 'X-Herald-Delivery': m.deliveryId },
    });
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    const info = await Promise.race([sending, aborted]);
    if (info.rejected?.length && !info.accepted?.length) throw permanent('rejected', `recipient rejected: ${String(info.rejected[0])}`);
    return { providerMessageId: info.messageId ?? this.messageId(m.deliveryId) };
  }

  /** SMTP replies: 4xx is temporary, 5xx permanent (bad mailbox, refused); connection trouble is retryable. */
  classify(err: unknown): DeliveryError {
    const e = err as { responseCode?: number; code?: string; message?: string; response?: string };
    const code = e?.responseCode;
    if (typeof code === 'number') {
      const msg = e.response ?? e.message ?? `SMTP ${code}`;
      if (code >= 500) return permanent(`smtp_${code}`, msg);
      if (code >= 400) return retryable(`smtp_${code}`, msg);
    }
    if (e?.code === 'EAUTH') return permanent('EAUTH', e.message ?? 'SMTP authentication failed');
    if (e?.code === 'EENVELOPE') return permanent('EENVELOPE', e.message ?? 'invalid envelope');
    return classifyUnknown(err);
  }

  async close(): Promise<void> {
    this.transport?.close();
  }
}
