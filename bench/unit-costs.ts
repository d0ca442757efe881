/**
 * bench/unit-costs: what one notification costs each role, the per-unit
 * figures a capacity model multiplies out (docs/scaling.md).
 *
 *   npm run build && npm run bench:unit-costs
 *   SOCKETS=1000 RATE=1000 SECONDS=20 BULK=100000 npm run bench:unit-costs
 *
 * Production layout: the compiled roles (dist/, plain node, NODE_ENV=production,
 * one process each: api, ingest worker, one realtime node on one thread)
 * against a redis-server of the bench's own on a free port (so its command
 * count and CPU are Herald's alone) and the herald_bench database, with a
 * fresh queue prefix and tenant. The load comes from this process: SOCKETS
 * Node `ws` sockets (one user each) and a bare keep-alive HTTP client.
 *
 *   1. idle: the sockets open and nothing sent, IDLE_SECONDS: each process's
 *      background CPU and Redis commands per second, subtracted from (2) as
 *      its baseline;
 *   2. single sends: RATE/s for SECONDS (after WARM_SECONDS not counted), each
 *      to a random connected user and stamped with its due time, so POST →
 *      frame latency includes any lateness of the sender: CPU µs per
 *      notification per role, latency, the share of frames that arrived,
 *      Redis commands per notification, realtime CPU per delivered frame;
 *   3. bulk sends: BULK notifications as requests of 1,000, 4 in flight, to
 *      users with no socket, until stored; baseline: bare BullMQ addBulk with
 *      a no-op worker on the same redis-server;
 *   4. the realtime node's RSS before the sockets, after half of them and
 *      after all of them.
 *
 * CPU is read from /proc (bench/lib/cpu.ts). PostgreSQL is the backends that
 * serve the measured roles (bench/lib/pg-backends.ts: other programs use
 * herald_bench too) plus the walwriter, which is shared by the whole server.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';
import WebSocket from 'ws';
import { signToken } from '../src/auth/jwt.js';
import { migrate } from '../src/db/orm.js';
import { bareBullmq } from './lib/bullmq-baseline.js';
import { cpuMeter, cpuMicros, pidsNamed } from './lib/cpu.js';
import { pgBackendsOf } from './lib/pg-backends.js';
import { createRawClient } from './lib/raw-http.js';
import { benchRedis, freePort, startRole, stopRole, waitHttp } from './lib/processes.js';
import { closeSockets, pct } from './lib/sockets.js';

const RATE = Number(process.env.RATE ?? 1000);
const SECONDS = Number(process.env.SECONDS ?? 20);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 5);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 10);
const BULK = Number(process.env.BULK ?? 100_000);
const BULK_SIZE = 1000;
const BULK_IN_FLIGHT = 4;
const OPEN_BATCH = 500;
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const SECRET = 'herald-bench-secret-0123456789';
const CONTENT = '您的订单已确认,预计30分钟送达。订单号 2026112200001,门店: 中关村店,取餐码 A-1024。';

const run = randomBytes(3).toString('hex');
const tenant = `bench-unit-${run}`;
const prefix = `herald-bench-unit-${run}`;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** The soft limit on open files this process inherited (`ulimit -n` of the shell that started it). */
function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/**
 * Sockets are this process's files and the node's: each side needs one per
 * socket plus its own few hundred (Redis, PostgreSQL, libraries).
 */
function socketCount(): number {
  const wanted = Number(process.env.SOCKETS ?? 10_000);
  const limit = openFileLimit();
  const room = limit - 1000;
  if (wanted <= room) return wanted;
  console.warn(`ulimit -n is ${limit}: opening ${room} sockets instead of ${wanted} (raise it in the shell before the bench to open more)`);
  return room;
}

/** total_commands_processed of a redis-server (each reading adds its own INFO). */
async function redisCommands(redis: Redis): Promise<number> {
  return Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))![1]);
}

