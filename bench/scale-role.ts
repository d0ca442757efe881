/**
 * bench/scale-role: one send to a role of ROLE_SIZE recipients (100,000 by
 * default), with the app channel and a webhook, through the production
 * layout (compiled api, ingest worker and realtime node, one process each).
 *
 *   npm run build && npm run bench:scale:role
 *   ROLE_SIZE=100000 SOCKETS=2000 npm run bench:scale:role
 *
 * A role notification is stored once, as one row every member's inbox reads
 * (src/domain/inbox/audience.ts), and published once to the role's topic;
 * its external deliveries are planned page by page through the recipients
 * index (src/domain/delivery/plan.ts), 500 at a time, never the whole
 * audience in memory. Printed: time from the POST to the stored row, to the
 * frame on the last of SOCKETS connected members (Node `ws` clients on the
 * same machine), and to the last of ROLE_SIZE delivery records and jobs;
 * the ingest worker's resident memory before and at its peak while it plans
 * them, run with its V8 heap capped (INGEST_HEAP_MB, 64 MiB): holding the
 * audience would not fit. Baseline, same run: the same send to a role of BASE_SIZE (1,000)
 * recipients, so the memory figure shows whether it grows with the audience.
 * No webhook worker runs: the deliveries stay queued (bench:channels
 * measures sending).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import WebSocket from 'ws';
import { signToken } from '../src/auth/jwt.js';
import { migrate } from '../src/db/orm.js';
import { freePort, startRole, stopRole, waitHttp } from './lib/processes.js';

const ROLE_SIZE = Number(process.env.ROLE_SIZE ?? 100_000);
const BASE_SIZE = Number(process.env.BASE_SIZE ?? 1_000);
const SOCKETS = Number(process.env.SOCKETS ?? 2_000);
/** the ingest worker's V8 old-space cap: it must plan the whole audience inside it */
const INGEST_HEAP_MB = Number(process.env.INGEST_HEAP_MB ?? 64);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'herald-bench-secret-0123456789';

const kib = (pid: number, field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  if (!existsSync('dist/src/api/server.js')) throw new Error('run `npm run build` first: the bench runs the compiled processes');
  await migrate({ url: DATABASE_URL });
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  const tenant = `bench-role-${randomBytes(3).toString('hex')}`;
  const [port, wsPort] = [await freePort(), await freePort()];
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL,
    REDIS_URL,
    QUEUE_PREFIX: `herald-bench-${randomBytes(3).toString('hex')}`,
    JWT_SECRET: SECRET,
    PORT: String(port),
    WS_PORT: String(wsPort),
    WS_THREADS: '1',
    RATE_LIMIT_SERVICE_PER_MIN: '1000000000',
    WS_UPGRADE_IP_PER_MIN: '1000000000',
  };
  const roles = [startRole('dist/src/api/server.js', env), startRole('dist/workers/ingest.js', { ...env, NODE_OPTIONS: `--max-old-space-size=${INGEST_HEAP_MB}` }), startRole('dist/src/realtime/server.js', env)];
  const ingestPid = roles[1].pid!;
  try {
    await waitHttp(`http://127.0.0.1:${port}/health`);
    await waitHttp(`http://127.0.0.1:${wsPort}/health`);
    const svc = await signToken(SECRET, { sub: 'bench-service', tenant, scope: 'notify:send' });

    const makeRole = async (role: string, size: number) => {
      await db.query(
        `insert into recipients (tenant, user_id, webhook_url, roles)
         select $1, $2 || '-' || lpad(i::text, 7, '0'), 'http://127.0.0.1:9/hook', array[$2] from generate_series(1, $3) i`,
        [tenant, role, size],
      );
      await db.query(`insert into recipient_audiences (tenant, audience, user_id) select $1, 'r:' || $2, $2 || '-' || lpad(i::text, 7, '0') from generate_series(1, $3) i`, [
        tenant,
        role,
        size,
      ]);
    };
    await makeRole('big', ROLE_SIZE);
    await makeRole('small', BASE_SIZE);

    // members of the big role online
    const sockets: Array<{ ws: WebSocket; got: number }> = [];
    for (let i = 0; i < SOCKETS; i += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, SOCKETS - i) }, async (_, k) => {
          const token = await signToken(SECRET, { sub: `big-${String(i + k + 1).padStart(7, '0')}`, tenant, roles: ['big'] });
          const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/api/v1/ws?token=${token}`);
          const s = { ws, got: 0 };
          await new Promise<void>((resolve, reject) => {
            ws.on('message', (data) => {
              const f = JSON.parse(data.toString());
              if (f.event === 'welcome') resolve();
              if (f.event === 'notification') s.got = performance.now();
            });
            ws.on('error', reject);
          });
          sockets.push(s);
        }),
      );
    }

    const send = async (role: string, size: number) => {
      await sleep(500);
      writeFileSync(`/proc/${ingestPid}/clear_refs`, '5'); // resets the peak (VmHWM) to the current size
      const before = kib(ingestPid, 'VmRSS');
      const t0 = performance.now();
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
        body: JSON.stringify({ role, title: `to ${role}`, content: 'shift change at 18:00', channels: ['app', 'webhook'] }),
      });
      if (r.status !== 202) throw new Error(`send answered ${r.status}: ${await r.text()}`);
      const { id } = (await r.json()) as { id: string };
      let stored = 0;
      let planned = 0;
      let lastFrame = 0;
      while (!planned || (role === 'big' && !lastFrame)) {
        if (!stored && (await db.query('select 1 from notifications where id = $1 and seq is not null', [id])).rowCount) stored = performance.now() - t0;
        if (role === 'big' && !lastFrame && sockets.every((s) => s.got > t0)) lastFrame = Math.max(...sockets.map((s) => s.got)) - t0;
        if (!planned) {
          const n = Number((await db.query('select count(*) from deliveries where notification_id = $1', [id])).rows[0].count);
          if (n >= size) planned = performance.now() - t0;
        }
        await sleep(20);
      }
      return { stored, lastFrame, planned, before, peak: kib(ingestPid, 'VmHWM') };
    };
    const small = await send('small', BASE_SIZE);
    const big = await send('big', ROLE_SIZE);
    for (const s of sockets) s.ws.close();
    const mib = (k: number) => (k / 1024).toFixed(1);
    console.log(`\nbench/scale-role — ${new Date().toISOString()}, production layout, ${SOCKETS} members online`);
    console.log(
      `role of ${ROLE_SIZE}: stored (the one row every member's inbox reads; polled every 20 ms) ${big.stored.toFixed(0)} ms, frame on the last of ${SOCKETS} sockets ${big.lastFrame.toFixed(0)} ms, ` +
        `${ROLE_SIZE} webhook deliveries recorded and queued ${(big.planned / 1000).toFixed(1)} s (${((ROLE_SIZE / big.planned) * 1000).toFixed(0)}/s); ` +
        `ingest RSS ${mib(big.before)} → peak ${mib(big.peak)} MiB with its heap capped at ${INGEST_HEAP_MB} MiB`,
    );
    console.log(
      `baseline, role of ${BASE_SIZE}: stored ${small.stored.toFixed(0)} ms, deliveries queued ${(small.planned / 1000).toFixed(2)} s; ingest RSS ${mib(small.before)} → peak ${mib(small.peak)} MiB`,
    );
  } finally {
    await Promise.all(roles.map(stopRole));
    await db.query('delete from deliveries where tenant = $1', [tenant]);
    await db.query('delete from notifications where tenant = $1', [tenant]);
    await db.query('delete from recipients where tenant = $1', [tenant]);
    await db.end();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
