/**
 * bench/realtime: the realtime node under load, next to the same run's
 * baseline (bare Redis pub/sub → bare uWS publish, bench/realtime-baseline-server.ts).
 *
 *   npm run bench:realtime
 *   SOCKETS=19000 BCAST_SOCKETS=10000 RATE=1000 SECONDS=30 npm run bench:realtime
 *
 * (a) SOCKETS idle sockets on one node: the node's memory per socket — growth
 *     of its RSS and JS heap, each read right after two full GCs (the node is
 *     forked with --expose-gc, bench/realtime-node.ts), measured after WARMUP
 *     sockets came and went. WARMUP=SOCKETS gives the steady-state figure.
 * (b) RATE notifications/s for SECONDS through the HTTP api (POST /notifications,
 *     one user each, LAT_USERS users) while all sockets stay connected, after
 *     WARM_SECONDS at the same rate that are not counted:
 *     p50/p95/p99/max from POST sent to frame received, and how many arrived.
 * (c) a broadcast to BCAST_SOCKETS sockets: time until the last one has it
 *     (BCAST_ROUNDS rounds).
 * (d) a reconnect storm (STORM_ROUNDS rounds): the server is killed (-9)
 *     with every socket connected and started again on the same port; once
 *     it is ready every client reconnects at the same moment (STORM_LANES
 *     connecting at once per client process, 0 = all), Herald's with
 *     ?since=<cursor of its last welcome> as its clients do. Figures: time
 *     until every socket has its welcome frame, p50/p99 per socket, from
 *     that moment (the baseline sends one small frame at open for this).
 *     Herald runs with WS_UPGRADE_IP_PER_MIN=0: every client comes from
 *     127.0.0.x, where the per-IP upgrade limit would refuse most of them.
 *
 * Herald runs as real processes (api, ingest worker, realtime node) on a
 * benchmark database (herald_bench) and a fresh queue prefix. The node pings
 * every WS_PING_INTERVAL_MS (PING_MS: 10 s by default, 54 s in production) so heartbeats
 * run during (b). Sockets live in CLIENT_PROCS client processes of
 * bench/lib/ws-load.c, a C client built with the system's cc on first use:
 * one process may open at most 20,000 files, and a Node client's CPU per
 * frame, taken from the same two cores, was more than the fan-out it
 * measured. Latency is measured across processes against the clients'
 * CLOCK_REALTIME with performance.timeOrigin + now() (within ~0.2 ms of it).
 * The fixed-rate POSTs go out from bench/lib/http-load.c (keep-alive, one
 * request in flight per connection, bench_t0 stamped when each is due):
 * Node's http client cost ~20% of a core at 1,000/s and a bare JS client
 * (bench/lib/raw-http.ts, still used for the broadcasts) ~110-130 µs per
 * request, taken from the api and the worker it measures on the same two
 * cores; the C one ~50 µs.
 * THREADS (default: WS_THREADS's default) sets the node's WS_THREADS and
 * the baseline server's threads alike; THREADS=1 measures one thread.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { signToken } from '../src/auth/jwt.js';
import { loadConfig } from '../src/config.js';
import { topicOf } from '../src/feed/topics.js';
import { topicChannel } from '../src/feed/channels.js';
import { encodeMessage } from '../src/feed/wire.js';
import { migrate } from '../src/db/orm.js';
import { createRawClient } from './lib/raw-http.js';
import { startHttpLoad, type HttpLoad } from './lib/http-load.js';
import { buildWsLoad, startWsLoad, type WsLoad } from './lib/ws-load.js';
import { freePort, startRole, stopRole, waitHttp } from './lib/processes.js';

const SOCKETS = Number(process.env.SOCKETS ?? 19_000);
const BCAST_SOCKETS = Math.min(SOCKETS, Number(process.env.BCAST_SOCKETS ?? 10_000));
const RATE = Number(process.env.RATE ?? 1000);
const SECONDS = Number(process.env.SECONDS ?? 30);
/** seconds sent at RATE before each measured run and not counted (default 5) */
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 5);
const LAT_USERS = Math.min(BCAST_SOCKETS, Number(process.env.LAT_USERS ?? 1000));
const BCAST_ROUNDS = Number(process.env.BCAST_ROUNDS ?? 5);
/** the node's heartbeat interval (default 10 s, so every socket is pinged during (b); 54 s in production) */
const PING_MS = Number(process.env.PING_MS ?? 10_000);
const CLIENT_PROCS = Number(process.env.CLIENT_PROCS ?? 4);
/** threads of the realtime node (WS_THREADS) and of the baseline server alike (default: WS_THREADS's default, 2 on two cores or more) */
const THREADS = Number(process.env.THREADS ?? loadConfig({}).WS_THREADS);
/** a client that just read frames looks again this many µs later (bench/lib/ws-load.ts; default 200) */
const CLIENT_NAP_US = Number(process.env.CLIENT_NAP_US ?? 200);
const WARMUP = Number(process.env.WARMUP ?? 2000);
/** reconnect storms per system (default 3) */
const STORM_ROUNDS = Number(process.env.STORM_ROUNDS ?? 3);
/** sockets connecting at once per client process in a storm (default 0: all of them) */
const STORM_LANES = Number(process.env.STORM_LANES ?? 0);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'herald-bench-secret-0123456789';

