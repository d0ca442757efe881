import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import { templatesAckChannel, templatesChannel } from '../../feed/channels.js';
import type { Logger } from '../../logger.js';
import { SYSTEM_TENANT, findByName, type TemplateRow } from './templates.js';


/** The change id of a publisher that waits for no acks (its own subscription is down). */
const NO_ACK = '-';

/** How long a change waits for every subscribed process to drop its copies. */
const ACK_WAIT_MS = 2_000;

interface PendingChange {
  heard: number;
  need: number;
  done: () => void;
}

/**
 * Template lookups cached per process (as the 智链OS API promised: "模板缓存: 永久(直到更新)", cached until changed).
 * A change anywhere publishes the tenant on Redis; every process drops that
 * tenant's entries (all entries for a system template). Nothing is served
 * from memory unless the subscription is live, so a process that lost Redis
 * for a moment, and missed a message, reads PostgreSQL until it is back.
 * A generation counter keeps a read that raced with a change from caching
 * the old row. A change answers only when every process that heard it has
 * said it dropped its copies (PUBLISH tells how many heard), so no process
 * renders the old version after the write's response; a process that stays
 * silent for 2 s is logged and not waited for.
 */
export class TemplateCache {
  private readonly entries = new Map<string, TemplateRow>();
  private readonly sub: Redis;
  private live = false;
  private generation = 0;
  private readonly pending = new Map<string, PendingChange>();

  /** `subscriber`: a connection of its own for the subscription (default: a duplicate of `redis`). */
  constructor(private readonly deps: { redis: Redis; prefix: string; logger: Logger; subscriber?: Redis }) {
    // a subscriber needs its own connection; it must queue commands while (re)connecting
    this.sub = deps.subscriber ?? deps.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, lazyConnect: false });
    this.sub.on('error', (err) => deps.logger.debug({ err: err.message }, 'template cache subscriber error'));
    this.sub.on('close', () => this.drop(null, false));
    const changes = templatesChannel(deps.prefix);
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === changes) this.heardChange(message);
      else this.heardAck(message);
    });
    // 'ready' comes at the first connect and after every reconnect
    this.sub.on('ready', () => this.subscribe());
    if (this.sub.status === 'ready') this.subscribe();
  }

  private subscribe(): void {
    this.sub.subscribe(templatesChannel(this.deps.prefix), templatesAckChannel(this.deps.prefix)).then(
      () => {
        this.drop(null, true);
      },
      (err) => this.deps.logger.debug({ err: err.message }, 'template cache could not subscribe'),
    );
  }

  /** `<change id> <tenant>`: drop, then say so. */
  private heardChange(message: string): void {
    const space = message.indexOf(' ');
    this.drop(message.slice(space + 1), true);
    const id = message.slice(0, space);
    if (id === NO_ACK) return;
    this.deps.redis.publish(templatesAckChannel(this.deps.prefix), id).catch((err: Error) => {
      this.deps.logger.debug({ err: err.message }, 'template cache could not acknowledge a change');
    });
  }

  private heardAck(id: string): void {
    const change = this.pending.get(id);
    if (!change) return;
    change.heard++;
    if (change.heard >= change.need) change.done();
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

  /**
   * Tells every process (this one included) that a tenant's templates
   * changed, and resolves once each of them has dropped its copies.
   */
  async changed(tenant: string): Promise<void> {
    this.drop(tenant, this.live);
    const publish = (id: string) => this.deps.redis.publish(templatesChannel(this.deps.prefix), `${id} ${tenant}`);
    // no subscription here, so no acks to hear: tell the others and go on
    if (!this.live) {
      await publish(NO_ACK);
      return;
    }
    const id = randomUUID();
    const change: PendingChange = { heard: 0, need: Infinity, done: () => undefined };
    const dropped = new Promise<void>((resolve) => (change.done = resolve));
    // acks can arrive before PUBLISH answers how many there will be
    this.pending.set(id, change);
    const timer = setTimeout(() => {
      this.deps.logger.warn({ tenant, heard: change.heard, need: change.need }, 'template change: not every process acknowledged it in time');
      change.done();
    }, ACK_WAIT_MS);
    try {
      change.need = await publish(id);
      if (change.heard >= change.need) change.done();
      await dropped;
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
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

/** How many parsed texts a process keeps (each a few KB at most). */
export const PARSED_TEMPLATES_MAX = 2_000;

/**
 * Parsed template texts, per process, least recently used first out. Keyed
 * by the text itself, so a changed template is a new key and needs no
 * invalidation: the old parse simply ages out.
 */
export class ParsedTemplateCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly max = PARSED_TEMPLATES_MAX) {}

  get(key: string, parse: () => T): T {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      // re-insert: a Map iterates in insertion order, so the first key is the least recently used
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const value = parse();
    this.entries.set(key, value);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}
