import nodemailer, { type Transporter } from 'nodemailer';
import type { SMTPEnvelope } from 'nodemailer/lib/smtp-connection';
import type { NotificationAction, Priority } from '../../../queues/jobs.js';
import type { Config } from '../../config.js';
import { escapeHtml } from '../escape.js';
import { bodyOf, linkLines, richOf, type Rich } from '../rich.js';
import {
  classifyUnknown,
  DeliveryError,
  permanent,
  retryable,
  type ChannelProvider,
  type OutgoingMessage,
  type Reservation,
  type SendResult,
} from '../types.js';
import { SmtpLines, SmtpOutcomeUnknown } from './smtp-lines.js';
import type { AttachmentLoader } from '../../domain/attachments/source.js';

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

const BUTTON = 'display:inline-block;margin:0 8px 8px 0;padding:8px 16px;border-radius:4px;text-decoration:none;border:1px solid #1a73e8';
const BUTTON_STYLE: Record<NotificationAction['style'], string> = {
  primary: `${BUTTON};background:#1a73e8;color:#fff`,
  secondary: `${BUTTON};background:#fff;color:#1a73e8`,
};

/**
 * The picture and the buttons as HTML, every value escaped: the picture as
 * an <img>, each button as a styled link, and the notification's link as a
 * first button when no button goes there already. Empty when there are none.
 */
export function richHtml(r: Rich): string {
  const links = [
    ...(r.url && !r.actions.some((a) => a.url === r.url) ? [{ label: '查看详情', url: r.url, style: 'primary' as const }] : []),
    ...r.actions,
  ];
  const image = r.image_url ? `<p><img src="${escapeHtml(r.image_url)}" alt="" style="max-width:100%;height:auto"></p>\n` : '';
  const buttons = links.length
    ? `<p>${links.map((a) => `<a href="${escapeHtml(a.url)}" style="${BUTTON_STYLE[a.style] ?? BUTTON_STYLE.secondary}">${escapeHtml(a.label)}</a>`).join('\n')}</p>\n`
    : '';
  return image + buttons;
}

/** `html` with the picture and buttons at the end of its body (a template's HTML may be a whole document or a fragment). */
export function withRich(html: string, r: Rich): string {
  const block = richHtml(r);
  if (!block) return html;
  const end = html.toLowerCase().lastIndexOf('</body>');
  return end < 0 ? `${html}\n${block}` : `${html.slice(0, end)}${block}${html.slice(end)}`;
}

/**
 * A template's rendered email texts (POST /notifications/template
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

/** SMTP connections per worker process: messages beyond these wait before they are claimed, not inside a queue. */
const SMTP_CONNECTIONS = 5;

/** A message as it goes on the wire. */
interface Composed {
  envelope: SMTPEnvelope;
  raw: Buffer;
}

/**
 * Email over SMTP (nodemailer builds the MIME message and speaks the
 * protocol). The Message-ID is derived from the delivery id, so a repeated
 * attempt of one delivery is the same message to every mail system that
 * de-duplicates by Message-ID.
 *
 * What a crash can leave undecided is the time between the server's reply
 * to the end of DATA and Herald's record of it; everything here keeps
 * other work out of that time. The message is built before a connection is
 * taken; a connection carries one message at a time and is reserved before
 * the delivery is claimed, so a record says `sending` only while its
 * message is on the wire; and a failure is reported as of unknown outcome
 * only when it came after the end of DATA with no reply.
 */
export class SmtpProvider implements ChannelProvider {
  readonly channel = 'email' as const;
  readonly vendor = 'smtp';
  readonly missing: string[];
  private readonly from: string;
  private composer?: Transporter;
  private lines?: SmtpLines;

  /** `attachments` reads a notification's files from PostgreSQL when its email is composed (none without it) */
  constructor(
    private readonly cfg: SmtpConfig,
    private readonly attachments?: AttachmentLoader,
  ) {
    this.missing = cfg.SMTP_HOST ? [] : ['SMTP_HOST'];
    this.from = cfg.SMTP_FROM ?? cfg.SMTP_USER ?? 'herald@localhost';
  }

  private getLines(): SmtpLines {
    this.lines ??= new SmtpLines(
      {
        host: this.cfg.SMTP_HOST ?? '',
        port: this.cfg.SMTP_PORT,
        secure: this.cfg.SMTP_SECURE,
        auth: this.cfg.SMTP_USER ? { user: this.cfg.SMTP_USER, pass: this.cfg.SMTP_PASSWORD ?? '' } : undefined,
        timeoutMs: this.cfg.PROVIDER_TIMEOUT_MS,
      },
      SMTP_CONNECTIONS,
    );
    return this.lines;
  }