const run = randomBytes(3).toString('hex');
const prefix = `herald-bench-rt-${run}`;
const tenantA = `bench-rt-a-${run}`; // the first BCAST_SOCKETS sockets: broadcast and latency users
const tenantB = `bench-rt-b-${run}`; // the rest: connected, never addressed
const CONTENT = '您的订单已确认,预计30分钟送达。订单号 2026112200001,门店: 中关村店,取餐码 A-1024。';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

// ---------- client processes

interface Reply {
  mem?: NodeJS.MemoryUsage;
}

function ask(child: ChildProcess, msg: object): Promise<Reply> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as Reply));
    child.send(msg);
  });
}

function startClients(): WsLoad[] {
  const binary = buildWsLoad();
  return Array.from({ length: CLIENT_PROCS }, () => startWsLoad(binary, CLIENT_NAP_US));
}

async function connectAll(clients: WsLoad[], urls: string[], waitWelcome: boolean) {
  const per = Math.ceil(urls.length / clients.length);
  const replies = await Promise.all(
    // a source address per client process: each has its own ~28k ephemeral ports
    clients.map((c, i) => c.connect(urls.slice(i * per, (i + 1) * per), `127.0.0.${2 + i}`, waitWelcome)),
  );
  return { connected: sum(replies.map((r) => r.connected)), failed: sum(replies.map((r) => r.failed)) };
}

/**
 * What the clients received since the last call. Frames carrying
 * `metadata.bench_t0` give a latency (receive time − t0) and, for Herald's
 * frames, its legs; with `bench_kind: 'bcast'` the receive time counts under
 * the frame's `bench_id`.
 */
async function collect(clients: WsLoad[]) {
  const reports = await Promise.all(clients.map((c) => c.report()));
  const latencies: number[] = [];
  /** for Herald frames: [POST → accepted (created_at), accepted → stored (sent_at), stored → frame] per frame */
  const segments: number[] = [];
  const bcast: Record<string, number[]> = {};
  for (const r of reports.flatMap((x) => x.records)) {
    if (r.bench_kind === 'bcast') (bcast[r.bench_id] ??= []).push(r.t);
    else if (r.bench_t0) {
      const t0 = Number(r.bench_t0);
      latencies.push(r.t - t0);
      if (r.created_at && r.sent_at) {
        const created = Date.parse(r.created_at);
        const stored = Date.parse(r.sent_at);
        segments.push(created - t0, stored - created, r.t - stored);
      }
    }
  }
  return { latencies, segments, bcast };
}

