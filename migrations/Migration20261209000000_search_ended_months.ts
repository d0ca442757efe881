import { Migration } from '@mikro-orm/migrations';

/**
 * The inbox search index moves from every month to the months that have
 * ended (src/db/search-index.ts): kept up to date on every insert it was
 * more than half of what PostgreSQL spent storing a notification.
 *
 * This drops the index of Migration20261207000000_search from the parent
 * and so from every month. The scheduler then builds each ended month's
 * own index, `<partition>_search`, with CREATE INDEX CONCURRENTLY at start
 * and hourly, so inserts never wait for the builds (the first migration's
 * build locked them out for 24–74 s per million rows). Until a month's
 * index is there, a search walks that month's part of the inbox: slower for
 * a large inbox, never wrong.
 *
 * Down builds the parent's index again (locking inserts while it builds)
 * after dropping the months' own.
 */
export class Migration20261209000000_search_ended_months extends Migration {
  override async up(): Promise<void> {
    this.addSql('drop index if exists notifications_search;');
  }

  override async down(): Promise<void> {
    this.addSql(`do $$ declare i regclass; begin
      for i in select x.indexrelid::regclass from pg_index x join pg_inherits h on h.inhrelid = x.indrelid
                where h.inhparent = 'notifications'::regclass and x.indexrelid::regclass::text like '%\\_search'
      loop execute format('drop index %s', i); end loop; end $$;`);
    this.addSql(`create index notifications_search on notifications
      using gin (audience, (title || E'\\n' || content) gin_trgm_ops) with (gin_pending_list_limit = 64);`);
    this.addSql('analyze notifications;');
  }
}
