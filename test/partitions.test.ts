/**
 * Notifications partitioned by month: the migration on a database that
 * already holds rows, months made ahead and on demand, retention dropping
 * whole months, and the inbox's plans over partitions. Each test works in a
 * database of its own (retention drops months, which hold every tenant's
 * rows), dropped when the file is done.
 */
import { MikroORM } from '@mikro-orm/postgresql';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, expect, test } from 'vitest';
import { ensureDatabase, migrate, openOrm, ormOptions, type Orm } from '../src/db/orm.js';
import { ensurePartitions, listPartitions } from '../src/db/partitions.js';
import { countInbox, listInbox, getFromInbox } from '../src/domain/inbox/inbox.js';
import { newId } from '../src/domain/ids.js';
import { toDrafts } from '../src/domain/sending/input.js';
import { storeNotifications } from '../src/domain/sending/store.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { purgeExpired } from '../workers/processors/maintenance.js';
import { startMaintenance } from '../workers/scheduler-tasks.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, onPostgres } from './helpers/env.js';
import { uniq } from './helpers/harness.js';

const BEFORE = 'Migration20261205110000_actions';
/** the partitioning migration and the one that came with it; later ones add indexes of their own */
const PARTITIONED = 'Migration20261206010000_parallel_ingest';
const logger = createLogger({ LOG_LEVEL: 'silent', PRETTY_LOGS: false }, 'test');
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Runs the migrations of the database at `url` up to `to`, inclusive. */
async function migrateUpTo(url: string, to: string): Promise<void> {
  const orm = await MikroORM.init({ ...ormOptions({ url }), pool: { min: 0, max: 2 } });
  await orm.getMigrator().up({ to });
  await orm.close(true);
}

/** A database of this test's own; `to` stops its migrations there (every migration when unset). */
async function freshDatabase(to?: string): Promise<{ url: string; orm: Orm }> {
  const name = uniq('herald_partitions').replace(/-/g, '_');
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  cleanups.push(() => onPostgres(`drop database if exists "${name}" with (force)`));
  if (to) {
    await ensureDatabase(url.toString());
    await migrateUpTo(url.toString(), to);
  } else {
    await migrate({ url: url.toString() });
  }
  const orm = await openOrm({ url: url.toString(), poolMax: 3 });
  cleanups.push(() => orm.close(true));
  return { url: url.toString(), orm };
}

const at = (iso: string) => Date.parse(iso);
const who = { sub: 'ana', tenant: 'acme', roles: ['cashier'], stores: ['s1'] };

/** One notification to `target` (ana by default), minted at `when`, stored as the ingest worker stores it. */
async function send(orm: Orm, when: number, target: Record<string, unknown> = { user_id: 'ana' }, extra: Record<string, unknown> = {}) {
  const drafts = toDrafts({ title: 't', content: 'c', type: 'info', priority: 'normal', ...target, ...extra } as never, {
    tenant: 'acme',
    sender: 'svc',
    now: when,
  });
  return storeNotifications(orm.em.fork(), drafts);
}

const sql = <T = Record<string, unknown>>(orm: Orm, text: string, params: unknown[] = []) => orm.em.fork().execute<T[]>(text, params);

const partitionOf = async (orm: Orm, table: string, id: string) =>
  (await sql<{ p: string }>(orm, `select tableoid::regclass::text as p from ${table} where ${table === 'notifications' ? 'id' : 'notification_id'} = ?`, [id]))[0]?.p;

