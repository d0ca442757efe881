/**
 * bench/search: inbox search (`GET /notifications?q=`) at 1 million
 * notifications.
 *
 *   npm run bench:search      # ROWS=1000000 RUNS=200 EXTRA=100000, SEARCH_DATABASE_URL=…/herald_search_bench
 *
 * In a scratch database (dropped and made again each run):
 * 1. every migration but the search index's, then ROWS notifications by
 *    generate_series, minted evenly from the first of the month four months
 *    ago until now (five monthly partitions). Titles and contents are
 *    sixteen templates, half Chinese, half English, with the row's number in
 *    them; one row in 997 is an invoice with a refund (退款, "refund"),
 *    one in 100,003 a recall (紧急召回). Audiences: 10 heavy users (user-0…9,
 *    ~26,000 rows each), 990 light ones (~620 each), 20 roles, tenant
 *    broadcasts; a tenth of the rows belong to another tenant with the same
 *    user names. Every user has read a third of their own notifications;
 * 2. the trigram index (the search migration), timed (its build
 *    locks inserts that long), and the sizes on disk;
 * 3. for a heavy and a light user, the first page of 20 for q of one, two
 *    and more characters, Chinese and Latin, common, rare and absent, each
 *    RUNS times: p50/p99 of the keyset page (what `cursor` paging sends) and
 *    of the numbered first page (the page and its total), next to the same
 *    calls without q, the same-run baseline;
 * 4. EXPLAIN (ANALYZE, BUFFERS) of a two-character q through it;
 * then 2–4 again for a candidate in its place, the gram index (characters
 * and character pairs; HERALD_GRAMS below), with the plans of a rare and a
 * common q of one, two and more characters;
 * 5. what each index costs an insert: EXTRA (100,000) more rows with the gram
 *    index, with no search index, with the trigram index, with the gram
 *    index again (the same generate_series rows, one run).
 * The statements listInbox sends are captured once and replayed through one
 * bare client, for both indexes alike (see GRAM_CONDITION).
 */
import pg from 'pg';
import { ensureMonths } from '../src/db/partitions.js';
import { listInbox, SEARCH_TEXT, type InboxFilter, type Reader } from '../src/domain/inbox/inbox.js';
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
 * Notifications g = from..to of ROWS, minted evenly from `start` to now: ids
 * are UUIDv7 of that millisecond (its 48 bits, the version, random bits).
 */
async function fill(from: number, to: number): Promise<void> {
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
    [tenant, from, to, start.getTime(), now.getTime() - start.getTime(), ROWS],
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

/**
 * The candidate measured against the trigram index: a GIN index on the
 * text's characters and character pairs (text[], btree_gin for the
 * audience), which answers a q of one and two characters too. Grams are
 * lower-cased by lower(), the one ILIKE folds with; whitespace counts as a
 * space and grams of spaces only are left out; duplicates stay (GIN keeps a
 * key once per row). The pairs are cut by regexp_replace at either parity,
 * joined by \x01, which the text is first stripped of. Compared in the "C"
 * collation: byte order, ~20% cheaper per insert than the database's.
 */
const HERALD_GRAMS = `create or replace function herald_grams(t text, singles boolean) returns text[]
  language plpgsql immutable strict parallel safe as $$
  declare
    s text := translate(lower(t), E'\\t\\n\\x0b\\f\\r\\u00a0\\u3000\\x01', '        ');
    n int := length(s);
  begin
    return array_remove(array_remove(array_remove(
      case when singles then string_to_array(s, null) end
      || string_to_array(regexp_replace(substr(s, 1, n / 2 * 2), '(..)', E'\\\\1\\x01', 'g'), E'\\x01', '')
      || string_to_array(regexp_replace(substr(s, 2, (n - 1) / 2 * 2), '(..)', E'\\\\1\\x01', 'g'), E'\\x01', ''),
      null), ' '), '  ');
  end $$`;
const SEARCH_GRAMS = `(herald_grams(${SEARCH_TEXT}, true) collate "C")`;
const GRAM_INDEX = `create index notifications_search on notifications
  using gin (audience, (herald_grams(title || E'\\n' || content, true)) collate "C")`;
const TRIGRAM_INDEX = `create index notifications_search on notifications
  using gin (audience, (title || E'\\n' || content) gin_trgm_ops)`;

async function sizes(): Promise<void> {
  const rows = await em.execute<Array<{ name: string; size: string }>>(
    `select 'notifications (table)' as name, pg_size_pretty(sum(pg_table_size(i.inhrelid))) as size
       from pg_inherits i where i.inhparent = 'notifications'::regclass
     union all
     select c.relname, pg_size_pretty(sum(pg_relation_size(t.relid)))
       from pg_index ix join pg_class c on c.oid = ix.indexrelid, pg_partition_tree(ix.indexrelid) t
       where ix.indrelid = 'notifications'::regclass group by 1
     order by 1`,
  );
  for (const s of rows) console.log(`  ${s.name.padEnd(40)} ${s.size.padStart(9)}`);
}

console.log('2. the trigram index (the search migration)');
t0 = performance.now();
await migrator.getMigrator().up({ to: 'Migration20261207000000_search' });
console.log(`  index built and analyzed in ${seconds(t0)} s`);
await migrator.getMigrator().up();
await migrator.close(true);
await sizes();
// a month made after the migration (as the scheduler and the store path make them) gets the index too
const ahead = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 6, 1));
const [made] = await ensureMonths(em, ahead, ahead);
const [{ indexed }] = await em.execute<Array<{ indexed: boolean }>>(
  `select exists (select 1 from pg_index ix join pg_inherits i on i.inhrelid = ix.indexrelid
     where ix.indrelid = ?::regclass and i.inhparent = 'notifications_search'::regclass) as indexed`,
  [made],
);
console.log(`  ${made}, made after the migration, has its notifications_search partition: ${indexed}`);