/** The connected users' sockets, counting the frames of the measured sends once each, with their POST → frame time. */
class Sockets {
  readonly latencies: number[] = [];
  duplicates = 0;
  private seen = new Set<number>();
  private list: WebSocket[] = [];
  /** sends with a bench_seq in [from, to) are measured */
  measure = { from: Infinity, to: Infinity };

  get frames(): number {
    return this.seen.size;
  }

  /** Opens the sockets OPEN_BATCH at a time, each batch welcomed before the next. */
  async open(urls: string[]): Promise<void> {
    for (let i = 0; i < urls.length; i += OPEN_BATCH) await Promise.all(urls.slice(i, i + OPEN_BATCH).map((u) => this.openOne(u)));
  }

  private openOne(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on('message', (data) => {
        const text = data.toString();
        if (!text.includes('"bench_seq"')) {
          if (text.includes('"welcome"') && (JSON.parse(text) as { event?: string }).event === 'welcome') resolve();
          return;
        }
        const f = JSON.parse(text) as { event?: string; metadata?: { bench_t0: number; bench_seq: number } };
        const m = f.metadata;
        if (f.event !== 'notification' || !m || m.bench_seq < this.measure.from || m.bench_seq >= this.measure.to) return;
        if (this.seen.has(m.bench_seq)) return void this.duplicates++;
        this.seen.add(m.bench_seq);
        this.latencies.push(now() - m.bench_t0);
      });
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`socket upgrade answered ${res.statusCode}`)));
      this.list.push(ws);
    });
  }

  async closeAll(): Promise<void> {
    await closeSockets(this.list);
    this.list = [];
  }
}


type Client = ReturnType<typeof createRawClient>;

/**
 * Sends `count` single notifications at `rate`/s, open loop: each is sent
 * when it is due (or at once if the sender is late) and stamped with the
 * time it was due. Returns how many were accepted (202) and, for each, the
 * time from due to the 202.
 */
async function sendPaced(
  client: Client,
  headers: Record<string, string>,
  rate: number,
  count: number,
  firstSeq: number,
  users: number,
): Promise<{ accepted: number; answered: number[] }> {
  const start = now();
  const pending: Array<Promise<void>> = [];
  const answered: number[] = [];
  let accepted = 0;
  let failure: string | null = null;
  for (let i = 0; i < count; ) {
    const t = now();
    for (; i < count && start + (i * 1000) / rate <= t; i++) {
      const due = start + (i * 1000) / rate;
      const body = JSON.stringify({
        title: 'bench',
        content: CONTENT,
        user_id: `u${Math.floor(Math.random() * users)}`,
        metadata: { bench_t0: due, bench_seq: firstSeq + i },
      });
      pending.push(
        client.request('POST', '/api/v1/notifications', headers, body).then(
          (res) => {
            if (res.status === 202) {
              accepted++;
              answered.push(now() - due);
            } else failure ??= `${res.status}: ${res.body}`;
          },
          (err: Error) => void (failure ??= err.message),
        ),
      );
    }
    if (i < count) await sleep(Math.max(0, start + (i * 1000) / rate - now()));
  }
  await Promise.all(pending);
  if (failure) console.warn(`some single sends failed, first: ${failure}`);
  return { accepted, answered };
}

/** Bulk requests of BULK_SIZE, BULK_IN_FLIGHT at a time, to users `b0…b4999`, who hold no socket. */
async function sendBulk(client: Client, headers: Record<string, string>, count: number): Promise<void> {
  const requests = Math.ceil(count / BULK_SIZE);
  let next = 0;
  const lane = async () => {
    while (next < requests) {
      const r = next++;
      const notifications = Array.from({ length: BULK_SIZE }, (_, k) => ({ title: `bulk ${r}`, content: CONTENT, user_id: `b${(r * BULK_SIZE + k) % 5000}` }));
      const res = await client.request('POST', '/api/v1/notifications/bulk', headers, JSON.stringify({ notifications }));
      if (res.status !== 202) throw new Error(`bulk send answered ${res.status}: ${res.body}`);
    }
  };
  await Promise.all(Array.from({ length: BULK_IN_FLIGHT }, lane));
}