test('the migration moves every existing row into its month, and the inbox lists them as before', async () => {
  const { url, orm } = await freshDatabase(BEFORE);
  const minted = ['2026-08-31T23:59:59.999Z', '2026-09-01T00:00:00.000Z', '2026-10-15T12:00:00Z', '2026-11-30T08:00:00Z'];
  const ids: string[] = [];
  for (const [i, m] of minted.entries()) {
    const id = newId(at(m));
    ids.push(id);
    await sql(
      orm,
      `insert into notifications (id, tenant, seq, audience, user_id, role, title, content, type, priority, status, channels, sender, created_at, actions)
       values (?, 'acme', nextval('notification_seq'), ?, ?, ?, ?, 'c', 'info', 'normal', 'sent', '{app}', 'svc', ?, '[{"label":"ok","url":"https://x"}]')`,
      [id, i % 2 ? 'r:cashier' : 'u:ana', i % 2 ? null : 'ana', i % 2 ? 'cashier' : null, `n${i}`, new Date(at(m))],
    );
  }
  // a scheduled one has no cursor and is in no inbox
  const waiting = newId(at('2026-10-01T00:00:00Z'));
  await sql(
    orm,
    `insert into notifications (id, tenant, audience, user_id, title, content, type, priority, status, channels, sender, created_at, schedule_at)
     values (?, 'acme', 'u:ana', 'ana', 'later', 'c', 'info', 'normal', 'scheduled', '{app}', 'svc', now(), now() + interval '1 year')`,
    [waiting],
  );
  await sql(orm, `insert into notification_receipts (tenant, user_id, notification_id, read_at, seen_at) values ('acme', 'ana', ?, now(), now())`, [ids[1]]);
  await sql(orm, `insert into notification_receipts (tenant, user_id, notification_id, archived_at) values ('acme', 'ana', ?, now())`, [ids[2]]);
  await sql(orm, `insert into notification_acks (tenant, user_id, notification_id) values ('acme', 'ana', ?)`, [ids[0]]);
  await sql(orm, `insert into notification_actions (tenant, notification_id, user_id, action_index, label) values ('acme', ?, 'ana', 0, 'ok')`, [ids[3]]);
  // what an operator may have added: a grant and a trigger
  await sql(orm, `grant select on notifications, notification_receipts to public`);
  await sql(orm, `create function herald_test_touch() returns trigger language plpgsql as $$ begin new.updated_at := now(); return new; end $$`);
  await sql(orm, `create trigger herald_test_touch before update on notifications for each row execute function herald_test_touch()`);
  // the tenant's last cursor, as storing those rows would have left it
  await sql(orm, `insert into notification_heads (tenant, last_seq) select 'acme', max(seq) from notifications`);
  const schemaBefore = await schemaOf(orm);
  expect(schemaBefore.length).toBeGreaterThan(12);

  await migrateUpTo(url, PARTITIONED);

  // every index, constraint, trigger and grant is back under its name, on the table it was on; acks gain an index by notification
  const schemaAfter = await schemaOf(orm);
  expect(schemaAfter.filter((r) => r.name !== 'notification_acks_notification')).toEqual(schemaBefore);
  expect(schemaAfter.map((r) => r.name)).toContain('notification_acks_notification');
  // and the migrations after them, which the code below reads with
  await migrate({ url });

  expect(await partitionOf(orm, 'notifications', ids[0])).toBe('notifications_p2026_08');
  expect(await partitionOf(orm, 'notifications', ids[1])).toBe('notifications_p2026_09');
  expect(await partitionOf(orm, 'notifications', waiting)).toBe('notifications_p2026_10');
  expect(await partitionOf(orm, 'notification_receipts', ids[1])).toBe('notification_receipts_p2026_09');
  expect(await partitionOf(orm, 'notification_actions', ids[3])).toBe('notification_actions_p2026_11');
  expect(await partitionOf(orm, 'notification_acks', ids[0])).toBe('notification_acks');
  const [{ n }] = await sql<{ n: string }>(orm, `select count(*) as n from notifications`);
  expect(Number(n)).toBe(5);

  // newest first; the archived one and the one waiting to fire are not in the inbox
  const after = await listInbox(orm.em.fork(), who, {}, { limit: 50, offset: 0, order: 'desc', withTotal: true });
  expect(after.rows.map((r) => [r.id, r.title, r.is_read])).toEqual([
    [ids[3], 'n3', false],
    [ids[1], 'n1', true],
    [ids[0], 'n0', false],
  ]);
  expect(after.total).toBe(3);
  expect(after.rows[0].actions).toEqual([{ label: 'ok', url: 'https://x' }]);
  expect(await countInbox(orm.em.fork(), who, { is_read: false })).toBe(2);
  expect((await getFromInbox(orm.em.fork(), { ...who, scopes: new Set() }, ids[1])).is_read).toBe(true);

  // the store function still tells a new row from one a retried batch stored: only the new one moves on from the head
  const [fresh] = await send(orm, Date.now());
  expect(fresh.prev).not.toBeNull();
  const drafts = toDrafts({ title: 't', content: 'c', type: 'info', priority: 'normal', user_id: 'ana' } as never, { tenant: 'acme', sender: 'svc' });
  const [first] = await storeNotifications(orm.em.fork(), drafts);
  const [again] = await storeNotifications(orm.em.fork(), drafts);
  expect(first.prev).toBe(fresh.seq);
  expect(again).toMatchObject({ id: first.id, seq: first.seq, prev: null });

  // and a receipt for a migrated row lands in its month, with the foreign key still checked
  await sql(orm, `insert into notification_receipts (tenant, user_id, notification_id, read_at) values ('acme', 'ana', ?, now())`, [ids[0]]);
  expect(await partitionOf(orm, 'notification_receipts', ids[0])).toBe('notification_receipts_p2026_08');
  await expect(
    sql(orm, `insert into notification_receipts (tenant, user_id, notification_id) values ('acme', 'ana', ?)`, [newId(at('2026-10-02T00:00:00Z'))]),
  ).rejects.toThrow(/foreign key/);
});

