/**
 * `npm start` for a newcomer. The full runs happen in a network namespace of
 * their own (unshare -n), so "nothing answers on localhost:5432 / 6379" is
 * true there and the default ports cannot collide with anything else on this
 * machine.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { waitFor } from './helpers/harness.js';
import { ROOT, freePort, spawnProcess } from './helpers/procs.js';
import { roleEnv, spawnRole } from './helpers/roles.js';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const procfileRoles = readFileSync(join(ROOT, 'Procfile'), 'utf8')
  .split('\n')
  .map((l) => /^([\w-]+):/.exec(l)?.[1])
  .filter(Boolean) as string[];

test('with no Redis, npm start stops at once and says how to get one', { timeout: 60_000 }, async () => {
  const start = spawnRole('scripts/start.ts', { env: { REDIS_URL: `redis://127.0.0.1:${await freePort()}` } }, cleanups);
  expect(await start.exited).toBe(1);
  const out = start.lines.join('\n');
  expect(out).toContain('Herald needs Redis');
  expect(out).toContain('docker run -d --name herald-redis -p 6379:6379 redis:7 redis-server --appendonly yes --appendfsync always --maxmemory-policy noeviction');
  expect(out).toContain('REDIS_URL');
});

test('with an unreachable DATABASE_URL, npm start stops and says what to do', { timeout: 60_000 }, async () => {
  const start = spawnRole('scripts/start.ts', { env: { DATABASE_URL: `postgres://postgres:secret-pw@127.0.0.1:${await freePort()}/herald` } }, cleanups);
  expect(await start.exited).toBe(1);
  const out = start.lines.join('\n');
  expect(out).toContain('Herald could not prepare its database at postgres://postgres:***@127.0.0.1:');
  expect(out).toContain('ECONNREFUSED');
  expect(out).not.toContain('secret-pw');
});

test('with REDIS_URL unset, nothing on localhost:6379 and no redis-server on the PATH, npm start says how to get a Redis', { timeout: 60_000 }, async () => {
  const script = ['set -e', 'ip link set lo up', `PATH=/nonexistent exec "${process.execPath}" --import tsx scripts/start.ts`].join('\n');
  const start = spawnProcess('unshare', ['-n', 'sh', '-c', script], roleEnv({ DATABASE_URL: undefined, REDIS_URL: undefined }));
  cleanups.push(() => start.stop('SIGKILL'));
  expect(await start.exited).toBe(1);
  const out = start.lines.join('\n');
  expect(out).toContain('Herald needs Redis');
  expect(out).toContain('put redis-server on the PATH');
  expect(out).not.toContain('starting an embedded Redis');
});

test('with nothing on localhost, npm start brings up an embedded Redis, an embedded PostgreSQL and every role; Ctrl-C stops them all, databases last', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-start-'));
  chmodSync(dir, 0o755);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const script = ['set -e', 'ip link set lo up', `exec "${process.execPath}" --import tsx scripts/start.ts`].join('\n');
  const start = spawnProcess(
    'unshare',
    ['-n', 'sh', '-c', script],
    roleEnv({ DATABASE_URL: undefined, REDIS_URL: undefined, EMBEDDED_PG_DIR: join(dir, 'pg', 'data'), EMBEDDED_REDIS_DIR: join(dir, 'redis') }),
  );
  cleanups.push(() => start.stop('SIGKILL'));
  const saw = (text: string) => start.lines.some((l) => l.includes(text));
  /** while waiting for it to come up, an early exit is a failure to report at once */
  const sees = (text: string) => {
    if (start.child.exitCode !== null) throw new Error(`npm start exited (${start.child.exitCode})`);
    return saw(text);
  };
  const inNamespace = (...args: string[]) =>
    execFileSync('nsenter', [`--net=/proc/${start.child.pid}/ns/net`, ...args], { encoding: 'utf8', timeout: 10_000 });
  const redisPid = () => start.logs().find((l) => l.msg === 'embedded Redis started')?.redisPid as number | undefined;
  try {
    await waitFor(() => sees('embedded Redis started'), 30_000, 'the embedded Redis');
    await waitFor(() => sees('embedded PostgreSQL started'), 60_000, 'the embedded PostgreSQL');
    await waitFor(() => sees('api listening') && sees('realtime node listening') && sees('ingest worker started'), 90_000, 'the roles to start');
    // Every Procfile role runs, each line prefixed with its name.
    const tagged = (role: string) => start.lines.some((l) => new RegExp(`^\\x1b\\[\\d+m${role}\\s*\\|`).test(l));
    await waitFor(() => procfileRoles.every(tagged), 30_000, `a line from each of ${procfileRoles.join(', ')}`);

    const ready = JSON.parse(inNamespace('curl', '-s', 'http://127.0.0.1:8000/ready'));
    expect(ready).toEqual({ status: 'ready', checks: { postgres: 'ok', migrations: 'ok', redis: 'ok' } });
    expect(JSON.parse(inNamespace('curl', '-s', 'http://127.0.0.1:8001/health')).status).toBe('ok');
    const setting = (name: string) => inNamespace('redis-cli', '-p', '6379', 'config', 'get', name).split('\n')[1];
    expect([setting('appendonly'), setting('appendfsync'), setting('maxmemory-policy'), setting('dir')]).toEqual(['yes', 'always', 'noeviction', join(dir, 'redis')]);

    start.child.kill('SIGINT');
    expect(await start.exited).toBe(0);
    // the roles first, then Redis, then PostgreSQL; the Redis process is gone and its data is on disk
    const order = ['stopping every role', 'embedded Redis stopped', 'embedded PostgreSQL stopped'].map((m) => start.lines.findIndex((l) => l.includes(m)));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]))).toBe(true);
    expect(procfileRoles.every((role) => start.lines.findIndex((l) => new RegExp(`${role}\\s*\\|.*exited`).test(l)) < order[1])).toBe(true);
    expect(() => process.kill(redisPid()!, 0)).toThrow();
    expect(readdirSync(join(dir, 'redis'))).toContain('appendonlydir');
    for (const role of procfileRoles) expect(start.lines.some((l) => new RegExp(`${role}\\s*\\|.*exited \\(0\\)`).test(l))).toBe(true);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- npm start said:\n${start.lines.slice(-40).join('\n')}`);
  } finally {
    // Stop it the way a user would, so the embedded PostgreSQL shuts down too.
    if (start.child.exitCode === null) {
      start.child.kill('SIGINT');
      await Promise.race([start.exited, new Promise((r) => setTimeout(r, 20_000))]);
    }
    try {
      if (redisPid()) process.kill(redisPid()!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});
