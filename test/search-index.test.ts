/**
 * src/db/search-index.ts: the inbox search index is built for each month
 * that has ended, never for the month being written, and the inbox search
 * finds the same rows through it as by walking. A database of its own, so
 * the months and indexes it makes are nobody else's.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, expect, test } from 'vitest';
import { loadConfig } from '../src/config.js';
import { migrate, openOrm, type Orm } from '../src/db/orm.js';
import { ensureMonths, listPartitions } from '../src/db/partitions.js';
import { query } from '../src/db/query.js';
import { buildSearchIndexes, createSearchIndex, forgetGramsIndexes, gramsIndexOf, searchIndexOf } from '../src/db/search-index.js';
import { listInbox } from '../src/domain/inbox/inbox.js';
import { toDrafts } from '../src/domain/sending/input.js';
import { storeNotifications } from '../src/domain/sending/store.js';
import { createLogger } from '../src/logger.js';
import { startMaintenance } from '../workers/scheduler-tasks.js';
import { statementsOf } from '../bench/lib/statements.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, onPostgres } from './helpers/env.js';
import { uniq } from './helpers/harness.js';

const logger = createLogger({ LOG_LEVEL: 'silent', PRETTY_LOGS: false }, 'test');
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A database of its own, migrated; `sqlAscii`: made first in SQL_ASCII, as the embedded PostgreSQL of `npm start` makes it. */
async function freshDatabase(sqlAscii = false): Promise<Orm> {
  const name = uniq('herald_search_index').replace(/-/g, '_');
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  cleanups.push(() => onPostgres(`drop database if exists "${name}" with (force)`));
  if (sqlAscii) await onPostgres(`create database "${name}" encoding 'SQL_ASCII' lc_collate 'C' lc_ctype 'C' template template0`);
  await migrate({ url: url.toString() });
  const orm = await openOrm({ url: url.toString(), poolMax: 3 });
  cleanups.push(() => orm.close(true));
  return orm;
}

const who = { sub: 'ana', tenant: 'acme', roles: [], stores: [] };

/** Notifications to ana minted at `when`, stored as the ingest worker stores them (`times` copies of each text, in one batch). */
async function send(orm: Orm, when: number, texts: Array<[string, string]>, times = 1) {
  const drafts = texts.flatMap(([title, content]) =>
    Array.from({ length: times }, () => toDrafts({ title, content, type: 'info', priority: 'normal', user_id: 'ana' } as never, { tenant: 'acme', sender: 'svc', now: when })).flat(),
  );
  await storeNotifications(orm.em.fork(), drafts);
}

/** Each month's search index: valid or not, by partition name. */
async function searchIndexes(orm: Orm): Promise<Map<string, boolean>> {
  const rows = await query<{ partition: string; valid: boolean }>(
    orm.em.fork(),
    `select x.indrelid::regclass::text as partition, x.indisvalid as valid
       from pg_index x join pg_inherits h on h.inhrelid = x.indrelid
      where h.inhparent = 'notifications'::regclass and x.indexrelid::regclass::text like '%\\_search'`,
  );
  return new Map(rows.map((r) => [r.partition, r.valid]));
}

const search = async (orm: Orm, q: string) =>
  (await listInbox(orm.em.fork(), who, { q }, { limit: 20, offset: 0, order: 'desc', withTotal: false })).rows.map((r) => r.title);

/** The plan of the first page for q: which indexes of which months it reads. */
async function plan(orm: Orm, q: string, statement: 'page' | 'count' = 'page'): Promise<string> {
  const em = orm.em.fork();
  const sent = await statementsOf(em, () => listInbox(em, who, { q }, { limit: 20, offset: 0, order: 'desc', withTotal: statement === 'count' }));
  const client = new pg.Client({ connectionString: orm.config.getClientUrl() });
  await client.connect();
  try {
    const page = sent.find((s) => s.sql.includes('like') && s.sql.includes('count(*)') === (statement === 'count'))!;
    const rows = await client.query(`explain ${page.sql}`, page.bindings);
    return rows.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
  } finally {
    await client.end();
  }
}

