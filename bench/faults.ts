/**
 * bench/faults: the fault matrix. Herald's roles run as production runs
 * them — `npm run build`, then one `node dist/...` process per Procfile
 * line, restarted by a supervisor when they exit — against a PostgreSQL
 * cluster and a redis-server (AOF on, noeviction) that this script creates
 * in a temporary directory on free ports, and local fakes of the six
 * channels' providers. Three tenants send at a steady rate through the
 * HTTP api (some sends also on an external channel) to users whose clients
 * hold WebSocket connections, track frames by cursor and reconnect with
 * ?since=. Each fault is injected under that load and gets one row:
 * accepted, stored, lost, duplicated, frames missed, time to recover.
 *
 *   npm run bench:faults
 *   npm run bench:faults -- --only=pg-stop,poison
 *   npm run bench:faults -- --list
 *
 * Options (each --name=value): only, skip (comma-separated rows), rate (sends
 * per second in all, default 60), users (per tenant, default 10), lead and
 * tail (seconds of load before the fault and after it is over, default 5
 * and 8), drain (longest wait for stragglers, default 90 s), restart-delay
 * (ms before a killed process or Redis is started again, default 1000),
 * pg-down (default 30 s), redis-pause (default 10 s), sockets (the storm's,
 * default 19000), storm-clients (client processes, default 4), latency
 * (the SMTP server's and webhook receiver's answer time, default 200 ms),
 * --no-build (use dist/ as it is), --keep (keep the temporary directory
 * with the roles', PostgreSQL's and Redis's logs).
 *
 * Every process and the temporary directory are removed on exit, Ctrl-C
 * included. It never touches the PostgreSQL on 5432 or the Redis on 6379.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { signToken } from '../src/auth/jwt.js';
import { migrate } from '../src/db/orm.js';
import { Lifecycle } from '../src/lifecycle.js';
import { allFaults } from './lib/fault-list.js';
import { runRow, waitAllReady, type Bench, type RowResult } from './lib/fault-run.js';
import { formatRow, formatTable } from './lib/fault-table.js';
import { startOwnedPostgres, startOwnedRedis } from './lib/owned-servers.js';
import { BENCH_DATA_KEYS, freePort } from './lib/processes.js';
import { startProviderFakes } from './lib/provider-fakes.js';
import { readProcfile, Supervisor } from './lib/supervisor.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a} (options are --name=value)`);
    return [m[1], m[2] ?? 'true'] as const;
  }),
);
const num = (name: string, def: number) => {
  const v = Number(args.get(name) ?? def);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number`);
  return v;
};
const list = (name: string) => (args.get(name) ?? '').split(',').map((s) => s.trim()).filter(Boolean);

const SECRET = 'herald-faults-secret-0123456789abcdef';
const faults = allFaults({
  pgDownMs: num('pg-down', 30) * 1000,
  redisPauseMs: num('redis-pause', 10) * 1000,
  stormSockets: num('sockets', 19_000),
  stormClients: num('storm-clients', 4),
});

/** The row of a fault that could not be injected or measured (the next rows still run). */
function notRun(name: string, why: string): RowResult {
  const zero = { accepted: 0, refused: 0, stored: 0, lost: 0, dupInbox: 0, deliveriesDue: 0, deliveriesDone: 0, dupSends: 0 };
  return { name, ...zero, framesDue: 0, framesMissed: 0, dupFrames: 0, recoverMs: null, caughtUpMs: null, seconds: 0, notes: [`the row could not run: ${why}`] };
}

