/**
 * `npm start` keeps a machine's roles running: the real start script, every
 * role of the Procfile as its own process, against the real PostgreSQL and
 * Redis. Killing roles with SIGKILL brings them back while the api keeps
 * answering; Ctrl-C still stops everything and leaves no process behind.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { TEST_DATABASE_URL, TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { freePort, isAlive, ROOT } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

const cleanups: Array<() => unknown> = [];
let db: pg.Client;
beforeAll(async () => {
  db = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await db.connect();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await db.end();
});

/** the processes whose parent is pid */
const childrenOf = (pid: number) => {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number).sort();
  } catch {
    return []; // pgrep exits 1 when there is none
  }
};

/** Procfile role → the source file npm start runs for it */
const entries = new Map(
  readFileSync(join(ROOT, 'Procfile'), 'utf8')
    .split('\n')
    .map((l) => /^([\w-]+):\s*node\s+dist\/(\S+)\.js/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1], `${m[2]}.ts`]),
);
const commandLine = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
};

/**
 * The start script's children that run roles: on a cold cache tsx also runs an esbuild service process for
 * the start script itself, which ends on its own once the script has exited.
 */
const roleChildren = (pid: number) => childrenOf(pid).filter((child) => !/\besbuild\b/.test(commandLine(child)));

/** one GET on a connection of its own, closed after the answer */
const statusOf = (url: string) =>
  new Promise<number>((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });

const KILLED = ['ingest', 'realtime', 'email'];

test('SIGKILL of the ingest worker, the realtime node and a channel worker: each comes back, the api answers throughout, a send after it is stored; Ctrl-C stops everything', { timeout: 300_000 }, async () => {
  const [port, wsPort] = [await freePort(), await freePort()];
  const start = spawnRole('scripts/start.ts', { env: { PORT: String(port), WS_PORT: String(wsPort) } }, cleanups);
  /** what the start script logged about its roles (the roles' own lines carry a coloured name first) */
  const supervision = () => start.logs().filter((l) => l.roleName !== undefined);
  /** the running process of a role: the child of the start script that runs the role's entry */
  const pidOf = (role: string) => childrenOf(start.child.pid!).find((pid) => commandLine(pid).includes(entries.get(role)!));
  const everyPid = new Set<number>();
  const linesOf = (role: string) => start.lines.filter((l) => new RegExp(`^\\x1b\\[\\d+m${role}\\s*\\|`).test(l));
  const count = (role: string, text: string) => {
    if (start.child.exitCode !== null) throw new Error(`npm start exited (${start.child.exitCode})`);
    return linesOf(role).filter((l) => l.includes(text)).length;
  };
  const startLine: Record<string, string> = { ingest: 'ingest worker started', realtime: 'realtime node listening', email: 'email worker started' };

  let apiFailures: string[] = [];
  let apiAnswers = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        await res.arrayBuffer();
        if (res.status === 200) apiAnswers++;
        else apiFailures.push(`status ${res.status}`);
      } catch (err) {
        apiFailures.push(String((err as Error).cause ?? err));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();

  try {
    await waitFor(() => count('api', 'api listening') && KILLED.every((r) => count(r, startLine[r])), 180_000, 'the roles to start');
    const apiPid = pidOf('api')!;
    // one child process per role, and nothing else
    const children = roleChildren(start.child.pid!);
    expect(children.map(commandLine).map((cmd) => [...entries].find(([, entry]) => cmd.includes(entry))?.[0] ?? cmd).sort()).toEqual([...entries.keys()].sort());
    for (const pid of children) everyPid.add(pid);

    await waitFor(() => apiAnswers > 0, 10_000, 'the api to answer');
    apiFailures = [];
    const before = Object.fromEntries(KILLED.map((r) => [r, pidOf(r)!]));
    for (const role of KILLED) process.kill(before[role], 'SIGKILL');

    // each is logged as an error, and comes back under a new process id that logs its start line again
    const backUnderNewPid = (role: string) => {
      const pid = pidOf(role);
      return pid !== before[role] && count(role, startLine[role]) && linesOf(role).some((l) => l.includes(startLine[role]) && l.includes(`"pid":${pid},`));
    };
    await waitFor(() => KILLED.every(backUnderNewPid), 120_000, 'the killed roles to start again');
    for (const pid of roleChildren(start.child.pid!)) everyPid.add(pid);
    for (const role of KILLED) {
      const death = supervision().find((l) => l.msg.startsWith(`role ${role} died`));
      expect(death).toMatchObject({ level: 50, roleName: role, rolePid: before[role], signal: 'SIGKILL', restart: 1, delayMs: 1000 });
      expect({ role, alive: isAlive(pidOf(role)!) }).toEqual({ role, alive: true });
    }
    expect(pidOf('api')).toBe(apiPid);
    expect(supervision().filter((l) => l.msg.includes(' died '))).toHaveLength(KILLED.length);

    // a send after the restart is stored by the new ingest worker, and the new realtime node answers
    const tenant = uniq('tenant-restart');
    const token = await signToken(TEST_JWT_SECRET, { sub: 'restart-svc', tenant, scope: 'notify:send' });
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'after the restart', content: 'stored', user_id: 'u-restart' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await waitFor(async () => (await db.query('select 1 from notifications where id = $1 and tenant = $2', [id, tenant])).rowCount === 1, 60_000, 'the notification to be stored');
    expect(await statusOf(`http://127.0.0.1:${wsPort}/health`)).toBe(200);

    polling = false;
    await poller;
    expect(apiFailures).toEqual([]);
    expect(apiAnswers).toBeGreaterThan(0);

    // Ctrl-C: every role stops, nothing is restarted meanwhile, start exits 0 and leaves no process behind
    expect(roleChildren(start.child.pid!).length).toBe(entries.size);
    start.child.kill('SIGINT');
    expect(await start.exited).toBe(0);
    expect([...everyPid].filter(isAlive)).toEqual([]);
    expect(supervision().filter((l) => l.msg.includes(' died '))).toHaveLength(KILLED.length);
    for (const role of ['api', ...KILLED]) expect({ role, stopped: linesOf(role).some((l) => /exited \(0\)$/.test(l)) }).toEqual({ role, stopped: true });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- npm start said:\n${start.lines.slice(-60).join('\n')}`);
  } finally {
    polling = false;
    await poller;
    // On a failure, stop it the way a user would, and leave no role running on this machine.
    if (start.child.exitCode === null) {
      for (const pid of roleChildren(start.child.pid!)) everyPid.add(pid);
      start.child.kill('SIGINT');
      await Promise.race([start.exited, new Promise((r) => setTimeout(r, 30_000))]);
    }
    for (const pid of [...everyPid].filter(isAlive)) process.kill(pid, 'SIGKILL');
  }
});
