/**
 * bench/scale-fanout: does fan-out grow with the nodes? Each realtime node
 * subscribes to the topics its sockets hold, so a node should receive its
 * own users' share of the feed, not all of it.
 *
 *   npm run build && npm run bench:scale:fanout
 *   NODES=4 SOCKETS=10000 RATE=1000 SECONDS=20 npm run bench:scale:fanout
 *
 * Two layouts, one after the other in the same run, with the same api,
 * ingest worker, sockets and load:
 *   - NODES realtime nodes (compiled, one process and one thread each), the
 *     SOCKETS users spread over them at random;
 *   - one node holding every socket.
 * For each: RATE notifications/s for SECONDS (after WARM_SECONDS not
 * counted) through the HTTP api, one user each, the users in turn
 * (bench/lib/http-load.c). Figures: the pub/sub messages and bytes each
 * node received (its realtime_feed_*_received_total counters, read from
 * the metrics every process pushes to Redis), as a share of all nodes'
 * total, and POST → frame p50/p99 measured by the sockets (Node `ws`
 * clients in this process; bench_t0 is stamped by http-load when a request
 * is due).
 */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { signToken } from '../src/auth/jwt.js';
import { migrate } from '../src/db/orm.js';
import { metricsEntryKey, metricsIndexKey } from '../src/metrics/report.js';
import { startHttpLoad } from './lib/http-load.js';
import { freePort, startRole, stopRole, waitHttp } from './lib/processes.js';
import { closeSockets, pct } from './lib/sockets.js';

const NODES = Number(process.env.NODES ?? 4);
const SOCKETS = Number(process.env.SOCKETS ?? 10_000);
const RATE = Number(process.env.RATE ?? 1000);
const SECONDS = Number(process.env.SECONDS ?? 20);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 3);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'herald-bench-secret-0123456789';
const METRICS_MS = 500;

const run = randomBytes(3).toString('hex');
const prefix = `herald-bench-fanout-${run}`;
const tenant = `bench-fanout-${run}`;
const CONTENT = '您的订单已确认,预计30分钟送达。订单号 2026112200001,门店: 中关村店,取餐码 A-1024。';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const env = {
  DATABASE_URL,
  REDIS_URL,
  QUEUE_PREFIX: prefix,
  JWT_SECRET: SECRET,
  RATE_LIMIT_SERVICE_PER_MIN: '6000000',
  RATE_LIMIT_USER_PER_MIN: '6000000',
  WS_THREADS: '1',
  WS_UPGRADE_IP_PER_MIN: '0',
  WS_UPGRADE_USER_PER_MIN: '0',
  METRICS_PUSH_INTERVAL_MS: String(METRICS_MS),
};

interface FeedCount {
  messages: number;
  bytes: number;
  orderMessages: number;
  orderBytes: number;
}

/** Each realtime process's feed counters, by pid, from the metrics pushed to Redis. */
async function feedCounts(redis: Redis): Promise<Map<number, FeedCount>> {
  const labels = await redis.zrangebyscore(metricsIndexKey(prefix), Date.now(), '+inf');
  const out = new Map<number, FeedCount>();
  for (const label of labels) {
    const json = await redis.get(metricsEntryKey(prefix, label));
    if (!json) continue;
    const metrics = JSON.parse(json) as Array<{ name: string; values: Array<{ value: number; labels: Record<string, string> }> }>;
    const value = (name: string, kind: string) => metrics.find((m) => m.name === name)?.values.find((v) => v.labels.kind === kind)?.value ?? 0;
    const count: FeedCount = {
      messages: value('realtime_feed_messages_received_total', 'topic') + value('realtime_feed_messages_received_total', 'order'),
      bytes: value('realtime_feed_bytes_received_total', 'topic') + value('realtime_feed_bytes_received_total', 'order'),
      orderMessages: value('realtime_feed_messages_received_total', 'order'),
      orderBytes: value('realtime_feed_bytes_received_total', 'order'),
    };
    if (metrics.some((m) => m.name === 'realtime_feed_messages_received_total')) out.set(Number(label.split(':').pop()), count);
  }
  return out;
}

/** The sockets: one per user, each keeping the POST → frame time of every notification it gets. */
class Sockets {
  readonly latencies: number[] = [];
  frames = 0;
  measuring = false;
  private list: WebSocket[] = [];

  async open(urls: string[], lanes = 200): Promise<void> {
    let next = 0;
    const one = async (): Promise<void> => {
      while (next < urls.length) {
        const url = urls[next++];
        await new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url);
          ws.on('message', (data) => {
            const text = data.toString();
            if (text.startsWith('{"event":"welcome"')) return resolve();
            const f = JSON.parse(text) as { event?: string; metadata?: { bench_t0?: number } };
            if (f.event === 'welcome') return resolve();
            if (f.event !== 'notification' || !this.measuring) return;
            this.frames++;
            if (f.metadata?.bench_t0) this.latencies.push(Date.now() - f.metadata.bench_t0);
          });
          ws.once('error', reject);
          this.list.push(ws);
        });
      }
    };
    await Promise.all(Array.from({ length: lanes }, one));
  }

  async closeAll(): Promise<void> {
    await closeSockets(this.list);
    this.list = [];
  }
}


interface Layout {
  name: string;
  nodes: Array<{ pid: number; sockets: number; feed: FeedCount }>;
  sent: number;
  frames: number;
  p50: number;
  p99: number;
}

