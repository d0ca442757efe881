/**
 * bench/scale-ingest: bulk sends of ONE tenant from HTTP to PostgreSQL with
 * 1 and 3 Redis primaries, 1 and 3 ingest queue shards (INGEST_SHARDS) and
 * 1 and 3 ingest worker processes, each next to bare BullMQ (addBulk, no-op
 * workers) on the same topology and number of queues, same run.
 *
 *   npm run build && npm run bench:scale:ingest
 *   BULK=100000 npm run bench:scale:ingest
 *
 * The roles are the compiled processes (dist/, plain node, one process each,
 * as the Procfile runs them). 1 primary is one redis-server; 3 primaries is a
 * Redis Cluster of 3 primaries without replicas, made by redis-cli --cluster
 * create (slots split evenly, so the 3 shards' hash tags sit on 3 primaries).
 * Every server is the bench's own, on loopback. For each configuration it
 * also prints the CPU time each role spent per stored notification (from
 * /proc), the capacity model's inputs (docs/scaling.md).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Queue, Worker } from 'bullmq';
import pg from 'pg';
import { connectRedis } from '../queues/redis-target.js';
import { shardedQueueNames } from '../queues/shards.js';
import { signToken } from '../src/auth/jwt.js';
import { migrate } from '../src/db/orm.js';
import { startRedisCluster } from '../test/helpers/redis-cluster.js';
import { startRedis } from '../test/helpers/procs.js';
import { cpuMeter, pidsNamed } from './lib/cpu.js';
import { createRawClient } from './lib/raw-http.js';
import { freePort, startRole, stopRole, waitHttp } from './lib/processes.js';

const BULK = Number(process.env.BULK ?? 60_000);
const BULK_SIZE = 1000;
const BULK_IN_FLIGHT = Number(process.env.BULK_IN_FLIGHT ?? 4);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const SECRET = 'herald-bench-secret-0123456789';

interface Topology {
  primaries: number;
  url: string;
  redisPids: number[];
}

async function topology(primaries: number, cleanups: Array<() => unknown>): Promise<Topology> {
  if (primaries === 1) {
    const port = await freePort();
    const redis = await startRedis(port);
    cleanups.push(() => redis.stop('SIGKILL'));
    return { primaries, url: `redis://127.0.0.1:${port}`, redisPids: [redis.child.pid!] };
  }
  const cluster = await startRedisCluster(cleanups, primaries, 0);
  return { primaries, url: cluster.url, redisPids: cluster.nodes.map((n) => n.proc.child.pid!) };
}

/** Bare BullMQ: BULK jobs added with addBulk (chunks of 1000, spread over the queues) to no-op workers, one per queue. */
async function bare(t: Topology, queues: number, workers: number): Promise<number> {
  const prefix = `bench-bare-${randomBytes(3).toString('hex')}`;
  const names = shardedQueueNames('baseline', queues, t.primaries > 1);
  const producer = connectRedis(t.url, { maxRetriesPerRequest: null });
  const qs = names.map((n) => new Queue(n, { connection: producer, prefix }));
  let done = 0;
  let resolveDone!: () => void;
  const allDone = new Promise<void>((r) => (resolveDone = r));
  const consumers: Worker[] = [];
  for (let w = 0; w < workers; w++)
    for (const n of names)
      consumers.push(
        new Worker(
          n,
          async () => {
            if (++done === BULK) resolveDone();
          },
          { connection: connectRedis(t.url, { maxRetriesPerRequest: null }), prefix, concurrency: Math.ceil(100 / names.length) },
        ),
      );
  await Promise.all(consumers.map((c) => c.waitUntilReady()));
  const payload = { title: 'baseline', content: '您的订单已确认,预计30分钟送达', user_id: 'u' };
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    for (let i = next++; i * BULK_SIZE < BULK; i = next++) {
      const n = Math.min(BULK_SIZE, BULK - i * BULK_SIZE);
      await qs[i % qs.length].addBulk(Array.from({ length: n }, () => ({ name: 'j', data: payload, opts: { priority: 3, removeOnComplete: true } })));
    }
  };
  await Promise.all(Array.from({ length: BULK_IN_FLIGHT }, lane));
  await allDone;
  const rate = BULK / ((performance.now() - started) / 1000);
  await Promise.all(consumers.map((c) => c.close()));
  for (const q of qs) await q.obliterate({ force: true }).catch(() => undefined);
  await Promise.all(qs.map((q) => q.close()));
  producer.disconnect();
  return rate;
}

