/**
 * Deployment files: the Procfile, docker-compose.yml and the build the
 * Dockerfile runs (tsconfig.build.json), checked against each other, and
 * the compiled entries run the way the image runs them (`node dist/...`).
 * (No Docker daemon is available to the tests; the image build itself is
 * exercised by this same compile step and `npm ci --omit=dev`.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { TEST_DATABASE_URL, TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { ROOT, freePort } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

const procfile = readFileSync(join(ROOT, 'Procfile'), 'utf8')
  .split('\n')
  .map((l) => /^([\w-]+):\s*(node\s+dist\/(\S+)\.js)\s*$/.exec(l.trim()))
  .filter((m): m is RegExpExecArray => m !== null)
  .map((m) => ({ role: m[1], command: m[2], entry: m[3] }));
const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');

/** The block of one top-level service in docker-compose.yml. */
function service(name: string): string {
  const m = new RegExp(`\\n  ${name}:\\n((?:    .*\\n|\\s*\\n)+)`).exec(compose);
  return m ? m[1] : '';
}

describe('Procfile and docker-compose.yml', () => {
  test('the Procfile has one line per role and each points at a process entry', () => {
    const lines = readFileSync(join(ROOT, 'Procfile'), 'utf8').split('\n').filter((l) => l.trim());
    expect(procfile.length).toBe(lines.length);
    expect(procfile.map((p) => p.role)).toEqual(expect.arrayContaining(['api', 'ingest', 'realtime', 'scheduler']));
    for (const p of procfile) expect(existsSync(join(ROOT, `${p.entry}.ts`)), p.entry).toBe(true);
  });

  test('compose runs every Procfile role from the one Dockerfile, with the same command', () => {
    expect(compose).toMatch(/x-herald: &herald\n\s+image: herald:local\n\s+build: \.\n/);
    for (const p of procfile) {
      const block = service(p.role);
      expect(block, `service ${p.role}`).toContain('<<: *herald');
      const args = p.command.split(/\s+/).map((a) => `"${a}"`).join(', ');
      expect(block).toContain(`command: [${args}]`);
    }
  });

  test('compose brings PostgreSQL, Redis configured for BullMQ (AOF, noeviction) and Mailpit', () => {
    expect(service('postgres')).toMatch(/image: postgres:/);
    const redis = service('redis');
    expect(redis).toMatch(/"--appendonly", "yes"/);
    expect(redis).toMatch(/"--maxmemory-policy", "noeviction"/);
    expect(service('mailpit')).toMatch(/image: axllent\/mailpit/);
    expect(compose).toMatch(/SMTP_HOST: mailpit/);
    // the api and the realtime node are health-checked on /ready
    expect(service('api')).toContain("/ready')");
    expect(service('realtime')).toContain("/ready')");
  });
});

describe('the compiled build the image runs', () => {
  mkdirSync(join(ROOT, '.herald'), { recursive: true });
  const out = mkdtempSync(join(ROOT, '.herald', 'build-')); // inside the repo so node_modules resolve; .herald/ is git-ignored
  const cleanups: Array<() => unknown> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(out, { recursive: true, force: true });
  });

  test('compiles with tsconfig.build.json; `node dist/...` serves the api, bull-board and ingest end to end', { timeout: 240_000 }, async () => {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', relative(ROOT, out)], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    for (const p of procfile) expect(existsSync(join(out, `${p.entry}.js`)), p.entry).toBe(true);

    const port = await freePort();
    const tenant = uniq('tenant-build');
    const env = { NODE_ENV: 'production', QUEUE_PREFIX: uniq('test-build'), PORT: String(port) };
    const api = spawnRole('src/api/server.ts', { compiled: out, env }, cleanups);
    const ingest = spawnRole('workers/ingest.ts', { compiled: out, env }, cleanups);
    await api.waitForLog((l) => l.msg === 'api listening', 60_000, 'the compiled api');
    await ingest.waitForLog((l) => l.msg === 'ingest worker started', 60_000, 'the compiled ingest worker');

    const svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant, scope: 'notify:send' });
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'built', content: 'from dist', user_id: 'u' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const db = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    try {
      await waitFor(async () => (await db.query('select 1 from notifications where id = $1', [id])).rowCount === 1, 20_000, 'the notification to be stored');
    } finally {
      await db.end();
    }

    // bull-board's UI and its static files resolve from the compiled code too.
    const admin = await signToken(TEST_JWT_SECRET, { sub: 'ops', scope: 'admin' });
    const page = await fetch(`http://127.0.0.1:${port}/admin/queues`, { headers: { authorization: `Bearer ${admin}` } });
    expect(page.status).toBe(200);
    const script = /src="(static\/js\/[^"]+\.js)"/.exec(await page.text())?.[1];
    expect(script).toBeTruthy();
    const asset = await fetch(`http://127.0.0.1:${port}/admin/queues/${script}`, { headers: { authorization: `Bearer ${admin}` } });
    expect(asset.status).toBe(200);

    expect(await api.stop('SIGTERM')).toBe(0);
    expect(await ingest.stop('SIGTERM')).toBe(0);
  });
});
