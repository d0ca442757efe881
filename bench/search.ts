/**
 * bench/search: inbox search (`GET /notifications?q=`) at 1 million
 * notifications.
 *
 *   npm run bench:search      # ROWS=1000000 RUNS=200 EXTRA=100000, SEARCH_DATABASE_URL=…/herald_search_bench
 *
 * In a scratch database (dropped and made again each run):
 * 1. ROWS notifications by generate_series, minted evenly from the first of
 *    the month four months ago until now (five monthly partitions). Titles
 *    and contents are sixteen templates, half Chinese, half English, with
 *    the row's number in them; one row in 997 is an invoice with a refund
 *    (退款, "refund"), one in 100,003 a recall (紧急召回). Audiences: 10
 *    heavy users (user-0…9, ~26,000 rows each), 990 light ones (~620 each),
 *    20 roles, tenant broadcasts; a tenth of the rows belong to another
 *    tenant with the same user names. Every user has read a third of their
 *    own notifications;
 * 2. every migration (the first search migration's build, which locked
 *    inserts, timed before the next one drops it), then the search indexes
 *    of each ended month as the scheduler builds them (trigram and grams,
 *    src/db/search-index.ts, CREATE INDEX CONCURRENTLY), timed, and the
 *    sizes on disk;
 * 3. for a heavy and a light user, the first page of 20 for q of one, two
 *    and more characters, Chinese and Latin, common, rare and absent, each
 *    RUNS times: p50/p99 of the keyset page (what `cursor` paging sends) and
 *    of the numbered first page (the page and its total, what a first page
 *    without `cursor` sends: listInbox itself, whose two statements run side
 *    by side on two connections), next to the same
 *    calls without q, the same-run baseline, and where listInbox sends LIKE
 *    (a caseless q) or ILIKE in the "C" collation (one or two ASCII
 *    characters), the keyset page with a plain ILIKE, and the numbered page
 *    with an exact total (as before a search's total was capped at 1,000:
 *    every match counted). Three times: as the
 *    month is now (its days so far walked, the months before through their
 *    indexes); the one- and two-character q again with the grams indexes
 *    dropped (as before them: every month walked), after which they are
 *    built again, timed; and as at a month's end (the last ended month's
 *    indexes dropped: a whole month and more walked);
 * 4. EXPLAIN (ANALYZE, BUFFERS) of a rare q of two and of seven characters;
 * 5. what an insert into the month being written costs: EXTRA (100,000)
 *    rows with no search index on that month (as now), with a trigram index
 *    on it (as before), and with none again.
 * The keyset pages' statements are captured once and replayed through one
 * bare client.
 */
import pg from 'pg';
import { listPartitions } from '../src/db/partitions.js';
import { buildSearchIndexes, createSearchIndex, forgetGramsIndexes, gramsIndexOf, searchIndexOf } from '../src/db/search-index.js';
import { countInbox, listInbox, type InboxFilter, type Reader } from '../src/domain/inbox/inbox.js';
import { scratchDatabase } from './lib/scratch-db.js';
import { statementsOf, type SentStatement } from './lib/statements.js';

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const RUNS = Number(process.env.RUNS ?? 200);
const CHUNK = 250_000;
const URL = process.env.SEARCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_search_bench';
const tenant = 'bench';
const now = new Date();
const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 4, 1));
const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);

const { orm, migrator } = await scratchDatabase(URL, 'Migration20261206010000_parallel_ingest');
const em = orm.em.fork();

