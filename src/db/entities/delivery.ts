import { EntitySchema } from '@mikro-orm/core';

/** queued → sending → sent | failed | skipped (a retry pending goes back to queued). */
export type DeliveryStatus = 'queued' | 'sending' | 'sent' | 'failed' | 'skipped';

/** One channel to one recipient of one notification. */
export interface DeliveryRow {
  id: string;
  tenant: string;
  notification_id: string;
  sender: string;
  /** user id, or the raw address of a direct (multi-channel) send, stored sealed like `address` */
  recipient: string;
  direct: boolean;
  channel: string;
  /** sealed (src/crypto/sealed-value.ts): open with openContact */
  address: string | null;
  status: DeliveryStatus;
  attempts: number;
  /** why it failed or was skipped: permanent | retryable | throttled | timeout | not_configured | no_address | ... */
  reason: string | null;
  last_error: string | null;
  provider_message_id: string | null;
  /** what the channel could not show of a delivered message (picture, buttons); null when it showed everything */
  note: string | null;
  fallback_of: string | null;
  fallbacks: string[];
  notification_created_at: Date;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  /** ms from the notification's creation to its delivery */
  latency_ms: number | null;
  updated_at: Date;
}

export const Delivery = new EntitySchema<DeliveryRow>({
  name: 'Delivery',
  tableName: 'deliveries',
  properties: {
    id: { type: 'uuid', primary: true },
    tenant: { type: 'text' },
    notification_id: { type: 'uuid' },
    sender: { type: 'text' },
    recipient: { type: 'text' },
    direct: { type: 'boolean' },
    channel: { type: 'text' },
    address: { type: 'text', nullable: true },
    status: { type: 'text' },
    attempts: { type: 'integer' },
    reason: { type: 'text', nullable: true },
    last_error: { type: 'text', nullable: true },
    provider_message_id: { type: 'text', nullable: true },
    note: { type: 'text', nullable: true },
    fallback_of: { type: 'uuid', nullable: true },
    fallbacks: { type: 'text[]' },
    notification_created_at: { type: 'Date' },
    created_at: { type: 'Date' },
    started_at: { type: 'Date', nullable: true },
    finished_at: { type: 'Date', nullable: true },
    latency_ms: { type: 'integer', nullable: true },
    updated_at: { type: 'Date' },
  },
});
