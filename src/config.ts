import { availableParallelism } from 'node:os';
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
  /**
   * longest lifetime (exp - iat, or exp - now without iat) accepted for a token without a sending or admin
   * scope, in seconds (default 2592000 = 30 days). A token without exp is refused: a leaked one would
   * otherwise work for ever.
   */
  JWT_USER_MAX_TTL_S: int(30 * 86_400, 60),
  /** the same for tokens with notify:send, templates:write or admin, in seconds (default 31536000 = 365 days) */
  JWT_SERVICE_MAX_TTL_S: int(365 * 86_400, 60),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** ingest worker: jobs processed at once (default 100) */
  INGEST_CONCURRENCY: int(100, 1),
  /** ingest worker: most notifications written by one INSERT (default 1000) */
  INGEST_BATCH_MAX: int(1000, 1),
  /** ingest worker: INSERTs start at most this often, in ms, the first after a pause at once (default 2) */
  INGEST_BATCH_WAIT_MS: int(2, 0),
  RATE_LIMIT_USER_PER_MIN: int(100, 1),
  RATE_LIMIT_SERVICE_PER_MIN: int(60000, 1),
  MAX_CONNECTIONS_PER_USER: int(3, 1),
  WS_MAX_BACKPRESSURE: int(1024 * 1024, 1024),
  RETENTION_DAYS: int(90, 1),
  PRETTY_LOGS: bool(false),

  // --- Realtime node (issue #3)
  /** realtime: the server pings a socket that has been quiet this long, in ms (default 54000) */
  WS_PING_INTERVAL_MS: int(54_000, 10),
  /** realtime: a socket that sent nothing (not even a pong) for this long is closed with 4008, in ms (default 60000) */
  WS_IDLE_TIMEOUT_MS: int(60_000, 20),
  /** realtime: how often a node reports its live connection count to Redis, in ms (default 5000) */
  WS_PRESENCE_INTERVAL_MS: int(5000, 50),
  /** realtime: notifications read from PostgreSQL per page when a client reconnects with ?since= (default 500) */
  WS_REPLAY_PAGE: int(500, 1),
  /** realtime: after a ?since= replay, live frames are checked against the replay's last cursor this long, in ms (default 5000) */
  WS_SEAM_GRACE_MS: int(5000, 0),
  /**
   * realtime: longest a notification frame waits for the tenant's frame before it (another ingest process
   * publishing a moment later) before it is sent anyway, in ms (default 1000)
   */
  WS_REORDER_WAIT_MS: int(1000, 0),
  /**
   * realtime: threads of one realtime process, each a node with its own sockets on WS_PORT; the kernel
   * spreads new connections over them. A broadcast is one write per socket and one thread writes on one
   * core, so more threads (up to the host's cores) fan it out faster; each parses every Redis message, ~55 µs
   * of CPU per notification per thread. Default 2 on a host with two cores or more, else 1: 10,000 sockets
   * got a broadcast in 73–83 ms instead of 92–102 ms on the benchmark machine, with no loss in POST → frame
   * latency (bench/realtime, README)
   */
  WS_THREADS: z.coerce.number().int().min(1).max(256).default(() => Math.min(2, availableParallelism())),
  /**
   * realtime: WebSocket upgrades per minute allowed to one token subject, across all nodes (a Redis GCRA
   * bucket like the HTTP limit); past it the upgrade is refused with 429 and Retry-After before any query.
   * A client looping on connect cannot spend the node's CPU. 0 turns it off (default 30)
   */
  WS_UPGRADE_USER_PER_MIN: int(30, 0),
  /**
   * realtime: WebSocket upgrades per minute from one client IP address, across all nodes, checked before the
   * token is read. 0 turns it off (default 3000: a few thousand users behind one NAT can reconnect at once)
   */
  WS_UPGRADE_IP_PER_MIN: int(3000, 0),

  // --- Operations (issue #6)
  /** per-scope rate limits overriding the two above, e.g. `admin=600,templates:write=1000`; a token gets the highest of its scopes (default none) */
  RATE_LIMIT_SCOPES: z
    .string()
    .regex(/^(\s*[\w:.-]+\s*=\s*\d+\s*)?(,\s*[\w:.-]+\s*=\s*\d+\s*)*$/, 'must look like scope=limit,scope=limit')
    .default(''),
  /** api: a request still running after this many ms is answered 503 (default 30000) */
  REQUEST_TIMEOUT_MS: int(30_000, 100),
  /**
   * api: an idle keep-alive connection is closed after this many ms (default 65000). Keep it above the idle
   * timeout of whatever pools connections in front of the api (AWS ALB 60 s, nginx upstream keepalive 60 s):
   * the side that closes first races the other's next request onto a closing socket, and that request fails.
   * Node's own default is 5 s.
   */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(65_000, 1000),
  /** every process pushes its metrics to Redis this often, in ms; GET /metrics on the api merges them (default 5000) */
  METRICS_PUSH_INTERVAL_MS: int(5000, 100),
  /** when set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>` (default: open, for a private network) */
  METRICS_TOKEN: z.string().min(8).optional(),
  /** a process still shutting down after this many ms exits 1; BullMQ hands its unfinished jobs to another worker (default 10000) */
  SHUTDOWN_TIMEOUT_MS: int(10_000, 100),
  /** npm start: where the embedded PostgreSQL keeps its data when DATABASE_URL is unset and nothing answers on localhost:5432 (default .herald/postgres) */
  EMBEDDED_PG_DIR: z.string().min(1).default('.herald/postgres'),
  /**
   * npm start: where the Redis it starts itself keeps its data (AOF on) when REDIS_URL is unset, nothing
   * answers on localhost:6379 and redis-server is on the PATH (default .herald/redis)
   */
  EMBEDDED_REDIS_DIR: z.string().min(1).default('.herald/redis'),

  // --- Channels (issue #4): provider credentials and endpoints. A channel whose
  // credentials are absent is "not configured": its deliveries fail at once
  // with reason not_configured, never counted as sent.
  /** SMTP server host; email is not configured without it */
  SMTP_HOST: z.string().optional(),
  /** SMTP port (default 587) */
  SMTP_PORT: int(587, 1),
  SMTP_USER: z.string().optional(),
  SMTP_PASSWORD: z.string().optional(),
  /** From: address (default SMTP_USER, else herald@localhost) */
  SMTP_FROM: z.string().optional(),
  /** implicit TLS (port 465); STARTTLS is negotiated otherwise (default false) */
  SMTP_SECURE: bool(false),
  ALIYUN_ACCESS_KEY: z.string().optional(),
  ALIYUN_ACCESS_SECRET: z.string().optional(),
  /** SMS signature name (SignName) */
  ALIYUN_SMS_SIGN: z.string().optional(),
  /** default TemplateCode; metadata.sms_template_code overrides it */
  ALIYUN_SMS_TEMPLATE_CODE: z.string().optional(),
  /** Aliyun SMS endpoint (default https://dysmsapi.aliyuncs.com) */
  ALIYUN_SMS_ENDPOINT: z.string().url().default('https://dysmsapi.aliyuncs.com'),
  WECHAT_CORP_ID: z.string().optional(),
  WECHAT_CORP_SECRET: z.string().optional(),
  WECHAT_AGENT_ID: z.string().optional(),
  /** WeCom API base (default https://qyapi.weixin.qq.com) */
  WECOM_API_BASE: z.string().url().default('https://qyapi.weixin.qq.com'),
  FEISHU_APP_ID: z.string().optional(),
  FEISHU_APP_SECRET: z.string().optional(),
  /** Feishu API base (default https://open.feishu.cn) */
  FEISHU_API_BASE: z.string().url().default('https://open.feishu.cn'),
  FCM_PROJECT_ID: z.string().optional(),
  FCM_CLIENT_EMAIL: z.string().optional(),
  /** PEM private key of the service account (\\n escapes accepted) */
  FCM_PRIVATE_KEY: z.string().optional(),
  /** path to a service-account JSON file, used when FCM_* are absent */
  GOOGLE_APPLICATION_CREDENTIALS: z.string().optional(),
  /** FCM API base (default https://fcm.googleapis.com) */
  FCM_API_BASE: z.string().url().default('https://fcm.googleapis.com'),
  /** OAuth token endpoint for the service-account JWT (default https://oauth2.googleapis.com/token) */
  FCM_TOKEN_URL: z.string().url().default('https://oauth2.googleapis.com/token'),
  /** HMAC-SHA256 key of webhook signatures; webhook is not configured without it */
  WEBHOOK_SECRET: z.string().optional(),
  /** channel workers: jobs processed at once per worker process (default 20) */
  CHANNEL_CONCURRENCY: int(20, 1),
  /** channel workers: ms a job's lock lives before another worker may take it over (default 30000) */
  CHANNEL_LOCK_MS: int(30_000, 1000),
  /** channel workers: ms between checks for jobs whose worker died, so another takes them over (default 30000) */
  CHANNEL_STALLED_INTERVAL_MS: int(30_000, 100),
  /**
   * email: what to do with a delivery found in `sending` when its job runs again (the worker died between
   * handing the message to SMTP and recording the answer, so it may or may not have gone out). `resend`
   * sends it again with the same Message-ID (at least once; mail systems that de-duplicate by Message-ID
   * show it once); `skip` records it failed with reason unknown_outcome and sends nothing (at most once).
   * Default resend: a notification platform must not lose a message.
   */
  EMAIL_ON_UNKNOWN: z.enum(['resend', 'skip']).default('resend'),
  /** ms one provider call may take before it counts as a retryable timeout (default 10000) */
  PROVIDER_TIMEOUT_MS: int(10_000, 100),
  /** provider rate limits, sends per second per channel (BullMQ limiter, shared by all workers of a channel) */
  EMAIL_RATE_PER_SEC: int(50, 1),
  SMS_RATE_PER_SEC: int(20, 1),
  WECHAT_RATE_PER_SEC: int(30, 1),
  FEISHU_RATE_PER_SEC: int(50, 1),
  PUSH_RATE_PER_SEC: int(500, 1),
  WEBHOOK_RATE_PER_SEC: int(200, 1),

  // --- Scheduling and maintenance (issue #5): the scheduler process
  /** scheduler: recurring-schedule occurrences processed at once (default 10) */
  SCHEDULER_CONCURRENCY: int(10, 1),
  /** scheduler: node-cron pattern of the reconciliation of scheduled sends and recurring schedules with PostgreSQL (default every minute) */
  RECONCILE_CRON: z.string().default('* * * * *'),
  /** scheduler: node-cron pattern of the retention purge of notifications older than RETENTION_DAYS (default 03:17 daily) */
  RETENTION_CRON: z.string().default('17 3 * * *'),
  /** scheduler: node-cron pattern of the check for deliveries stuck in `sending` (default every minute) */
  STUCK_DELIVERY_CRON: z.string().default('* * * * *'),
  /** scheduler: a delivery in `sending` for longer than this is re-enqueued, in ms (default 600000 = 10 min) */
  STUCK_DELIVERY_AFTER_MS: int(600_000, 1000),
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