const ROLES = ['api', 'ingest', 'realtime', 'redis', 'postgres', 'client'] as const;
type Role = (typeof ROLES)[number];
/** µs per role; `walwriter` (the server-wide WAL writer, part of `postgres`) is kept apart too because other databases' writes reach it */
type Cpu = Record<Role | 'walwriter', number>;

interface Figures {
  sockets: number;
  openSeconds: number;
  rss: { before: number; half: number; opened: number; after: number; afterLoad: number };
  idle: { seconds: number; cpu: Cpu; commands: number };
  single: { seconds: number; cpu: Cpu; commands: number; accepted: number; answered: number[]; frames: number; duplicates: number; latencies: number[]; wal: number };
  bulk: { seconds: number; cpu: Cpu; commands: number; rate: number; wal: number };
  bare: { rate: number; redisUs: number; clientUs: number; commands: number };
  loadBefore: string;
  loadAfter: string;
}

async function measure(): Promise<Figures> {
  const sockets = socketCount();
  const loadBefore = load();
  await migrate({ url: DATABASE_URL });
  const cleanups: Array<() => unknown> = [];
  try {
    const { url: redisUrl, proc: redisProc } = await benchRedis(cleanups);
    const redis = new Redis(redisUrl);
    cleanups.push(() => redis.disconnect());
    const db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    cleanups.push(async () => {
      await db.query('delete from notifications where tenant = $1', [tenant]);
      await db.end();
    });

    const [port, wsPort] = [await freePort(), await freePort()];
    const env = {
      NODE_ENV: 'production',
      DATABASE_URL,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      JWT_SECRET: SECRET,
      PORT: String(port),
      WS_PORT: String(wsPort),
      WS_THREADS: '1',
      WS_UPGRADE_IP_PER_MIN: '0',
      WS_UPGRADE_USER_PER_MIN: '0',
      RATE_LIMIT_SERVICE_PER_MIN: '1000000000',
      RATE_LIMIT_USER_PER_MIN: '1000000000',
    };
    const api = startRole('dist/src/api/server.js', env);
    const ingest = startRole('dist/workers/ingest.js', env);
    const realtime = startRole('dist/src/realtime/server.js', env);
    for (const p of [realtime, ingest, api]) cleanups.push(() => stopRole(p));
    await waitHttp(`http://127.0.0.1:${port}/health`);
    await waitHttp(`http://127.0.0.1:${wsPort}/ready`, 60_000);
    const [apiPid, ingestPid, realtimePid] = [api.pid!, ingest.pid!, realtime.pid!];
    const meter = cpuMeter({
      api: () => [apiPid],
      ingest: () => [ingestPid],
      realtime: () => [realtimePid],
      redis: () => [redisProc.child.pid!],
      postgres: () => pgBackendsOf([apiPid, ingestPid, realtimePid], 'herald_bench'),
      walwriter: () => pidsNamed('postgres:', 'walwriter'),
      client: () => [process.pid],
    });
    // WAL written meanwhile, by the whole server: with other databases busy it overstates Herald's share
    const walLsn = async () => (await db.query('select pg_current_wal_lsn()::text as lsn')).rows[0].lsn as string;
    const walBytes = async (from: string) => Number((await db.query('select pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) as d', [from])).rows[0].d);
    const metered = async <T>(work: () => Promise<T>) => {
      const c0 = await redisCommands(redis);
      const w0 = await walLsn();
      meter.start();
      const t0 = performance.now();
      const result = await work();
      const seconds = (performance.now() - t0) / 1000;
      const cpu = meter.stop() as Cpu;
      cpu.postgres += cpu.walwriter;
      return { result, seconds, cpu, commands: (await redisCommands(redis)) - c0, wal: await walBytes(w0) };
    };

    // --- memory per socket: the node's RSS before the sockets, after half of them and after all of them.
    // A GC cannot be forced from outside the process, and the first sockets' allocations make V8 collect
    // the garbage of start-up, which can shrink RSS below the reading before them; the second half's
    // growth is therefore the steadier figure.
    await sleep(5000);
    const rssBefore = rssKiB(realtimePid);
    const tokens = await Promise.all(Array.from({ length: sockets }, (_, i) => signToken(SECRET, { sub: `u${i}`, tenant, expiresIn: '2h' })));
    const ws = new Sockets();
    cleanups.push(() => ws.closeAll());
    console.log(`opening ${sockets} sockets on one realtime node, ${OPEN_BATCH} at a time…`);
    const urls = tokens.map((t) => `ws://127.0.0.1:${wsPort}/api/v1/ws?token=${t}`);
    const half = Math.floor(sockets / 2);
    const o0 = performance.now();
    await ws.open(urls.slice(0, half));
    let openSeconds = (performance.now() - o0) / 1000;
    await sleep(3000);
    const rssHalf = rssKiB(realtimePid);
    const o1 = performance.now();
    await ws.open(urls.slice(half));
    openSeconds += (performance.now() - o1) / 1000;
    const rssOpened = rssKiB(realtimePid);

    // --- idle baseline: the sockets open, nothing sent
    console.log(`idle for ${IDLE_SECONDS} s…`);
    const idle = await metered(() => sleep(IDLE_SECONDS * 1000));
    const rssAfter = rssKiB(realtimePid);

    // --- single sends at a steady rate
    const client = createRawClient(`http://127.0.0.1:${port}`);
    cleanups.push(() => client.close());
    const service = await signToken(SECRET, { sub: 'bench-service', tenant, scope: 'notify:send', expiresIn: '2h' });
    const headers = { authorization: `Bearer ${service}`, 'content-type': 'application/json' };
    console.log(`warming up: ${RATE}/s for ${WARM_SECONDS} s…`);
    const warm = RATE * WARM_SECONDS;
    await sendPaced(client, headers, RATE, warm, 0, sockets);
    await sleep(1000);
    const count = RATE * SECONDS;
    ws.measure = { from: warm, to: warm + count };
    console.log(`single sends: ${RATE}/s for ${SECONDS} s (PostgreSQL: the roles' ${pgBackendsOf([apiPid, ingestPid, realtimePid], 'herald_bench').length} backends + the walwriter)…`);
    const single = await metered(async () => {
      const { accepted, answered } = await sendPaced(client, headers, RATE, count, warm, sockets);
      // the last frames: until every accepted one arrived, or 10 s without a new one
      let last = ws.frames;
      for (let quiet = 0; ws.frames < accepted && quiet < 100; quiet++) {
        await sleep(100);
        if (ws.frames !== last) [last, quiet] = [ws.frames, 0];
      }
      return { accepted, answered: answered.sort((a, b) => a - b) };
    });
    const rssAfterLoad = rssKiB(realtimePid);

    // --- bulk sends until stored
    const stored = async () => Number((await db.query('select count(*) from notifications where tenant = $1', [tenant])).rows[0].count);
    // Polls the count, sleeping half the time the rate so far says is left (50 ms–1 s), so the polling stays cheap.
    const waitStored = async (n: number) => {
      const start = { t: performance.now(), c: await stored() };
      for (let c = start.c; c < n; c = await stored()) {
        const rate = (c - start.c) / Math.max(1, performance.now() - start.t);
        const left = rate > 0 ? (n - c) / rate : 100;
        await sleep(Math.min(1000, Math.max(50, left / 2)));
      }
    };
    console.log(`bulk: ${BULK} notifications, ${BULK_SIZE} a request, ${BULK_IN_FLIGHT} in flight…`);
    const before = await stored();
    await sendBulk(client, headers, 10 * BULK_SIZE); // warm-up: the bulk path's JIT and batches
    await waitStored(before + 10 * BULK_SIZE);
    const bulk = await metered(async () => {
      await sendBulk(client, headers, BULK);
      await waitStored(before + 10 * BULK_SIZE + BULK);
    });

    // --- baseline: bare BullMQ addBulk on the same redis-server, Herald stopped
    await ws.closeAll();
    await Promise.all([api, ingest, realtime].map(stopRole));
    console.log(`baseline: bare BullMQ addBulk, ${BULK} jobs…`);
    const bare = await metered(() => bareBullmq({ redisUrl, jobs: BULK, mode: 'bulk' }));

    return {
      sockets,
      openSeconds,
      rss: { before: rssBefore, half: rssHalf, opened: rssOpened, after: rssAfter, afterLoad: rssAfterLoad },
      idle: { seconds: idle.seconds, cpu: idle.cpu, commands: idle.commands },
      single: {
        seconds: single.seconds,
        cpu: single.cpu,
        commands: single.commands,
        accepted: single.result.accepted,
        answered: single.result.answered,
        frames: ws.frames,
        duplicates: ws.duplicates,
        latencies: [...ws.latencies].sort((a, b) => a - b),
        wal: single.wal,
      },
      bulk: { seconds: bulk.seconds, cpu: bulk.cpu, commands: bulk.commands, rate: BULK / bulk.seconds, wal: bulk.wal },
      bare: { rate: bare.result.perSecond, redisUs: bare.cpu.redis / BULK, clientUs: bare.cpu.client / BULK, commands: bare.commands / BULK },
      loadBefore,
      loadAfter: load(),
    };
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch((err) => console.error('cleanup:', err));
  }
}

