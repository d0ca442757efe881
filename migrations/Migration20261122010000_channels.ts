import { Migration } from '@mikro-orm/migrations';

/**
 * Channels: how to reach each user, and one delivery record per
 * (notification, recipient, channel).
 *
 * recipient_audiences mirrors each recipient's roles and stores as
 * ('r:<role>' | 's:<store>', user_id) rows, so expanding a role or store
 * send is a keyset walk over one index range, page by page, however many
 * recipients a tenant has.
 */
export class Migration20261122010000_channels extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table recipients (
        tenant text not null,
        user_id text not null,
        email text,
        phone text,
        wecom_user_id text,
        feishu_open_id text,
        push_tokens text[] not null default '{}',
        webhook_url text,
        roles text[] not null default '{}',
        stores text[] not null default '{}',
        timezone text,
        locale text,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        primary key (tenant, user_id)
      );`);
    // multi-channel sends name a recipient by email or phone
    this.addSql(`create index recipients_email on recipients (tenant, lower(email)) where email is not null;`);
    this.addSql(`create index recipients_phone on recipients (tenant, phone) where phone is not null;`);
    this.addSql(`
      create table recipient_audiences (
        tenant text not null,
        audience text not null,
        user_id text not null,
        primary key (tenant, audience, user_id),
        foreign key (tenant, user_id) references recipients (tenant, user_id) on delete cascade
      );`);
    this.addSql(`create index recipient_audiences_user on recipient_audiences (tenant, user_id);`);
    this.addSql(`
      create table deliveries (
        id uuid primary key,
        tenant text not null,
        notification_id uuid not null,
        sender text not null,
        recipient text not null,
        direct boolean not null default false,
        channel text not null,
        address text,
        status text not null default 'queued',
        attempts int not null default 0,
        reason text,
        last_error text,
        provider_message_id text,
        fallback_of uuid,
        fallbacks text[] not null default '{}',
        notification_created_at timestamptz not null,
        created_at timestamptz not null default now(),
        started_at timestamptz,
        finished_at timestamptz,
        latency_ms int,
        updated_at timestamptz not null default now(),
        constraint deliveries_once unique (notification_id, recipient, channel)
      );`);
    // operators (and the scheduler's reconciliation) look for deliveries stuck in flight
    this.addSql(`create index deliveries_in_flight on deliveries (updated_at) where status in ('queued', 'sending');`);
    this.addSql(`create index deliveries_tenant_created on deliveries (tenant, created_at desc);`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists deliveries;');
    this.addSql('drop table if exists recipient_audiences;');
    this.addSql('drop table if exists recipients;');
  }
}
