/**
 * bench/tracing: what OpenTelemetry tracing costs the send path.
 *
 *   npm run build && npm run bench:tracing
 *   RATE=500 SECONDS=10 ROUNDS=3 npm run bench:tracing
 *
 * Two stacks of the compiled api and ingest worker (dist/, plain node,
 * NODE_ENV=production, one process each) side by side, on a redis-server of
 * the bench's own and the herald_bench database, each with its own queue
 * prefix, port and tenant: one with tracing off (OTEL_EXPORTER_OTLP_ENDPOINT
 * unset), one exporting every span to a local OTLP/HTTP sink in this process
 * that accepts and discards them. Single sends (in-app only: no channel
 * workers) go at RATE/s for SECONDS to one stack, then the other, ROUNDS
 * times, alternating, so both meet the same machine load; each phase ends
 * when its notifications are stored. Reported: CPU µs per notification of
 * each role (from /proc, bench/lib/cpu.ts), summed over the rounds, and
 * the ratio on/off; the sink's requests and bytes per notification.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import pg from 'pg';
import { signToken } from '../src/auth/jwt.js';
import { migrate } from '../src/db/orm.js';
import { cpuMeter } from './lib/cpu.js';
import { createRawClient } from './lib/raw-http.js';
import { benchRedis, freePort, startRole, stopRole, waitHttp } from './lib/processes.js';

const RATE = Number(process.env.RATE ?? 500);
const SECONDS = Number(process.env.SECONDS ?? 10);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 3);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const SECRET = 'herald-bench-secret-0123456789';
const CONTENT = '您的订单已确认,预计30分钟送达。订单号 2026112200001,门店: 中关村店,取餐码 A-1024。';
const MODES = ['off', 'on'] as const;
type Mode = (typeof MODES)[number];

const run = randomBytes(3).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** An OTLP/HTTP endpoint that reads every export, counts it and answers 200: the exporter's full cost, no collector's. */
async function startSink(): Promise<{ url: string; requests: number; bytes: number; close(): Promise<void> }> {
  const sink = { url: '', requests: 0, bytes: 0, close: async (): Promise<void> => undefined };
  const server: Server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (sink.bytes += c.length));
    req.on('end', () => {
      sink.requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}

interface Stack {
  mode: Mode;
  tenant: string;
  client: ReturnType<typeof createRawClient>;
  headers: Record<string, string>;
  pids: { api: number; ingest: number };
  sent: number;
}

/** Sends `count` single notifications at `rate`/s, open loop; returns how many were accepted. */
async function sendPaced(stack: Stack, rate: number, count: number): Promise<number> {
  const start = performance.now();
  const pending: Array<Promise<void>> = [];
  let accepted = 0;
  let failure: string | null = null;
  for (let i = 0; i < count; ) {
    for (; i < count && start + (i * 1000) / rate <= performance.now(); i++) {
      const body = JSON.stringify({ title: 'bench', content: CONTENT, user_id: `u${i % 1000}` });
      pending.push(
        stack.client.request('POST', '/api/v1/notifications', stack.headers, body).then(
          (res) => (res.status === 202 ? void accepted++ : void (failure ??= `${res.status}: ${res.body}`)),
          (err: Error) => void (failure ??= err.message),
        ),
      );
    }
    if (i < count) await sleep(Math.max(0, start + (i * 1000) / rate - performance.now()));
  }
  await Promise.all(pending);
  if (failure) console.warn(`${stack.mode}: some sends failed, first: ${failure}`);
  stack.sent += accepted;
  return accepted;
}

async function main(): Promise<void> {
  await migrate({ url: DATABASE_URL });
  const cleanups: Array<() => unknown> = [];
  try {
    const { url: redisUrl } = await benchRedis(cleanups);
    const sink = await startSink();
    cleanups.push(() => sink.close());
    const db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    const tenants = MODES.map((m) => `bench-tracing-${m}-${run}`);
    cleanups.push(async () => {
      await db.query('delete from notifications where tenant = any($1)', [tenants]);
      await db.end();
    });
    const stored = async (tenant: string) => Number((await db.query('select count(*) from notifications where tenant = $1', [tenant])).rows[0].count);

    const stacks = {} as Record<Mode, Stack>;
    for (const [i, mode] of MODES.entries()) {
      const port = await freePort();
      const env: Record<string, string> = {
        NODE_ENV: 'production',
        DATABASE_URL,
        REDIS_URL: redisUrl,
        QUEUE_PREFIX: `herald-bench-tracing-${mode}-${run}`,
        JWT_SECRET: SECRET,
        PORT: String(port),
        RATE_LIMIT_SERVICE_PER_MIN: '1000000000',
        // the shell's own setting must not turn tracing on for the "off" stack
        OTEL_EXPORTER_OTLP_ENDPOINT: mode === 'on' ? sink.url : '',
      };
      const api = startRole('dist/src/api/server.js', env);
      const ingest = startRole('dist/workers/ingest.js', env);
      cleanups.push(() => stopRole(api), () => stopRole(ingest));
      await waitHttp(`http://127.0.0.1:${port}/health`);
      const client = createRawClient(`http://127.0.0.1:${port}`);
      cleanups.push(() => client.close());
      const token = await signToken(SECRET, { sub: 'bench-service', tenant: tenants[i], scope: 'notify:send', expiresIn: '2h' });
      stacks[mode] = {
        mode,
        tenant: tenants[i],
        client,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        pids: { api: api.pid!, ingest: ingest.pid! },
        sent: 0,
      };
    }
    const untilStored = async (stack: Stack) => {
      for (let quiet = 0; (await stored(stack.tenant)) < stack.sent && quiet < 200; quiet++) await sleep(50);
    };

    console.log(`warming up each stack: ${RATE}/s for ${WARM_SECONDS} s…`);
    for (const mode of MODES) {
      await sendPaced(stacks[mode], RATE, RATE * WARM_SECONDS);
      await untilStored(stacks[mode]);
    }
    const totals = Object.fromEntries(MODES.map((m) => [m, { api: 0, ingest: 0, notifications: 0 }])) as Record<Mode, { api: number; ingest: number; notifications: number }>;
    const sinkAtStart = { requests: sink.requests, bytes: sink.bytes };
    const loadBefore = load();
    for (let round = 0; round < ROUNDS; round++) {
      // alternate which goes first, so neither always follows the other's tail
      for (const mode of round % 2 ? [...MODES].reverse() : MODES) {
        const stack = stacks[mode];
        const meter = cpuMeter({ api: () => [stack.pids.api], ingest: () => [stack.pids.ingest] });
        meter.start();
        const accepted = await sendPaced(stack, RATE, RATE * SECONDS);
        await untilStored(stack);
        const cpu = meter.stop();
        totals[mode].api += cpu.api;
        totals[mode].ingest += cpu.ingest;
        totals[mode].notifications += accepted;
        console.log(`round ${round + 1}, tracing ${mode}: ${accepted} sent, api ${(cpu.api / accepted).toFixed(1)} µs, ingest ${(cpu.ingest / accepted).toFixed(1)} µs per notification`);
      }
    }
    // the last spans of the "on" stack: its exporter sends a batch every 5 s at most
    await sleep(6000);
    const per = (mode: Mode, role: 'api' | 'ingest' | 'both') => {
      const t = totals[mode];
      return (role === 'both' ? t.api + t.ingest : t[role]) / t.notifications;
    };
    const lines = [
      `bench/tracing — ${new Date().toISOString()}`,
      `single sends ${RATE}/s for ${SECONDS} s per phase, ${ROUNDS} rounds of off/on alternating; compiled api + ingest, one process each, NODE_ENV=production; ` +
        `load average ${loadBefore} before, ${load()} after (2 cores, shared)`,
      '',
      '| CPU µs / notification | tracing off | tracing on (OTLP/HTTP to a discarding sink) | on / off |',
      '|---|---|---|---|',
      ...(['api', 'ingest', 'both'] as const).map(
        (role) => `| ${role === 'both' ? 'api + ingest' : role} | ${per('off', role).toFixed(1)} | ${per('on', role).toFixed(1)} | ${(per('on', role) / per('off', role)).toFixed(2)} |`,
      ),
      '',
      `sink: ${sink.requests - sinkAtStart.requests} export requests, ${((sink.bytes - sinkAtStart.bytes) / totals.on.notifications).toFixed(0)} bytes per notification`,
    ];
    console.log(lines.join('\n'));
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch((err) => console.error('cleanup:', err));
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