test('months are made ahead: the current one and PARTITIONS_AHEAD more, in all three tables', async () => {
  const { orm } = await freshDatabase();
  const created = await ensurePartitions(orm.em.fork(), 3, new Date('2031-11-20T10:00:00Z'));
  expect(created).toEqual(
    ['2031_11', '2031_12', '2032_01', '2032_02'].flatMap((m) => [`notifications_p${m}`, `notification_receipts_p${m}`, `notification_actions_p${m}`]),
  );
  const months = (await listPartitions(orm.em.fork())).filter((p) => p.month >= '2031');
  expect(months.map((p) => [p.month, p.from.toISOString(), p.to.toISOString()])).toEqual([
    ['2031-11', '2031-11-01T00:00:00.000Z', '2031-12-01T00:00:00.000Z'],
    ['2031-12', '2031-12-01T00:00:00.000Z', '2032-01-01T00:00:00.000Z'],
    ['2032-01', '2032-01-01T00:00:00.000Z', '2032-02-01T00:00:00.000Z'],
    ['2032-02', '2032-02-01T00:00:00.000Z', '2032-03-01T00:00:00.000Z'],
  ]);
  // again: nothing new
  expect(await ensurePartitions(orm.em.fork(), 3, new Date('2031-11-20T10:00:00Z'))).toEqual([]);
});

test('the scheduler makes PARTITIONS_AHEAD months ahead when it starts', async () => {
  const { orm } = await freshDatabase();
  const redis = new Redis(TEST_REDIS_URL);
  cleanups.push(() => redis.quit());
  const config = loadConfig({ REDIS_URL: TEST_REDIS_URL, PARTITIONS_AHEAD: '5' });
  const maintenance = startMaintenance({ orm, logger, redis, prefix: uniq('partitions'), queues: undefined as never }, config);
  try {
    await maintenance.partitionsNow();
  } finally {
    maintenance.stop();
  }
  const now = new Date();
  const expected = [0, 1, 2, 3, 4, 5].map((n) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + n, 1)).toISOString().slice(0, 7));
  const months = (await listPartitions(orm.em.fork())).map((p) => p.month);
  expect(months.slice(-6)).toEqual(expected);
});

test('a send whose month has no partition yet is stored: the store path makes the month', async () => {
  const { orm } = await freshDatabase();
  const when = at('2033-05-09T07:00:00Z');
  expect((await listPartitions(orm.em.fork())).some((p) => p.month === '2033-05')).toBe(false);
  const [row] = await send(orm, when);
  expect(row.seq).not.toBeNull();
  expect(await partitionOf(orm, 'notifications', row.id)).toBe('notifications_p2033_05');
  const page = await listInbox(orm.em.fork(), who, {}, { limit: 5, offset: 0, order: 'desc', withTotal: false });
  expect(page.rows.map((r) => r.id)).toContain(row.id);
});

test('retention drops months that ended before the cutoff, with their receipts and actions, and keeps the current one', async () => {
  const { orm } = await freshDatabase();
  const now = new Date('2034-03-10T12:00:00Z');
  const [old] = await send(orm, at('2034-01-05T00:00:00Z'));
  const [straddled] = await send(orm, at('2034-02-03T00:00:00Z'));
  const [recentInFeb] = await send(orm, at('2034-02-25T00:00:00Z'));
  const [current] = await send(orm, at('2034-03-09T00:00:00Z'));
  // a notification sent in December and still waiting to fire keeps its month
  const [waiting] = await send(orm, at('2033-12-20T00:00:00Z'), { user_id: 'ana' }, { schedule_at: '2034-06-01T00:00:00Z' });
  const [expiredInDec] = await send(orm, at('2033-12-21T00:00:00Z'));
  for (const id of [old.id, straddled.id, current.id, expiredInDec.id]) {
    await sql(orm, `insert into notification_receipts (tenant, user_id, notification_id, read_at) values ('acme', 'ana', ?, now())`, [id]);
    await sql(orm, `insert into notification_acks (tenant, user_id, notification_id) values ('acme', 'ana', ?)`, [id]);
    await sql(orm, `insert into notification_actions (tenant, notification_id, user_id, action_index, label) values ('acme', ?, 'ana', 0, 'ok')`, [id]);
  }

  // 20 days: the cutoff is 2034-02-18, so January ends before it and February straddles it
  const purged = await purgeExpired({ orm, logger }, 20, now);

  expect(purged.months).toContain('notifications_p2034_01');
  expect(purged.months).not.toContain('notifications_p2033_12');
  const tables = (await sql<{ t: string }>(orm, `select relname as t from pg_class where relname like 'notification%_p2034_0%' and relkind = 'r'`)).map((r) => r.t);
  expect(tables.filter((t) => t.endsWith('2034_01'))).toEqual([]);
  expect(tables).toContain('notifications_p2034_02');
  expect(tables).toContain('notification_receipts_p2034_03');
  const left = (await sql<{ id: string }>(orm, `select id from notifications`)).map((r) => r.id).sort();
  expect(left).toEqual([recentInFeb.id, current.id, waiting.id].sort());
  const refs = async (table: string) => (await sql<{ id: string }>(orm, `select notification_id as id from ${table}`)).map((r) => r.id);
  for (const table of ['notification_receipts', 'notification_acks', 'notification_actions']) expect(await refs(table)).toEqual([current.id]);
});

