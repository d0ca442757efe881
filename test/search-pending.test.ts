/**
 * src/db/search-pending.ts: the ingest worker merges the search index's
 * pending list in the background, and every month's index gets a limit
 * big enough that inserts do not merge it themselves. A database of its
 * own, so the months' index options it changes are nobody else's.
 */
import { afterAll, expect, test } from 'vitest';
import { migrate, openOrm, type Orm } from '../src/db/orm.js';
import { listPartitions } from '../src/db/partitions.js';
import { query } from '../src/db/query.js';
import { PENDING_LIST_KB, searchPendingCleaner } from '../src/db/search-pending.js';
import { toDrafts } from '../src/domain/sending/input.js';
import { storeNotifications } from '../src/domain/sending/store.js';
import { createLogger } from '../src/logger.js';
import { TEST_DATABASE_URL, onPostgres } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';

const logger = createLogger({ LOG_LEVEL: 'silent', PRETTY_LOGS: false }, 'test');
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function freshDatabase(): Promise<Orm> {
  const name = uniq('herald_search_pending').replace(/-/g, '_');
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  cleanups.push(() => onPostgres(`drop database if exists "${name}" with (force)`));
  await migrate({ url: url.toString() });
  const orm = await openOrm({ url: url.toString(), poolMax: 3 });
  cleanups.push(() => orm.close(true));
  await query(orm.em.fork(), 'create extension if not exists pgstattuple');
  return orm;
}

/** The search index of the month `now` falls in, and the pages its pending list holds. */
async function currentMonth(orm: Orm): Promise<{ name: string; pendingPages: number; options: string[] }> {
  const now = Date.now();
  const month = (await listPartitions(orm.em.fork())).find((p) => p.from.getTime() <= now && now < p.to.getTime())!;
  const [row] = await query<{ name: string; options: string[] | null }>(
    orm.em.fork(),
    `select c.oid::regclass::text as name, c.reloptions as options
       from pg_index x join pg_class c on c.oid = x.indexrelid
      where x.indrelid = ?::regclass and x.indexrelid in (select inhrelid from pg_inherits where inhparent = 'notifications_search'::regclass)`,
    [month.name],
  );
  const [stat] = await query<{ pending_pages: number }>(orm.em.fork(), `select pending_pages from pgstatginindex(?::regclass)`, [row.name]);
  return { name: row.name, pendingPages: Number(stat.pending_pages), options: row.options ?? [] };
}

async function storeSome(orm: Orm, n: number): Promise<void> {
  const drafts = toDrafts({ user_ids: Array.from({ length: n }, (_, i) => `u${i}`), title: '订单已发货', content: 'Order shipped: 您的订单已由顺丰速运发出', type: 'info', priority: 'normal' } as never, {
    tenant: 'acme',
    sender: 'svc',
  });
  await storeNotifications(orm.em.fork(), drafts);
}

test('rows wait in the pending list until the cleaner merges them, and each month gets the big limit', async () => {
  const orm = await freshDatabase();
  const cleaner = searchPendingCleaner(() => orm.em.fork(), logger, { everyRows: 100_000, everyMs: 200 });
  cleanups.push(() => cleaner.close());

  // the first merge also sets the limit on every month's index
  cleaner.stored(1);
  await waitFor(async () => (await currentMonth(orm)).options.includes(`gin_pending_list_limit=${PENDING_LIST_KB}`));

  await storeSome(orm, 500);
  // 500 rows stay under the 16 MB limit: no insert merged them
  expect((await currentMonth(orm)).pendingPages).toBeGreaterThan(0);
  cleaner.stored(500);
  await waitFor(async () => (await currentMonth(orm)).pendingPages === 0);
});

test('without the cleaner the rows stay in the pending list', async () => {
  const orm = await freshDatabase();
  const cleaner = searchPendingCleaner(() => orm.em.fork(), logger, { everyRows: 1, everyMs: 0 });
  cleaner.stored(1);
  await waitFor(async () => (await currentMonth(orm)).options.includes(`gin_pending_list_limit=${PENDING_LIST_KB}`));
  await cleaner.close();
  await storeSome(orm, 500);
  await new Promise((r) => setTimeout(r, 500));
  expect((await currentMonth(orm)).pendingPages).toBeGreaterThan(0);
  // and a search still finds them: the pending list is searched too
  const [found] = await query<{ n: string }>(
    orm.em.fork(),
    `select count(*) as n from notifications where audience = 'u:u7' and (title || E'\\n' || content) ilike '%顺丰速运%'`,
  );
  expect(Number(found.n)).toBe(1);
});