async function measureLayout(name: string, nodeCount: number, tokens: string[], redis: Redis, apiPort: number): Promise<Layout> {
  const ports = await Promise.all(Array.from({ length: nodeCount }, () => freePort()));
  const nodes: ChildProcess[] = ports.map((p) => startRole('dist/src/realtime/server.js', { ...env, WS_PORT: String(p) }));
  const sockets = new Sockets();
  const load = startHttpLoad(`http://127.0.0.1:${apiPort}`, 64);
  try {
    await Promise.all(ports.map((p) => waitHttp(`http://127.0.0.1:${p}/ready`, 60_000)));
    // users spread over the nodes at random
    const perNode = ports.map(() => 0);
    const urls = tokens.map((t) => {
      const n = Math.floor(Math.random() * nodeCount);
      perNode[n]++;
      return `ws://127.0.0.1:${ports[n]}/api/v1/ws?token=${t}`;
    });
    console.log(`[${name}] connecting ${urls.length} sockets to ${nodeCount} node(s)…`);
    await sockets.open(urls);
    const service = await signToken(SECRET, { sub: 'bench-service', tenant, scope: 'notify:send', expiresIn: '2h' });
    const headers = { authorization: `Bearer ${service}`, 'content-type': 'application/json' };
    const bodyTemplate = JSON.stringify({ title: 'bench', content: CONTENT, type: 'info', user_id: 'u{i}', metadata: { bench_t0: 0 } }).replace('"bench_t0":0', '"bench_t0":{t0}');
    const send = (seconds: number) => load.run({ path: '/api/v1/notifications', headers, bodyTemplate, rate: RATE, count: RATE * seconds, users: tokens.length });
    console.log(`[${name}] warming up ${WARM_SECONDS} s…`);
    await send(WARM_SECONDS);
    await sleep(1000 + 2 * METRICS_MS);
    const before = await feedCounts(redis);
    sockets.measuring = true;
    console.log(`[${name}] ${RATE}/s for ${SECONDS} s…`);
    const r = await send(SECONDS);
    // the last frames, and a metrics push after them
    await sleep(1000 + 2 * METRICS_MS);
    sockets.measuring = false;
    const after = await feedCounts(redis);
    const lat = [...sockets.latencies].sort((a, b) => a - b);
    return {
      name,
      sent: r.ok,
      frames: sockets.frames,
      p50: Math.round(pct(lat, 50)),
      p99: Math.round(pct(lat, 99)),
      nodes: nodes.map((child, i) => {
        const a = after.get(child.pid!);
        const b = before.get(child.pid!);
        const d = (k: keyof FeedCount) => (a?.[k] ?? 0) - (b?.[k] ?? 0);
        return { pid: child.pid!, sockets: perNode[i], feed: { messages: d('messages'), bytes: d('bytes'), orderMessages: d('orderMessages'), orderBytes: d('orderBytes') } };
      }),
    };
  } finally {
    load.exit();
    await sockets.closeAll();
    await Promise.all(nodes.map(stopRole));
  }
}

function print(l: Layout): void {
  // the whole feed: every topic message reaches one node (each user's sockets are on one node), every order record all of them
  const feed = {
    messages: l.nodes.reduce((s, n) => s + n.feed.messages - n.feed.orderMessages, 0) + Math.max(...l.nodes.map((n) => n.feed.orderMessages)),
    bytes: l.nodes.reduce((s, n) => s + n.feed.bytes - n.feed.orderBytes, 0) + Math.max(...l.nodes.map((n) => n.feed.orderBytes)),
  };
  const share = (x: number, of: number) => (of ? `${((100 * x) / of).toFixed(1)}%` : '–');
  const mb = (x: number) => `${(x / 1e6).toFixed(2)} MB`;
  console.log(`\n${l.name}: ${l.sent} notifications accepted, ${l.frames} frames received; POST → frame p50 ${l.p50} ms, p99 ${l.p99} ms`);
  console.log(`whole feed: ${feed.messages} messages, ${mb(feed.bytes)}`);
  console.log('| node | sockets | messages received | of the feed | bytes received | of the feed | of which order records (messages / bytes) |');
  console.log('|---|---|---|---|---|---|---|');
  l.nodes.forEach((n, i) => {
    console.log(
      `| ${i + 1} | ${n.sockets} | ${n.feed.messages} | ${share(n.feed.messages, feed.messages)} | ${mb(n.feed.bytes)} | ${share(n.feed.bytes, feed.bytes)} | ${n.feed.orderMessages} / ${mb(n.feed.orderBytes)} |`,
    );
  });
}

async function main() {
  if (!existsSync('dist/src/realtime/server.js')) throw new Error('run `npm run build` first: the nodes run compiled');
  await migrate({ url: DATABASE_URL });
  const apiPort = await freePort();
  const roles = [startRole('dist/src/api/server.js', { ...env, PORT: String(apiPort) }), startRole('dist/workers/ingest.js', env)];
  const redis = new Redis(REDIS_URL);
  try {
    await waitHttp(`http://127.0.0.1:${apiPort}/health`);
    const tokens = await Promise.all(Array.from({ length: SOCKETS }, (_, i) => signToken(SECRET, { sub: `u${i}`, tenant, expiresIn: '2h' })));
    const spread = await measureLayout(`${NODES} nodes`, NODES, tokens, redis, apiPort);
    const single = await measureLayout('1 node', 1, tokens, redis, apiPort);
    print(spread);
    print(single);
  } finally {
    redis.disconnect();
    await Promise.all(roles.map(stopRole));
  }
}

await main();
process.exit(0);