/** Titles and contents by template; `#` is replaced with the row's number. */
const TEMPLATES: Array<[string, string]> = [
  ['您的订单已发货', '订单号 # 已由顺丰速运发出，预计三天内送达，请保持电话畅通。'],
  ['订单 # 已签收', '您的订单 # 已由门店前台代收，如非本人签收请联系客服。'],
  ['库存不足提醒：SKU-#', '商品 SKU-# 库存低于安全线，请尽快补货以免影响销售。'],
  ['排班变更通知', '您下周的排班已调整，第 # 号班次改为早班，请登录系统查看。'],
  ['支付成功', '您已成功支付订单 #，金额将在一个工作日内到账。'],
  ['备份已完成', '数据库备份任务 # 已完成，耗时十二分钟，文件已上传至对象存储。'],
  ['系统告警：CPU 使用率过高', '服务器 node-# 的 CPU 使用率连续五分钟超过百分之九十。'],
  ['优惠券即将过期', '您有一张满减优惠券（编号 #）将于三天后过期，请及时使用。'],
  ['Order shipped', 'Your order # has left the warehouse and should arrive within three days.'],
  ['Order # delivered', 'Order # was signed for at the front desk. Contact support if this was not you.'],
  ['Inventory low: SKU-#', 'Stock of SKU-# fell below the safety level; reorder soon to avoid lost sales.'],
  ['Shift schedule changed', 'Your shift # next week moved to the morning; sign in to see the new rota.'],
  ['Payment received', 'We received your payment for order #; it settles within one business day.'],
  ['Backup completed', 'Database backup job # finished in twelve minutes and was uploaded to storage.'],
  ['System alert: high CPU usage', 'CPU usage on node-# stayed above ninety percent for five minutes.'],
  ['Your coupon expires soon', 'Your discount coupon # expires in three days; use it before then.'],
];
const RARE: [string, string] = ['发票已开具 Invoice issued', '发票 INV-# 已开具，退款 # 元已原路退回。Invoice INV-# is ready; the refund went back to your card.'];
const RAREST: [string, string] = ['紧急召回 Product recall', '批次 # 的商品紧急召回，请立即下架。Batch # is recalled; take it off the shelves now.'];

const sqlArray = (xs: string[]) => `array[${xs.map((x) => `'${x.replace(/'/g, "''")}'`).join(', ')}]`;
const fillText = (col: 0 | 1) =>
  `replace(case when g % 100003 = 17 then '${RAREST[col]}' when g % 997 = 7 then '${RARE[col]}'
     else (${sqlArray(TEMPLATES.map((t) => t[col]))})[1 + (hashint8(g) & 1023) % ${TEMPLATES.length}] end, '#', g::text)`;

/**
 * Notifications g = from..to of `total` (ROWS), minted evenly from `since`
 * (`start`) to now: ids are UUIDv7 of that millisecond (its 48 bits, the
 * version, random bits).
 */
async function fill(from: number, to: number, since = start, total = ROWS): Promise<void> {
  const t0 = performance.now();
  await em.execute(
    `insert into notifications (id, tenant, seq, audience, user_id, role, broadcast, title, content, type, priority, status, channels, sender,
       created_at, sent_at)
     select (substr(x.h, 1, 8) || '-' || substr(x.h, 9, 4) || '-7' || substr(gen_random_uuid()::text, 16))::uuid,
       case when g % 10 = 9 then 'other' else ? end,
       nextval('notification_seq'), a.audience,
       case when a.audience like 'u:%' then substr(a.audience, 3) end,
       case when a.audience like 'r:%' then substr(a.audience, 3) end,
       a.audience = '*',
       ${fillText(0)}, ${fillText(1)},
       (array['info','success','warning','error','alert','system'])[1 + g % 6],
       (array['low','normal','high','urgent'])[1 + g % 4],
       'sent', '{app}', 'bench', to_timestamp(x.ms / 1000.0), to_timestamp(x.ms / 1000.0)
     from generate_series(?::bigint, ?::bigint) g,
       lateral (select case when g % 2000 = 0 then '*' when g % 50 = 1 then 'r:role-' || (g / 50 % 20)
                            when g % 100 < 30 then 'u:user-' || (g / 100 % 10) else 'u:user-' || (10 + g % 990) end as audience) a,
       lateral (select ?::bigint + g * ?::bigint / ?::bigint as ms) m,
       lateral (select m.ms, lpad(to_hex(m.ms), 12, '0') as h) x`,
    [tenant, from, to, since.getTime(), now.getTime() - since.getTime(), total],
  );
  console.log(`  notifications ${from}–${to} stored in ${seconds(t0)} s`);
}