async function herald(t: Topology, shards: number, workers: number, db: pg.Client) {
  const tenant = `bench-${randomBytes(3).toString('hex')}`;
  const port = await freePort();
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL,
    REDIS_URL: t.url,
    QUEUE_PREFIX: `herald-bench-${randomBytes(3).toString('hex')}`,
    JWT_SECRET: SECRET,
    PORT: String(port),
    INGEST_SHARDS: String(shards),
    RATE_LIMIT_SERVICE_PER_MIN: '1000000000',
  };
  const api = startRole('dist/src/api/server.js', env);
  const ingest = Array.from({ length: workers }, () => startRole('dist/workers/ingest.js', env));
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/health`);
  const token = await signToken(SECRET, { sub: 'bench-service', tenant, scope: 'notify:send' });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const client = createRawClient(base);
  const body = (i: number) => ({ title: `bench ${i}`, content: '您的订单已确认,预计30分钟送达', user_id: `user-${i % 5000}`, metadata: { order_id: `o-${i}` } });
  const stored = async () => Number((await db.query('select count(*) from notifications where tenant = $1', [tenant])).rows[0].count);
  const waitStored = async (n: number) => {
    while ((await stored()) < n) await new Promise((r) => setTimeout(r, 100));
  };
  const bulk = async (from: number, count: number) => {
    let nextReq = 0;
    const requests = Math.ceil(count / BULK_SIZE);
    const lane = async () => {
      while (nextReq < requests) {
        const r = nextReq++;
        const notifications = Array.from({ length: BULK_SIZE }, (_, k) => body(from + r * BULK_SIZE + k));
        const res = await client.request('POST', '/api/v1/notifications/bulk', headers, JSON.stringify({ notifications }));
        if (res.status !== 202) throw new Error(`bulk send answered ${res.status}: ${res.body}`);
      }
    };
    await Promise.all(Array.from({ length: BULK_IN_FLIGHT }, lane));
  };
  // warm up: JIT, pools, every worker's connections
  await bulk(0, 10 * BULK_SIZE);
  await waitStored(10 * BULK_SIZE);
  const meter = cpuMeter({
    api: () => [api.pid!],
    ingest: () => ingest.map((p) => p.pid!),
    redis: () => t.redisPids,
    postgres: () => [...pidsNamed('postgres:', 'herald_bench'), ...pidsNamed('postgres:', 'walwriter')],
  });
  meter.start();
  const t0 = performance.now();
  await bulk(10 * BULK_SIZE, BULK);
  await waitStored(10 * BULK_SIZE + BULK);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = meter.stop();
  client.close();
  await stopRole(api);
  await Promise.all(ingest.map(stopRole));
  await db.query('delete from notifications where tenant = $1', [tenant]);
  const perNotification = Object.fromEntries(Object.entries(cpu).map(([k, us]) => [k, us / BULK]));
  return { rate: BULK / seconds, perNotification };
}

async function main() {
  if (!existsSync('dist/src/api/server.js')) throw new Error('run `npm run build` first: the bench runs the compiled processes');
  await migrate({ url: DATABASE_URL });
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  const lines: string[] = [];
  for (const primaries of [1, 3]) {
    const cleanups: Array<() => unknown> = [];
    const t = await topology(primaries, cleanups);
    for (const shards of [1, 3])
      for (const workers of [1, 3]) {
        const h = await herald(t, shards, workers, db);
        const b = await bare(t, shards, workers);
        const us = Object.entries(h.perNotification)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(', ');
        const line =
          `${primaries} primar${primaries === 1 ? 'y ' : 'ies'} · ${shards} shard${shards === 1 ? ' ' : 's'} · ${workers} worker${workers === 1 ? ' ' : 's'}: ` +
          `Herald ${h.rate.toFixed(0).padStart(6)}/s stored, bare BullMQ ${b.toFixed(0).padStart(6)}/s (${(h.rate / b).toFixed(2)}×); CPU µs/notification: ${us}`;
        console.log(line);
        lines.push(line);
      }
    for (const c of cleanups.reverse()) await c();
  }
  await db.end();
  console.log(`\nbench/scale-ingest — ${new Date().toISOString()}, ${BULK} bulk notifications of one tenant per configuration\n${lines.join('\n')}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