function report(f: Figures): string {
  const n = RATE * SECONDS;
  const perSecond = (us: number) => (us / f.idle.seconds / 1000).toFixed(1);
  const net = (r: Role) => Math.max(0, f.single.cpu[r] - (f.idle.cpu[r] / f.idle.seconds) * f.single.seconds);
  const row = (name: string, cells: string[]) => `| ${name} | ${cells.join(' | ')} |`;
  const cpuRow = (name: string, value: (r: Role) => string) => row(name, ROLES.map(value));
  const idleCommands = f.idle.commands / f.idle.seconds;
  const netCommands = f.single.commands - idleCommands * f.single.seconds;
  const lat = f.single.latencies;
  const ans = f.single.answered;
  const ms = (x: number) => x.toFixed(1);
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  const perSocket = ((f.rss.after - f.rss.before) * 1024) / f.sockets;
  const half = Math.floor(f.sockets / 2);
  const perSocketHalf = ((f.rss.after - f.rss.half) * 1024) / (f.sockets - half);
  const lines = [
    `bench/unit-costs — ${new Date().toISOString()}`,
    `${f.sockets} sockets on one realtime node (WS_THREADS=1); single sends ${RATE}/s for ${SECONDS} s to random connected users; ` +
      `bulk ${BULK} as ${BULK_SIZE} a request, ${BULK_IN_FLIGHT} in flight, to users without sockets; ` +
      `load average ${f.loadBefore} before, ${f.loadAfter} after (2 cores, shared)`,
    '',
    `| CPU | ${ROLES.map((r) => (r === 'client' ? 'load client (bench)' : r === 'postgres' ? 'PostgreSQL' : r === 'redis' ? 'redis-server' : r)).join(' | ')} |`,
    `|---|${ROLES.map(() => '---').join('|')}|`,
    cpuRow(`idle, ${f.sockets} sockets open: ms/s`, (r) => perSecond(f.idle.cpu[r])),
    cpuRow('single: µs / notification', (r) => (f.single.cpu[r] / n).toFixed(1)),
    cpuRow('single, net of idle: µs / notification', (r) => (net(r) / n).toFixed(1)),
    cpuRow('bulk: µs / notification', (r) => (f.bulk.cpu[r] / BULK).toFixed(1)),
    cpuRow('bare BullMQ addBulk + no-op worker: µs / job', (r) => (r === 'redis' ? f.bare.redisUs.toFixed(1) : r === 'client' ? f.bare.clientUs.toFixed(1) : '–')),
    '',
    '| figure | value | beside it (same run) |',
    '|---|---|---|',
    row('single: POST → frame p50 / p95 / p99 / max', [
      `${ms(pct(lat, 50))} / ${ms(pct(lat, 95))} / ${ms(pct(lat, 99))} / ${ms(lat[lat.length - 1] ?? NaN)} ms`,
      `POST → 202: ${ms(pct(ans, 50))} / ${ms(pct(ans, 95))} / ${ms(pct(ans, 99))} / ${ms(ans[ans.length - 1] ?? NaN)} ms`,
    ]),
    row('single: frames arrived', [
      `${f.single.frames} of ${f.single.accepted} accepted (${((100 * f.single.frames) / Math.max(1, f.single.accepted)).toFixed(2)}%), ${f.single.duplicates} duplicates; ${n - f.single.accepted} not accepted`,
      '–',
    ]),
    row('single: realtime CPU µs / delivered frame', [
      `${(f.single.cpu.realtime / Math.max(1, f.single.frames)).toFixed(1)} (net of idle ${(net('realtime') / Math.max(1, f.single.frames)).toFixed(1)})`,
      `idle ${perSecond(f.idle.cpu.realtime)} ms/s`,
    ]),
    row('PostgreSQL CPU of which walwriter: single / bulk', [`${(f.single.cpu.walwriter / n).toFixed(1)} / ${(f.bulk.cpu.walwriter / BULK).toFixed(1)} µs / notification`, '–']),
    row('single: Redis commands / notification (those run inside Lua scripts included)', [`${(f.single.commands / n).toFixed(1)} (net of idle ${(netCommands / n).toFixed(1)})`, `idle ${idleCommands.toFixed(0)} commands/s`]),
    row('PostgreSQL WAL bytes / notification: single / bulk (the whole server\'s WAL meanwhile)', [
      `${(f.single.wal / n).toFixed(0)} / ${(f.bulk.wal / BULK).toFixed(0)}`,
      '–',
    ]),
    row('bulk: stored / s', [f.bulk.rate.toFixed(0), `bare BullMQ addBulk ${f.bare.rate.toFixed(0)}/s (Herald ${(f.bulk.rate / f.bare.rate).toFixed(2)}×)`]),
    row('bulk: Redis commands / notification (the same)', [(f.bulk.commands / BULK).toFixed(2), `bare BullMQ ${f.bare.commands.toFixed(2)} / job`]),
    row(`realtime RSS before the sockets / ${IDLE_SECONDS} s after they opened`, [
      `${mib(f.rss.before)} / ${mib(f.rss.after)} = ${perSocket.toFixed(0)} B per socket`,
      `just after they opened ${mib(f.rss.opened)}; after the single sends ${mib(f.rss.afterLoad)}`,
    ]),
    row(`realtime RSS after ${half} sockets / after ${f.sockets}`, [`${mib(f.rss.half)} / ${mib(f.rss.after)} = ${perSocketHalf.toFixed(0)} B per socket (the second half)`, '–']),
    row('opening the sockets', [`${f.openSeconds.toFixed(1)} s (${OPEN_BATCH} at a time)`, '–']),
  ];
  return lines.join('\n');
}

async function main() {
  for (const entry of ['dist/src/api/server.js', 'dist/workers/ingest.js', 'dist/src/realtime/server.js'])
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (the bench runs the compiled processes)`);
  const c0 = cpuMicros(process.pid);
  const figures = await measure();
  console.log(`\n${report(figures)}`);
  console.log(`\n(this process used ${((cpuMicros(process.pid) - c0) / 1e6).toFixed(1)} s of CPU in all)`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
