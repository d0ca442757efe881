import { EntitySchema } from '@mikro-orm/core';

/**
 * How to reach one user of a tenant on each external channel, and which
 * roles and stores the user belongs to.
 *
 * The contact fields (email, phone, wecom_user_id, feishu_open_id,
 * webhook_url and each device token) are stored sealed
 * (src/crypto/sealed-value.ts) and come out of the database that way, or
 * plain for a row written before encryption that `npm run rekey` has not
 * reached yet: open them with openContact where the clear value is needed
 * (addressOf and openRecipient in src/domain/delivery/recipients.ts).
 */
export interface RecipientRow {
  tenant: string;
  user_id: string;
  email: string | null;
  phone: string | null;
  wecom_user_id: string | null;
  feishu_open_id: string | null;
  /** FCM device tokens (the push channel sends to these) */
  push_tokens: string[];
  /** Apple (APNs) device tokens, kept apart so FCM never gets one */
  apns_tokens: string[];
  webhook_url: string | null;
  /** blind index of the email (src/crypto/blind-index.ts): how a send naming the user by email finds the row */
  email_bidx?: string | null;
  /** blind index of the phone number */
  phone_bidx?: string | null;
  roles: string[];
  stores: string[];
  timezone: string | null;
  locale: string | null;
  created_at: Date;
  updated_at: Date;
}

export const Recipient = new EntitySchema<RecipientRow>({
  name: 'Recipient',
  tableName: 'recipients',
  properties: {
    tenant: { type: 'text', primary: true },
    user_id: { type: 'text', primary: true },
    email: { type: 'text', nullable: true },
    phone: { type: 'text', nullable: true },
    wecom_user_id: { type: 'text', nullable: true },
    feishu_open_id: { type: 'text', nullable: true },
    push_tokens: { type: 'text[]' },
    apns_tokens: { type: 'text[]' },
    webhook_url: { type: 'text', nullable: true },
    email_bidx: { type: 'text', nullable: true },
    phone_bidx: { type: 'text', nullable: true },
    roles: { type: 'text[]' },
    stores: { type: 'text[]' },
    timezone: { type: 'text', nullable: true },
    locale: { type: 'text', nullable: true },
    created_at: { type: 'Date' },
    updated_at: { type: 'Date' },
  },
});
