import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { clusterUrlOf, parseRedisUrl } from '../queues/redis-target.js';
import { DataKeyFormatError, parseDataKeys } from './crypto/keyring.js';

/**
 * The only reader of process.env. Every variable is validated once at start;
 * a bad value stops the process with a message naming the variable.
 */
const DEV_JWT_SECRET = 'herald-development-secret-change-me';

/**
 * The data key used when HERALD_DATA_KEYS is not set outside production:
 * published here, so it protects nothing. Processes warn at start while
 * they use it.
 */
export const DEV_DATA_KEYS = 'dev:aGVyYWxkLWRldmVsb3BtZW50LWtleS1ub3Qtc2VjcmU=';

/** What a process using DEV_DATA_KEYS logs at start. */
export const DEV_DATA_KEYS_WARNING =
  'HERALD_DATA_KEYS is not set: contact data is encrypted with the DEVELOPMENT key, which is public. Set HERALD_DATA_KEYS.';

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * The groups of README's configuration table, in the table's order. Each
 * variable names its group and says what it means in `.meta()`, which
 * `npm run docs:config` (scripts/config-docs.ts) turns into that table.
 */
export const CONFIG_GROUPS = [
  'General',
  'PostgreSQL and Redis',
  'Tokens',
  'Encryption at rest',
  'api (HTTP)',
  'Ingest worker',
  'Realtime node',
  'Channel workers',
  'Email (SMTP)',
  'SMS (Aliyun)',
  'SMS (Tencent)',
  'WeCom',
  'Feishu',
  'Push (FCM)',
  'Push (APNs)',
  'Webhook',
  'Scheduler',
] as const;
export type ConfigGroup = (typeof CONFIG_GROUPS)[number];

/**
 * What README says of a variable; `shownDefault` stands for a default that is
 * computed at start or applied outside the schema. A type alias, not an
 * interface: `.meta()` takes only types with an index signature.
 */
export type ConfigDoc = {
  group: ConfigGroup;
  description: string;
  shownDefault?: string;
};
const doc = (group: ConfigGroup, description: string, shownDefault?: string): ConfigDoc =>
  shownDefault === undefined ? { group, description } : { group, description, shownDefault };

/** How many queues one logical queue is split into (queues/shards.ts). */
const shards = (queue: string) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .meta(
      doc(
        'PostgreSQL and Redis',
        `queues ${queue} is split into, each on its own hash slot, so a Redis Cluster spreads them over its primaries; ` +
          "one user's notifications always take the same one",
      ),
    );

