import type { EntityManager } from '@mikro-orm/postgresql';
import { listPartitions } from './partitions.js';
import { query } from './query.js';

/**
 * The inbox search index, built month by month once a month has ended.
 *
 * `GET /notifications?q=` keeps the rows whose SEARCH_TEXT (title and
 * content, src/domain/inbox/inbox.ts) contains q. A trigram GIN index on
 * that text, with the audience as its first key (btree_gin), finds a rare q
 * in a large inbox without reading the inbox; but kept up to date on every
 * insert it was more than half of what PostgreSQL spent storing a
 * notification (bench/README.md, unit costs). So only months that have
 * ended carry it: each is built here once, with CREATE INDEX CONCURRENTLY
 * (inserts never wait for it), then analyzed, which gives the planner the
 * statistics it needs to choose between the index and walking the inbox.
 * The month being written has no search index: a search walks its part of
 * the inbox newest first (notifications_inbox) and stops at the page's
 * LIMIT, as a q of one or two characters (no trigram) always does. A search
 * costs, at most, one month of the reader's inbox plus the index probes of
 * the months before (bench/search).
 *
 * The scheduler runs this hourly and at start (workers/scheduler-tasks.ts);
 * a Redis lock lets one scheduler build at a time, and a build that another
 * session is still running is left to it. A build that failed half-way
 * leaves an invalid index: it is dropped and built again on the next run.
 * Rows that reach an ended month later (a notification minted just before
 * midnight, stored just after) go into its index like any insert.
 *
 * A month's build runs on one core, ~30 µs a row on the development
 * machine: about a day for a month at 1,000 notifications/s, longer than
 * the month itself beyond ~30,000/s. A deployment that stores that many
 * sets SEARCH_INDEX_MONTHS=all: every month, the current one and those
 * made ahead (empty, so built at once), then carries the index and each
 * insert pays for it, as before.
 */

/** The searched text as the index holds it: SEARCH_TEXT without the row alias. */
const INDEXED_TEXT = `(title || E'\\n' || content)`;

/** The search index of one month's partition of notifications, e.g. notifications_p2026_11_search. */
export const searchIndexOf = (partition: string) => `${partition}_search`;

/** The statement that builds one month's search index, concurrently with inserts (never inside a transaction). */
export const createSearchIndex = (partition: string) =>
  `create index concurrently if not exists ${searchIndexOf(partition)} on ${partition} using gin (audience, ${INDEXED_TEXT} gin_trgm_ops)`;

/**
 * Builds the search index of every month that ended at or before `now`
 * (`which` = 'all': of every month) and has none yet (or only a failed
 * one); returns the indexes it built.
 */
export async function buildSearchIndexes(em: EntityManager, which: 'ended' | 'all' = 'ended', now = new Date()): Promise<string[]> {
  const built: string[] = [];
  for (const p of await listPartitions(em)) {
    if (which === 'ended' && p.to.getTime() > now.getTime()) continue;
    const index = searchIndexOf(p.name);
    const [state] = await query<{ valid: boolean | null; building: boolean }>(
      em,
      `select (select x.indisvalid from pg_index x where x.indexrelid = to_regclass(?)) as valid,
              exists (select 1 from pg_stat_progress_create_index where relid = ?::regclass) as building`,
      [index, p.name],
    );
    if (state.valid === true || state.building) continue;
    if (state.valid === false) await query(em, `drop index concurrently if exists ${index}`);
    await query(em, createSearchIndex(p.name));
    await query(em, `analyze ${p.name}`);
    built.push(index);
  }
  return built;
}
