/**
 * bench/ingest: notifications/s from HTTP to PostgreSQL, single and bulk,
 * next to the same run's bare-BullMQ baseline (add + no-op worker).
 *
 *   npm run bench:ingest                  # defaults below
 *   SINGLE=20000 BULK=200000 npm run bench:ingest
 *
 * It starts a real api and a real ingest worker as separate processes
 * against a benchmark database (herald_bench) and a fresh queue prefix,
 * sends through the HTTP API with keep-alive, and waits until every
 * notification is stored.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { signToken } from '../src/auth/jwt.js';
import { migrate } from '../src/db/orm.js';
import { bareBullmq } from './lib/bullmq-baseline.js';
import { createRawClient } from './lib/raw-http.js';
import { freePort, startRole, stopRole, waitHttp } from './lib/processes.js';

const SINGLE = Number(process.env.SINGLE ?? 20_000);
const BULK = Number(process.env.BULK ?? 200_000);
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 64);
const BULK_SIZE = 1000;
const BULK_IN_FLIGHT = Number(process.env.BULK_IN_FLIGHT ?? 4);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'herald-bench-secret-0123456789';

const tenant = `bench-${randomBytes(3).toString('hex')}`;
const prefix = `herald-bench-${randomBytes(3).toString('hex')}`;

async function main() {
  await migrate({ url: DATABASE_URL });
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  const stored = async () => Number((await db.query('select count(*) from notifications where tenant = $1', [tenant])).rows[0].count);
  // Polls the count, sleeping half the time the rate so far says is left (50 ms–1 s): a count over
  // 200k rows costs ~100 ms of CPU (a parallel scan), so polling it every 50 ms took most of a core
  // from the api and worker it measures. The last polls still come 50 ms apart.
  const waitStored = async (n: number) => {
    const start = { t: performance.now(), c: await stored() };
    for (let c = start.c; c < n; c = await stored()) {
      const rate = (c - start.c) / Math.max(1, performance.now() - start.t);
      const left = rate > 0 ? (n - c) / rate : 100;
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(50, left / 2))));
    }
  };

  const port = await freePort();
  const env = {
    DATABASE_URL,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    JWT_SECRET: SECRET,
    PORT: String(port),
    RATE_LIMIT_SERVICE_PER_MIN: '1000000000',
    RATE_LIMIT_USER_PER_MIN: '1000000000',
  };
  const api = startRole('src/api/server.ts', env);
  const ingest = startRole('workers/ingest.ts', env);
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/health`);
  const token = await signToken(SECRET, { sub: 'bench-service', tenant, scope: 'notify:send' });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const client = createRawClient(base);
  const body = (i: number) => ({ title: `bench ${i}`, content: '您的订单已确认,预计30分钟送达', user_id: `user-${i % 5000}`, metadata: { order_id: `o-${i}` } });

  // warm up: JIT, connection pools
  const WARM = 2000;
  for (let i = 0; i < WARM; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, k) => client.request('POST', '/api/v1/notifications', headers, JSON.stringify(body(i + k)))));
  }
  await waitStored(WARM);
  let expected = WARM;

  // BENCH_PHASES=1 prints when each phase starts and ends (epoch ms), to line up with outside CPU samples
  const phase = (name: string) => process.env.BENCH_PHASES && console.error(`phase ${name} ${Date.now()}`);

  // --- single sends: one HTTP request per notification, IN_FLIGHT at a time
  phase('single');
  let next = 0;
  let t0 = performance.now();
  const lane = async () => {
    while (next < SINGLE) {
      const i = next++;
      const res = await client.request('POST', '/api/v1/notifications', headers, JSON.stringify(body(i)));
      if (res.status !== 202) throw new Error(`single send answered ${res.status}: ${res.body}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const singleAccepted = (performance.now() - t0) / 1000;
  expected += SINGLE;
  await waitStored(expected);
  const singleSeconds = (performance.now() - t0) / 1000;
  phase('single-end');

  // --- bulk sends: 1000 per request, BULK_IN_FLIGHT requests at a time
  const requests = Math.ceil(BULK / BULK_SIZE);
  let nextReq = 0;
  phase('bulk');
  t0 = performance.now();
  const bulkLane = async () => {
    while (nextReq < requests) {
      const r = nextReq++;
      const notifications = Array.from({ length: BULK_SIZE }, (_, k) => body(r * BULK_SIZE + k));
      const res = await client.request('POST', '/api/v1/notifications/bulk', headers, JSON.stringify({ notifications }));
      if (res.status !== 202) throw new Error(`bulk send answered ${res.status}: ${res.body}`);
    }
  };
  await Promise.all(Array.from({ length: BULK_IN_FLIGHT }, bulkLane));
  const bulkAccepted = (performance.now() - t0) / 1000;
  expected += requests * BULK_SIZE;
  await waitStored(expected);
  const bulkSeconds = (performance.now() - t0) / 1000;
  phase('bulk-end');

  client.close();
  await stopRole(api);
  await stopRole(ingest);
  await db.query('delete from notifications where tenant = $1', [tenant]);
  await db.end();

  // --- baselines, same run, same Redis
  const bareSingle = await bareBullmq({ redisUrl: REDIS_URL, jobs: SINGLE, mode: 'single', inFlight: IN_FLIGHT });
  const bareBulk = await bareBullmq({ redisUrl: REDIS_URL, jobs: Math.min(BULK, 100_000), mode: 'bulk' });

  const singleRate = SINGLE / singleSeconds;
  const bulkRate = (requests * BULK_SIZE) / bulkSeconds;
  const row = (name: string, v: number, extra = '') => console.log(`${name.padEnd(44)} ${v.toFixed(0).padStart(8)} /s ${extra}`);
  console.log(`\nbench/ingest — ${new Date().toISOString()}, ${SINGLE} single + ${requests * BULK_SIZE} bulk notifications`);
  row('baseline: bare BullMQ, add one by one', bareSingle.perSecond, `(${IN_FLIGHT} in flight, no-op worker c=100)`);
  row('baseline: bare BullMQ, addBulk', bareBulk.perSecond, '(chunks of 1000, no-op worker c=100)');
  row('Herald single: HTTP accepted (202)', SINGLE / singleAccepted);
  row('Herald single: HTTP → stored in PostgreSQL', singleRate, `= ${(singleRate / bareSingle.perSecond).toFixed(2)}× bare BullMQ single (aim ≥ 0.33)`);
  row('Herald bulk: HTTP accepted (202)', (requests * BULK_SIZE) / bulkAccepted);
  row('Herald bulk: HTTP → stored in PostgreSQL', bulkRate, `= ${(bulkRate / bareBulk.perSecond).toFixed(2)}× bare BullMQ addBulk (aim ≥ 20000/s)`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
