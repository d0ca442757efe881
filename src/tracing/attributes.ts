/**
 * The names of Herald's span attributes. Spans carry ids, counts, channels
 * and outcomes only: never an address, a title, a content or a token, since
 * a tracing backend is read by more people than the database.
 */
export const ATTR = {
  tenant: 'herald.tenant',
  notificationId: 'herald.notification.id',
  /** how many notifications a request, an enqueue or an ingest batch carried (a bulk send's ids are not listed) */
  notificationCount: 'herald.notification.count',
  deliveryId: 'herald.delivery.id',
  channel: 'herald.channel',
  /** 1 for the first attempt of a delivery, 2 for its first retry, … */
  attempt: 'herald.delivery.attempt',
  /** true on a delivery that replaces one that failed on another channel */
  fallback: 'herald.delivery.fallback',
  provider: 'herald.provider',
  providerMessageId: 'herald.provider.message_id',
  /** sent, skipped, failed, retrying, delayed, throttled */
  outcome: 'herald.outcome',
  /** why a delivery failed or is retried (the recorded reason: permanent, timeout, no_address, …) */
  reason: 'herald.reason',
} as const;
