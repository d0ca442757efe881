import { Migration } from '@mikro-orm/migrations';

/**
 * The development outbox: with NODE_ENV=development, a channel without
 * credentials stores each message it would have sent here (as rendered for
 * that channel) instead of failing the delivery, so someone trying Herald
 * out sees what their users would get. Operators read it at GET
 * /admin/outbox; each tenant keeps its newest 1000 messages.
 *
 * delivery_id is unique: a delivery job that runs again after its message
 * was stored finds the same row instead of storing a second copy. The
 * self-test route stores its test messages with ids of their own.
 * `rich` holds what the channel would show beside the text (type,
 * priority, link, picture, buttons, an SMS template code).
 */
export class Migration20261207050000_dev_outbox extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table if not exists dev_outbox (
      id bigserial primary key,
      tenant text not null,
      channel text not null,
      address text not null,
      subject text not null,
      text_body text not null,
      html_body text,
      metadata jsonb not null default '{}',
      rich jsonb not null default '{}',
      delivery_id uuid not null,
      notification_id uuid not null,
      created_at timestamptz not null default now(),
      constraint dev_outbox_delivery unique (delivery_id)
    );`);
    // the listing (newest first, per tenant) and the pruning read this
    this.addSql('create index if not exists dev_outbox_tenant_id on dev_outbox (tenant, id desc);');
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists dev_outbox;');
  }
}
