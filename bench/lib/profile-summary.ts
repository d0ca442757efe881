/**
 * Where a role's CPU goes: reads a V8 .cpuprofile (written by BENCH_CPU_PROF,
 * bench/lib/processes.ts) and prints its self time in buckets named for what
 * the code does (HTTP parsing, JWT, BullMQ, ioredis, pg, GC…), as shares of
 * the role's busy samples and, given that thread's CPU µs per notification
 * (`--us`), as µs per notification. A profile samples only the JavaScript
 * thread: take its µs from /proc/<pid>/task/<pid>/stat, not the bench's
 * all-thread figure (V8's helper threads and the profiler's own thread are
 * the rest).
 *
 *   npx tsx bench/lib/profile-summary.ts <file.cpuprofile> [--log run.log] [--us single=278.5 --us bulk=11]
 *                                        [--count single=20000 --count bulk=110000] [--window name=from:to] [--top 15]
 *
 * Phases: a profile covers the whole life of the process (start-up, idle,
 * warm-up, single, bulk). To split it, stamp the bench's output with the
 * monotonic clock V8 stamps its samples with:
 *
 *   BENCH_CPU_PROF=/tmp/prof npm run bench:unit-costs 2>&1 | npx tsx bench/lib/profile-summary.ts --stamp > run.log
 *
 * and pass `--log run.log`: each of the bench's progress lines ("idle for",
 * "warming up", "single sends", "bulk:", "baseline:") opens a phase that
 * lasts until the next one. `--window name=from:to` sets one by hand (µs of
 * that clock). `--count phase=n` also prints the busy samples' time per
 * notification, to set beside the thread's /proc figure: on a busy machine
 * it reads high (a sample taken after a wait for a core stands for the
 * wait too), and it leaves out native work V8 counts as idle (uWS, which
 * runs in libuv's poll phase).
 *
 * Attribution: a sample goes to the first frame, from the sampled one up
 * its stack, that a rule names. Native and builtin frames (no script URL)
 * and Node's own modules (node:net, streams, timers) pass their time up to
 * the caller that asked for the work — a socket write inside ioredis is
 * ioredis's — except JSON.parse/stringify, which are a bucket of their own.
 * Time with no such caller stays "Node core".
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

type Role = 'api' | 'ingest' | 'realtime' | 'other';
interface Rule {
  bucket: string;
  /** a script URL holding any of these, or (with `fn`) a builtin of these names */
  urls?: string[];
  fn?: RegExp;
}

const IDLE = 'idle';
const GC = 'GC';
const PROGRAM = '(program): native code outside JS (libuv, uWS C++, compiler)';
const JSON_BUCKET = 'JSON.parse / stringify';
const NODE_CORE = 'Node core (net, streams, timers, promise jobs) with no library caller';

const ROLE_RULES: Record<Role, Rule[]> = {
  api: [
    { bucket: 'HTTP server + parsing (node:http, @hono/node-server)', urls: ['node:_http', '/@hono/node-server/', '/src/api/keep-alive.', '/src/api/body.'] },
    { bucket: 'Fetch API objects (undici Request/Response/Headers)', urls: ['node:internal/deps/undici'] },
    { bucket: 'JWT verify (jose, auth middleware)', urls: ['/jose/', '/src/auth/', '/src/api/middleware/auth.'] },
    { bucket: 'validation (zod, input.ts, json-guard)', urls: ['/zod/', '/src/domain/sending/input.', '/src/api/json-guard.'] },
    { bucket: 'rate limit (GCRA, leases)', urls: ['/src/ratelimit/', '/src/api/middleware/rate-limit.', '/src/api/middleware/rate-lease.'] },
    { bucket: 'metrics (prom-client, http-metrics)', urls: ['/prom-client/', '/src/metrics/', '/src/api/middleware/http-metrics.'] },
    { bucket: 'pino logging (access log)', urls: ['/pino', '/sonic-boom/', '/thread-stream/', '/src/logger.', '/src/api/middleware/access-log.'] },
    { bucket: 'Hono routing + middleware', urls: ['/hono/', '/src/api/app.', '/src/api/middleware/', '/src/api/env.'] },
    {
      bucket: 'send route + accept (ids, idempotency, drafts → rows)',
      urls: ['/src/api/routes/send.', '/src/domain/sending/', '/src/domain/ids.', '/src/api/notification-id.', '/src/domain/time/', '/src/domain/inbox/present.'],
    },
    { bucket: 'BullMQ add (bullmq, queues/)', urls: ['/bullmq/', '/msgpackr/', '/dist/queues/'] },
  ],
  ingest: [
    { bucket: 'BullMQ worker (bullmq, queues/, worker loop)', urls: ['/bullmq/', '/msgpackr/', '/dist/queues/', '/dist/workers/ingest', '/dist/workers/process.', '/src/worker-thread.'] },
    { bucket: 'store (pg, MikroORM/knex, src/db, store.ts, cursors)', urls: ['/pg', '/postgres-', '/@mikro-orm/', '/knex/', '/tarn/', '/dataloader/', '/src/db/', '/src/domain/sending/'] },
    { bucket: 'frames + publish (src/feed, present.ts)', urls: ['/src/feed/', '/src/domain/inbox/present.'] },
    { bucket: 'delivery planning (src/domain/delivery, preferences, inbox)', urls: ['/src/domain/delivery/', '/src/domain/preferences/', '/src/domain/inbox/', '/src/domain/templates/'] },
    { bucket: 'ingest processor (workers/processors)', urls: ['/dist/workers/processors/'] },
  ],
  realtime: [
    { bucket: 'uWS (uWebSockets.js + socket glue: conn, sockets, protocol)', urls: ['uWebSockets.js', 'uws-js', '/src/realtime/uws.', '/src/realtime/conn.', '/src/realtime/sockets.', '/src/realtime/protocol.', '/src/realtime/acks.'] },
    { bucket: 'feed parse + fan-out (src/feed/wire, fanout.ts, order.ts)', urls: ['/src/feed/', '/src/realtime/fanout.', '/src/realtime/order.', '/src/realtime/intern.'] },
    { bucket: 'socket open/close, subscriptions, sweeper (other src/realtime)', urls: ['/src/realtime/'] },
  ],
  other: [],
};

