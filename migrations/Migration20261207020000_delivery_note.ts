import { Migration } from '@mikro-orm/migrations';

/**
 * What a channel could not show of a delivered message (its picture, some
 * of its buttons), e.g. "image not shown: feishu needs an uploaded
 * image_key". Null when it showed everything. A column of its own rather
 * than last_error: the delivery succeeded, and last_error keeps the error
 * of an earlier failed attempt.
 */
export class Migration20261207020000_delivery_note extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table deliveries add column if not exists note text;`);
  }

  override async down(): Promise<void> {
    this.addSql('alter table deliveries drop column if exists note;');
  }
}