test('the search index is built for the months that ended, not the month being written, and finds what walking finds', async () => {
  const orm = await freshDatabase();
  const now = new Date('2026-12-06T10:00:00Z');
  await ensureMonths(orm.em.fork(), new Date('2026-10-01T00:00:00Z'), new Date('2027-01-01T00:00:00Z'));
  // the migration left no search index on any month
  expect(await searchIndexes(orm)).toEqual(new Map());

  const october = Date.parse('2026-10-20T08:00:00Z');
  const november = Date.parse('2026-11-30T23:59:59.999Z');
  const december = Date.parse('2026-12-01T00:00:00Z');
  await send(orm, october, [['发票已开具', '退款 12 元已原路退回']]);
  // enough of ana's October that reading her inbox costs more than asking the index
  await send(orm, october, [['Order shipped', 'On its way']], 3000);
  await send(orm, november, [['Invoice issued', 'refund sent'], ['库存提醒', '单品库存不足']]);
  await send(orm, december, [['发票 INV-9', '退款到账'], ['Backup done', 'nothing to see']]);
  const walked = { invoice: await search(orm, 'invoice'), 退款: await search(orm, '退款'), 原路退回: await search(orm, '原路退回') };
  expect(walked).toEqual({ invoice: ['Invoice issued'], 退款: ['发票 INV-9', '发票已开具'], 原路退回: ['发票已开具'] });
  expect(await plan(orm, '原路退回')).not.toContain('_search');

  const built = await buildSearchIndexes(orm.em.fork(), 'ended', now);
  const months = (await listPartitions(orm.em.fork())).map((p) => p.name);
  const ended = months.filter((m) => m < 'notifications_p2026_12');
  expect(ended).toEqual(['notifications_p2026_10', 'notifications_p2026_11']);
  expect(built).toEqual(ended.flatMap((m) => [searchIndexOf(m), gramsIndexOf(m)]));
  expect(await searchIndexes(orm)).toEqual(new Map(ended.map((m) => [m, true])));
  // again: nothing to do
  expect(await buildSearchIndexes(orm.em.fork(), 'ended', now)).toEqual([]);

  // the same matches, now through the ended months' indexes
  expect({ invoice: await search(orm, 'invoice'), 退款: await search(orm, '退款'), 原路退回: await search(orm, '原路退回') }).toEqual(walked);
  const p = await plan(orm, '原路退回');
  expect(p).toContain('Bitmap Index Scan on notifications_p2026_10_search');
  expect(p).not.toContain('notifications_p2026_12_search');

  // a row that reaches an ended month late goes into its index like any insert
  await send(orm, november, [['迟到的发票', '原路退回 3 元']]);
  expect(await search(orm, '原路退回')).toEqual(['迟到的发票', '发票已开具']);

  // once December has ended, it is indexed in turn
  expect(await buildSearchIndexes(orm.em.fork(), 'ended', new Date('2027-01-01T00:00:00Z'))).toEqual(['notifications_p2026_12_search', 'notifications_p2026_12_grams']);
});

test('SEARCH_INDEX_MONTHS=all: every month, the current one and those made ahead too', async () => {
  const orm = await freshDatabase();
  await ensureMonths(orm.em.fork(), new Date('2026-11-01T00:00:00Z'), new Date('2027-01-01T00:00:00Z'));
  await send(orm, Date.parse('2026-12-03T08:00:00Z'), [['发票已开具', '退款 12 元已原路退回']]);
  const months = (await listPartitions(orm.em.fork())).map((p) => p.name);
  expect(months).toContain('notifications_p2027_01');
  // the trigram index on every month; the grams index on the month that ended only
  expect(await buildSearchIndexes(orm.em.fork(), 'all', new Date('2026-12-06T10:00:00Z'))).toEqual(
    months.flatMap((m) => (m < 'notifications_p2026_12' ? [searchIndexOf(m), gramsIndexOf(m)] : [searchIndexOf(m)])),
  );
  expect(await searchIndexes(orm)).toEqual(new Map(months.map((m) => [m, true])));
  expect(await search(orm, '原路退回')).toEqual(['发票已开具']);
});

test('a build that failed half-way is dropped and built again', async () => {
  const orm = await freshDatabase();
  await ensureMonths(orm.em.fork(), new Date('2026-10-01T00:00:00Z'), new Date('2026-10-01T00:00:00Z'));
  await send(orm, Date.parse('2026-10-20T08:00:00Z'), [['Invoice issued', 'refund sent']]);
  // what CREATE INDEX CONCURRENTLY leaves when it fails: the index, marked invalid
  await query(orm.em.fork(), createSearchIndex('notifications_p2026_10'));
  await query(orm.em.fork(), `update pg_index set indisvalid = false where indexrelid = 'notifications_p2026_10_search'::regclass`);
  expect(await searchIndexes(orm)).toEqual(new Map([['notifications_p2026_10', false]]));

  expect(await buildSearchIndexes(orm.em.fork(), 'ended', new Date('2026-12-06T10:00:00Z'))).toEqual(['notifications_p2026_10_search', 'notifications_p2026_10_grams']);
  expect(await searchIndexes(orm)).toEqual(new Map([['notifications_p2026_10', true]]));
});

test('the scheduler builds the ended months\' indexes when it starts', async () => {
  const orm = await freshDatabase();
  const lastMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() - 1, 15));
  await ensureMonths(orm.em.fork(), lastMonth, lastMonth);
  const [ended] = (await listPartitions(orm.em.fork())).filter((p) => p.to.getTime() <= Date.now());
  const redis = new Redis(TEST_REDIS_URL);
  cleanups.push(() => redis.quit());
  const maintenance = startMaintenance({ orm, logger, redis, prefix: uniq('search-index'), queues: undefined as never }, loadConfig({ REDIS_URL: TEST_REDIS_URL }));
  try {
    await maintenance.searchIndexNow();
  } finally {
    maintenance.stop();
  }
  expect((await searchIndexes(orm)).get(ended.name)).toBe(true);
  expect([...(await searchIndexes(orm)).keys()].every((m) => m === ended.name || m < ended.name)).toBe(true);
});

