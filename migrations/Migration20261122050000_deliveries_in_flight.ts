import { Migration } from '@mikro-orm/migrations';

/**
 * "Is anything of this notification still in flight?" is asked each time
 * one of its deliveries fails or is skipped; this partial index answers it
 * with one probe however many deliveries the notification has.
 */
export class Migration20261122050000_deliveries_in_flight extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index deliveries_notification_in_flight on deliveries (notification_id) where status in ('queued', 'sending');`);
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists deliveries_notification_in_flight;');
  }
}
