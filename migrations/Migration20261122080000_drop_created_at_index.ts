import { Migration } from '@mikro-orm/migrations';

/**
 * Drops notifications_created_at. Its only reader was the retention purge,
 * which now walks the primary key instead: ids are UUIDv7, so every id
 * minted before the cutoff sorts below the UUID made of the cutoff's
 * milliseconds and zeros (workers/processors/maintenance.ts). One index
 * fewer for the ingest INSERT to maintain.
 */
export class Migration20261122080000_drop_created_at_index extends Migration {
  override async up(): Promise<void> {
    this.addSql('drop index if exists notifications_created_at;');
  }

  override async down(): Promise<void> {
    this.addSql('create index if not exists notifications_created_at on notifications (created_at);');
  }
}
