import { Migration } from '@mikro-orm/migrations';

/**
 * Digests (src/domain/digest/): external deliveries held for one user,
 * channel and digest key, sent as one message when the window ends.
 *
 * `digest_buckets` holds the open window of each (tenant, user, channel,
 * key): the first event creates the row and fixes the window's start; a
 * later one updates nothing but takes the row's lock, and the digest job
 * deletes the row when it claims the window. That one row serializes joining
 * and claiming, so an event either joins a window before it is claimed or
 * opens the next one: none is left behind in a window already sent.
 *
 * `digest_members` holds each held delivery until its digest has been
 * enqueued; `digest_id` is the combined delivery that claimed it (null while
 * the window is open). Rows go once the combined delivery is enqueued.
 */
export class Migration20261207040000_digest extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table if not exists digest_buckets (
        tenant text not null,
        user_id text not null,
        channel text not null,
        key text not null,
        window_start timestamptz not null,
        window_ms int not null,
        primary key (tenant, user_id, channel, key)
      );`);
    this.addSql(`
      create table if not exists digest_members (
        delivery_id uuid primary key,
        tenant text not null,
        user_id text not null,
        channel text not null,
        key text not null,
        notification_id uuid not null,
        added_at timestamptz not null default clock_timestamp(),
        digest_id uuid
      );`);
    // the claim takes a bucket's open members; a repeated run finds what it claimed
    this.addSql(`create index if not exists digest_members_open on digest_members (tenant, user_id, channel, key) where digest_id is null;`);
    this.addSql(`create index if not exists digest_members_claimed on digest_members (digest_id) where digest_id is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists digest_members;');
    this.addSql('drop table if exists digest_buckets;');
  }
}
