import type { EntityManager } from '@mikro-orm/postgresql';
import { listPartitions } from './partitions.js';
import { query } from './query.js';
import { uuidv7Floor } from '../domain/ids.js';

/**
 * The inbox search indexes, built month by month once a month has ended.
 *
 * `GET /notifications?q=` keeps the rows whose SEARCH_TEXT (title and
 * content, src/domain/inbox/inbox.ts) contains q. Two GIN indexes on that
 * text, each with the audience as its first key (btree_gin), find a rare q
 * in a large inbox without reading the inbox:
 * - `<month>_search`, its trigrams (pg_trgm), for a q of three characters
 *   or more;
 * - `<month>_grams`, its characters and pairs of characters (herald_grams,
 *   Migration20261210000000_search_grams), for a q of one or two, which has
 *   no trigram.
 * Kept up to date on every insert, the trigram index alone was more than
 * half of what PostgreSQL spent storing a notification (bench/README.md,
 * unit costs). So only months that have ended carry them: each is built
 * here once, with CREATE INDEX CONCURRENTLY (inserts never wait for it),
 * then the month is analyzed, which gives the planner the statistics it
 * needs to choose between an index and walking the inbox. The month being
 * written has neither: a search walks its part of the inbox newest first
 * (notifications_inbox) and stops at the page's LIMIT. A search costs, at
 * most, one month of the reader's inbox plus the index probes of the months
 * before (bench/search).
 *
 * The scheduler runs this hourly and at start (workers/scheduler-tasks.ts);
 * a Redis lock lets one scheduler build at a time, and a month with a build
 * that another session is still running is left to it. A build that failed
 * half-way leaves an invalid index: it is dropped and built again on the
 * next run. Rows that reach an ended month later (a notification minted
 * just before midnight, stored just after) go into its indexes like any
 * insert.
 *
 * A month's trigram build runs on one core, ~30 µs a row on the development
 * machine, and its grams build ~100: about one and three days for a month
 * at 1,000 notifications/s. Beyond ~30,000/s the trigram build would
 * outlast the month: a deployment that stores that many sets
 * SEARCH_INDEX_MONTHS=all, and every month, the current one and those made
 * ahead (empty, so built at once), then carries the trigram index and each
 * insert pays for it, as before. The grams index stays on ended months only
 * (kept on every insert it cost 2.4× the trigram index, bench/README.md);
 * until a month has it, a q of one or two characters walks that month, and
 * beyond ~10,000/s its build outlasts the month after.
 */

/** The searched text as the index holds it: SEARCH_TEXT without the row alias. */
const INDEXED_TEXT = `(title || E'\\n' || content)`;

/** The search index of one month's partition of notifications, e.g. notifications_p2026_11_search. */
export const searchIndexOf = (partition: string) => `${partition}_search`;

/** The statement that builds one month's search index, concurrently with inserts (never inside a transaction). */
export const createSearchIndex = (partition: string) =>
  `create index concurrently if not exists ${searchIndexOf(partition)} on ${partition} using gin (audience, ${INDEXED_TEXT} gin_trgm_ops)`;

/** The characters-and-pairs index of one month, e.g. notifications_p2026_11_grams. */
export const gramsIndexOf = (partition: string) => `${partition}_grams`;

/** The statement that builds one month's grams index (SEARCH_GRAMS in src/domain/inbox/inbox.ts is what a query names). */
export const createGramsIndex = (partition: string) =>
  `create index concurrently if not exists ${gramsIndexOf(partition)} on ${partition} using gin (audience, (herald_grams${INDEXED_TEXT}) collate "C")`;

/**
 * Builds the search indexes of every month that ended at or before `now`
 * (`which` = 'all': the trigram index of every month too) that has none
 * yet (or only a failed one); returns the indexes it built.
 */
