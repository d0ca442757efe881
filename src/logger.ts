import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/** One root logger per process; modules take child loggers carrying their ids. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL' | 'PRETTY_LOGS'>, role: string): Logger {
  return pino({
    level: config.LOG_LEVEL,
    base: { role, pid: process.pid },
    redact: {
      paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', '*.password', 'password', '*.secret', 'secret'],
      censor: '[redacted]',
    },
    transport: config.PRETTY_LOGS ? { target: 'pino-pretty', options: { colorize: true } } : undefined,
  });
}
