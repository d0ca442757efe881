import { EntitySchema } from '@mikro-orm/core';

/**
 * One user's state of one notification: read, seen, archived, snoozed, or
 * deleted from the inbox. A role, store or tenant notification has no row
 * for a user until that user acts on it: no row means none of these.
 */
export interface ReceiptRow {
  tenant: string;
  user_id: string;
  notification_id: string;
  read_at: Date | null;
  deleted_at: Date | null;
  seen_at: Date | null;
  archived_at: Date | null;
  /** out of the inbox and its counts until then; the wake job clears it */
  snoozed_until: Date | null;
}

export const Receipt = new EntitySchema<ReceiptRow>({
  name: 'Receipt',
  tableName: 'notification_receipts',
  properties: {
    tenant: { type: 'text', primary: true },
    user_id: { type: 'text', primary: true },
    notification_id: { type: 'uuid', primary: true },
    read_at: { type: 'Date', nullable: true },
    deleted_at: { type: 'Date', nullable: true },
    seen_at: { type: 'Date', nullable: true },
    archived_at: { type: 'Date', nullable: true },
    snoozed_until: { type: 'Date', nullable: true },
  },
});