export async function buildSearchIndexes(em: EntityManager, which: 'ended' | 'all' = 'ended', now = new Date()): Promise<string[]> {
  const built: string[] = [];
  const grams = await inUtf8(em);
  for (const p of await listPartitions(em)) {
    const ended = p.to.getTime() <= now.getTime();
    const wanted: Array<[string, string]> = [];
    if (ended || which === 'all') wanted.push([searchIndexOf(p.name), createSearchIndex(p.name)]);
    if (ended && grams) wanted.push([gramsIndexOf(p.name), createGramsIndex(p.name)]);
    if (!wanted.length) continue;
    const [{ building }] = await query<{ building: boolean }>(
      em,
      `select exists (select 1 from pg_stat_progress_create_index where relid = ?::regclass) as building`,
      [p.name],
    );
    if (building) continue;
    const before = built.length;
    for (const [index, create] of wanted) {
      const [{ valid }] = await query<{ valid: boolean | null }>(em, `select (select x.indisvalid from pg_index x where x.indexrelid = to_regclass(?)) as valid`, [index]);
      if (valid === true) continue;
      if (valid === false) await query(em, `drop index concurrently if exists ${index}`);
      await query(em, create);
      built.push(index);
    }
    if (built.length > before) await query(em, `analyze ${p.name}`);
  }
  if (built.some((i) => i.endsWith('_grams'))) forgetGramsIndexes();
  return built;
}

const LOOKUP_TTL_MS = 60_000;
/** A gram in at least this share of a month's rows is common: walking an inbox finds it sooner than the index (bench/search). */
const COMMON_GRAM = 0.005;

export interface GramsIndexes {
  /** the id below which every month has its grams index */
  bound: string;
  /** grams in at least COMMON_GRAM of the rows of the newest month below `bound`, by its statistics */
  common: ReadonlySet<string>;
}

const lookups = new Map<string, { at: number; found: Promise<GramsIndexes | null> }>();

/**
 * Which months a search for one or two characters reads through their
 * grams indexes: those below `bound`, where every month has one (null when
 * the oldest month has none), and for which grams. A common gram's posting
 * list holds a large share of every user's rows, so reading it, then the
 * matches, cost as much as walking the reader's inbox for a count and more
 * for a page, which walks newest first and stops at 20: such a q walks
 * (bench/search). Looked up at most once a minute per database, so a
 * month's new index is used within a minute of its build, by every process.
 */
export function gramsIndexes(em: EntityManager): Promise<GramsIndexes | null> {
  const key = em.config.getClientUrl();
  const hit = lookups.get(key);
  if (hit && Date.now() - hit.at < LOOKUP_TTL_MS) return hit.found;
  const found = findGramsIndexes(em);
  lookups.set(key, { at: Date.now(), found });
  found.catch(() => lookups.delete(key));
  return found;
}

/** Forgets what was looked up: the next search looks again (after a build, or a test's dropped index). */
export const forgetGramsIndexes = () => lookups.clear();

/**
 * The database stores text in UTF8. In another encoding (SQL_ASCII, say)
 * herald_grams would cut bytes, not characters, and miss a Chinese q: such a
 * database gets no grams index, and its searches walk.
 */
async function inUtf8(em: EntityManager): Promise<boolean> {
  const [row] = await query<{ utf8: boolean }>(em, `select getdatabaseencoding() = 'UTF8' as utf8`);
  return row.utf8;
}

async function findGramsIndexes(em: EntityManager): Promise<GramsIndexes | null> {
  if (!(await inUtf8(em))) return null;
  const months = (await listPartitions(em)).sort((a, b) => a.from.getTime() - b.from.getTime());
  const indexed = new Set(
    (
      await query<{ partition: string }>(
        em,
        `select c.relname as partition from pg_index x
           join pg_inherits h on h.inhrelid = x.indrelid join pg_class c on c.oid = x.indrelid
          where h.inhparent = 'notifications'::regclass and x.indisvalid and x.indexrelid::regclass::text like '%\\_grams'`,
      )
    ).map((r) => r.partition),
  );
  const first = months.findIndex((m) => !indexed.has(m.name));
  if (first === 0 || !months.length) return null;
  const newest = months[(first === -1 ? months.length : first) - 1];
  const common = await query<{ gram: string }>(
    em,
    `select u.gram from pg_stats s, unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) as u(gram, freq)
      where s.schemaname = current_schema() and s.tablename = ? and u.gram is not null and u.freq >= ?`,
    [gramsIndexOf(newest.name), COMMON_GRAM],
  );
  return { bound: first === -1 ? MAX_UUID : uuidv7Floor(months[first].from), common: new Set(common.map((c) => c.gram)) };
}

const MAX_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';
