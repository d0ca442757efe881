import { createHmac } from 'node:crypto';
import type { Config } from '../../config.js';
import { requestJson } from '../http.js';
import { richOf } from '../rich.js';
import { classifyUnknown, permanent, retryable, type ChannelProvider, type DeliveryError, type OutgoingMessage, type SendResult } from '../types.js';

export const SIGNATURE_HEADER = 'x-herald-signature';
export const TIMESTAMP_HEADER = 'x-herald-timestamp';
export const DELIVERY_HEADER = 'x-herald-delivery';

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: the timestamp is signed so a captured request cannot be replayed later. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * A signed generic webhook: POST of the notification as JSON with
 * X-Herald-Timestamp (unix seconds) and X-Herald-Signature. X-Herald-Delivery
 * carries the delivery id, the receiver's key to drop a repeat.
 * 2xx delivered; 408/429 and 5xx retried; other 4xx permanent.
 */
export class WebhookProvider implements ChannelProvider {
  readonly channel = 'webhook' as const;
  readonly vendor = 'webhook';
  readonly missing: string[];

  constructor(private readonly cfg: Pick<Config, 'WEBHOOK_SECRET'>) {
    this.missing = cfg.WEBHOOK_SECRET ? [] : ['WEBHOOK_SECRET'];
  }

  async send(m: OutgoingMessage, signal: AbortSignal): Promise<SendResult> {
    if (!/^https?:\/\//i.test(m.address)) throw permanent('bad_url', `not an http(s) URL: ${m.address}`, { reason: 'invalid_address' });
    const rich = richOf(m);
    const body = JSON.stringify({
      event: 'notification',
      delivery_id: m.deliveryId,
      notification: {
        id: m.notificationId,
        tenant: m.tenant,
        title: m.title,
        content: m.content,
        type: m.type,
        priority: m.priority,
        metadata: m.metadata,
        created_at: m.created_at,
        // null and [] when the notification has none (or its job was planned before they travelled with it)
        url: rich.url,
        image_url: rich.image_url,
        actions: rich.actions,
      },
    });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const reply = await requestJson(m.address, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Herald-Webhook/1',
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: webhookSignature(this.cfg.WEBHOOK_SECRET!, timestamp, body),
        [DELIVERY_HEADER]: m.deliveryId,
      },
      body,
      signal,
    });
    if (reply.status >= 200 && reply.status < 300) return { providerMessageId: reply.headers.get('x-request-id') ?? `http_${reply.status}` };
    if (reply.status === 408) throw retryable('http_408', 'receiver timed out');
    throw permanent(`http_${reply.status}`, `receiver answered ${reply.status}`);
  }

  /** A receiver's 429 slows that receiver only (backoff), not every webhook behind the shared rate limiter. */
  classify(err: unknown): DeliveryError {
    const e = classifyUnknown(err);
    return e.kind === 'throttled' ? retryable(e.code, e.message, { reason: 'throttled' }) : e;
  }
}
