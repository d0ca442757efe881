import { Migration } from '@mikro-orm/migrations';

/**
 * Recurring sends (POST /schedules): a cron expression in an IANA time zone
 * and the notification (or template send) to make at each occurrence. The
 * BullMQ job scheduler `schedule-<id>` fires them; this table is the source
 * the scheduler process reconciles BullMQ against.
 *
 * Also indexes one-off scheduled notifications, so reconciling the delayed
 * jobs of those still waiting reads only them.
 */
export class Migration20261122020100_schedules extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table schedules (
        id uuid primary key,
        tenant text not null,
        sender text not null,
        name varchar(200),
        cron text not null,
        timezone text not null default 'UTC',
        body jsonb not null,
        is_active boolean not null default true,
        run_count integer not null default 0,
        last_run_at timestamptz,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        deleted_at timestamptz
      );`);
    this.addSql(`create index schedules_tenant on schedules (tenant, created_at desc) where deleted_at is null;`);
    this.addSql(`create index notifications_scheduled on notifications (schedule_at) include (tenant) where status = 'scheduled';`);
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists notifications_scheduled;');
    this.addSql('drop table if exists schedules;');
  }
}