// ---------- figures

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
function pct(sorted: number[], p: number) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'n/a');

interface Latency {
  label: string;
  /** sends accepted (a frame is due for each) */
  sent: number;
  /** sends not accepted, and why */
  refused: number;
  refusedWhy?: string;
  received: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** medians of POST → accepted, accepted → stored, stored → frame (Herald's POST path only) */
  segments?: [number, number, number];
  /** the same legs' p99s */
  segments99?: [number, number, number];
}

interface Storm {
  /** kill -9 → the new server ready */
  restartMs: number;
  /** sockets open (welcomed) again, and not within 120 s */
  opened: number;
  failed: number;
  /** from the reconnect until the last socket had its welcome; per socket p50/p99 */
  allMs: number;
  p50: number;
  p99: number;
}

interface Figures {
  connected: number;
  failed: number;
  connectSeconds: number;
  /** node RSS growth per socket after full GCs */
  bytesPerSocket: number;
  /** node JS heap growth per socket after full GCs */
  heapPerSocket: number;
  /** node RSS growth per socket 5 s after connecting, no forced GC */
  rawBytesPerSocket: number;
  latency: Latency[];
  bcast: Array<{ received: number; lastMs: number; firstMs: number }>;
  storms: Storm[];
}

// ---------- one system under test

interface Fired {
  accepted: number;
  refused: number;
  /** what happened to the refused ones */
  why?: string;
}

interface Sender {
  label: string;
  /** sends `count` personal notifications at RATE/s, the n-th to user n % LAT_USERS stamped with its bench_t0 */
  fire(count: number): Promise<Fired>;
}

/** A Sender from a function that sends one (paced in this process). */
function paced(label: string, send: (i: number, t0: number) => Promise<boolean>): Sender {
  return {
    label,
    async fire(total) {
      let sent = 0;
      let accepted = 0;
      const pending: Array<Promise<void>> = [];
      const started = now();
      while (sent < total) {
        const due = Math.min(total, Math.floor(((now() - started) / 1000) * RATE));
        for (; sent < due; sent++) pending.push(send(sent % LAT_USERS, now()).then((ok) => void (ok && accepted++)));
        await sleep(2);
      }
      await Promise.all(pending);
      return { accepted, refused: total - accepted };
    },
  };
}

interface Target {
  name: string;
  node: ChildProcess;
  socketUrl(i: number): Promise<string>;
  waitWelcome: boolean;
  senders: Sender[];
  sendBroadcast(round: number): Promise<boolean>;
  /** kills the server (-9), calls `killed` once it is gone, starts it again on the same port and resolves once it serves */
  restart(killed: () => Promise<void>): Promise<void>;
}

const memory = async (node: ChildProcess) => (await ask(node, { cmd: 'mem' })).mem!;

/** RATE sends per second for SECONDS, then every frame's latency (waits up to 30 s for stragglers). */
async function fixedRate(sender: Sender, clients: WsLoad[], seconds = SECONDS): Promise<Latency> {
  const { accepted, refused, why } = await sender.fire(RATE * seconds);
  const latencies: number[] = [];
  const segs: number[] = [];
  const deadline = now() + 30_000;
  while (latencies.length < accepted && now() < deadline) {
    await sleep(500);
    const got = await collect(clients);
    latencies.push(...got.latencies);
    segs.push(...got.segments);
  }
  latencies.sort((a, b) => a - b);
  const leg = (k: number, p: number) => pct(segs.filter((_, i) => i % 3 === k).sort((a, b) => a - b), p);
  const median = (k: number) => leg(k, 50);
  return {
    label: sender.label,
    sent: accepted,
    refused,
    refusedWhy: why,
    received: latencies.length,
    p50: pct(latencies, 50),
    p95: pct(latencies, 95),
    p99: pct(latencies, 99),
    max: latencies.at(-1) ?? NaN,
    segments: segs.length ? [median(0), median(1), median(2)] : undefined,
    segments99: segs.length ? [leg(0, 99), leg(1, 99), leg(2, 99)] : undefined,
  };
}

async function measure(target: Target, clients: WsLoad[]): Promise<Figures> {
  console.log(`\n[${target.name}] connecting ${SOCKETS} sockets…`);
  const urls: string[] = [];
  for (let i = 0; i < SOCKETS; i++) urls.push(await target.socketUrl(i));
  // warm up first (JIT, pools, heap growth), so the figure is what each further socket costs
  await connectAll(clients, urls.slice(0, Math.min(WARMUP, urls.length)), target.waitWelcome);
  await Promise.all(clients.map((c) => c.close()));
  await sleep(3000);
  const before = await memory(target.node);
  const t = now();
  const { connected, failed } = await connectAll(clients, urls, target.waitWelcome);
  const connectSeconds = (now() - t) / 1000;
  await sleep(5000);
  const rawRss = rssKiB(target.node.pid!) * 1024;
  const after = await memory(target.node);
  const per = (a: number, b: number) => (b - a) / Math.max(1, connected);
  const bytesPerSocket = per(before.rss, after.rss);
  const heapPerSocket = per(before.heapUsed, after.heapUsed);
  const rawBytesPerSocket = per(before.rss, rawRss);
  console.log(
    `[${target.name}] ${connected} connected (${failed} failed) in ${connectSeconds.toFixed(1)} s; ` +
      `after GC: RSS ${mib(before.rss)} → ${mib(after.rss)} MiB, heap used ${mib(before.heapUsed)} → ${mib(after.heapUsed)} MiB ` +
        `(heap total ${mib(before.heapTotal)} → ${mib(after.heapTotal)}, external ${mib(before.external)} → ${mib(after.external)})`,
  );

  // (b) fixed rate, personal notifications, one run per sender
  const latency: Latency[] = [];
  for (const sender of target.senders) {
    // warm up at the same rate first (JIT, keep-alive connections, pools), then measure the steady state
    if (WARM_SECONDS > 0) await fixedRate(sender, clients, WARM_SECONDS);
    console.log(`[${target.name}] ${sender.label}: ${RATE}/s for ${SECONDS} s…`);
    const l = await fixedRate(sender, clients);
    latency.push(l);
    console.log(
      `[${target.name}] ${l.received}/${l.sent} frames${l.refused ? ` (${l.refused} sends not accepted: ${l.refusedWhy ?? 'failed'})` : ''}; p50 ${ms(l.p50)} p95 ${ms(l.p95)} p99 ${ms(l.p99)} max ${ms(l.max)}; ` +
        `load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    );
    await sleep(2000);
  }

  // (c) broadcast
  const bcast: Figures['bcast'] = [];
  for (let round = 0; round < BCAST_ROUNDS; round++) {
    await sleep(1000);
    const t0 = now();
    await target.sendBroadcast(round);
    const id = String(round);
    let times: number[] = [];
    const until = now() + 15_000;
    while (times.length < BCAST_SOCKETS && now() < until) {
      // count first and fetch the records once they are all there: reading 10,000 records in this
      // process while the broadcast is still being written takes CPU from the fan-out it measures
      await sleep(20);
      const waiting = sum(await Promise.all(clients.map((c) => c.pending())));
      if (times.length + waiting < BCAST_SOCKETS && now() < until - 1000) continue;
      times = times.concat((await collect(clients)).bcast[id] ?? []);
    }
    bcast.push({ received: times.length, lastMs: Math.max(...times) - t0, firstMs: Math.min(...times) - t0 });
    console.log(`[${target.name}] broadcast ${round}: ${times.length}/${BCAST_SOCKETS}, first ${ms(Math.min(...times) - t0)}, last ${ms(Math.max(...times) - t0)}`);
  }

  // (d) reconnect storms
  const storms: Storm[] = [];
  for (let round = 0; round < STORM_ROUNDS; round++) {
    await sleep(2000);
    const s = await reconnectStorm(target, clients, connected);
    storms.push(s);
    console.log(
      `[${target.name}] storm ${round}: ${s.opened}/${connected} welcomed again (${s.failed} not within 120 s) in ${ms(s.allMs)}; ` +
        `per socket p50 ${ms(s.p50)} p99 ${ms(s.p99)}; restart took ${ms(s.restartMs)}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    );
  }

  await Promise.all(clients.map((c) => c.close()));
  return { connected, failed, connectSeconds, bytesPerSocket, heapPerSocket, rawBytesPerSocket, latency, bcast, storms };
}

/** Kills the server under its connected sockets, starts it again, and times every client reconnecting at once. */
async function reconnectStorm(target: Target, clients: WsLoad[], expected: number): Promise<Storm> {
  const killedAt = now();
  await target.restart(async () => {
    // every client has seen its sockets go before the server is back, so all reconnect from the same start
    const until = now() + 30_000;
    while (sum(await Promise.all(clients.map((c) => c.dropped()))) < expected && now() < until) await sleep(50);
  });
  const t0 = now();
  const restartMs = t0 - killedAt;
  const results = await Promise.all(clients.map((c) => c.storm(true, STORM_LANES, 120_000)));
  const times = results.flatMap((r) => r.openedAt.map((t) => t - t0)).sort((a, b) => a - b);
  return {
    restartMs,
    opened: times.length,
    failed: sum(results.map((r) => r.failed)),
    allMs: times.at(-1) ?? NaN,
    p50: pct(times, 50),
    p99: pct(times, 99),
  };
}

// ---------- the two systems

const forkNode = (entry: string, env: Record<string, string>) =>
  fork(entry, [], {
    // BENCH_CPU_PROF profiles the node and the baseline server too (bench/lib/processes.ts)
    execArgv: ['--expose-gc', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), '--import', 'tsx'],
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });

