/**
 * bench/partitions: the inbox and retention over monthly partitions, at 10
 * million notifications.
 *
 *   npx tsx bench/partitions.ts      # ROWS=10000000 COPY_ROWS=1000000, PARTITIONS_DATABASE_URL=…/herald_partitions_bench
 *
 * In a scratch database (dropped and made again each run):
 * 1. the partitioning migration's copy: COPY_ROWS notifications stored
 *    before it, then the migration, timed (the tables are locked that long);
 * 2. the rest of ROWS, minted evenly from the first of the month four months
 *    ago until now (five monthly partitions), by generate_series in SQL, a
 *    million rows a statement; audiences as bench/explain (20,000 users, 50
 *    roles, 500 stores, tenant broadcasts); every user has read a third of
 *    their own notifications, one user a third of their whole inbox;
 * 3. EXPLAIN (ANALYZE, BUFFERS) of the SQL src/domain/inbox builds for a
 *    keyset page, an unread count, a since-cursor read and a read by id,
 *    then the mean time of each next to the same statement on an
 *    unpartitioned copy of the same rows with the same indexes (the
 *    baseline), and a bare primary-key lookup;
 * 4. retention: the oldest month dropped whole, timed, next to the row
 *    delete of the days of the next month older than the cutoff (the rate a
 *    row-by-row purge of the whole month would have had).
 */
import pg from 'pg';
import { dropMonthsBefore, listPartitions } from '../src/db/partitions.js';
import { countInbox, getFromInbox, listInbox } from '../src/domain/inbox/inbox.js';
import { createLogger } from '../src/logger.js';
import { purgeExpired } from '../workers/processors/maintenance.js';
import { scratchDatabase } from './lib/scratch-db.js';
import { statementsOf } from './lib/statements.js';

const ROWS = Number(process.env.ROWS ?? 10_000_000);
const COPY_ROWS = Math.min(ROWS, Number(process.env.COPY_ROWS ?? 1_000_000));
const CHUNK = 1_000_000;
const URL = process.env.PARTITIONS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_partitions_bench';
const tenant = 'bench';
const who = { sub: 'user-43', tenant, roles: ['role-11'], stores: ['store-42'] };
const now = new Date();
const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 4, 1));
const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);

const { orm, migrator } = await scratchDatabase(URL, 'Migration20261205110000_actions');
const em = orm.em.fork();

/**
 * Notifications g = from..to of ROWS, minted evenly from `start` to now: ids
 * are UUIDv7 of that millisecond (its 48 bits, the version, random bits).
 */
async function fill(from: number, to: number): Promise<void> {
  const t0 = performance.now();
  await em.execute(
    `insert into notifications (id, tenant, seq, audience, user_id, broadcast, title, content, type, priority, status, channels, sender,
       created_at, sent_at)
     select (substr(x.h, 1, 8) || '-' || substr(x.h, 9, 4) || '-7' || substr(gen_random_uuid()::text, 16))::uuid, ?,
       nextval('notification_seq'),
       case when g % 100 = 0 then '*' when g % 10 = 1 then 'r:role-' || (g % 50) when g % 10 = 2 then 's:store-' || (g % 500)
            else 'u:user-' || (g % 20000) end,
       case when g % 10 > 2 then 'user-' || (g % 20000) end, g % 100 = 0,
       'title ' || g, 'content of notification ' || g,
       (array['info','success','warning','error','alert','system'])[1 + g % 6],
       (array['low','normal','high','urgent'])[1 + g % 4],
       'sent', '{app}', 'bench', to_timestamp(x.ms / 1000.0), to_timestamp(x.ms / 1000.0)
     from generate_series(?::bigint, ?::bigint) g,
       lateral (select ?::bigint + g * ?::bigint / ?::bigint as ms) m,
       lateral (select m.ms, lpad(to_hex(m.ms), 12, '0') as h) x`,
    [tenant, from, to, start.getTime(), now.getTime() - start.getTime(), ROWS],
  );
  console.log(`  notifications ${from}–${to} stored in ${seconds(t0)} s`);
}

console.log(`bench/partitions — ${ROWS} notifications from ${start.toISOString().slice(0, 10)} to now`);
console.log(`1. the migration's copy of ${COPY_ROWS} notifications`);
for (let g = 1; g <= COPY_ROWS; g += CHUNK) await fill(g, Math.min(COPY_ROWS, g + CHUNK - 1));
await em.execute('vacuum analyze notifications');
let t0 = performance.now();
await migrator.getMigrator().up();
const copySeconds = seconds(t0);
console.log(`  partitioning migration: ${copySeconds} s for ${COPY_ROWS} rows`);
await migrator.close(true);

console.log('2. the rest, into the partitions');
t0 = performance.now();
for (let g = COPY_ROWS + 1; g <= ROWS; g += CHUNK) await fill(g, Math.min(ROWS, g + CHUNK - 1));
const fillSeconds = seconds(t0);
// every user has read a third of their own notifications, and user-43 a third of everything that reached them
await em.execute(
  `insert into notification_receipts (tenant, user_id, notification_id, read_at)
   select tenant, user_id, id, now() from notifications where tenant = ? and user_id is not null and seq % 3 = 0
   union all
   select tenant, 'user-43', id, now() from notifications
   where tenant = ? and audience in ('r:role-11', 's:store-42', '*') and seq % 3 = 0`,
  [tenant, tenant],
);
t0 = performance.now();
await em.execute('vacuum analyze notifications');
await em.execute('vacuum analyze notification_receipts');
console.log(`  filled in ${fillSeconds} s, vacuumed in ${seconds(t0)} s`);
const sizes = await em.execute<Array<{ name: string; rows: string; size: string }>>(
  `select c.relname as name, c.reltuples::bigint::text as rows, pg_size_pretty(pg_total_relation_size(c.oid)) as size
   from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'notifications'::regclass order by 1`,
);
for (const s of sizes) console.log(`  ${s.name.padEnd(26)} ${s.rows.padStart(9)} rows ${s.size.padStart(9)}`);