const heavy: Reader = { sub: 'user-3', tenant, roles: ['role-3'], stores: [] };
const light: Reader = { sub: 'user-500', tenant, roles: ['role-7'], stores: [] };
const inboxSize = async (who: Reader) => {
  const [{ n }] = await em.execute<Array<{ n: string }>>(
    `select count(*)::text as n from notifications where tenant = ? and audience = any(?::text[])`,
    [tenant, `{u:${who.sub},r:${who.roles[0]},*}`],
  );
  return n;
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
const f = (s: Spread) => `${s.p50.toFixed(1).padStart(6)} /${s.p99.toFixed(1).padStart(6)}`;

/**
 * What listInbox sends is the trigram search: `text ilike $n`. For the gram
 * index the same statements are replayed with that condition made the
 * candidate's: the grams of q (its pairs, or its one character) contained
 * in the row's, then strpos on the lower-cased text as the exact test (the
 * same test as ILIKE; estimated as true for nearly every row, so the
 * planner's row estimate is the grams' alone), `$n` kept so the parameters
 * keep their numbers. Both indexes are timed the same way: statements
 * replayed through one bare client.
 */
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ILIKE = new RegExp(`${escapeRe(SEARCH_TEXT)} ilike (\\$\\d+)`, 'g');
const literal = (q: string) => `'${q.replace(/'/g, "''")}'`;
const asGrams = (q: string, n: string) =>
  `${SEARCH_GRAMS} @> herald_grams(${literal(q)}, ${[...q].length === 1}) and strpos(lower(${SEARCH_TEXT}), lower(${literal(q)})) <> 0
   and ${n}::text is not null`;
type Index = 'trigrams' | 'grams';
const client = new pg.Client({ connectionString: URL });
await client.connect();
async function statements(index: Index, fn: () => Promise<unknown>, q?: string): Promise<SentStatement[]> {
  const sent = await statementsOf(em, fn);
  if (index === 'trigrams' || q === undefined) return sent;
  return sent.map((s) => {
    const sql = s.sql.replace(ILIKE, (_, n: string) => asGrams(q, n));
    if (sql === s.sql) throw new Error(`no search condition to replace in ${s.sql}`);
    return { ...s, sql };
  });
}
const replay = (sent: SentStatement[]) => async () => {
  let rows = 0;
  for (const s of sent) rows = (await client.query(s.sql, s.bindings)).rowCount ?? 0;
  return rows;
};

async function searches(index: Index): Promise<void> {
  console.log(`\n3. searches through the ${index} index, ${RUNS} runs each: the first page of 20, ms p50 / p99, each beside the same call without q (no q)`);
  console.log(
    `${'who, q'.padEnd(48)} ${'keyset page'.padStart(14)} ${'no q'.padStart(14)}   ${'page + total'.padStart(14)} ${'no q'.padStart(14)}  rows  total`,
  );
  for (const [label, who] of [['heavy', heavy], ['light', light]] as const) {
    console.log(`${label} user (${who.sub}, inbox of ${await inboxSize(who)})`);
    const keysetBase = await statements(index, keyset(who, {}));
    const numberedBase = await statements(index, numbered(who, {}));
    for (const [what, q] of QUERIES) {
      const k = await beside(replay(await statements(index, keyset(who, { q }), q)), replay(keysetBase));
      const t = await beside(replay(await statements(index, numbered(who, { q }), q)), replay(numberedBase));
      const { rows, total } = await numbered(who, { q })();
      console.log(`  ${`${what} (${q})`.padEnd(46)} ${f(k.it)} ${f(k.base)}   ${f(t.it)} ${f(t.base)}  ${String(rows.length).padStart(4)}  ${total}`);
    }
  }
}

async function explain(index: Index, label: string, fn: () => Promise<unknown>, search?: string): Promise<void> {
  for (const q of await statements(index, fn, search)) {
    const plan = await client.query(`explain (analyze, buffers) ${q.sql}`, q.bindings);
    // the receipts' months never probed, and the empty months ahead, say nothing
    const lines = plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).filter((l: string) => !l.includes('never executed'));
    console.log(`\n=== ${index}: ${label}\n${lines.join('\n')}`);
  }
}