export const configSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'])
    .default('development')
    .meta(doc('General', '`development`, `production` or `test`; production requires JWT_SECRET and HERALD_DATA_KEYS')),
  PORT: int(8000, 0).meta(doc('api (HTTP)', 'api HTTP port')),
  WS_PORT: int(8001, 0).meta(doc('Realtime node', 'realtime WebSocket port; the node also answers GET /health and /ready on it')),
  DATABASE_URL: z
    .string()
    .url()
    .default('postgres://postgres@127.0.0.1:5432/herald')
    .meta(doc('PostgreSQL and Redis', 'PostgreSQL; the database is created and migrated at start when missing')),
  DATABASE_READ_URLS: z
    .string()
    .default('')
    .meta(
      doc(
        'PostgreSQL and Redis',
        'comma-separated read replicas (optional): inbox listings, counts, stats and grouped views read from one of them, ' +
          'picked at random per query',
      ),
    ),
  DATABASE_POOL_MAX: int(10, 1).meta(
    doc('PostgreSQL and Redis', 'PostgreSQL pool size per process (per thread of a realtime process); keep it × processes under max_connections'),
  ),
  REDIS_URL: z
    .string()
    .default('redis://127.0.0.1:6379')
    .superRefine((url, ctx) => {
      try {
        parseRedisUrl(url);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .meta(
      doc(
        'PostgreSQL and Redis',
        'Redis for BullMQ, pub/sub, rate limits, idempotency keys and metrics: `redis://host:port`, `rediss://` for TLS, ' +
          '`redis+sentinel://host:port,host:port/mastername` to follow the primary Sentinel names, or ' +
          '`redis+cluster://host:port,host:port` for a Redis Cluster; run it with `appendonly yes`, ' +
          '`appendfsync always` and `maxmemory-policy noeviction`',
      ),
    ),
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .meta(doc('PostgreSQL and Redis', 'a Redis Cluster\'s nodes, `host:port,host:port` (some are enough): the same as REDIS_URL=redis+cluster://…')),
  INGEST_SHARDS: shards('the ingest queue'),
  EMAIL_SHARDS: shards('the email queue'),
  SMS_SHARDS: shards('the SMS queue'),
  WECHAT_SHARDS: shards('the WeCom queue'),
  FEISHU_SHARDS: shards('the Feishu queue'),
  PUSH_SHARDS: shards('the push queue'),
  WEBHOOK_SHARDS: shards('the webhook queue'),
  WORKER_SHARDS: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'a list of shard numbers, e.g. 0,2')
    .optional()
    .meta(
      doc(
        'PostgreSQL and Redis',
        'the shards of its queue a worker process consumes (e.g. `0,2`), to pin workers to shards; every shard when unset',
        'all',
      ),
    ),
  QUEUE_PREFIX: z
    .string()
    .min(1)
    .default('herald')
    .meta(doc('PostgreSQL and Redis', 'prefix of every BullMQ key and pub/sub channel')),
  JWT_SECRET: z
    .string()
    .min(16)
    .optional()
    .meta(
      doc(
        'Tokens',
        'HS256 secret, at least 16 characters; required when NODE_ENV=production (elsewhere a built-in development secret is used)',
        'development secret',
      ),
    ),
  HERALD_DATA_KEYS: z
    .string()
    .optional()
    .meta(
      doc(
        'Encryption at rest',
        'keys that seal contact data (recipients\' addresses and device tokens, delivery addresses): a comma-separated list of ' +
          '`kid:base64key`, each key 32 bytes (`openssl rand -base64 32`). The first seals new values and every listed key opens ' +
          'values sealed with it; to rotate, put the new key first, keep the old one listed until `npm run rekey` has resealed ' +
          'everything. Required when NODE_ENV=production (elsewhere a built-in development key is used)',
        'development key',
      ),
    ),
  JWT_JWKS_URL: z.string().url().optional().meta(doc('Tokens', 'optional JWKS URL for RS256/ES256 tokens')),
  JWT_USER_MAX_TTL_S: int(30 * 86_400, 60).meta(
    doc(
      'Tokens',
      'longest lifetime (exp − iat, or exp − now without iat) accepted for a token without a sending or admin scope, ' +
        'in seconds (30 days). A token without exp is refused: a leaked one would otherwise work for ever.',
    ),
  ),
  JWT_SERVICE_MAX_TTL_S: int(365 * 86_400, 60).meta(
    doc('Tokens', 'the same for tokens with `notify:send`, `templates:write` or `admin`, in seconds (365 days)'),
  ),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .meta(doc('General', '`fatal` `error` `warn` `info` `debug` `trace` `silent`; `debug` adds one line per request')),
  INGEST_CONCURRENCY: int(100, 1).meta(doc('Ingest worker', 'jobs processed at once')),
  INGEST_BATCH_MAX: int(1000, 1).meta(doc('Ingest worker', 'most notifications written by one INSERT')),
  INGEST_BATCH_WAIT_MS: int(2, 0).meta(
    doc('Ingest worker', 'INSERTs start at most this often, in ms; the first after a pause starts at once, the jobs that come meanwhile share the next'),
  ),
  DIGEST_CONCURRENCY: int(10, 1).meta(doc('Ingest worker', 'digest windows (sends with `digest`) assembled at once by each ingest process')),
  DIGEST_LOCK_MS: int(30_000, 1000).meta(doc('Ingest worker', "ms a digest job's lock lives before another ingest process may take it over")),
  DIGEST_STALLED_INTERVAL_MS: int(30_000, 100).meta(doc('Ingest worker', 'ms between checks for digest jobs whose process died, so another takes them over')),
  RATE_LIMIT_USER_PER_MIN: int(100, 1).meta(
    doc('api (HTTP)', 'requests per minute per token subject for user tokens, shared by every api process'),
  ),
  RATE_LIMIT_SERVICE_PER_MIN: int(60000, 1).meta(doc('api (HTTP)', 'requests per minute per token subject for tokens with `notify:send`')),
  MAX_CONNECTIONS_PER_USER: int(3, 1).meta(
    doc('Realtime node', 'open sockets per user across all nodes; beyond it the oldest is closed with 4001'),
  ),
  WS_MAX_BACKPRESSURE: int(1024 * 1024, 1024).meta(
    doc('Realtime node', 'bytes waiting to be sent to one socket before it is closed with 1013 (slow consumer)'),
  ),
  RETENTION_DAYS: int(90, 1).meta(doc('Scheduler', 'notifications older than this many days are purged (scheduled ones stay)')),
  AUDIT_RETENTION_DAYS: int(365, 0).meta(
    doc('Scheduler', 'audit events (GET /api/v1/admin/audit) older than this many days are purged, apart from RETENTION_DAYS; 0 keeps them forever'),
  ),
  PARTITIONS_AHEAD: int(3, 1).meta(
    doc('Scheduler', 'monthly partitions of notifications the scheduler keeps made ahead of the current month (at start and daily)'),
  ),
  SEARCH_INDEX_MONTHS: z
    .enum(['ended', 'all'])
    .default('ended')
    .meta(
      doc(
        'Scheduler',
        'which months get the inbox search index (built by the scheduler at start and hourly): `ended` (months that have ended; ' +
          'a store pays nothing for it and a search walks the month being written) or `all` (every month, the current and those made ahead ' +
          'too: each store pays for it, for when the build of a whole month would take too long, beyond some 30,000 notifications per second; docs/operations.md)',
      ),
    ),
  PRETTY_LOGS: bool(false).meta(
    doc(
      'General',
      'human-readable logs through pino-pretty (a dev dependency) instead of JSON lines; ' +
        'on by default with NODE_ENV=development on a terminal',
    ),
  ),

  // --- Realtime node
  WS_PING_INTERVAL_MS: int(54_000, 10).meta(doc('Realtime node', 'the server pings a socket that has been quiet this long, in ms')),
  WS_IDLE_TIMEOUT_MS: int(60_000, 20).meta(
    doc('Realtime node', 'a socket that sent nothing (not even a pong) for this long is closed with 4008, in ms'),
  ),
  WS_PRESENCE_INTERVAL_MS: int(5000, 50).meta(doc('Realtime node', 'how often a node reports its live connection count to Redis, in ms')),
  WS_REPLAY_PAGE: int(500, 1).meta(
    doc('Realtime node', 'notifications read from PostgreSQL per page when a client reconnects with `?since=`'),
  ),
  WS_SEAM_GRACE_MS: int(5000, 0).meta(
    doc('Realtime node', "after a `?since=` replay, live frames are checked against the replay's last cursor this long, in ms"),
  ),
  WS_REORDER_WAIT_MS: int(1000, 0).meta(
    doc(
      'Realtime node',
      "longest a notification frame waits for the tenant's frames before it (another ingest process publishing a moment later) " +
        'before it is sent anyway, in ms: in Redis, held by the ingest worker, on one Redis; on the realtime node on a Redis Cluster',
    ),
  ),
  WS_THREADS: z.coerce
    .number()
    .int()
    .min(1)
    .max(256)
    .default(() => Math.min(2, availableParallelism()))
    .meta(
      doc(
        'Realtime node',
        'threads of one realtime process, each a node with its own sockets, Redis connections and PostgreSQL pool on WS_PORT; ' +
          'the kernel spreads new connections over them. A broadcast is one write per socket and one thread writes on one core, ' +
          "so more threads (up to the host's cores) fan it out faster; each parses every Redis message, ~55 µs of CPU per " +
          'notification per thread (docs/realtime.md)',
        '`2` (`1` on a one-core host)',
      ),
    ),
  WS_UPGRADE_USER_PER_MIN: int(30, 0).meta(
    doc(
      'Realtime node',
      'WebSocket upgrades per minute allowed to one token subject, across all nodes (a Redis GCRA bucket like the HTTP limit); ' +
        'past it the upgrade is refused with 429 and Retry-After before any query, so a client looping on connect cannot ' +
        "spend the node's CPU. `0` turns it off",
    ),
  ),
  WS_UPGRADE_IP_PER_MIN: int(3000, 0).meta(
    doc(
      'Realtime node',
      'WebSocket upgrades per minute from one client address (IPv6: per /64), across all nodes, checked before the token ' +
        "is read; the default lets a few thousand users behind one NAT reconnect at once. It is the socket's peer address, " +
        'never X-Forwarded-For: behind a proxy that hides client addresses set `0`, which turns it off',
    ),
  ),

  // --- Operations
  RATE_LIMIT_SCOPES: z
    .string()
    .regex(/^(\s*[\w:.-]+\s*=\s*\d+\s*)?(,\s*[\w:.-]+\s*=\s*\d+\s*)*$/, 'must look like scope=limit,scope=limit')
    .default('')
    .meta(
      doc(
        'api (HTTP)',
        'per-scope rate limits overriding RATE_LIMIT_USER_PER_MIN and RATE_LIMIT_SERVICE_PER_MIN, e.g. ' +
          '`admin=600,templates:write=1000`; a token gets the highest of its scopes',
      ),
    ),
  INBOX_DEMO: bool(false).meta(
    doc(
      'api (HTTP)',
      'serve the `<herald-inbox>` demo page at GET /inbox when NODE_ENV=production (it is always on elsewhere); ' +
        'in production the page asks for the token in a form and never reads it from the URL',
    ),
  ),
  INBOX_DEMO_WS_URL: z
    .string()
    .url()
    .refine((s) => /^wss?:\/\//.test(s), 'must be a ws:// or wss:// URL')
    .optional()
    .meta(
      doc(
        'api (HTTP)',
        "the realtime endpoint the /inbox demo page connects to, e.g. `wss://herald.example.com/api/v1/ws` (default: the page's own host on WS_PORT)",
        "the page's host on WS_PORT",
      ),
    ),
  REQUEST_TIMEOUT_MS: int(30_000, 100).meta(doc('api (HTTP)', 'a request still running after this many ms is answered 503')),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(65_000, 1000).meta(
    doc(
      'api (HTTP)',
      'an idle keep-alive connection is closed after this many ms. Keep it above the idle timeout of whatever pools ' +
        'connections in front of the api (AWS ALB 60 s, nginx upstream keepalive 60 s): the side that closes first races ' +
        "the other's next request onto a closing socket, and that request fails. Node's own default is 5 s.",
    ),
  ),
  METRICS_PUSH_INTERVAL_MS: int(5000, 100).meta(
    doc('General', 'every process pushes its metrics to Redis this often, in ms; GET /metrics on the api merges them'),
  ),
  METRICS_TOKEN: z
    .string()
    .min(8)
    .optional()
    .meta(doc('api (HTTP)', 'when set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; unset, it is open (for a private network)')),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .url()
    .optional()
    .meta(
      doc(
        'General',
        'OpenTelemetry collector (OTLP/HTTP): each process sends its spans as JSON to `<this>/v1/traces`, one trace per ' +
          'notification (api request → ingest → each delivery attempt and provider call). Unset, tracing is off and costs nothing',
      ),
    ),
  OTEL_SERVICE_NAME: z
    .string()
    .min(1)
    .default('herald')
    .meta(doc('General', 'with tracing on, each process reports service.name `<this>-<role>`: `herald-api`, `herald-ingest`, `herald-sms`, …')),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 100).meta(
    doc('General', 'a process still shutting down after this many ms exits 1; BullMQ hands its unfinished jobs to another worker'),
  ),
  EMBEDDED_PG_DIR: z
    .string()
    .min(1)
    .default('.herald/postgres')
    .meta(
      doc(
        'PostgreSQL and Redis',
        'npm start: where the embedded PostgreSQL keeps its data when DATABASE_URL is unset and nothing answers on localhost:5432',
      ),
    ),
  EMBEDDED_REDIS_DIR: z
    .string()
    .min(1)
    .default('.herald/redis')
    .meta(
      doc(
        'PostgreSQL and Redis',
        'npm start: where the Redis it starts itself keeps its data (AOF on) when REDIS_URL is unset, nothing answers on ' +
          'localhost:6379 and redis-server is on the PATH',
      ),
    ),

  // --- Channels: provider credentials and endpoints. A channel whose
  // credentials are absent is "not configured": its deliveries fail at once
  // with reason not_configured, never counted as sent.
  SMTP_HOST: z.string().optional().meta(doc('Email (SMTP)', 'SMTP server host; email is not configured without it')),
  SMTP_PORT: int(587, 1).meta(doc('Email (SMTP)', 'SMTP port')),
  SMTP_USER: z.string().optional().meta(doc('Email (SMTP)', 'SMTP user name (optional)')),
  SMTP_PASSWORD: z.string().optional().meta(doc('Email (SMTP)', 'SMTP password')),
  SMTP_FROM: z.string().optional().meta(doc('Email (SMTP)', 'From: address', 'SMTP_USER, else `herald@localhost`')),
  SMTP_SECURE: bool(false).meta(doc('Email (SMTP)', 'implicit TLS (port 465); STARTTLS is negotiated otherwise')),
  // Email attachments (src/domain/attachments): caps on what a send may make Herald store and mail.
  ATTACHMENT_MAX_BYTES: int(10 * 1024 * 1024, 1).meta(
    doc('Email (SMTP)', 'bytes one attachment may have, inline (413 at the api) or fetched from its url (the fetch is cut off past it)', '10485760 (10 MiB)'),
  ),
  ATTACHMENTS_MAX_TOTAL_BYTES: int(20 * 1024 * 1024, 1).meta(
    doc('Email (SMTP)', "bytes of one send's inline attachments together; POST /notifications takes bodies this much larger (base64)", '20971520 (20 MiB)'),
  ),
  ATTACHMENT_FETCH_TIMEOUT_MS: int(10_000, 100).meta(
    doc('Email (SMTP)', 'ms the email worker waits for an attachment url, whole body included; past it the delivery fails with attachment_unavailable'),
  ),
  ATTACHMENT_ALLOW_PRIVATE: bool(false).meta(
    doc('Email (SMTP)', 'fetch attachment urls that resolve to loopback, private or link-local addresses (refused otherwise, so a sender cannot make Herald read its own network)'),
  ),
  ALIYUN_ACCESS_KEY: z.string().optional().meta(doc('SMS (Aliyun)', 'Aliyun AccessKey ID; SMS is not configured without it')),
  ALIYUN_ACCESS_SECRET: z.string().optional().meta(doc('SMS (Aliyun)', 'Aliyun AccessKey secret')),
  ALIYUN_SMS_SIGN: z.string().optional().meta(doc('SMS (Aliyun)', 'SMS signature name (SignName)')),
  ALIYUN_SMS_TEMPLATE_CODE: z
    .string()
    .optional()
    .meta(doc('SMS (Aliyun)', 'default TemplateCode; metadata.sms_template_code overrides it')),
  ALIYUN_SMS_ENDPOINT: z.string().url().default('https://dysmsapi.aliyuncs.com').meta(doc('SMS (Aliyun)', 'Aliyun SMS endpoint')),
  SMS_PROVIDER: z
    .enum(['aliyun', 'tencent'])
    .default('aliyun')
    .meta(doc('SMS (Aliyun)', 'the SMS vendor the sms workers send through: `aliyun` (ALIYUN_*) or `tencent` (TENCENT_*)')),
  TENCENT_SECRET_ID: z
    .string()
    .optional()
    .meta(doc('SMS (Tencent)', 'Tencent Cloud API SecretId; SMS is not configured without it when SMS_PROVIDER=tencent')),
  TENCENT_SECRET_KEY: z.string().optional().meta(doc('SMS (Tencent)', 'Tencent Cloud API SecretKey (signs each call, TC3-HMAC-SHA256)')),
  TENCENT_SMS_SDK_APP_ID: z.string().optional().meta(doc('SMS (Tencent)', 'SMS application id (SmsSdkAppId, e.g. 1400006666)')),
  TENCENT_SMS_SIGN: z.string().optional().meta(doc('SMS (Tencent)', 'approved SMS signature (SignName)')),
  TENCENT_SMS_TEMPLATE_ID: z
    .string()
    .optional()
    .meta(doc('SMS (Tencent)', 'default approved TemplateId; metadata.sms_template_code overrides it')),
  TENCENT_SMS_REGION: z.string().min(1).default('ap-guangzhou').meta(doc('SMS (Tencent)', 'region sent as X-TC-Region')),
  TENCENT_SMS_ENDPOINT: z.string().url().default('https://sms.tencentcloudapi.com').meta(doc('SMS (Tencent)', 'Tencent SMS API endpoint')),
  WECHAT_CORP_ID: z.string().optional().meta(doc('WeCom', 'WeCom corp id; WeCom is not configured without it')),
  WECHAT_CORP_SECRET: z.string().optional().meta(doc('WeCom', 'WeCom app secret')),
  WECHAT_AGENT_ID: z.string().optional().meta(doc('WeCom', 'WeCom app agent id')),
  WECOM_API_BASE: z.string().url().default('https://qyapi.weixin.qq.com').meta(doc('WeCom', 'WeCom API base')),
  FEISHU_APP_ID: z.string().optional().meta(doc('Feishu', 'Feishu app id; Feishu is not configured without it')),
  FEISHU_APP_SECRET: z.string().optional().meta(doc('Feishu', 'Feishu app secret')),
  FEISHU_API_BASE: z.string().url().default('https://open.feishu.cn').meta(doc('Feishu', 'Feishu API base')),
  FCM_PROJECT_ID: z
    .string()
    .optional()
    .meta(doc('Push (FCM)', 'Firebase project id; push is not configured without it (or GOOGLE_APPLICATION_CREDENTIALS)')),
  FCM_CLIENT_EMAIL: z.string().optional().meta(doc('Push (FCM)', 'service-account client email')),
  FCM_PRIVATE_KEY: z.string().optional().meta(doc('Push (FCM)', 'PEM private key of the service account (\\n escapes accepted)')),
  GOOGLE_APPLICATION_CREDENTIALS: z
    .string()
    .optional()
    .meta(doc('Push (FCM)', 'path to a service-account JSON file, used when FCM_* are absent')),
  FCM_API_BASE: z.string().url().default('https://fcm.googleapis.com').meta(doc('Push (FCM)', 'FCM API base')),
  FCM_TOKEN_URL: z
    .string()
    .url()
    .default('https://oauth2.googleapis.com/token')
    .meta(doc('Push (FCM)', 'OAuth token endpoint for the service-account JWT')),
  APNS_KEY_ID: z
    .string()
    .optional()
    .meta(doc('Push (APNs)', 'Key ID of the APNs auth key (.p8); Apple push is not configured without it, APNS_TEAM_ID, APNS_TOPIC and the key')),
  APNS_TEAM_ID: z.string().optional().meta(doc('Push (APNs)', 'Apple developer Team ID: the issuer of the provider tokens')),
  APNS_TOPIC: z.string().optional().meta(doc('Push (APNs)', "the app's bundle id, sent as apns-topic")),
  APNS_PRIVATE_KEY: z
    .string()
    .optional()
    .meta(doc('Push (APNs)', 'the .p8 auth key itself, PEM (\\n escapes accepted)')),
  APNS_PRIVATE_KEY_FILE: z.string().optional().meta(doc('Push (APNs)', 'path to the .p8 auth key file, used when APNS_PRIVATE_KEY is absent')),
  APNS_API_BASE: z
    .string()
    .url()
    .regex(/^https?:\/\//i, 'must be an http(s) URL')
    .default('https://api.push.apple.com')
    .meta(
      doc(
        'Push (APNs)',
        'APNs origin; https://api.sandbox.push.apple.com for development builds of the app. An http:// origin speaks cleartext HTTP/2 (local fakes)',
      ),
    ),
  WEBHOOK_SECRET: z
    .string()
    .optional()
    .meta(doc('Webhook', 'HMAC-SHA256 key of webhook signatures; webhook is not configured without it')),
  CHANNEL_CONCURRENCY: int(20, 1).meta(doc('Channel workers', 'jobs processed at once per worker process')),
  CHANNEL_LOCK_MS: int(30_000, 1000).meta(
    doc('Channel workers', "ms a job's lock lives before another worker may take it over; keep it above PROVIDER_TIMEOUT_MS"),
  ),
  CHANNEL_STALLED_INTERVAL_MS: int(30_000, 100).meta(
    doc('Channel workers', 'ms between checks for jobs whose worker died, so another takes them over'),
  ),
  EMAIL_ON_UNKNOWN: z
    .enum(['resend', 'skip'])
    .default('resend')
    .meta(
      doc(
        'Email (SMTP)',
        'what to do with a delivery found in `sending` when its job runs again (the worker died between handing the message ' +
          'to SMTP and recording the answer, so it may or may not have gone out), or cut off after the end of DATA with no ' +
          'reply. `resend` sends it again with the same Message-ID (at least once; mail systems that de-duplicate by ' +
          'Message-ID show it once); `skip` records it failed with reason unknown_outcome and sends nothing, no fallback ' +
          '(at most once). Default resend: a notification platform must not lose a message.',
      ),
    ),
  PROVIDER_TIMEOUT_MS: int(10_000, 100).meta(
    doc('Channel workers', 'ms one provider call may take before it counts as a retryable timeout'),
  ),
  EMAIL_RATE_PER_SEC: int(50, 1).meta(
    doc('Email (SMTP)', 'emails per second, all email workers together (a BullMQ limiter, shared by every worker of the channel)'),
  ),
  SMS_RATE_PER_SEC: int(20, 1).meta(doc('SMS (Aliyun)', 'SMS per second, all sms workers together')),
  WECHAT_RATE_PER_SEC: int(30, 1).meta(doc('WeCom', 'WeCom sends per second, all wechat workers together')),
  FEISHU_RATE_PER_SEC: int(50, 1).meta(doc('Feishu', 'Feishu sends per second, all feishu workers together')),
  PUSH_RATE_PER_SEC: int(500, 1).meta(doc('Push (FCM)', 'FCM sends per second, all push workers together')),
  WEBHOOK_RATE_PER_SEC: int(200, 1).meta(doc('Webhook', 'webhook calls per second, all webhook workers together')),

  // --- Scheduling and maintenance: the scheduler process
  SCHEDULER_CONCURRENCY: int(10, 1).meta(doc('Scheduler', 'recurring-schedule occurrences processed at once')),
  RECONCILE_CRON: z
    .string()
    .default('* * * * *')
    .meta(
      doc('Scheduler', 'node-cron pattern of the reconciliation of scheduled sends and recurring schedules with PostgreSQL (also run at start)'),
    ),
  RETENTION_CRON: z
    .string()
    .default('17 3 * * *')
    .meta(doc('Scheduler', 'node-cron pattern of the retention purge of notifications older than RETENTION_DAYS')),
  STUCK_DELIVERY_CRON: z
    .string()
    .default('* * * * *')
    .meta(doc('Scheduler', 'node-cron pattern of the check for deliveries stuck in `sending`')),
  STUCK_DELIVERY_AFTER_MS: int(600_000, 1000).meta(
    doc('Scheduler', 'a delivery in `sending` for longer than this is re-enqueued, in ms (10 min)'),
  ),
});

export type Config = z.infer<typeof configSchema> & {
  JWT_SECRET: string;
  jwtSecretIsDefault: boolean;
  HERALD_DATA_KEYS: string;
  dataKeysAreDefault: boolean;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const cfg = parsed.data;
  if (cfg.REDIS_CLUSTER_NODES) {
    if (cleaned.REDIS_URL) throw new ConfigError('Invalid configuration:\n  REDIS_CLUSTER_NODES: set REDIS_URL or REDIS_CLUSTER_NODES, not both');
    const url = clusterUrlOf(cfg.REDIS_CLUSTER_NODES);
    try {
      parseRedisUrl(url);
    } catch (err) {
      throw new ConfigError(`Invalid configuration:\n  REDIS_CLUSTER_NODES: ${(err as Error).message}`);
    }
    cfg.REDIS_URL = url;
  }
  if (!cfg.JWT_SECRET && cfg.NODE_ENV === 'production') {
    throw new ConfigError('Invalid configuration:\n  JWT_SECRET: required when NODE_ENV=production');
  }
  const keys = dataKeysSetting(cfg);
  return { ...cfg, JWT_SECRET: cfg.JWT_SECRET ?? DEV_JWT_SECRET, jwtSecretIsDefault: !cfg.JWT_SECRET, ...keys };
}

/**
 * HERALD_DATA_KEYS, checked, with the development key in its place when it
 * is unset outside production. Also read alone (src/crypto/process-keys.ts)
 * by code that has no config object passed down to it.
 */
export function dataKeysSetting(env: { NODE_ENV?: string; HERALD_DATA_KEYS?: string } = process.env): {
  HERALD_DATA_KEYS: string;
  dataKeysAreDefault: boolean;
} {
  const given = env.HERALD_DATA_KEYS?.trim();
  if (!given) {
    if ((env.NODE_ENV ?? 'development') === 'production')
      throw new ConfigError(
        'Invalid configuration:\n  HERALD_DATA_KEYS: required when NODE_ENV=production (contact data is encrypted with it): ' +
          'set it to `k1:` followed by the output of `openssl rand -base64 32`',
      );
    return { HERALD_DATA_KEYS: DEV_DATA_KEYS, dataKeysAreDefault: true };
  }
  try {
    parseDataKeys(given);
  } catch (err) {
    if (err instanceof DataKeyFormatError) throw new ConfigError(`Invalid configuration:\n  HERALD_DATA_KEYS: ${err.message}`);
    throw err;
  }
  return { HERALD_DATA_KEYS: given, dataKeysAreDefault: false };
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