  messageId(deliveryId: string): string {
    return `<${deliveryId}@${domainOf(this.from)}>`;
  }

  /** The whole MIME message in memory, CRLF line ends, through nodemailer's own message pipeline. */
  private async compose(m: OutgoingMessage): Promise<Composed> {
    this.composer ??= nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
    const template = templateEmail(m);
    // the template's email text part when it has one; the links listed under it, the buttons drawn in the HTML
    const body = bodyOf(m, 'email');
    const rich = richOf(m);
    const links = linkLines(rich);
    // the files, read now and never put in a job; a file that cannot be had fails the delivery (attachment_unavailable)
    const files = this.attachments ? await this.attachments({ notificationId: m.notificationId, tenant: m.tenant }) : [];
    const built = await this.composer.sendMail({
      from: this.from,
      to: m.address,
      subject: template.subject ?? m.title,
      text: links.length ? `${body.content}\n\n${links.join('\n')}` : body.content,
      html: withRich(template.html ?? renderHtml({ type: m.type, title: body.title, content: body.content }), rich),
      messageId: this.messageId(m.deliveryId),
      priority: MAIL_PRIORITY[m.priority],
      headers: { 'X-Herald-Notification': m.notificationId, 'X-Herald-Delivery': m.deliveryId },
      ...(files.length ? { attachments: files } : {}),
    });
    return { envelope: built.envelope as SMTPEnvelope, raw: built.message as Buffer };
  }

  /** Builds the message, then waits for a free connection; the message goes out on it as soon as `send` is called. */
  async reserve(m: OutgoingMessage): Promise<Reservation> {
    let composed: Composed;
    try {
      composed = await this.compose(m);
    } catch (err) {
      // a message that cannot be built (an attachment unavailable, PostgreSQL down) takes no connection: the
      // attempt fails with the reason when it is made, classified like any failed send
      return { send: () => Promise.reject(err), release: () => undefined };
    }
    const lines = this.getLines();
    const line = await lines.acquire();
    let released = false;
    return {
      send: async (signal) => {
        await line.send(composed.envelope, composed.raw, signal);
        return { providerMessageId: this.messageId(m.deliveryId) };
      },
      release: () => {
        if (released) return;
        released = true;
        lines.release(line);
      },
    };
  }

  async send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    const held = await this.reserve(m);
    try {
      return await held.send(signal);
    } finally {
      held.release();
    }
  }

  /** Connects, says EHLO and logs in when SMTP_USER is set (nodemailer's verify); sends nothing. */
  async verify(signal: AbortSignal): Promise<string> {
    const t = nodemailer.createTransport({
      host: this.cfg.SMTP_HOST,
      port: this.cfg.SMTP_PORT,
      secure: this.cfg.SMTP_SECURE,
      auth: this.cfg.SMTP_USER ? { user: this.cfg.SMTP_USER, pass: this.cfg.SMTP_PASSWORD ?? '' } : undefined,
      connectionTimeout: this.cfg.PROVIDER_TIMEOUT_MS,
      greetingTimeout: this.cfg.PROVIDER_TIMEOUT_MS,
    });
    try {
      await Promise.race([
        t.verify(),
        new Promise<never>((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
      ]);
    } finally {
      t.close();
    }
    const login = this.cfg.SMTP_USER ? `logged in as ${this.cfg.SMTP_USER}` : 'no login (SMTP_USER unset)';
    return `${this.cfg.SMTP_HOST}:${this.cfg.SMTP_PORT} answered: ${login}`;
  }

  /**
   * SMTP replies: 4xx is temporary, 5xx permanent (bad mailbox, refused); connection trouble is retryable.
   * Trouble after the end of DATA, before any reply, is retryable with an unknown outcome.
   */
  classify(err: unknown): DeliveryError {
    if (err instanceof SmtpOutcomeUnknown) {
      const inner = this.classify(err.cause);
      return new DeliveryError('retryable', inner.code, `${inner.message} (after the end of DATA: the server may have accepted the message)`, {
        ...inner.opts,
        outcomeUnknown: true,
      });
    }
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
    this.lines?.close();
    this.composer?.close();
  }
}