test('one or two characters: the grams index of the ended months finds what walking finds, and a month without it is walked', async () => {
  const orm = await freshDatabase();
  const now = new Date('2026-12-06T10:00:00Z');
  await ensureMonths(orm.em.fork(), new Date('2026-10-01T00:00:00Z'), new Date('2027-01-01T00:00:00Z'));
  const october = Date.parse('2026-10-20T08:00:00Z');
  const november = Date.parse('2026-11-15T08:00:00Z');
  const december = Date.parse('2026-12-02T08:00:00Z');
  await send(orm, october, [['REFUND issued', '退款 12 元'], ['Zip code', 'changed'], ['Temperature', 'at 300 \u212a']]);
  // enough of ana's October and November that reading her inbox costs more than asking the index
  // (the newest indexed month's statistics say which grams are common: November's)
  await send(orm, october, [['Order shipped', 'On its way']], 3000);
  await send(orm, november, [['Order shipped', 'On its way']], 3000);
  await send(orm, november, [['Refund', '退 5 元'], ['库存提醒', '单品库存不足']]);
  await send(orm, december, [['refund sent', '退款到账'], ['Backup done', 'nothing to see']]);

  const qs = ['fu', 'FU', 'Fu', '退', '退款', 'z', '12', 'k', 'ip', '单品', '%', 'Or'];
  const found = async () => {
    const out: Record<string, { titles: string[]; total: number }> = {};
    for (const q of qs) {
      const page = await listInbox(orm.em.fork(), who, { q }, { limit: 20, offset: 0, order: 'desc', withTotal: true });
      out[q] = { titles: page.rows.map((r) => r.title), total: page.total };
    }
    return out;
  };
  const walked = await found();
  expect(walked.fu).toEqual({ titles: ['refund sent', 'Refund', 'REFUND issued'], total: 3 });
  expect(walked.FU).toEqual(walked.fu);
  expect(walked.退).toEqual({ titles: ['refund sent', 'Refund', 'REFUND issued'], total: 3 });
  expect(walked.k.titles).toEqual(['Backup done', 'Temperature']);
  expect(walked['%'].total).toBe(0);
  expect(await plan(orm, 'fu')).not.toContain('_grams');

  await buildSearchIndexes(orm.em.fork(), 'ended', now);
  expect(await found()).toEqual(walked);
  // October and November through their grams indexes, December (no index yet) walked; the page and its total alike
  for (const statement of ['page', 'count'] as const) {
    const p = await plan(orm, '退款', statement);
    expect(p).toContain('Bitmap Index Scan on notifications_p2026_10_grams');
    expect(p).toContain('notifications_p2026_12');
    expect(p).not.toContain('notifications_p2026_12_grams');
  }
  expect(await plan(orm, 'fu')).toContain('notifications_p2026_10_grams');
  // i and k: the index folds ASCII only, and İ and the Kelvin sign fold to them: walked
  expect(await plan(orm, 'k')).not.toContain('_grams');
  // a common gram (in almost every row of October): walked, newest first
  expect(await plan(orm, 'Or')).not.toContain('_grams');

  // November's index gone (a failed build, say): October through its index, November and December walked
  await query(orm.em.fork(), `drop index ${gramsIndexOf('notifications_p2026_11')}`);
  forgetGramsIndexes();
  expect(await found()).toEqual(walked);
  const p = await plan(orm, '退款');
  expect(p).toContain('notifications_p2026_10_grams');
  expect(p).not.toContain('notifications_p2026_11_grams');
  // and without October's, the oldest month, every month is walked
  await query(orm.em.fork(), `drop index ${gramsIndexOf('notifications_p2026_10')}`);
  forgetGramsIndexes();
  expect(await found()).toEqual(walked);
  expect(await plan(orm, '退款')).not.toContain('_grams');
});

test('a database not in UTF8 migrates, gets no grams index, and its searches walk and find', async () => {
  const orm = await freshDatabase(true);
  await ensureMonths(orm.em.fork(), new Date('2026-10-01T00:00:00Z'), new Date('2026-12-01T00:00:00Z'));
  await send(orm, Date.parse('2026-10-20T08:00:00Z'), [['发票已开具', '退款 12 元已原路退回'], ['Refund', 'sent']]);
  await send(orm, Date.parse('2026-10-20T08:00:00Z'), [['Order shipped', 'On its way']], 50);
  expect(await buildSearchIndexes(orm.em.fork(), 'ended', new Date('2026-12-06T10:00:00Z'))).toEqual([
    'notifications_p2026_10_search',
    'notifications_p2026_11_search',
  ]);
  forgetGramsIndexes();
  expect(await search(orm, '退款')).toEqual(['发票已开具']);
  expect(await search(orm, '退')).toEqual(['发票已开具']);
  expect(await search(orm, 'fu')).toEqual(['Refund']);
  expect(await plan(orm, '退款')).not.toContain('_grams');
});