// the same rows in one table each, with the same indexes: the same-run baseline of every inbox query
t0 = performance.now();
await em.execute(`create table flat_notifications (like notifications including defaults including storage)`);
await em.execute(`insert into flat_notifications select * from notifications`);
await em.execute(`create table flat_receipts (like notification_receipts including defaults including storage)`);
await em.execute(`insert into flat_receipts select * from notification_receipts`);
for (const [flat, parent] of [['flat_notifications', 'notifications'], ['flat_receipts', 'notification_receipts']]) {
  const defs = await em.execute<Array<{ def: string }>>(
    `select replace(replace(pg_get_indexdef(indexrelid), ' ON ONLY public.${parent} ', ' ON ${flat} '), 'INDEX ${parent}', 'INDEX ${flat}') as def
     from pg_index where indrelid = '${parent}'::regclass`,
  );
  for (const { def } of defs) await em.execute(def);
  await em.execute(`vacuum analyze ${flat}`);
}
console.log(`  baseline copy, unpartitioned (flat_notifications, flat_receipts), made in ${seconds(t0)} s`);

const client = new pg.Client({ connectionString: URL });
await client.connect();

/** The same statement on the unpartitioned copy. */
const flat = (sql: string) => sql.replace(/\bnotification_receipts\b/g, 'flat_receipts').replace(/\bnotifications\b/g, 'flat_notifications');

async function explain(label: string, fn: () => Promise<unknown>): Promise<void> {
  for (const q of await statementsOf(em, fn)) {
    const plan = await client.query(`explain (analyze, buffers) ${q.sql}`, q.bindings);
    console.log(`\n=== ${label}\n${plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n')}`);
  }
}

/** Mean ms of `fn`'s statements over `runs`, partitioned and on the unpartitioned copy, alternating. */
async function timed(label: string, fn: () => Promise<unknown>, runs = 20): Promise<void> {
  const [q] = await statementsOf(em, fn);
  const ms = { partitioned: 0, flat: 0 };
  for (let i = -1; i < runs; i++) {
    for (const kind of ['partitioned', 'flat'] as const) {
      const t = performance.now();
      await client.query(kind === 'flat' ? flat(q.sql) : q.sql, q.bindings);
      if (i >= 0) ms[kind] += performance.now() - t;
    }
  }
  console.log(`${label.padEnd(40)} ${(ms.partitioned / runs).toFixed(2).padStart(8)} ms   unpartitioned ${(ms.flat / runs).toFixed(2).padStart(8)} ms`);
}

const [{ mine }] = await em.execute<Array<{ mine: string }>>(
  `select count(*) as mine from notifications where tenant = ? and audience in ('u:user-43','r:role-11','s:store-42','*')`,
  [tenant],
);
const page = await listInbox(em, who, {}, { limit: 20, offset: 0, order: 'desc', withTotal: false });
const cursor = page.rows[10].cursor!;
const reader = { ...who, scopes: new Set<string>() };
const pageBefore = () => listInbox(em, who, { before: cursor }, { limit: 20, offset: 0, order: 'desc', withTotal: false });
const unread = () => countInbox(em, who, { is_read: false });
const since = () => listInbox(em, who, { sinceCursor: page.rows[15].cursor! }, { limit: 100, offset: 0, order: 'asc', withTotal: false });
const byId = () => getFromInbox(em, reader, page.rows[3].id);

console.log('\n3. the inbox');
await explain('keyset page: 20 rows before a cursor', pageBefore);
await explain('unread count', unread);
await explain('since cursor: what came after, oldest first', since);
await explain('one notification by id', byId);

console.log(`\nuser-43's inbox holds ${mine} of ${ROWS}`);
const [{ id }] = await em.execute<Array<{ id: string }>>(`select id from notifications where tenant = ? limit 1`, [tenant]);
await timed('bare primary-key lookup', () => em.execute('select * from notifications where id = ?', [id]));
await timed('keyset page (20 rows, cursor)', pageBefore);
await timed('unread count', unread);
await timed('since cursor (100 rows)', since);
await timed('one notification by id', byId);
await client.end();

console.log('\n4. retention');
const [oldest, next] = (await listPartitions(em)).filter((p) => p.from >= start);
// the cutoff two days into the second month: the first month goes whole, two days of the second row by row
const cutoff = new Date(next.from.getTime() + 2 * 86_400_000);
const [{ n: monthRows }] = await em.execute<Array<{ n: string }>>(`select count(*) as n from ${oldest.name}`);
t0 = performance.now();
const { dropped } = await dropMonthsBefore(em, cutoff);
const dropMs = performance.now() - t0;
console.log(`  dropped ${dropped.join(', ')} (${monthRows} notifications and their receipts) in ${dropMs.toFixed(0)} ms`);
t0 = performance.now();
const days = (now.getTime() - cutoff.getTime()) / 86_400_000;
const purged = await purgeExpired({ orm, logger: createLogger({ LOG_LEVEL: 'silent', PRETTY_LOGS: false }, 'bench') }, days, now);
const deleteMs = performance.now() - t0;
console.log(
  `  row delete of the rest older than the cutoff: ${purged.notifications} notifications in ${(deleteMs / 1000).toFixed(1)} s ` +
    `(${Math.round(purged.notifications / (deleteMs / 1000))}/s; the dropped month at that rate: ~${Math.round(Number(monthRows) / (purged.notifications / (deleteMs / 1000)))} s)`,
);
await orm.close();
