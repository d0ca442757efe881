import { EntitySchema } from '@mikro-orm/core';

/** A device's acknowledgement of a notification pushed over the realtime socket. */
export interface AckRow {
  tenant: string;
  user_id: string;
  notification_id: string;
  first_acked_at: Date;
  last_acked_at: Date;
  /** how many times the user's devices acked it */
  acks: number;
}

export const Ack = new EntitySchema<AckRow>({
  name: 'Ack',
  tableName: 'notification_acks',
  properties: {
    tenant: { type: 'text', primary: true },
    notification_id: { type: 'uuid', primary: true },
    user_id: { type: 'text', primary: true },
    first_acked_at: { type: 'Date' },
    last_acked_at: { type: 'Date' },
    acks: { type: 'integer' },
  },
});