const COMMON_RULES: Rule[] = [
  { bucket: 'ioredis (commands, parser)', urls: ['/ioredis/', '/@ioredis/', '/redis-parser/', '/redis-errors/', '/denque/', '/standard-as-callback/', '/cluster-key-slot/'] },
  { bucket: 'pino logging', urls: ['/pino', '/sonic-boom/', '/thread-stream/', '/src/logger.'] },
  { bucket: 'metrics (prom-client)', urls: ['/prom-client/', '/src/metrics/'] },
  { bucket: 'BullMQ', urls: ['/bullmq/', '/msgpackr/', '/dist/queues/'] },
  { bucket: 'pg / MikroORM', urls: ['/pg', '/@mikro-orm/', '/knex/', '/src/db/'] },
];

/** The role whose entry module the profile loaded. */
function roleOf(p: Profile): Role {
  const urls = new Set(p.nodes.map((n) => n.callFrame.url));
  const has = (s: string) => [...urls].some((u) => u.includes(s));
  if (has('/src/api/server.js')) return 'api';
  if (has('/workers/ingest.js')) return 'ingest';
  if (has('/src/realtime/server.js') || has('/src/realtime/thread.js')) return 'realtime';
  return 'other';
}

/** A frame's bucket, or null when it passes its time up to its caller. */
function classify(role: Role, f: CallFrame): string | null {
  const { functionName: fn, url } = f;
  if (fn === '(idle)') return IDLE;
  if (fn === '(garbage collector)') return GC;
  if (fn === '(program)') return PROGRAM;
  if (fn === '(root)') return NODE_CORE;
  if (!url) return /^(parse|stringify|JSONParse|JSONStringify)$/.test(fn) ? JSON_BUCKET : null;
  for (const rule of [...ROLE_RULES[role], ...COMMON_RULES]) if (rule.urls?.some((u) => url.includes(u))) return rule.bucket;
  if (url.startsWith('node:')) return null;
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `package ${pkg[1]}`;
  const own = /\/dist\/(.+)\.js$/.exec(url);
  return own ? `Herald ${own[1]}` : `script ${url}`;
}

/** Each node's bucket: its own, or the nearest caller's that has one. */
function bucketsOf(p: Profile, role: Role): Map<number, string> {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<number, string>();
  const resolve = (id: number): string => {
    const known = out.get(id);
    if (known) return known;
    const own = classify(role, byId.get(id)!.callFrame);
    const up = parent.get(id);
    const bucket = own ?? (up === undefined ? NODE_CORE : resolve(up));
    out.set(id, bucket);
    return bucket;
  };
  for (const n of p.nodes) resolve(n.id);
  return out;
}

interface Window {
  name: string;
  from: number;
  to: number;
}

const PHASE_MARKERS: Array<[string, string]> = [
  ['idle for', 'idle'],
  ['warming up', 'warm-up'],
  ['single sends', 'single'],
  ['bulk:', 'bulk'],
  ['baseline:', 'after'],
];

/** Phase windows from a bench log whose lines start with the monotonic clock in µs (see --stamp). */
function windowsFromLog(path: string, end: number): Window[] {
  const marks: Array<{ name: string; at: number }> = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const hit = PHASE_MARKERS.find(([text]) => m[2].startsWith(text));
    if (hit && !marks.some((k) => k.name === hit[1])) marks.push({ name: hit[1], at: Number(m[1]) });
  }
  return marks.filter((k) => k.name !== 'after').map((k, i) => ({ name: k.name, from: k.at, to: marks[i + 1]?.at ?? end }));
}

