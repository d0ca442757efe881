import { Migration } from '@mikro-orm/migrations';

/**
 * Device acknowledgements from the realtime protocol: a client that sends
 * `{"type":"ack","id"}` confirms the notification reached that device. One
 * row per user and notification, keeping the first and the latest ack, so a
 * client that acks on every reconnect does not grow the table.
 */
export class Migration20261122030000_realtime_acks extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table notification_acks (
        tenant text not null,
        user_id text not null,
        notification_id uuid not null references notifications (id) on delete cascade,
        first_acked_at timestamptz not null default now(),
        last_acked_at timestamptz not null default now(),
        acks integer not null default 1,
        primary key (tenant, notification_id, user_id)
      );`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists notification_acks;');
  }
}
