import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Runs SQL with real bind parameters through MikroORM's knex, inside the
 * fork's transaction when there is one, and returns the rows.
 *
 * Why not `em.execute`: MikroORM inlines every parameter into the SQL text
 * (platform.formatQuery), escaping it character by character. For the
 * ingest worker's one-megabyte JSON batch that costs more than the INSERT
 * itself. knex.raw passes parameters to pg as $n bindings instead.
 * Like knex, `?` marks a parameter; a JS array expands to a list, so pass
 * Postgres arrays as literals (see pgArray) or JSON.
 */
export async function query<T>(em: EntityManager, sql: string, params: readonly unknown[] = [], type: 'read' | 'write' = 'write'): Promise<T[]> {
  const q = em.getConnection(type).getKnex().raw(sql, params as unknown[]);
  const trx = em.getTransactionContext();
  if (trx && type === 'write') q.transacting(trx);
  try {
    const res = (await q) as { rows: T[] };
    return res.rows;
  } catch (err) {
    // the same exception classes em.execute throws (e.g. ConnectionException), so callers map them alike
    throw em.getDriver().convertException(err as Error);
  }
}

/** A Postgres array literal for a list of strings (knex would expand a JS array into `?, ?, ?`). */
export function pgArray(list: readonly string[]): string {
  return `{${list.map((s) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}
