import { Migration } from '@mikro-orm/migrations';

/**
 * Contact data encrypted at rest: recipients' addresses and device tokens,
 * delivery addresses (and the raw address a direct send names as its
 * recipient) and the development outbox's addresses are stored sealed
 * (AES-256-GCM, `v1.<kid>.<iv>.<ciphertext>`, src/crypto/sealed-value.ts).
 *
 * A migration does not hold the keys, so nothing is encrypted here: rows
 * written before keep their plain values, which Herald reads as they are
 * (a value without the `v1.` shape is plain), until `npm run rekey` seals
 * them. New and changed rows are sealed when written.
 *
 * Sealed values cannot be compared, so lookups by email or phone (template
 * and multi-channel sends naming a recipient by address) go through blind
 * indexes, email_bidx and phone_bidx (src/crypto/blind-index.ts), which
 * replace the indexes on the values themselves. Until rekey has given a
 * legacy row its indexes, that row is found by its plain value through the
 * *_legacy partial indexes, which hold only such rows and are empty once
 * rekey is done. The outbox's address filter uses address_bidx likewise.
 *
 * down() restores the columns and indexes but cannot decrypt: run it only
 * on a database whose values are still plain.
 */
export class Migration20261208010000_encrypt_contacts extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table recipients add column email_bidx text, add column phone_bidx text;');
    this.addSql('drop index if exists recipients_email;');
    this.addSql('drop index if exists recipients_phone;');
    this.addSql('create index recipients_email_bidx on recipients (tenant, email_bidx) where email_bidx is not null;');
    this.addSql('create index recipients_phone_bidx on recipients (tenant, phone_bidx) where phone_bidx is not null;');
    this.addSql('create index recipients_email_legacy on recipients (tenant, lower(email)) where email is not null and email_bidx is null;');
    this.addSql('create index recipients_phone_legacy on recipients (tenant, phone) where phone is not null and phone_bidx is null;');
    this.addSql('alter table dev_outbox add column address_bidx text;');
  }

  override async down(): Promise<void> {
    this.addSql('alter table dev_outbox drop column if exists address_bidx;');
    this.addSql('drop index if exists recipients_email_legacy;');
    this.addSql('drop index if exists recipients_phone_legacy;');
    this.addSql('alter table recipients drop column if exists email_bidx, drop column if exists phone_bidx;');
    this.addSql('create index recipients_email on recipients (tenant, lower(email)) where email is not null;');
    this.addSql('create index recipients_phone on recipients (tenant, phone) where phone is not null;');
  }
}