console.log(`bench/search — ${ROWS} notifications from ${start.toISOString().slice(0, 10)} to now`);
console.log('1. the rows');
await em.execute(`select herald_ensure_partitions(?, ?)`, [start, now]);
let t0 = performance.now();
for (let g = 1; g <= ROWS; g += CHUNK) await fill(g, Math.min(ROWS, g + CHUNK - 1));
await em.execute(
  `insert into notification_receipts (tenant, user_id, notification_id, read_at, seen_at)
   select tenant, user_id, id, now(), now() from notifications where user_id is not null and seq % 3 = 0`,
);
await em.execute('vacuum analyze notifications');
await em.execute('vacuum analyze notification_receipts');
console.log(`  filled and vacuumed in ${seconds(t0)} s`);

if (process.env.STOP_AFTER_FILL) {
  await migrator.close(true);
  await orm.close();
  process.exit(0);
}

async function sizes(): Promise<void> {
  const rows = await em.execute<Array<{ name: string; size: string }>>(
    `select 'notifications (table)' as name, pg_size_pretty(sum(pg_table_size(i.inhrelid))) as size
       from pg_inherits i where i.inhparent = 'notifications'::regclass
     union all
     select c.relname, pg_size_pretty(sum(pg_relation_size(t.relid)))
       from pg_index ix join pg_class c on c.oid = ix.indexrelid, pg_partition_tree(ix.indexrelid) t
       where ix.indrelid = 'notifications'::regclass group by 1
     union all
     select 'the months'' ' || k || ' indexes', pg_size_pretty(sum(pg_relation_size(ix.indexrelid)))
       from pg_index ix join pg_inherits i on i.inhrelid = ix.indrelid, unnest(array['search', 'grams']) k
       where i.inhparent = 'notifications'::regclass and ix.indexrelid::regclass::text like '%\\_' || k group by k
     order by 1`,
  );
  for (const s of rows) console.log(`  ${s.name.padEnd(40)} ${s.size.padStart(9)}`);
}

console.log('2. the search indexes');
t0 = performance.now();
await migrator.getMigrator().up({ to: 'Migration20261207000000_search' });
console.log(`  the first search migration's index on every month (inserts locked meanwhile) built and analyzed in ${seconds(t0)} s`);
await migrator.getMigrator().up();
await migrator.close(true);
t0 = performance.now();
const built = await buildSearchIndexes(em, 'ended', now);
console.log(`  the ended months' indexes (CREATE INDEX CONCURRENTLY, then ANALYZE), as the scheduler builds them: ${built.join(', ')} in ${seconds(t0)} s`);
await sizes();
const months = await listPartitions(em);
const current = months.find((p) => p.from <= now && now < p.to)!;
const lastEnded = [...months].reverse().find((p) => p.to <= now)!;

const heavy: Reader = { sub: 'user-3', tenant, roles: ['role-3'], stores: [] };
const light: Reader = { sub: 'user-500', tenant, roles: ['role-7'], stores: [] };
/** The rows of `who`'s inbox, and those in partitions with no trigram or no grams index (walked by a search of 3+ or of 1–2 characters). */
const inboxSize = async (who: Reader) => {
  const [{ n, walked, gramless }] = await em.execute<Array<{ n: string; walked: string; gramless: string }>>(
    `select count(*)::text as n,
            count(*) filter (where to_regclass(tableoid::regclass::text || '_search') is null)::text as walked,
            count(*) filter (where to_regclass(tableoid::regclass::text || '_grams') is null)::text as gramless
       from notifications where tenant = ? and audience = any(?::text[])`,
    [tenant, `{u:${who.sub},r:${who.roles[0]},*}`],
  );
  return `inbox of ${n}, ${walked} of them in months without a trigram index, ${gramless} without a grams index`;
};
const QUERIES: Array<[string, string]> = [
  ['1 char, Chinese, common', '单'],
  ['1 char, Chinese, rare', '退'],
  ['1 char, Latin, absent', 'z'],
  ['2 chars, Chinese, common', '订单'],
  ['2 chars, Chinese, rare', '退款'],
  ['2 chars, Latin, common', 'cp'],
  ['2 chars, Latin, rare', 'fu'],
  ['3+ chars, Chinese, common', '已发货'],
  ['3+ chars, Chinese, rare', '紧急召回'],
  ['3+ chars, Latin, common, upper case', 'ORDER'],
  ['3+ chars, Latin, rare', 'invoice'],
  ['3+ chars, Latin, absent', 'no such words'],
];

