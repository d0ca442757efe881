import { Migration } from '@mikro-orm/migrations';

/**
 * Inbox states per user beside read and deleted: `seen_at` (the bell counts
 * what the user has not seen), `archived_at` (out of the inbox, into the
 * archive) and `snoozed_until` (out of the inbox and every count until
 * then). Like read state they live in the receipt, which a role, store or
 * tenant notification gets only when the user first acts on it: no receipt
 * means unread, unseen, not archived, not snoozed.
 *
 * The primary key carries the new columns in its INCLUDE list, as it does
 * read_at and deleted_at, so inbox pages and counts that filter on them stay
 * index-only on the receipts side. Rebuilding it takes the table's lock for
 * as long as the index build lasts.
 */
export class Migration20261205100000_inbox_states extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table notification_receipts
      add column seen_at timestamptz,
      add column archived_at timestamptz,
      add column snoozed_until timestamptz;`);
    this.addSql(`alter table notification_receipts
      drop constraint notification_receipts_pkey,
      add primary key (tenant, user_id, notification_id) include (read_at, deleted_at, seen_at, archived_at, snoozed_until);`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table notification_receipts
      drop constraint notification_receipts_pkey,
      add primary key (tenant, user_id, notification_id) include (read_at, deleted_at);`);
    this.addSql(`alter table notification_receipts
      drop column if exists seen_at,
      drop column if exists archived_at,
      drop column if exists snoozed_until;`);
  }
}
