import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { startRedis, type Proc } from '../../test/helpers/procs.js';

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/**
 * Starts a Herald process entry with the given environment: a TypeScript
 * entry through tsx (as `npm start` runs it), a compiled `dist/….js` one
 * with plain node (as the Procfile runs it). BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every role
 * started into that directory (open it in Chrome DevTools).
 */
/** The data key of bench runs (32 bytes, base64): it seals only the bench's own made-up recipients. */
export const BENCH_DATA_KEYS = 'bench:YmVuY2gtZGF0YS1rZXktMzItYnl0ZXMtbG9uZyEhISE=';

export function startRole(entry: string, env: Record<string, string>): ChildProcess {
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const loader = entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...prof, ...loader, entry], {
    // NODE_ENV=production requires data keys: a fixed bench key unless the shell gives one
    env: { HERALD_DATA_KEYS: BENCH_DATA_KEYS, ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

export async function stopRole(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** Waits until GET url answers 200. */
export async function waitHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

/** A redis-server of the bench's own on a free port, killed by `cleanups`: its URL and process. */
export async function benchRedis(cleanups: Array<() => unknown>): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const proc = await startRedis(port);
  cleanups.push(() => proc.stop('SIGKILL'));
  return { url: `redis://127.0.0.1:${port}`, proc };
}
