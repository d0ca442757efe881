import { Migration } from '@mikro-orm/migrations';

/**
 * notification_rejections: notifications the api accepted (202) that
 * PostgreSQL refused to store for their content (a character it cannot hold,
 * a value out of range, a rule the api did not know). The ingest worker
 * splits a refused batch until the bad notification is alone, stores the
 * others, and records the bad one here, so its sender can see by id that it
 * failed and why instead of finding nothing.
 *
 * `draft` is the notification as accepted, as JSON text: JSON escapes what
 * PostgreSQL refused (NUL, lone surrogates), so the record itself can always
 * be stored. Ids are UUIDv7 like the notifications', so the retention purge
 * walks the primary key here too.
 */
export class Migration20261205000000_rejections extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table notification_rejections (
      id uuid primary key,
      tenant text not null,
      sender text not null,
      idempotency_key text,
      reason text not null,
      detail text not null,
      draft text not null,
      rejected_at timestamptz not null default now()
    );`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists notification_rejections;');
  }
}
