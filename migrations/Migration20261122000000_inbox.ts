import { Migration } from '@mikro-orm/migrations';

/**
 * The inbox: notifications stored once per audience, per-user receipts.
 *
 * `seq` is the inbox cursor. It is assigned under a per-tenant advisory lock
 * (see src/domain/ingest.ts), so within a tenant the order of `seq` is the
 * order of commits: a reader that has seen seq N will never later find a
 * new row below N. It stays NULL while a notification is scheduled and is
 * cleared on recall, which takes the row out of every inbox index.
 */
export class Migration20261122000000_inbox extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create sequence notification_seq as bigint;`);
    this.addSql(`
      create table notifications (
        id uuid primary key,
        tenant text not null,
        seq bigint,
        audience text not null,
        user_id text,
        role text,
        store_id text,
        broadcast boolean not null default false,
        title varchar(200) not null,
        content varchar(2000) not null,
        type text not null,
        priority text not null,
        status text not null,
        channels text[] not null,
        fallback_channels text[] not null default '{}',
        metadata jsonb not null default '{}',
        source text,
        group_key text,
        idempotency_key text,
        sender text not null,
        schedule_at timestamptz,
        created_at timestamptz not null,
        sent_at timestamptz,
        updated_at timestamptz not null default now()
      );`);
    // Inbox pages, unread counts and since-cursor reads: one range scan per audience, index-only.
    this.addSql(`
      create index notifications_inbox on notifications (tenant, audience, seq desc)
        include (id, type, priority) where seq is not null;`);
    this.addSql(`create index notifications_sender on notifications (tenant, sender, created_at desc);`);
    this.addSql(`create index notifications_created_at on notifications (created_at);`);
    this.addSql(`
      create table notification_receipts (
        tenant text not null,
        user_id text not null,
        notification_id uuid not null references notifications (id) on delete cascade,
        read_at timestamptz,
        deleted_at timestamptz,
        primary key (tenant, user_id, notification_id) include (read_at, deleted_at)
      );`);
    this.addSql(`create index notification_receipts_notification on notification_receipts (notification_id);`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists notification_receipts;');
    this.addSql('drop table if exists notifications;');
    this.addSql('drop sequence if exists notification_seq;');
  }
}
