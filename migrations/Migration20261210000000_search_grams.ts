import { Migration } from '@mikro-orm/migrations';

/**
 * `herald_grams(text)`: the characters and the pairs of adjacent characters
 * of a text, ASCII letters lower-cased, ASCII whitespace left out, for the
 * second search index of each ended month (src/db/search-index.ts). A trigram
 * index cannot answer a q of one or two characters (it has no trigram), so
 * such a search read the reader's whole inbox; this index finds the rows
 * holding its character or pair.
 *
 * Folding: `lower` in the "C" collation lower-cases ASCII letters only. The
 * index serves only a q that is caseless or one or two ASCII characters
 * other than i and k (src/domain/inbox/inbox.ts), for which that folding
 * finds every row ILIKE finds, and each candidate is tested again with the
 * search's own LIKE or ILIKE. ASCII whitespace becomes a space and grams of
 * spaces only are dropped (no such q has whitespace: q is trimmed); other
 * whitespace stays, as grams no q asks for (written without \u escapes,
 * which a database not in UTF8 refuses). The pairs are cut by
 * regexp_replace at either parity, joined by \x01, which the text is first
 * stripped of. Cost 1000: where a month has no such index the planner tests
 * the search's LIKE first and calls this last, if ever. In a database whose
 * encoding is not UTF8 characters are bytes here, so its months get no
 * grams index (src/db/search-index.ts).
 */
const HERALD_GRAMS = String.raw`create or replace function herald_grams(t text) returns text[]
  language plpgsql immutable strict parallel safe cost 1000 as $$
  declare
    s text := translate(lower(t collate "C"), E'\t\n\x0b\f\r\x01', '      ');
    n int := length(s);
  begin
    return array_remove(array_remove(array_remove(
      string_to_array(s, null)
      || string_to_array(regexp_replace(substr(s, 1, n / 2 * 2), '(..)', E'\\1\x01', 'g'), E'\x01', '')
      || string_to_array(regexp_replace(substr(s, 2, (n - 1) / 2 * 2), '(..)', E'\\1\x01', 'g'), E'\x01', ''),
      null), ' '), '  ');
  end $$;`;

export class Migration20261210000000_search_grams extends Migration {
  override async up(): Promise<void> {
    this.addSql(HERALD_GRAMS);
  }

  override async down(): Promise<void> {
    this.addSql(`do $$ declare i regclass; begin
      for i in select x.indexrelid::regclass from pg_index x join pg_inherits h on h.inhrelid = x.indrelid
                where h.inhparent = 'notifications'::regclass and x.indexrelid::regclass::text like '%\\_grams'
      loop execute format('drop index %s', i); end loop; end $$;`);
    this.addSql('drop function if exists herald_grams(text);');
  }
}