await searches('trigrams');
console.log('\n4. plans (heavy user, keyset page), trigram index');
await explain('trigrams', 'q=退款 (two characters, no trigram: the walk)', keyset(heavy, { q: '退款' }));

console.log('\n2. the gram index, in place of the trigram one');
await em.execute('drop index notifications_search');
await em.execute(HERALD_GRAMS);
t0 = performance.now();
await em.execute(GRAM_INDEX);
await em.execute('analyze notifications');
console.log(`  index built and analyzed in ${seconds(t0)} s`);
await sizes();

await searches('grams');
console.log('\n4. plans (heavy user, keyset page), gram index');
await explain('grams', 'no q (baseline)', keyset(heavy, {}));
await explain('grams', 'q=退款 (rare, two characters: bitmap scans of notifications_search)', keyset(heavy, { q: '退款' }), '退款');
await explain('grams', 'q=退 (rare, one character: bitmap scans of notifications_search)', keyset(heavy, { q: '退' }), '退');
await explain('grams', 'q=订单 (common: the inbox walked newest first, stopping at 20)', keyset(heavy, { q: '订单' }), '订单');
await explain('grams', 'q=ORDER (common, four pairs: their frequencies multiplied, the planner expects few rows)', keyset(heavy, { q: 'ORDER' }), 'ORDER');
await explain('grams', 'q=invoice (rare: bitmap scans)', keyset(heavy, { q: 'invoice' }), 'invoice');
await client.end();

// the same generate_series insert with each index in turn: what each adds per row
console.log('\n5. what each index costs an insert');
const EXTRA = Number(process.env.EXTRA ?? 100_000);
let next = ROWS + 1;
const timedFill = async () => {
  const t = performance.now();
  await fill(next, next + EXTRA - 1);
  next += EXTRA;
  return ((performance.now() - t) / EXTRA) * 1000;
};
const cost: Array<[string, number]> = [];
cost.push(['gram index', await timedFill()]);
await em.execute('drop index notifications_search');
cost.push(['no search index', await timedFill()]);
t0 = performance.now();
await em.execute(TRIGRAM_INDEX);
console.log(`  trigram index rebuilt on ${ROWS + 2 * EXTRA} rows in ${seconds(t0)} s`);
cost.push(['trigram index', await timedFill()]);
await em.execute('drop index notifications_search');
t0 = performance.now();
await em.execute(GRAM_INDEX);
console.log(`  gram index rebuilt on ${ROWS + 3 * EXTRA} rows in ${seconds(t0)} s`);
cost.push(['gram index, again', await timedFill()]);
for (const [what, us] of cost) console.log(`  ${EXTRA} rows with ${what.padEnd(18)} ${us.toFixed(1).padStart(6)} µs a row`);
await orm.close();
