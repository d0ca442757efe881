import { EntitySchema } from '@mikro-orm/core';

/** One user's state of one notification: read, or deleted from the inbox. */
export interface ReceiptRow {
  tenant: string;
  user_id: string;
  notification_id: string;
  read_at: Date | null;
  deleted_at: Date | null;
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
  },
});
