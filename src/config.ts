import { z } from 'zod';

/**
 * The only reader of process.env. Every variable is validated once at start;
 * a bad value stops the process with a message naming the variable.
 */
const DEV_JWT_SECRET = 'herald-development-secret-change-me';

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** api HTTP port (default 8000) */
  PORT: int(8000, 0),
  /** realtime WebSocket port (default 8001) */
  WS_PORT: int(8001, 0),
  /** PostgreSQL; the database is created and migrated at start when missing */
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/herald'),
  /** comma-separated read replicas (optional) */
  DATABASE_READ_URLS: z.string().default(''),
  /** PostgreSQL pool size per process (default 10) */
  DATABASE_POOL_MAX: int(10, 1),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** prefix of every BullMQ key; wrap in {braces} for Redis Cluster (default herald) */
  QUEUE_PREFIX: z.string().min(1).default('herald'),
  /** HS256 secret; required when NODE_ENV=production */
  JWT_SECRET: z.string().min(16).optional(),
  /** optional JWKS URL for RS256/ES256 tokens */
  JWT_JWKS_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** ingest worker: jobs processed at once (default 100) */
  INGEST_CONCURRENCY: int(100, 1),
  /** ingest worker: most notifications written by one INSERT (default 1000) */
  INGEST_BATCH_MAX: int(1000, 1),
  /** ingest worker: how long a batch waits to fill, in ms (default 2) */
  INGEST_BATCH_WAIT_MS: int(2, 0),
  RATE_LIMIT_USER_PER_MIN: int(100, 1),
  RATE_LIMIT_SERVICE_PER_MIN: int(60000, 1),
  MAX_CONNECTIONS_PER_USER: int(3, 1),
  WS_MAX_BACKPRESSURE: int(1024 * 1024, 1024),
  RETENTION_DAYS: int(90, 1),
  PRETTY_LOGS: bool(false),
});

export type Config = z.infer<typeof schema> & { JWT_SECRET: string; jwtSecretIsDefault: boolean };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const cfg = parsed.data;
  if (!cfg.JWT_SECRET && cfg.NODE_ENV === 'production') {
    throw new ConfigError('Invalid configuration:\n  JWT_SECRET: required when NODE_ENV=production');
  }
  return { ...cfg, JWT_SECRET: cfg.JWT_SECRET ?? DEV_JWT_SECRET, jwtSecretIsDefault: !cfg.JWT_SECRET };
}

/** Loads the config for a process entry point, or prints why not and exits. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(78);
    }
    throw err;
  }
}
