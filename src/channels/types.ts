import type { DeliveryMessage, ExternalChannel } from '../../queues/jobs.js';

/** What an adapter is asked to send: one message to one address. */
export interface OutgoingMessage extends DeliveryMessage {
  /** the delivery record's id: providers with de-duplication get a key derived from it */
  deliveryId: string;
  notificationId: string;
  tenant: string;
  address: string;
}

export interface SendResult {
  /** the provider's id of what it accepted (Message-ID, BizId, msgid, message_id, FCM name) */
  providerMessageId: string | null;
  /** addresses the provider rejected for good while accepting others (FCM tokens) */
  rejected?: string[];
  /** what the channel could not show of the message (its picture, some buttons), recorded on the delivery */
  note?: string | null;
}

/**
 * A provider connection held for one delivery: the message is ready and
 * goes on the wire as soon as `send` is called. Released once the attempt
 * is over, whatever happened.
 */
export interface Reservation {
  send(signal: AbortSignal): Promise<SendResult>;
  release(): void;
}

/**
 * retryable: try again after backoff; throttled: the provider asked us to
 * slow down (rate limiter, no attempt used); permanent: retrying cannot help.
 */
export type FailureKind = 'retryable' | 'throttled' | 'permanent';

/**
 * The one interface of every channel adapter: send, and classify whatever
 * went wrong. Adapters are built once per worker process and hold only
 * their provider's cached access token.
 */
export interface ChannelProvider {
  readonly channel: ExternalChannel;
  readonly vendor: string;
  /** the variables that are missing; empty when the channel is configured */
  readonly missing: string[];
  send(message: OutgoingMessage, signal: AbortSignal): Promise<SendResult>;
  classify(err: unknown): DeliveryError;
  /**
   * For providers without de-duplication: did an earlier, interrupted attempt
   * of this delivery reach the provider? Asked before sending again.
   */
  findPrevious?(message: OutgoingMessage, signal: AbortSignal): Promise<SendResult | null>;
  /**
   * For providers that send over a few held connections (SMTP): prepares
   * the message and waits for a free connection. The delivery is claimed
   * (recorded `sending`) only once it holds one, so a record says `sending`
   * while its message can go out at once, never while it waits behind
   * others.
   */
  reserve?(message: OutgoingMessage): Promise<Reservation>;
  /**
   * Checks the credentials with the provider without sending anything (an
   * SMTP login, an access-token fetch, a signed read-only call) and says
   * what answered; throws what went wrong. Absent when there is nothing to
   * ask a provider (webhook: the secret only signs Herald's own requests).
   */
  verify?(signal: AbortSignal): Promise<string>;
  close?(): Promise<void>;
}

/** A failure as Herald understands it; `code` is the provider's own code when it gave one. */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
  constructor(
    readonly kind: FailureKind,
    readonly code: string,
    message: string,
    readonly opts: {
      retryAfterMs?: number;
      rejected?: string[];
      reason?: string;
      /** the provider may have accepted the message before the failure (no answer to a complete SMTP DATA) */
      outcomeUnknown?: boolean;
    } = {},
  ) {
    super(message);
  }
  /** the `reason` recorded on the delivery and in notification_failed_total */
  get reason(): string {
    return this.opts.reason ?? this.kind;
  }
}

export const permanent = (code: string, message: string, opts: DeliveryError['opts'] = {}) =>
  new DeliveryError('permanent', code, message, opts);
export const retryable = (code: string, message: string, opts: DeliveryError['opts'] = {}) =>
  new DeliveryError('retryable', code, message, opts);
export const throttled = (code: string, message: string, retryAfterMs = 1000) =>
  new DeliveryError('throttled', code, message, { retryAfterMs });

/** Network failures and timeouts are worth retrying; anything unknown is treated the same way. */
export function classifyUnknown(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return retryable('timeout', 'the provider did not answer in time', { reason: 'timeout' });
  const code = e?.cause?.code ?? e?.code ?? 'error';
  return retryable(String(code), e?.cause?.message ?? e?.message ?? String(err));
}