interface Spread {
  p50: number;
  p99: number;
}
const spread = (ms: number[]): Spread => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50: sorted[Math.floor(sorted.length / 2)], p99: sorted[Math.ceil(sorted.length * 0.99) - 1] };
};

/**
 * p50 and p99 in ms of `fn` and of `base` over RUNS runs each, after one
 * warm-up, run by turns: the machine is shared, so the baseline of each row
 * is measured beside it, under the same load.
 */
async function beside(fn: () => Promise<unknown>, base: () => Promise<unknown>): Promise<{ it: Spread; base: Spread }> {
  const ms: number[] = [];
  const baseMs: number[] = [];
  for (let i = -1; i < RUNS; i++) {
    for (const [call, into] of [[fn, ms], [base, baseMs]] as const) {
      const t = performance.now();
      await call();
      if (i >= 0) into.push(performance.now() - t);
    }
  }
  return { it: spread(ms), base: spread(baseMs) };
}

const keyset = (who: Reader, filter: InboxFilter) => () => listInbox(em, who, filter, { limit: 20, offset: 0, order: 'desc', withTotal: false });
const numbered = (who: Reader, filter: InboxFilter) => () => listInbox(em, who, filter, { limit: 20, offset: 0, order: 'desc', withTotal: true });
/** The numbered first page as it was before a search's total was capped: the page beside a count of every match. */
const exactTotal = (who: Reader, filter: InboxFilter) => () =>
  Promise.all([listInbox(em, who, filter, { limit: 20, offset: 0, order: 'desc', withTotal: false }), countInbox(em, who, filter)]);
const f = (s: Spread) => `${s.p50.toFixed(1).padStart(6)} /${s.p99.toFixed(1).padStart(6)}`;

const client = new pg.Client({ connectionString: URL });
await client.connect();
const statements = (fn: () => Promise<unknown>) => statementsOf(em, fn);
const replay = (sent: SentStatement[]) => async () => {
  let rows = 0;
  for (const s of sent) rows = (await client.query(s.sql, s.bindings)).rowCount ?? 0;
  return rows;
};

/**
 * The same statements searching with a plain ILIKE: how listInbox searched
 * before it sent LIKE for a caseless q and ILIKE in the "C" collation for
 * one or two ASCII characters. Undefined where it sends a plain ILIKE already.
 */
function asIlike(sent: SentStatement[]): SentStatement[] | undefined {
  const made = sent.map((s) => ({ ...s, sql: s.sql.replace(/ i?like (\$\d+)( collate "C")?/g, ' ilike $1') }));
  return made.some((m, i) => m.sql !== sent[i].sql) ? made : undefined;
}

