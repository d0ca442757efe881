import type { Redis } from 'ioredis';
import type { Producers } from '../../queues/producers.js';
import type { Principal, Verifier } from '../auth/jwt.js';
import type { Config } from '../config.js';
import type { Orm } from '../db/orm.js';
import type { Logger } from '../logger.js';

/** What the api needs; built once per process in src/api/deps.ts. */
export interface ApiDeps {
  config: Config;
  logger: Logger;
  orm: Orm;
  /** producer connection: fails fast when Redis is away */
  redis: Redis;
  /**
   * The rate limiter's connection (default: `redis`). Its own, so that its
   * auto-pipelines stay cheap: ioredis copies every script defined on a
   * connection into each pipeline it makes, and BullMQ defines dozens.
   */
  rateLimitRedis?: Redis;
  /** every queue producer of the process, on `redis` */
  queues: Producers;
  verifier: Verifier;
}

/** Per-request values (Hono's variable map). */
export interface ApiEnv {
  Variables: {
    principal: Principal;
    requestId: string;
    logger: Logger;
  };
}