test('the inbox reads each month with its index: counts index-only, a read by id in one month', async () => {
  const db = await freshDatabase();
  const { orm } = db;
  for (const m of ['2035-01-10', '2035-02-10', '2035-03-10']) {
    for (let i = 0; i < 5; i++) await send(orm, at(`${m}T00:00:0${i}Z`), i % 2 ? { role: 'cashier' } : { user_id: 'ana' });
  }
  const [target] = await send(orm, at('2035-02-11T00:00:00Z'));
  await sql(orm, 'vacuum analyze notifications');
  await sql(orm, 'vacuum analyze notification_receipts');
  const plans = await explainInbox(db, async (em) => {
    await countInbox(em, who, { is_read: false });
    await getFromInbox(em, { ...who, scopes: new Set() }, target.id);
  });
  const [count, byId] = plans;
  // every month's inbox index, read without touching the table
  for (const m of ['2035_01', '2035_02', '2035_03']) expect(count).toMatch(new RegExp(`Index Only Scan using notifications_p${m}_\\w+ on notifications_p${m}`));
  expect(count).not.toMatch(/Seq Scan|Heap Fetches: [1-9]/);
  // by id: pruned to its month, in both tables
  expect(byId).toMatch(/notifications_p2035_02/);
  expect(byId).not.toMatch(/notifications_p2035_0[13]/);
  expect(byId).not.toMatch(/notification_receipts_p2035_0[13]/);
});

/** The indexes, constraints, triggers and grants of the four tables (not their partitions'), with their definitions. */
const schemaOf = async (orm: Orm) =>
  sql(
    orm,
    `select c.relname as table, i.indexrelid::regclass::text as name, replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ') as def
     from pg_index i join pg_class c on c.oid = i.indrelid
     where c.relname in ('notifications', 'notification_receipts', 'notification_acks', 'notification_actions')
     union all
     select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint
     where conparentid = 0 and contype <> 'n'
       and conrelid in ('notifications'::regclass, 'notification_receipts'::regclass, 'notification_acks'::regclass, 'notification_actions'::regclass)
     union all
     select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) from pg_trigger
     where not tgisinternal and tgrelid in ('notifications'::regclass, 'notification_receipts'::regclass)
     union all
     select relname, 'acl', array_to_string(relacl, ',') from pg_class
     where relname in ('notifications', 'notification_receipts', 'notification_acks', 'notification_actions')
     order by 1, 2, 3`,
  );

/** EXPLAIN (ANALYZE) of each statement `fn` sends, in order, with seq scans priced out (the tables here are tiny). */
async function explainInbox(db: { url: string; orm: Orm }, fn: (em: ReturnType<Orm['em']['fork']>) => Promise<unknown>): Promise<string[]> {
  const em = db.orm.em.fork();
  const knex = em.getConnection().getKnex();
  const sent: Array<{ sql: string; bindings: unknown[] }> = [];
  const onQuery = (q: { sql: string; bindings?: unknown[] }) => sent.push({ sql: q.sql, bindings: q.bindings ?? [] });
  knex.on('query', onQuery);
  try {
    await fn(em);
  } finally {
    knex.off('query', onQuery);
  }
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query('set enable_seqscan = off');
    await client.query('set enable_bitmapscan = off');
    const plans: string[] = [];
    for (const q of sent) {
      const res = await client.query(`explain (analyze, costs off) ${q.sql}`, q.bindings);
      plans.push(res.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n'));
    }
    return plans;
  } finally {
    await client.end();
  }
}
