/**
 * bench/explain: the inbox's hot queries at 1 million notifications.
 *
 *   npm run bench:explain            # ROWS=1000000 by default
 *
 * Fills a scratch database (herald_explain) with ROWS notifications across
 * 20,000 users, 50 roles, 500 stores and tenant broadcasts (plus receipts for
 * a third of one user's inbox), vacuums it, then runs the exact SQL that
 * src/domain/inbox/inbox.ts builds for a keyset page, an unread count and a
 * since-cursor read under EXPLAIN (ANALYZE, BUFFERS), and prints the plans.
 * What to look for: an "Index Only Scan" of each month's partition of
 * notifications_inbox (notifications_pYYYY_MM_tenant_audience_seq_…_idx)
 * with "Heap Fetches: 0" for counts, and a bounded index range scan per
 * audience for pages. Baseline: a bare single-row primary-key lookup in the
 * same run. bench/partitions.ts does the same at 10 million rows over five
 * months.
 */
import pg from 'pg';
import { migrate, openOrm } from '../src/db/orm.js';
import { ensureMonths } from '../src/db/partitions.js';
import { countInbox, listInbox } from '../src/domain/inbox/inbox.js';
import { statementsOf } from './lib/statements.js';

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const URL = process.env.EXPLAIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_explain';
const tenant = 'explain';
const who = { sub: 'user-43', tenant, roles: ['role-11'], stores: ['store-42'] };

await migrate({ url: URL });
const orm = await openOrm({ url: URL });
const em = orm.em.fork();

const [{ n }] = await em.execute<Array<{ n: string }>>(`select count(*) as n from notifications where tenant = ?`, [tenant]);
if (Number(n) < ROWS) {
  console.log(`filling ${ROWS} notifications…`);
  await em.execute(`delete from notifications where tenant = ?`, [tenant]);
  // rows are a second apart up to now: their months' partitions must exist (ids are UUIDv7 of created_at)
  await ensureMonths(em, new Date(Date.now() - ROWS * 1000), new Date());
  const t0 = performance.now();
  await em.execute(
    `insert into notifications (id, tenant, seq, audience, user_id, role, store_id, broadcast, title, content, type, priority,
       status, channels, sender, created_at, sent_at)
     select (substr(x.h, 1, 8) || '-' || substr(x.h, 9, 4) || '-7' || substr(gen_random_uuid()::text, 16))::uuid, ?, nextval('notification_seq'),
       case when g % 100 = 0 then '*' when g % 10 = 1 then 'r:role-' || (g % 50) when g % 10 = 2 then 's:store-' || (g % 500)
            else 'u:user-' || (g % 20000) end,
       case when g % 10 > 2 then 'user-' || (g % 20000) end, null, null, g % 100 = 0,
       'title ' || g, 'content of notification ' || g,
       (array['info','success','warning','error','alert','system'])[1 + g % 6],
       (array['low','normal','high','urgent'])[1 + g % 4],
       'sent', '{app}', 'bench', to_timestamp(x.ms / 1000.0), now()
     from generate_series(1, ?) g,
       lateral (select (extract(epoch from now()) * 1000)::bigint - (? - g) * 1000 as ms) m,
       lateral (select m.ms, lpad(to_hex(m.ms), 12, '0') as h) x`,
    [tenant, ROWS, ROWS],
  );
  console.log(`filled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
// this user has read a third of what reached them
await em.execute(
  `insert into notification_receipts (tenant, user_id, notification_id, read_at)
   select tenant, 'user-43', id, now() from notifications
   where tenant = ? and audience in ('u:user-43', 'r:role-11', 's:store-42', '*') and seq % 3 = 0
   on conflict do nothing`,
  [tenant],
);
await em.execute('vacuum analyze notifications');
await em.execute('vacuum analyze notification_receipts');

const explainer = new pg.Client({ connectionString: URL });
await explainer.connect();

/** Runs `fn`, catching the SQL it sends (knex's 'query' event), then prints EXPLAIN ANALYZE of each statement. */
async function explain(label: string, fn: () => Promise<unknown>): Promise<void> {
  for (const q of await statementsOf(em, fn)) {
    const plan = await explainer.query(`explain (analyze, buffers) ${q.sql}`, q.bindings);
    console.log(`\n=== ${label}\n${plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n')}`);
  }
}

const timed = async (label: string, fn: () => Promise<unknown>, runs = 20) => {
  await fn();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await fn();
  console.log(`${label.padEnd(52)} ${((performance.now() - t0) / runs).toFixed(2).padStart(8)} ms`);
};

const [{ mine }] = await em.execute<Array<{ mine: string }>>(
  `select count(*) as mine from notifications where tenant = ? and audience in ('u:user-43','r:role-11','s:store-42','*')`,
  [tenant],
);
const page = await listInbox(em, who, {}, { limit: 20, offset: 0, order: 'desc', withTotal: false });
const cursor = page.rows[10].cursor!;

await explain('keyset page: 20 rows before a cursor', () => listInbox(em, who, { before: cursor }, { limit: 20, offset: 0, order: 'desc', withTotal: false }));
await explain('unread count', () => countInbox(em, who, { is_read: false }));
await explain('since cursor: what came after, oldest first', () =>
  listInbox(em, who, { sinceCursor: page.rows[15].cursor! }, { limit: 100, offset: 0, order: 'asc', withTotal: false }),
);

console.log(`\nbench/explain — ${ROWS} notifications in the table; user-43's inbox holds ${mine}`);
const [{ id }] = await em.execute<Array<{ id: string }>>(`select id from notifications where tenant = ? limit 1`, [tenant]);
await timed('baseline: bare primary-key lookup', () => em.execute('select * from notifications where id = ?', [id]));
await timed('keyset page (20 rows, cursor)', () => listInbox(em, who, { before: cursor }, { limit: 20, offset: 0, order: 'desc', withTotal: false }));
await timed('unread count', () => countInbox(em, who, { is_read: false }));
await timed('first page with total (offset paging)', () => listInbox(em, who, {}, { limit: 20, offset: 0, order: 'desc', withTotal: true }));
await explainer.end();
await orm.close();
