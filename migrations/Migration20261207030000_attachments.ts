import { Migration } from '@mikro-orm/migrations';

/**
 * Email attachments. Each file is stored once per tenant: a send naming
 * bytes the tenant has sent before (the same sha256) reuses that row, so a
 * report mailed every morning to the same list costs one copy.
 *
 * Notifications name their files in `attachments`, a jsonb list of
 * `{ filename, content_type, id?, size?, url?, error? }` in the order the
 * sender gave them (the filename is the send's own: one stored file may go
 * out under different names). A column on the notification row, not a join
 * table: notifications are partitioned by month, and a join table would
 * have to be partitioned alike to go with its month; the column goes with
 * the row. It is null for the notifications without attachments, so the
 * ordinary send pays nothing for it.
 *
 * Retention deletes the files no notification names any more
 * (src/domain/attachments/retention.ts); notifications_attachments, a
 * partial GIN index holding only the rows that have attachments, answers
 * "does any notification name this file" without reading the months.
 * `used_at` is when a send last named the file: a file stored by the api
 * whose notification the ingest worker has not stored yet is not
 * referenced by any row, and a file an old notification named may be named
 * again by a send in flight; retention spares both for a day.
 */
export class Migration20261207030000_attachments extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table if not exists attachments (
      id uuid primary key,
      tenant text not null,
      sha256 text not null,
      filename text not null,
      content_type text,
      size integer not null,
      content bytea not null,
      created_at timestamptz not null default now(),
      used_at timestamptz not null default now()
    );`);
    this.addSql('create unique index if not exists attachments_tenant_sha256 on attachments (tenant, sha256);');
    this.addSql('create index if not exists attachments_used_at on attachments (used_at);');
    // a new nullable column without a default: no rewrite of any month
    this.addSql('alter table notifications add column if not exists attachments jsonb;');
    this.addSql(`create index if not exists notifications_attachments on notifications
      using gin (attachments jsonb_path_ops) where attachments is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists notifications_attachments;');
    this.addSql('alter table notifications drop column if exists attachments;');
    this.addSql('drop table if exists attachments;');
  }
}
