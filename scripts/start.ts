/**
 * `npm start`: every role of the Procfile in one process group, for one
 * machine. Checks for Redis (and says how to get one), starts an embedded
 * PostgreSQL when DATABASE_URL is left at its default and nothing answers on
 * localhost:5432, runs migrations once, then starts each role from its
 * TypeScript source with tsx, prefixing each line with the role's name in
 * colour. Ctrl-C (or SIGTERM) stops them all, then the embedded PostgreSQL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { loadConfig, loadConfigOrExit } from '../src/config.js';
import { openEmbeddedPostgres, type EmbeddedPg } from '../src/db/embedded.js';
import { migrate } from '../src/db/orm.js';
import { createLogger } from '../src/logger.js';
import { checkRedis, postgresHelp, redisHelp, tcpAnswers } from './local-services.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const COLOURS = [36, 33, 35, 32, 34, 91, 92, 93, 94, 95, 96];

/** Procfile lines `name: node dist/<path>.js` become `tsx <path>.ts`. */
export function rolesFromProcfile(text: string): Array<{ name: string; entry: string }> {
  return text
    .split('\n')
    .map((l) => /^([\w-]+):\s*node\s+dist\/(\S+)\.js/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1], entry: `${m[2]}.ts` }));
}

const config = loadConfigOrExit();
const logger = createLogger(config, 'start');

const redis = await checkRedis(config.REDIS_URL);
if (!redis.ok) {
  console.error(redisHelp(config.REDIS_URL, redis.error ?? 'no answer'));
  process.exit(1);
}
for (const w of redis.warnings) logger.warn(w);

// A newcomer with only Redis gets going: no DATABASE_URL and no PostgreSQL
// on this machine means an embedded one, kept under .herald/ between runs.
let databaseUrl = config.DATABASE_URL;
let embedded: EmbeddedPg | undefined;
const defaultUrl = loadConfig({}).DATABASE_URL;
if (databaseUrl === defaultUrl && !(await tcpAnswers('127.0.0.1', 5432))) {
  const dataDir = resolve(root, config.EMBEDDED_PG_DIR);
  logger.info({ dataDir }, 'nothing answers on localhost:5432 and DATABASE_URL is not set: starting an embedded PostgreSQL');
  embedded = await openEmbeddedPostgres({ dataDir, port: 5432, onLog: (line) => logger.debug({ postgres: line }) });
  await embedded.start();
  databaseUrl = embedded.url;
  logger.info({ url: databaseUrl.replace(/:[^:@/]+@/, ':***@') }, 'embedded PostgreSQL started');
}

try {
  await migrate({ url: databaseUrl, logger });
} catch (err) {
  console.error(postgresHelp(databaseUrl, err as Error));
  await embedded?.stop().catch(() => undefined);
  process.exit(1);
}

const roles = rolesFromProcfile(readFileSync(join(root, 'Procfile'), 'utf8'));
const width = Math.max(...roles.map((r) => r.name.length));
const children: ChildProcess[] = [];
// Children inherit this environment; a terminal gets pretty logs unless PRETTY_LOGS says otherwise.
const childEnv = {
  ...process.env,
  DATABASE_URL: databaseUrl,
  PRETTY_LOGS: process.env.PRETTY_LOGS ?? String(Boolean(process.stdout.isTTY) && config.NODE_ENV === 'development'),
};
let stopping = false;

roles.forEach((role, i) => {
  const tag = `\x1b[${COLOURS[i % COLOURS.length]}m${role.name.padEnd(width)} |\x1b[0m `;
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, role.entry)], {
    cwd: root,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(tag + line + '\n'));
  }
  child.on('exit', (code, signal) => {
    process.stdout.write(`${tag}exited (${signal ?? code})\n`);
    if (!stopping) stop(code ?? 1);
  });
  children.push(child);
});

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(code || 1);
  }, config.SHUTDOWN_TIMEOUT_MS + 5000);
  timer.unref();
  Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)))))
    .then(async () => {
      if (embedded) {
        await embedded.stop().catch((err) => logger.error({ err }, 'could not stop the embedded PostgreSQL'));
        logger.info('embedded PostgreSQL stopped');
      }
    })
    .then(() => logger.flush())
    .then(() => process.exit(code));
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
