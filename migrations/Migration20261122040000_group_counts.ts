import { Migration } from '@mikro-orm/migrations';

/**
 * Realtime frames of grouped notifications carry the group's size
 * (src/domain/group-frame.ts): counted per (tenant, audience, group_key)
 * at every send, so it needs its own index to stay one short range scan.
 */
export class Migration20261122040000_group_counts extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index notifications_group on notifications (tenant, audience, group_key) where group_key is not null and seq is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists notifications_group;');
  }
}
