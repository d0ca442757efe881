/**
 * A redis-server run by `npm start` when no Redis answers, configured the way
 * BullMQ needs one: every write in the append-only file (a restart loses no
 * queued job), and `noeviction` (Redis never drops a key to make room). No
 * RDB snapshots: the AOF is the data.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';

/** The full path of an executable found on PATH, if any. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface EmbeddedRedis {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  pid: number;
  /** SHUTDOWN (the AOF is written and synced first), then waits for the process to end */
  stop(): Promise<void>;
}

export interface EmbeddedRedisOptions {
  /** where the append-only file lives; created when missing */
  dataDir: string;
  port: number;
  /** the redis-server executable (default: found on PATH) */
  binary?: string;
  /** each line redis-server logs */
  onLog?: (line: string) => void;
  /** how long to wait for it to answer PING, loading a large AOF included, in ms (default 60000) */
  readyTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * True when the Redis at url is the process `pid` and answers PING (it is not
 * still loading its data). Another server already on the port answers too,
 * hence the process id.
 */
async function answersAs(url: string, pid: number): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const info = await redis.info('server');
    return /^process_id:(\d+)/m.exec(info)?.[1] === String(pid) && (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * Starts redis-server on 127.0.0.1:<port> with its data in dataDir and
 * resolves once it answers PING. It runs in a process group of its own, so
 * the Ctrl-C a terminal sends to `npm start`'s group does not stop it before
 * the roles using it have shut down; its owner stops it, last.
 */
export async function startEmbeddedRedis(opts: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const binary = opts.binary ?? findOnPath('redis-server');
  if (!binary) throw new Error('redis-server is not on the PATH');
  mkdirSync(opts.dataDir, { recursive: true });
  const args = [
    '--bind', '127.0.0.1',
    '--port', String(opts.port),
    '--dir', opts.dataDir,
    '--appendonly', 'yes',
    // a 202 means the job is on disk: everysec would lose up to a second of accepted notifications to a crash
    '--appendfsync', 'always',
    '--maxmemory-policy', 'noeviction',
    '--save', '',
    '--daemonize', 'no',
    '--logfile', '',
  ];
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const said: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      said.push(line);
      if (said.length > 20) said.shift();
      opts.onLog?.(line);
    });
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null; err?: Error } | undefined;
  const ended = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (err) => {
      exited ??= { code: null, signal: null, err };
      resolve();
    });
  });

  const url = `redis://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      const why = exited.err?.message ?? exited.signal ?? `exit code ${exited.code}`;
      throw new Error(`redis-server stopped at once (${why}): ${said.filter(Boolean).slice(-5).join(' | ')}`);
    }
    if (child.pid !== undefined && (await answersAs(url, child.pid))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer on ${url} within ${opts.readyTimeoutMs ?? 60_000} ms: ${said.slice(-5).join(' | ')}`);
    }
    await sleep(50);
  }

  return {
    url,
    port: opts.port,
    pid: child.pid!,
    async stop() {
      if (exited) return;
      const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
      redis.on('error', () => undefined);
      try {
        await redis.connect();
        // The connection closes as the server exits, so the command's own answer is an error.
        await redis.call('SHUTDOWN').catch(() => undefined);
      } catch {
        // cannot be asked: SIGTERM makes redis-server shut down the same way
        child.kill('SIGTERM');
      } finally {
        redis.disconnect();
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await ended;
      clearTimeout(timer);
    },
  };
}
