import type { EntityManager } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { SYSTEM_TENANT, findByName, type TemplateRow } from './templates.js';

/** The pub/sub channel on which every process hears that a tenant's templates changed. */
export const templatesChannel = (prefix: string) => `${prefix}:templates:changed`;

/**
 * Template lookups cached per process (seed 1: "模板缓存: 永久(直到更新)").
 * A change anywhere publishes the tenant on Redis; every process drops that
 * tenant's entries (all entries for a system template). Nothing is served
 * from memory unless the subscription is live, so a process that lost Redis
 * for a moment, and missed a message, reads PostgreSQL until it is back.
 * A generation counter keeps a read that raced with a change from caching
 * the old row.
 */
export class TemplateCache {
  private readonly entries = new Map<string, TemplateRow>();
  private readonly sub: Redis;
  private live = false;
  private generation = 0;

  constructor(private readonly deps: { redis: Redis; prefix: string; logger: Logger }) {
    // a subscriber needs its own connection; it must queue commands while (re)connecting
    this.sub = deps.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, lazyConnect: false });
    this.sub.on('error', (err) => deps.logger.debug({ err: err.message }, 'template cache subscriber error'));
    this.sub.on('close', () => this.drop(null, false));
    this.sub.on('message', (_channel: string, tenant: string) => this.drop(tenant, true));
    // 'ready' comes at the first connect and after every reconnect
    this.sub.on('ready', () => this.subscribe());
  }

  private subscribe(): void {
    this.sub.subscribe(templatesChannel(this.deps.prefix)).then(
      () => {
        this.drop(null, true);
      },
      (err) => this.deps.logger.debug({ err: err.message }, 'template cache could not subscribe'),
    );
  }

  private drop(tenant: string | null, live: boolean): void {
    this.generation++;
    this.live = live;
    if (tenant === null || tenant === SYSTEM_TENANT) this.entries.clear();
    else for (const key of this.entries.keys()) if (key.startsWith(`${tenant}\u001f`)) this.entries.delete(key);
  }

  /** The live template named `name` for this tenant, from memory when it can be trusted. */
  async get(em: EntityManager, tenant: string, name: string): Promise<TemplateRow | null> {
    const key = `${tenant}\u001f${name}`;
    const hit = this.live ? this.entries.get(key) : undefined;
    if (hit) return hit;
    const generation = this.generation;
    const row = await findByName(em, tenant, name);
    if (row && this.live && generation === this.generation) this.entries.set(key, row);
    return row;
  }

  /** Tells every process (this one included) that a tenant's templates changed. */
  async changed(tenant: string): Promise<void> {
    this.drop(tenant, this.live);
    await this.deps.redis.publish(templatesChannel(this.deps.prefix), tenant);
  }

  get size(): number {
    return this.entries.size;
  }

  close(): void {
    this.live = false;
    this.entries.clear();
    this.sub.disconnect();
  }
}
