import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../../db/query.js';

/** What the listing narrows to; every filter is optional and they combine with "and". */
export interface AuditFilters {
  /** exactly this action, or with a trailing `.*` every action under the prefix (`queue.*`) */
  action?: string;
  /** the actor's token subject, exactly */
  actor?: string;
  /** the target, exactly (`template:order_ready`) */
  target?: string;
  /** from this instant (inclusive) */
  since?: Date;
  /** before this instant (exclusive) */
  until?: Date;
}

export interface AuditEventJson {
  id: string;
  time: string;
  tenant: string;
  actor_sub: string;
  actor_scopes: string[];
  action: string;
  target: string;
  before_digest: string | null;
  after_digest: string | null;
  request_id: string | null;
}

interface Row extends Omit<AuditEventJson, 'time'> {
  time: Date;
}

/** `like` treats % and _ as wildcards and \ as its escape: a prefix is matched literally. */
const likePrefix = (prefix: string) => `${prefix.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;

/**
 * A tenant's audit events, newest first, `limit` at a time. The cursor is
 * the id of the last event of the previous page: the page continues below
 * that event's (time, id), which is the order of the listing's index, so
 * every page costs the same however deep it is. A cursor whose event has
 * been purged ends the listing (everything older went with it).
 */
export async function listAuditEvents(
  em: EntityManager,
  tenant: string,
  filters: AuditFilters,
  page: { limit: number; cursor?: string },
): Promise<{ events: AuditEventJson[]; next_cursor: string | null }> {
  const where = ['tenant = ?'];
  const params: unknown[] = [tenant];
  if (filters.action?.endsWith('.*')) (where.push(`action like ?`), params.push(likePrefix(filters.action.slice(0, -1))));
  else if (filters.action) (where.push('action = ?'), params.push(filters.action));
  if (filters.actor) (where.push('actor_sub = ?'), params.push(filters.actor));
  if (filters.target) (where.push('target = ?'), params.push(filters.target));
  if (filters.since) (where.push('time >= ?'), params.push(filters.since));
  if (filters.until) (where.push('time < ?'), params.push(filters.until));
  if (page.cursor)
    (where.push('(time, id) < (select time, id from audit_events where id = ?::bigint and tenant = ?)'), params.push(page.cursor, tenant));
  const rows = await query<Row>(
    em,
    `select id::text as id, time, tenant, actor_sub, actor_scopes, action, target, before_digest, after_digest, request_id
     from audit_events where ${where.join(' and ')} order by time desc, id desc limit ?`,
    [...params, page.limit + 1],
  );
  const events = rows.slice(0, page.limit).map(presentAuditEvent);
  return { events, next_cursor: rows.length > page.limit ? events[events.length - 1].id : null };
}

export function presentAuditEvent(r: Row): AuditEventJson {
  return {
    id: r.id,
    time: new Date(r.time).toISOString(),
    tenant: r.tenant,
    actor_sub: r.actor_sub,
    actor_scopes: r.actor_scopes,
    action: r.action,
    target: r.target,
    before_digest: r.before_digest,
    after_digest: r.after_digest,
    request_id: r.request_id,
  };
}
