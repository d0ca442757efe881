/**
 * `npm start`: every role of the Procfile on one machine, each its own
 * process started from its TypeScript source with tsx, each line prefixed
 * with the role's name in colour. Before that it finds a Redis and a
 * PostgreSQL (running embedded ones when the URLs are unset and nothing
 * answers locally) and runs migrations once. A role that dies is restarted
 * with backoff while the others keep running (scripts/supervisor.ts).
 * Ctrl-C (or SIGTERM) stops the roles, then the embedded Redis, then the
 * embedded PostgreSQL, and exits 0.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { loadConfigOrExit } from '../src/config.js';
import { migrate } from '../src/db/orm.js';
import { Lifecycle } from '../src/lifecycle.js';
import { createLogger } from '../src/logger.js';
import { localPostgres, localRedis, postgresHelp } from './local-services.js';
import { superviseRoles, type RoleSpec, type Supervisor } from './supervisor.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const COLOURS = [36, 33, 35, 32, 34, 91, 92, 93, 94, 95, 96];

/** Procfile lines `name: node dist/<path>.js` become `node --import tsx <path>.ts`. */
function rolesFromProcfile(text: string): RoleSpec[] {
  return text
    .split('\n')
    .map((l) => /^([\w-]+):\s*node\s+dist\/(\S+)\.js/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1], command: process.execPath, args: ['--import', 'tsx', join(root, `${m[2]}.ts`)] }));
}

const config = loadConfigOrExit();
const logger = createLogger(config, 'start');

// Stopped in this order: the roles need Redis and PostgreSQL to shut down cleanly.
const redisLife = new Lifecycle(logger);
const postgresLife = new Lifecycle(logger);
let supervisor: Supervisor | undefined;
let stopping = false;

async function stopEverything(exitCode: number): Promise<never> {
  const cleanly = (await supervisor?.stop()) ?? true;
  await redisLife.close();
  await postgresLife.close();
  await postgresLife.flushLogs();
  process.exit(cleanly ? exitCode : 1);
}

function onSignal(signal: NodeJS.Signals) {
  // Ctrl-C reaches every process of the terminal's group; a second signal must not cut the stop short.
  if (stopping) return void logger.info({ signal }, 'already stopping');
  stopping = true;
  logger.info({ signal }, 'stopping every role');
  const timer = setTimeout(() => {
    logger.error('stopping took too long: exiting');
    process.exit(1);
  }, config.SHUTDOWN_TIMEOUT_MS + 30_000);
  timer.unref();
  void stopEverything(0);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const deps = { config, logger, root };
const redis = await localRedis({ ...deps, life: redisLife });
if ('help' in redis) {
  console.error(redis.help);
  process.exit(1);
}
const databaseUrl = await localPostgres({ ...deps, life: postgresLife });

try {
  await migrate({ url: databaseUrl, logger });
} catch (err) {
  if (!stopping) {
    stopping = true;
    console.error(postgresHelp(databaseUrl, err as Error));
    await stopEverything(1);
  }
}

if (!stopping) {
  const roles = rolesFromProcfile(readFileSync(join(root, 'Procfile'), 'utf8'));
  const width = Math.max(...roles.map((r) => r.name.length));
  const tags = new Map(roles.map((r, i) => [r.name, `\x1b[${COLOURS[i % COLOURS.length]}m${r.name.padEnd(width)} |\x1b[0m `]));
  supervisor = superviseRoles(logger, {
    roles,
    cwd: root,
    // A terminal gets pretty logs unless PRETTY_LOGS says otherwise.
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      PRETTY_LOGS: process.env.PRETTY_LOGS ?? String(Boolean(process.stdout.isTTY) && config.NODE_ENV === 'development'),
    },
    onLine: (role, line) => process.stdout.write(tags.get(role) + line + '\n'),
    // Each role exits by itself within SHUTDOWN_TIMEOUT_MS; past a little more it is killed.
    stopTimeoutMs: config.SHUTDOWN_TIMEOUT_MS + 5000,
  });
}
