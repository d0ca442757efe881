import { Migration } from '@mikro-orm/migrations';

/**
 * Per-locale variants of a template (see src/domain/templates/variants.ts):
 * `{ "zh-CN": { "title": …, "content": …, "email": { "subject", "html", "text" }, "sms": { "text" } }, "en": { … } }`.
 * One jsonb column rather than a table of variants: a variant is always
 * read and written with its template (one row is one version of all its
 * texts), and copy-on-write of a system template copies it with the rest.
 */
export class Migration20261207010000_template_variants extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table templates add column if not exists variants jsonb not null default '{}';`);
  }

  override async down(): Promise<void> {
    this.addSql('alter table templates drop column if exists variants;');
  }
}
