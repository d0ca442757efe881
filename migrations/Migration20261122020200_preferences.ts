import { Migration } from '@mikro-orm/migrations';

/**
 * A user's own delivery preferences (GET/PUT /preferences): channels per
 * notification type, a do-not-disturb window in the user's time zone (it may
 * cross midnight: 22:00–08:00) and mute_until. A user without a row gets the
 * defaults (every channel, no window, not muted).
 */
export class Migration20261122020200_preferences extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table preferences (
        tenant text not null,
        user_id text not null,
        channels jsonb not null default '{}',
        dnd_start text,
        dnd_end text,
        timezone text,
        mute_until timestamptz,
        updated_at timestamptz not null default now(),
        primary key (tenant, user_id)
      );`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists preferences;');
  }
}
