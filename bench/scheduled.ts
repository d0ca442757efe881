/**
 * bench/scheduled: how late scheduled notifications reach the inboxes after
 * their schedule_at, next to the same run's baseline — bare BullMQ delayed
 * jobs (same Redis, no-op worker) due at the same instants.
 *
 *   npm run bench:scheduled                 # defaults below
 *   BURST=5000 SPREAD=1000 npm run bench:scheduled
 *
 * burst: BURST notifications all due at one instant (bulk sends);
 * spread: SPREAD single sends due 10 ms apart.
 * Lateness is sent_at − schedule_at, both from the row (the machine's clock).
 * A real api and a real ingest worker run as separate processes against
 * the benchmark database (herald_bench) and a fresh queue prefix.
 */
import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { signToken } from '../src/auth/jwt.js';
import { migrate } from '../src/db/orm.js';
import { freePort, startRole, stopRole, waitHttp } from './lib/processes.js';

const BURST = Number(process.env.BURST ?? 2000);
const SPREAD = Number(process.env.SPREAD ?? 500);
const LEAD_MS = 4000;
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'herald-bench-secret-0123456789';
const tenant = `bench-${randomBytes(3).toString('hex')}`;
const prefix = `herald-bench-${randomBytes(3).toString('hex')}`;

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
const summary = (late: number[]) => {
  const s = [...late].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(0)} ms  p95 ${pct(s, 95).toFixed(0)} ms  max ${s[s.length - 1].toFixed(0)} ms  (n=${s.length})`;
};

/** Bare BullMQ: delayed jobs due at `dueAt`, lateness measured by a no-op worker. */
async function baseline(dueAt: number[]): Promise<number[]> {
  const p = `bench-delay-${process.pid}-${Date.now()}`;
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('baseline', { connection, prefix: p });
  const late: number[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const worker = new Worker(
    'baseline',
    async (job) => {
      late.push(Date.now() - job.data.due);
      if (late.length === dueAt.length) resolveDone();
    },
    { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix: p, concurrency: 100 },
  );
  await worker.waitUntilReady();
  for (let i = 0; i < dueAt.length; i += 1000)
    await queue.addBulk(dueAt.slice(i, i + 1000).map((due) => ({ name: 'j', data: { due }, opts: { delay: Math.max(0, due - Date.now()) } })));
  await done;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  await connection.quit();
  return late;
}

async function main() {
  await migrate({ url: DATABASE_URL });
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  const port = await freePort();
  const env = { DATABASE_URL, REDIS_URL, QUEUE_PREFIX: prefix, JWT_SECRET: SECRET, PORT: String(port), RATE_LIMIT_SERVICE_PER_MIN: '1000000000' };
  const api = startRole('src/api/server.ts', env);
  const ingest = startRole('workers/ingest.ts', env);
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/health`);
  const token = await signToken(SECRET, { sub: 'bench-service', tenant, scope: 'notify:send' });
  const post = (path: string, body: unknown) =>
    fetch(`${base}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(
      async (r) => {
        if (r.status !== 202) throw new Error(`${path}: ${r.status} ${await r.text()}`);
      },
    );
  const lateness = async (source: string, n: number) => {
    for (;;) {
      const rows = (
        await db.query(
          `select extract(epoch from (sent_at - schedule_at)) * 1000 as late from notifications where tenant = $1 and source = $2 and sent_at is not null`,
          [tenant, source],
        )
      ).rows;
      if (rows.length >= n) return rows.map((r) => Number(r.late));
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  // burst: everything due at one instant
  const burstAt = Date.now() + LEAD_MS + BURST; // leave time to send them all
  for (let i = 0; i < BURST; i += 1000) {
    const n = Math.min(1000, BURST - i);
    await post('/notifications/bulk', {
      notifications: Array.from({ length: n }, (_, k) => ({
        title: '定时', content: '整点提醒', user_id: `u-${i + k}`, source: 'burst', schedule_at: new Date(burstAt).toISOString(),
      })),
    });
  }
  const burst = await lateness('burst', BURST);

  // spread: single sends, due 10 ms apart
  const postStart = Date.now();
  const spreadAt = postStart + LEAD_MS + SPREAD * 2;
  const due = Array.from({ length: SPREAD }, (_, i) => spreadAt + i * 10);
  for (let i = 0; i < SPREAD; i += 50)
    await Promise.all(
      due.slice(i, i + 50).map((at, k) => post('/notifications', { title: '定时', content: '逐条', user_id: `s-${i + k}`, source: 'spread', schedule_at: new Date(at).toISOString() })),
    );
  const posted = Date.now();
  const spread = await lateness('spread', SPREAD);

  await stopRole(api);
  await stopRole(ingest);
  await db.query('delete from notifications where tenant = $1', [tenant]);
  await db.end();

  const baseBurst = await baseline(Array.from({ length: BURST }, () => Date.now() + LEAD_MS));
  const t0 = Date.now() + LEAD_MS;
  const baseSpread = await baseline(Array.from({ length: SPREAD }, (_, i) => t0 + i * 10));

  console.log(`scheduled sends: lateness after schedule_at (sent_at − schedule_at)`);
  console.log(`  burst  ${BURST} due at one instant   Herald:   ${summary(burst)}`);
  console.log(`                                   baseline: ${summary(baseBurst)}  (bare BullMQ delayed jobs, no-op worker)`);
  console.log(`  spread ${SPREAD} due 10 ms apart     Herald:   ${summary(spread)}  (all sent ${spreadAt - posted} ms before the first was due)`);
  console.log(`                                   baseline: ${summary(baseSpread)}`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
