import { Migration } from '@mikro-orm/migrations';

/**
 * Inbox search (`GET /notifications?q=`): a trigram GIN index over each
 * audience's titles and contents, so "this user's inbox, filtered by q" is
 * found without reading the user's whole inbox.
 *
 * The index holds two columns: the audience (a btree_gin key) and the
 * searched text (pg_trgm trigrams). One bitmap scan per audience of the
 * reader intersects the audience's posting list with the trigrams of q
 * inside the index, so it visits only that audience's matching rows,
 * however many other inboxes hold the same words. Trigrams work for Chinese
 * as for Latin text (CJK characters are word characters to pg_trgm) and for
 * ILIKE (they are case-folded).
 *
 * Where q is common in an inbox, walking the inbox newest first
 * (notifications_inbox) and stopping at the page's LIMIT reads fewer rows
 * than fetching every match; the planner chooses between the two from the
 * statistics ANALYZE keeps on the indexed expression. It keeps them only for
 * an index without a WHERE clause, so this one has none (unlike
 * notifications_inbox), though only rows with a cursor are ever searched. A
 * q of one or two characters has no trigram: its search is the walk, bounded
 * by the inbox.
 *
 * The searched text is title and content joined by a newline: SEARCH_TEXT in
 * src/domain/inbox/inbox.ts. The two must stay identical or the index is
 * never used.
 *
 * Made on the partitioned parent, it is built on every month and made on
 * each month created later (herald_ensure_partitions creates partitions with
 * the parent's indexes). The build takes a SHARE lock: inserts wait for it
 * and for the ANALYZE after it (which gives the planner the statistics
 * above at once), 24–74 s per million notifications on the shared
 * development machine (bench/search). Each insert then costs about three
 * times what it did without the index.
 *
 * gin_pending_list_limit = 64 kB (the default is 4 MB): new rows wait in the
 * index's pending list, and the insert that fills it merges the whole list
 * into the index. With 4 MB that is one insert every few thousand rows
 * paying for all of them, a pause that shows in the realtime p99
 * (bench:scale:fanout, bench/README.md); with 64 kB each merge is small.
 * Partitions made later copy the setting. Since then the ingest worker
 * merges the list in the background and gives each month a 16 MB limit
 * (src/db/search-pending.ts): merging more rows at once costs less.
 */
export class Migration20261207000000_search extends Migration {
  override async up(): Promise<void> {
    this.addSql('create extension if not exists pg_trgm;');
    this.addSql('create extension if not exists btree_gin;');
    this.addSql(`create index notifications_search on notifications
      using gin (audience, (title || E'\\n' || content) gin_trgm_ops) with (gin_pending_list_limit = 64);`);
    this.addSql('analyze notifications;');
  }

  override async down(): Promise<void> {
    // the extensions stay: something else may have come to use them since
    this.addSql('drop index if exists notifications_search;');
  }
}
