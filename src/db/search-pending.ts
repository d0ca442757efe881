import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { query } from './query.js';

/**
 * Keeps the inbox search index's pending list short, off the insert path.
 *
 * The search index (migrations/Migration20261207000000_search.ts) is GIN
 * with fastupdate: an insert appends its rows' trigrams to the index's
 * pending list, and whoever finds the list over gin_pending_list_limit
 * merges all of it into the index, sorted, which costs far less per row and
 * writes half the WAL of merging each row alone (bench/README.md, unit
 * costs: a batch of 1,000 rows, 64 kB list against an 8 MB list cleaned
 * every 4 batches: 1.6× the time and 2× the WAL). Left to inserts, the merge
 * falls on one unlucky batch and its frames wait for it (the realtime p99);
 * with a small limit every batch merges a little, the expensive way.
 *
 * So each month's index gets a limit of PENDING_LIST_KB, big enough that no
 * insert reaches it in normal operation, and the ingest worker, which wrote
 * the rows, merges the list on a connection of its own
 * (gin_clean_pending_list) every `everyRows` rows or `everyMs`, one merge at
 * a time. If the merges fall behind, an insert that finds the list full
 * merges it, as before. A search reads the pending list whole, so it also
 * stays a few MB at most.
 *
 * The limit is set here, on each month's index, because a partitioned
 * index's own options cannot be altered and months are made ahead by the
 * scheduler from the parent's definition.
 */
export const PENDING_LIST_KB = 16 * 1024;

/** How often the list of months' search indexes is read again (new months appear ahead of time). */
const PARTITIONS_TTL_MS = 60_000;

export interface SearchPendingCleaner {
  /** `rows` rows were just written to notifications */
  stored(rows: number): void;
  close(): Promise<void>;
}

export function searchPendingCleaner(
  em: () => EntityManager,
  logger: Logger,
  opts: { everyRows?: number; everyMs?: number } = {},
): SearchPendingCleaner {
  const everyRows = opts.everyRows ?? 2000;
  const everyMs = opts.everyMs ?? 250;
  let pending = 0;
  let lastRun = 0;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  let indexes: string[] = [];
  let indexesAt = -Infinity;
  let closed = false;

  const monthIndexes = async (e: EntityManager): Promise<string[]> => {
    if (performance.now() - indexesAt < PARTITIONS_TTL_MS) return indexes;
    const rows = await query<{ name: string; limited: boolean }>(
      e,
      `select c.oid::regclass::text as name, coalesce(? = any(c.reloptions), false) as limited
         from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = to_regclass('notifications_search')`,
      [`gin_pending_list_limit=${PENDING_LIST_KB}`],
    );
    for (const r of rows.filter((r) => !r.limited)) {
      // the ALTER locks the month's index: give up at once behind a long query rather than queue every insert behind it
      await e
        .transactional(async (tem) => {
          await query(tem, `set local lock_timeout = '500ms'`);
          await query(tem, `alter index ${r.name} set (gin_pending_list_limit = ${PENDING_LIST_KB})`);
        })
        .catch((err) => logger.debug({ err: (err as Error).message, index: r.name }, 'search index: setting the pending list limit waits for the next try'));
    }
    indexes = rows.map((r) => r.name);
    indexesAt = performance.now();
    return indexes;
  };

  const run = () => {
    clearTimeout(timer);
    pending = 0;
    lastRun = performance.now();
    running = (async () => {
      const e = em();
      const names = await monthIndexes(e);
      if (names.length) await query(e, `select gin_clean_pending_list(x::regclass) from unnest(?::text[]) x`, [`{${names.join(',')}}`]);
    })()
      .catch((err) => logger.debug({ err: (err as Error).message }, 'search index: merging the pending list failed (inserts merge it when it is full)'))
      .finally(() => {
        running = null;
        if (pending > 0) schedule();
      });
  };

  const schedule = () => {
    if (closed || running) return;
    if (pending >= everyRows) return run();
    clearTimeout(timer);
    timer = setTimeout(run, Math.max(0, lastRun + everyMs - performance.now()));
    timer.unref();
  };

  return {
    stored(rows) {
      if (closed || rows <= 0) return;
      pending += rows;
      schedule();
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await running;
    },
  };
}