const log = (line: string) => console.error(`[faults ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function main(life: Lifecycle) {
  if (args.has('list')) {
    for (const f of faults) console.log(`${f.name.padEnd(14)} ${f.what}`);
    return;
  }
  const only = list('only');
  const skip = list('skip');
  for (const name of [...only, ...skip]) if (!faults.some((f) => f.name === name)) throw new Error(`no fault named ${name} (see --list)`);
  const selected = faults.filter((f) => (!only.length || only.includes(f.name)) && !skip.includes(f.name));

  if (args.get('build') !== 'false' && !args.has('no-build')) {
    log('npm run build');
    const built = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
    if (built.status !== 0) log('the build reported errors; running on what it emitted into dist/');
  }

  const tmp = mkdtempSync('/tmp/herald-faults-');
  // PostgreSQL runs as the postgres user when this runs as root: it must reach its data directory
  chmodSync(tmp, 0o755);
  life.add('temporary directory', () => (args.has('keep') ? log(`kept ${tmp}`) : rmSync(tmp, { recursive: true, force: true })));
  log(`working in ${tmp}`);

  const pgServer = await startOwnedPostgres(join(tmp, 'pg'), 'herald');
  life.add('postgres', () => pgServer.stop('SIGINT'));
  const redisServer = await startOwnedRedis(join(tmp, 'redis'));
  life.add('redis', async () => {
    redisServer.resume();
    await redisServer.stop('SIGKILL');
  });
  log(`PostgreSQL on ${pgServer.port}, Redis on ${redisServer.port}`);
  await migrate({ url: pgServer.url });

  const usersPerTenant = num('users', 10);
  const tenantNames = ['tenant-a', 'tenant-b', 'tenant-c'];
  const fakes = await startProviderFakes(tenantNames.length * usersPerTenant, num('latency', 200));
  life.add('provider fakes', () => fakes.close());

  const [port, wsPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    DATABASE_URL: pgServer.url,
    REDIS_URL: redisServer.url,
    QUEUE_PREFIX: 'herald',
    JWT_SECRET: SECRET,
    HERALD_DATA_KEYS: BENCH_DATA_KEYS,
    PORT: String(port),
    WS_PORT: String(wsPort),
    // the bench's senders and clients are few and fast: no limit may refuse them
    RATE_LIMIT_SERVICE_PER_MIN: '6000000',
    RATE_LIMIT_USER_PER_MIN: '6000000',
    // every client shares 127.0.0.1 and reconnects at once after a node restart
    WS_UPGRADE_IP_PER_MIN: '0',
    WS_UPGRADE_USER_PER_MIN: '1000000',
    ...fakes.env,
  };
  const sup = new Supervisor(readProcfile('Procfile'), env, tmp, num('restart-delay', 1000));
  sup.startAll();
  life.add('roles', () => sup.stopAll());

  const db = new pg.Pool({ connectionString: pgServer.url, max: 4 });
  // idle connections die with every PostgreSQL stop; the pool replaces them
  db.on('error', () => undefined);
  life.add('bench database pool', () => db.end());
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  life.add('bench redis', () => redis.disconnect());

  const tenants = await Promise.all(
    tenantNames.map(async (tenant) => ({ tenant, token: await signToken(SECRET, { sub: `svc-${tenant}`, tenant, scope: 'notify:send', expiresIn: '1d' }) })),
  );
  const bench: Bench = {
    apiUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    wsHttpUrl: `http://127.0.0.1:${wsPort}`,
    secret: SECRET,
    prefix: 'herald',
    db,
    redis,
    pg: pgServer,
    redisServer,
    sup,
    fakes,
    tenants,
    rate: num('rate', 60),
    usersPerTenant,
    restartDelayMs: num('restart-delay', 1000),
    leadMs: num('lead', 5) * 1000,
    tailMs: num('tail', 8) * 1000,
    drainMs: num('drain', 90) * 1000,
    signal: interrupted.signal,
    log,
  };
  log(`starting ${sup.names.length} roles (${sup.names.join(', ')})`);
  await waitAllReady(bench);

  const t0 = Date.now();
  const results: RowResult[] = [];
  for (const f of selected) {
    if (interrupted.signal.aborted) return;
    log(`${f.name}: ${f.what}`);
    try {
      const r = await runRow(bench, f);
      results.push(r);
      log(formatRow(r));
    } catch (err) {
      if (interrupted.signal.aborted) return;
      log(`${f.name} could not run: ${(err as Error).stack}`);
      results.push(notRun(f.name, (err as Error).message));
    }
  }
  console.log(`\nbench/faults — ${new Date().toISOString()}, ${bench.rate} sends/s from ${tenants.length} tenants, ${usersPerTenant} connected users each, restart delay ${bench.restartDelayMs} ms, ${((Date.now() - t0) / 60_000).toFixed(1)} min\n`);
  console.log(formatTable(results, faults));
}

const life = new Lifecycle();
const interrupted = new AbortController();
let exiting = false;
const finish = async (code: number) => {
  if (exiting) return;
  exiting = true;
  await life.close();
  process.exit(code);
};
process.on('SIGINT', () => {
  log('interrupted: stopping every process and removing the temporary directory');
  interrupted.abort();
  void finish(130);
});
// an error nobody awaited must still stop the servers and roles this script started
process.on('uncaughtException', (err) => {
  console.error(err);
  interrupted.abort();
  void finish(1);
});
process.on('SIGTERM', () => {
  interrupted.abort();
  void finish(143);
});
main(life).then(
  () => finish(0),
  (err) => {
    console.error(err);
    void finish(1);
  },
);
