import type { EntityManager } from '@mikro-orm/postgresql';

/** A statement as knex sent it. */
export interface SentStatement {
  sql: string;
  bindings: unknown[];
}

/** The statements `fn` sends through `em` (knex's 'query' event), to replay them (EXPLAIN) through a bare client. */
export async function statementsOf(em: EntityManager, fn: () => Promise<unknown>): Promise<SentStatement[]> {
  const knex = em.getConnection().getKnex();
  const sent: SentStatement[] = [];
  const onQuery = (q: { sql: string; bindings?: unknown[] }) => sent.push({ sql: q.sql, bindings: q.bindings ?? [] });
  knex.on('query', onQuery);
  try {
    await fn();
  } finally {
    knex.off('query', onQuery);
  }
  return sent;
}