async function searches(when: string, queries = QUERIES): Promise<void> {
  console.log(
    `\n3. searches ${when}, ${RUNS} runs each: the first page of 20, ms p50 / p99, each beside the same call without q (no q) and, where it sends another test, the keyset page with a plain ILIKE (ILIKE)`,
  );
  console.log(
    `${'who, q'.padEnd(48)} ${'keyset page'.padStart(14)} ${'no q'.padStart(14)} ${'ILIKE'.padStart(14)}   ${'page + total'.padStart(14)} ${'no q'.padStart(14)} ${'exact total'.padStart(14)}  rows  total`,
  );
  for (const [label, who] of [['heavy', heavy], ['light', light]] as const) {
    console.log(`${label} user (${who.sub}, ${await inboxSize(who)})`);
    const keysetBase = await statements(keyset(who, {}));
    for (const [what, q] of queries) {
      const sent = await statements(keyset(who, { q }));
      const ilike = asIlike(sent);
      const k = await beside(replay(sent), replay(keysetBase));
      const i = ilike ? f((await beside(replay(ilike), replay(keysetBase))).it) : '–'.padStart(14);
      const t = await beside(numbered(who, { q }), numbered(who, {}));
      const x = await beside(exactTotal(who, { q }), numbered(who, {}));
      const { rows, total, capped } = await numbered(who, { q })();
      const [, exact] = await exactTotal(who, { q })();
      console.log(
        `  ${`${what} (${q})`.padEnd(46)} ${f(k.it)} ${f(k.base)} ${i}   ${f(t.it)} ${f(t.base)} ${f(x.it)}  ${String(rows.length).padStart(4)}  ${total}${capped ? `+ (${exact})` : ''}`,
      );
    }
  }
}

async function explain(label: string, fn: () => Promise<unknown>): Promise<void> {
  // the inbox's own statements, not the catalog lookups of which months have a grams index
  for (const q of (await statements(fn)).filter((st) => st.sql.includes('from notifications n'))) {
    const plan = await client.query(`explain (analyze, buffers) ${q.sql}`, q.bindings);
    // the receipts' months never probed, and the empty months ahead, say nothing
    const lines = plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).filter((l: string) => !l.includes('never executed'));
    console.log(`\n=== ${label}\n${lines.join('\n')}`);
  }
}

await searches(`as the month is now (${current.name} walked, the months before through their indexes)`);

// the same one- and two-character searches as before the grams indexes: every month walked
const ended = months.filter((p) => p.to <= now);
for (const p of ended) await em.execute(`drop index ${gramsIndexOf(p.name)}`);
forgetGramsIndexes();
await searches(
  'as the month is now without the grams indexes (as before them: a q of one or two characters walks every month)',
  QUERIES.filter(([, q]) => [...q].length <= 2),
);
t0 = performance.now();
await buildSearchIndexes(em, 'ended', now);
console.log(`\n  the ended months' grams indexes built again (CREATE INDEX CONCURRENTLY, then ANALYZE) in ${seconds(t0)} s`);
forgetGramsIndexes();

console.log('\n4. plans (heavy user, keyset page)');
await explain('q=退款 (two characters: the ended months through their grams indexes, the month being written walked)', keyset(heavy, { q: '退款' }));
await explain('q=invoice (rare: the month being written walked, the ended months through their trigram indexes)', keyset(heavy, { q: 'invoice' }));

await em.execute(`drop index ${searchIndexOf(lastEnded.name)}`);
await em.execute(`drop index ${gramsIndexOf(lastEnded.name)}`);
forgetGramsIndexes();
await searches(`as at a month's end (${lastEnded.name}'s indexes dropped: it and ${current.name} walked)`);
await client.end();
await buildSearchIndexes(em, 'ended', now);

// the same generate_series insert into the month being written, with and without a search index on it
console.log(`\n5. what an insert into the month being written (${current.name}) costs`);
const EXTRA = Number(process.env.EXTRA ?? 100_000);
const timedFill = async () => {
  const t = performance.now();
  await fill(1, EXTRA, current.from, EXTRA);
  return ((performance.now() - t) / EXTRA) * 1000;
};
const cost: Array<[string, number]> = [];
cost.push(['no search index (as now)', await timedFill()]);
await em.execute(createSearchIndex(current.name));
cost.push(['a trigram index (as before)', await timedFill()]);
await em.execute(`drop index ${searchIndexOf(current.name)}`);
cost.push(['no search index, again', await timedFill()]);
for (const [what, us] of cost) console.log(`  ${EXTRA} rows with ${what.padEnd(28)} ${us.toFixed(1).padStart(6)} µs a row`);
await orm.close();