async function baseline(clients: WsLoad[]): Promise<Figures> {
  const channel = `${prefix}:baseline`;
  const start = async (env: Record<string, string> = {}) => {
    const child = forkNode('bench/realtime-baseline-server.ts', { BASELINE_CHANNEL: channel, REDIS_URL, BASELINE_THREADS: String(THREADS), ...env });
    const port = await new Promise<number>((resolve) =>
      createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line).port)),
    );
    return { child, port };
  };
  let { child, port } = await start();
  const redis = new Redis(REDIS_URL);
  const pad = CONTENT.repeat(4);
  try {
    return await measure(
      {
        name: 'baseline',
        node: child,
        waitWelcome: false,
        socketUrl: async (i) => `ws://127.0.0.1:${port}/?t=u${i}${i < BCAST_SOCKETS ? ',grp' : ''}`,
        senders: [
          paced('Redis PUBLISH → bare uWS publish', async (i, t0) => (
            await redis.publish(channel, `u${i}\n${JSON.stringify({ title: 'bench', content: pad, metadata: { bench_t0: t0 } })}`), true
          )),
        ],
        sendBroadcast: async (round) => (await redis.publish(channel, `grp\n${JSON.stringify({ content: pad, metadata: { bench_kind: 'bcast', bench_id: String(round) } })}`), true),
        async restart(killed) {
          await kill9(child);
          await killed();
          // the same port, and a small frame at open to stand for Herald's welcome
          ({ child } = await start({ BASELINE_PORT: String(port), BASELINE_WELCOME: '1' }));
        },
      },
      clients,
    );
  } finally {
    redis.disconnect();
    await stopRole(child);
  }
}

