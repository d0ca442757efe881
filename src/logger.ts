import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/**
 * Never logged in clear: tokens and credentials wherever they sit in a log
 * object (top level, one level down, request headers), and every secret
 * variable of src/config.ts should a config object be logged.
 */
const SECRET_KEYS = [
  'token', 'access_token', 'tenant_access_token', 'refresh_token', 'id_token', 'authorization', 'cookie', 'set-cookie',
  'password', 'pass', 'secret', 'client_secret', 'private_key', 'privateKey', 'apiKey', 'api_key', 'signature',
  'JWT_SECRET', 'SMTP_PASSWORD', 'ALIYUN_ACCESS_SECRET', 'WECHAT_CORP_SECRET', 'FEISHU_APP_SECRET', 'FCM_PRIVATE_KEY',
  'WEBHOOK_SECRET', 'METRICS_TOKEN', 'DATABASE_URL', 'DATABASE_READ_URLS', 'REDIS_URL', 'HERALD_DATA_KEYS',
];
export const REDACT_PATHS = [
  ...SECRET_KEYS.flatMap((k) => [`["${k}"]`, `*["${k}"]`]),
  ...['headers', 'req.headers', '*.headers', 'auth', '*.auth'].flatMap((at) => ['authorization', 'cookie', 'set-cookie', 'pass'].map((k) => `${at}["${k}"]`)),
];

const hasPrettyPrinter = () => {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false; // production images install no dev dependencies
  }
};

/**
 * One root logger per process; modules take child loggers carrying their ids
 * (requestId, tenant, notificationId, jobId, queue). JSON lines, one per
 * event; pretty (pino-pretty) with PRETTY_LOGS, or in development on a terminal.
 * `destination` is for tests that read what was written.
 */
export function createLogger(config: Pick<Config, 'LOG_LEVEL' | 'PRETTY_LOGS'> & { NODE_ENV?: Config['NODE_ENV'] }, role: string, destination?: DestinationStream): Logger {
  const pretty = !destination && (config.PRETTY_LOGS || (config.NODE_ENV === 'development' && process.stdout.isTTY)) && hasPrettyPrinter();
  const options = {
    level: config.LOG_LEVEL,
    base: { role, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    transport: pretty ? { target: 'pino-pretty', options: { colorize: true } } : undefined,
  };
  return destination ? pino(options, destination) : pino(options);
}
