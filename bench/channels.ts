/**
 * bench/channels: deliveries/s through a real channel worker process, for
 * email to a local SMTP server and for Feishu to its local fake, next to the
 * same run's bare-BullMQ baseline (add + no-op worker, same concurrency).
 *
 *   npm run bench:channels
 *   EMAIL=5000 FEISHU=20000 CONCURRENCY=50 npm run bench:channels
 *
 * Each delivery goes the whole way: its record in PostgreSQL (queued), a
 * BullMQ job, the worker's claim (queued → sending), the provider call,
 * and the conditional `sent` update. The clock runs from the first enqueue
 * to the last record turning `sent`. Rate limits are lifted: this measures
 * the pipeline, not a provider's quota.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { Redis } from 'ioredis';
import type { ExternalChannel } from '../queues/jobs.js';
import { createProducers } from '../queues/producers.js';
import { insertPlanned } from '../src/domain/delivery/records.js';
import { deliveryJob } from '../src/domain/delivery/plan.js';
import { newId } from '../src/domain/ids.js';
import { migrate, openOrm } from '../src/db/orm.js';
import { startFeishuFake } from '../test/fakes/feishu.js';
import { bareBullmq } from './lib/bullmq-baseline.js';
import { spawn } from 'node:child_process';
import { stopRole } from './lib/processes.js';

const EMAIL = Number(process.env.EMAIL ?? 3000);
const FEISHU = Number(process.env.FEISHU ?? 10_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const tenant = `bench-${randomBytes(3).toString('hex')}`;
const prefix = `herald-bench-${randomBytes(3).toString('hex')}`;

/** An SMTP server that accepts and discards every message (reading it whole, as a real one would). */
async function sinkSmtp() {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('data', () => undefined);
      stream.on('end', () => callback());
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function run(channel: ExternalChannel, count: number, address: (i: number) => string, env: Record<string, string>) {
  const orm = await openOrm({ url: DATABASE_URL, poolMax: 4 });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queues = createProducers(redis, prefix);
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  const worker = spawn(process.execPath, ['--import', 'tsx', `workers/${channel}.ts`], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
    ...process.env,
    LOG_LEVEL: 'warn',
    ...env,
    DATABASE_URL,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    CHANNEL_CONCURRENCY: String(CONCURRENCY),
    DATABASE_POOL_MAX: String(Math.min(CONCURRENCY, 20)),
    [`${channel === 'wechat' ? 'WECHAT' : channel.toUpperCase()}_RATE_PER_SEC`]: '1000000',
    },
  });
  // the clock starts once the worker process is consuming (tsx start-up is not the pipeline)
  worker.once('exit', (code) => code && console.error(`${channel} worker exited (${code})`));
  while ((await queues.delivery[channel].getWorkersCount()) === 0) await new Promise((r) => setTimeout(r, 100));
  const notification = newId();
  const seed = {
    tenant,
    notification_id: notification,
    sender: 'bench',
    message: { title: '订单确认', content: '您的订单已确认,预计30分钟送达', type: 'info' as const, priority: 'normal' as const, metadata: {}, created_at: new Date().toISOString() },
  };
  const jobs = Array.from({ length: count }, (_, i) => deliveryJob(seed, { recipient: `user-${i}`, direct: false, address: address(i) }, channel, [], null));
  const sent = async () =>
    Number((await db.query(`select count(*) from deliveries where notification_id = $1 and status = 'sent'`, [notification])).rows[0].count);
  const failed = async () =>
    Number((await db.query(`select count(*) from deliveries where notification_id = $1 and status = 'failed'`, [notification])).rows[0].count);

  const t0 = performance.now();
  for (let i = 0; i < jobs.length; i += 1000) {
    const chunk = jobs.slice(i, i + 1000);
    await insertPlanned(orm.em.fork(), chunk);
    await queues.enqueueDeliveries(chunk);
  }
  for (;;) {
    const [s, f] = [await sent(), await failed()];
    if (s + f >= count) {
      if (f) console.warn(`  ${f} ${channel} deliveries failed`);
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - t0) / 1000;
  await stopRole(worker);
  await queues.delivery[channel].obliterate({ force: true });
  await queues.close();
  await redis.quit();
  await db.query(`delete from deliveries where notification_id = $1`, [notification]);
  await db.end();
  await orm.close();
  return { perSecond: count / seconds, seconds };
}

async function main() {
  await migrate({ url: DATABASE_URL });
  const smtp = await sinkSmtp();
  const feishu = await startFeishuFake({ users: Array.from({ length: FEISHU }, (_, i) => `ou_${i}`) });

  const baseline = await bareBullmq({ redisUrl: REDIS_URL, jobs: Math.max(EMAIL, FEISHU), mode: 'bulk', concurrency: CONCURRENCY });
  const email = await run('email', EMAIL, (i) => `user${i}@bench.example`, {
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtp.port),
    SMTP_FROM: 'Herald <noreply@bench.example>',
  });
  const fs = await run('feishu', FEISHU, (i) => `ou_${i}`, { FEISHU_APP_ID: feishu.appId, FEISHU_APP_SECRET: feishu.appSecret, FEISHU_API_BASE: feishu.url });
  const baselineAfter = await bareBullmq({ redisUrl: REDIS_URL, jobs: Math.max(EMAIL, FEISHU), mode: 'bulk', concurrency: CONCURRENCY });
  const base = (baseline.perSecond + baselineAfter.perSecond) / 2;

  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(`\nbench/channels  (worker concurrency ${CONCURRENCY}, one worker process per channel, ${new Date().toISOString()})`);
  console.log(`  baseline  bare BullMQ addBulk + no-op worker: ${fmt(baseline.perSecond)} jobs/s before, ${fmt(baselineAfter.perSecond)} after`);
  console.log(`  email     ${EMAIL} deliveries to a loopback SMTP server: ${fmt(email.perSecond)} deliveries/s  (${(email.perSecond / base).toFixed(3)} of baseline)`);
  console.log(`  feishu    ${FEISHU} deliveries to the local Feishu fake: ${fmt(fs.perSecond)} deliveries/s  (${(fs.perSecond / base).toFixed(3)} of baseline)`);
  await feishu.close();
  await smtp.close();
}

await main();
// the SMTP server waits for its clients' pooled sockets to close; a benchmark has nothing left to wait for
process.exit(0);