interface Tally {
  totalUs: number;
  busyUs: number;
  byBucket: Map<string, number>;
  byFunction: Map<string, { bucket: string; us: number }>;
}

function tally(p: Profile, buckets: Map<number, string>, w: Window): Tally {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const t: Tally = { totalUs: 0, busyUs: 0, byBucket: new Map(), byFunction: new Map() };
  // Every sample weighs the same, the window's mean interval: on a busy machine the gap before a sample is
  // longer when the thread waited for a core, and weighting by that gap would count the wait as work.
  let at = p.startTime;
  const times = p.timeDeltas.map((d) => (at += d));
  const inside = p.samples.map((_, i) => times[i] >= w.from && times[i] < w.to);
  const count = inside.filter(Boolean).length;
  const first = inside.indexOf(true);
  const last = inside.lastIndexOf(true);
  const us = count > 1 ? (times[last] - times[first]) / (count - 1) : 0;
  for (let i = 0; i < p.samples.length; i++) {
    if (!inside[i]) continue;
    const bucket = buckets.get(p.samples[i])!;
    t.totalUs += us;
    if (bucket === IDLE) continue;
    t.busyUs += us;
    t.byBucket.set(bucket, (t.byBucket.get(bucket) ?? 0) + us);
    const f = byId.get(p.samples[i])!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/dist\//, '')}`;
    const entry = t.byFunction.get(key) ?? { bucket, us: 0 };
    entry.us += us;
    t.byFunction.set(key, entry);
  }
  return t;
}

function keyValues(args: string[], flag: string): Map<string, number> {
  const out = new Map<string, number>();
  args.forEach((a, i) => {
    if (a !== flag) return;
    const [k, v] = args[i + 1].split('=');
    out.set(k, Number(v));
  });
  return out;
}

function summarize(args: string[]): void {
  const file = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--')));
  if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [--log run.log] [--us phase=µs] [--count phase=n] [--window name=from:to] [--top N]');
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const role = roleOf(p);
  const buckets = bucketsOf(p, role);
  const us = keyValues(args, '--us');
  const counts = keyValues(args, '--count');
  const logAt = args.indexOf('--log');
  const top = args.includes('--top') ? Number(args[args.indexOf('--top') + 1]) : 0;
  const windows: Window[] = [{ name: 'whole profile', from: -Infinity, to: Infinity }];
  if (logAt >= 0) windows.push(...windowsFromLog(args[logAt + 1], p.endTime));
  args.forEach((a, i) => {
    if (a !== '--window') return;
    const [name, range] = args[i + 1].split('=');
    const [from, to] = range.split(':').map(Number);
    windows.push({ name, from, to });
  });

  console.log(`${file}: ${role}, ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s, ${p.samples.length} samples`);
  for (const w of windows) {
    const t = tally(p, buckets, w);
    const perUnit = us.get(w.name);
    const n = counts.get(w.name);
    console.log(
      `\n## ${role} — ${w.name}: ${(t.totalUs / 1e6).toFixed(1)} s profiled, busy ${(t.busyUs / 1e3).toFixed(0)} ms (${((100 * t.busyUs) / Math.max(1, t.totalUs)).toFixed(1)}%)` +
        (n ? `; busy samples ${(t.busyUs / n).toFixed(1)} µs / notification` : ''),
    );
    console.log(`\n| bucket | share of busy | ms |${perUnit ? ' µs / notification |' : ''}`);
    console.log(`|---|---|---|${perUnit ? '---|' : ''}`);
    for (const [bucket, b] of [...t.byBucket].sort((x, y) => y[1] - x[1])) {
      const share = b / Math.max(1, t.busyUs);
      console.log(`| ${bucket} | ${(100 * share).toFixed(1)}% | ${(b / 1e3).toFixed(0)} |${perUnit ? ` ${(share * perUnit).toFixed(1)} |` : ''}`);
    }
    if (top > 0) {
      console.log(`\ntop ${top} functions by self time (bucket):`);
      for (const [key, f] of [...t.byFunction].sort((x, y) => y[1].us - x[1].us).slice(0, top))
        console.log(`  ${((100 * f.us) / Math.max(1, t.busyUs)).toFixed(1).padStart(5)}%  ${key}  [${f.bucket}]`);
    }
  }
}

/** Copies stdin to stdout, each line prefixed with the monotonic clock in µs — the clock of a profile's samples. */
function stamp(): void {
  createInterface({ input: process.stdin }).on('line', (line) => process.stdout.write(`${process.hrtime.bigint() / 1000n} ${line}\n`));
}

const args = process.argv.slice(2);
if (args[0] === '--stamp') stamp();
else summarize(args);