async function kill9(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

async function herald(clients: WsLoad[]): Promise<Figures> {
  await migrate({ url: DATABASE_URL });
  const [port, wsPort] = [await freePort(), await freePort()];
  const env = {
    DATABASE_URL,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    JWT_SECRET: SECRET,
    PORT: String(port),
    WS_PORT: String(wsPort),
    // high enough never to limit the bench (the GCRA bucket needs a period/limit of at least 1 µs)
    RATE_LIMIT_SERVICE_PER_MIN: '6000000',
    RATE_LIMIT_USER_PER_MIN: '6000000',
    WS_PING_INTERVAL_MS: String(PING_MS),
    WS_THREADS: String(THREADS),
    WS_IDLE_TIMEOUT_MS: String(Math.max(30_000, PING_MS + 6000)),
    // every client comes from 127.0.0.x: a per-IP upgrade limit would refuse most of the storm
    WS_UPGRADE_IP_PER_MIN: '0',
  };
  const roles = [startRole('src/api/server.ts', env), startRole('workers/ingest.ts', env)];
  let node = forkNode('bench/realtime-node.ts', env);
  roles.push(node);
  const redis = new Redis(REDIS_URL);
  let load: HttpLoad | undefined;
  try {
    await waitHttp(`http://127.0.0.1:${port}/health`);
    await waitHttp(`http://127.0.0.1:${wsPort}/ready`);
    const http = createRawClient(`http://127.0.0.1:${port}`, 4);
    load = startHttpLoad(`http://127.0.0.1:${port}`, 256);
    const service = await signToken(SECRET, { sub: 'bench-service', tenant: tenantA, scope: 'notify:send', expiresIn: '2h' });
    const headers = { authorization: `Bearer ${service}`, 'content-type': 'application/json' };
    const post = (body: object) =>
      http.request('POST', '/api/v1/notifications', headers, JSON.stringify(body)).then(
        (r) => r.status === 202,
        () => false,
      );
    return await measure(
      {
        name: 'herald',
        node,
        waitWelcome: true,
        socketUrl: async (i) =>
          `ws://127.0.0.1:${wsPort}/api/v1/ws?token=${await signToken(SECRET, { sub: `u${i}`, tenant: i < BCAST_SOCKETS ? tenantA : tenantB, roles: ['staff'], stores: [`s${i % 50}`], expiresIn: '2h' })}`,
        senders: [
          {
            label: 'POST /api/v1/notifications → frame',
            fire: async (count) => {
              const body = JSON.stringify({ title: 'bench', content: CONTENT, type: 'info', user_id: 'u{i}', metadata: { bench_t0: 0 } }).replace('"bench_t0":0', '"bench_t0":{t0}');
              const r = await load!.run({ path: '/api/v1/notifications', headers, bodyTemplate: body, rate: RATE, count, users: LAT_USERS });
              return { accepted: r.ok, refused: r.sent - r.ok, why: `${r.failed} answered other than 2xx, ${r.lost} in flight when the api closed the connection` };
            },
          },
          // the node alone, fed exactly like the baseline: a frame in Herald's wire format published on Redis
          paced('Redis PUBLISH → Herald node', async (i, t0) => (
            await redis.publish(topicChannel(prefix, topicOf(tenantA, `u:u${i}`)), encodeMessage(topicOf(tenantA, `u:u${i}`), null, { event: 'notification', title: 'bench', content: CONTENT.repeat(4), metadata: { bench_t0: t0 } })),
            true
          )),
        ],
        sendBroadcast: (round) =>
          post({ title: 'bench broadcast', content: CONTENT, broadcast: true, metadata: { bench_kind: 'bcast', bench_id: String(round) } }),
        async restart(killed) {
          await kill9(node);
          await killed();
          const fresh = forkNode('bench/realtime-node.ts', env);
          roles[roles.indexOf(node)] = fresh;
          node = fresh;
          await waitHttp(`http://127.0.0.1:${wsPort}/ready`);
        },
      },
      clients,
    );
  } finally {
    load?.exit();
    redis.disconnect();
    for (const r of roles.reverse()) await stopRole(r);
  }
}

function report(base: Figures, mine: Figures) {
  const row = (label: string, a: string, b: string) => console.log(`${label.padEnd(46)}${a.padStart(18)}${b.padStart(18)}`);
  const lastOf = (f: Figures) => f.bcast.map((b) => b.lastMs).sort((x, y) => x - y);
  console.log(`\n=== bench/realtime (${SOCKETS} sockets, ${RATE}/s × ${SECONDS} s, broadcast to ${BCAST_SOCKETS}, ${THREADS} thread(s) per server) ===`);
  row('', 'baseline', 'herald');
  row('(a) sockets connected (failed)', `${base.connected} (${base.failed})`, `${mine.connected} (${mine.failed})`);
  row('    connect time', `${base.connectSeconds.toFixed(1)} s`, `${mine.connectSeconds.toFixed(1)} s`);
  row('    node RSS per idle socket, after GC', `${base.bytesPerSocket.toFixed(0)} B`, `${mine.bytesPerSocket.toFixed(0)} B`);
  row('    node JS heap per idle socket, after GC', `${base.heapPerSocket.toFixed(0)} B`, `${mine.heapPerSocket.toFixed(0)} B`);
  row('    node RSS per socket, 5 s after, no GC', `${base.rawBytesPerSocket.toFixed(0)} B`, `${mine.rawBytesPerSocket.toFixed(0)} B`);
  const [b] = base.latency;
  for (const l of mine.latency) {
    console.log(`(b) ${l.label} (herald) vs ${b.label} (baseline)`);
    row('    frames received / sends accepted', `${b.received}/${b.sent}`, `${l.received}/${l.sent}`);
    if (b.refused || l.refused) row('    sends not accepted', String(b.refused), String(l.refused));
    for (const k of ['p50', 'p95', 'p99', 'max'] as const) row(`    ${k}`, ms(b[k]), ms(l[k]));
    if (l.segments) {
      const [api, store, push] = l.segments;
      row('    median POST → accepted → stored → frame', '', `${ms(api)} + ${ms(store)} + ${ms(push)}`);
      const [api99, store99, push99] = l.segments99!;
      row('    p99 of each: → accepted, → stored, → frame', '', `${ms(api99)}, ${ms(store99)}, ${ms(push99)}`);
    }
  }
  row('(c) broadcast: last receiver, median of rounds', ms(pct(lastOf(base), 50)), ms(pct(lastOf(mine), 50)));
  row('    broadcast: last receiver, best round', ms(lastOf(base)[0]), ms(lastOf(mine)[0]));
  row('    broadcast: receivers, worst round', String(Math.min(...base.bcast.map((x) => x.received))), String(Math.min(...mine.bcast.map((x) => x.received))));
  for (let i = 0; i < Math.min(base.storms.length, mine.storms.length); i++) {
    const [b, m] = [base.storms[i], mine.storms[i]];
    row(`(d) storm ${i}: all ${SOCKETS} welcomed again`, `${ms(b.allMs)}${b.failed ? ` (${b.failed} not)` : ''}`, `${ms(m.allMs)}${m.failed ? ` (${m.failed} not)` : ''}`);
    row('    per socket p50 / p99', `${b.p50.toFixed(0)} / ${b.p99.toFixed(0)} ms`, `${m.p50.toFixed(0)} / ${m.p99.toFixed(0)} ms`);
    row('    kill -9 → server ready again', ms(b.restartMs), ms(m.restartMs));
  }
  console.log('baseline: Redis PUBLISH → bare uWS publish; herald broadcast: POST /api/v1/notifications {broadcast:true} → frame.');
  if (STORM_ROUNDS) {
    console.log(
      `storm: every client reconnects at once once the restarted server is ready (${STORM_LANES || 'no'} limit of sockets connecting at once per client process), ` +
        'Herald with ?since=; time until each has its welcome (baseline: one small frame at open). Herald runs with WS_UPGRADE_IP_PER_MIN=0.',
    );
  }
}

async function main() {
  const clients = startClients();
  try {
    const base = await baseline(clients);
    const mine = await herald(clients);
    report(base, mine);
  } finally {
    for (const c of clients) c.exit();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
