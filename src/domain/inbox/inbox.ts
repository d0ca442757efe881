import type { EntityManager } from '@mikro-orm/postgresql';
import { SCOPES, type Principal } from '../../auth/jwt.js';
import { NotFoundError } from '../../errors.js';
import { HORIZON } from './horizon.js';
import { audiencesOf } from './audience.js';
import { pgArray, query } from '../../db/query.js';
import { gramsIndexes } from '../../db/search-index.js';
import { presentRow, RETURNING, type NotificationJson, type StoredRow } from './present.js';

/**
 * The inbox of one user: every notification stored for the user, the user's
 * roles and stores, or the tenant, less what this user deleted. Read state
 * lives in per-user receipts, so a store-wide notification read by one
 * member stays unread for the others; so do seen, archived and snoozed
 * (src/domain/inbox/states.ts). The inbox proper, what lists and counts
 * show unless asked otherwise, leaves out what the user archived and what
 * is snoozed now.
 *
 * Queries are built per audience (one index range scan each) and merged, so
 * a page never sorts the whole inbox.
 */

export type Reader = Pick<Principal, 'sub' | 'tenant' | 'roles' | 'stores'>;

export interface InboxFilter {
  is_read?: boolean;
  is_seen?: boolean;
  /** the archive (true) or the inbox (false, the default) */
  archived?: boolean;
  /** what is snoozed now (true) or the inbox (false, the default) */
  snoozed?: boolean;
  type?: string[];
  priority?: string[];
  /** rows after this cursor, oldest first */
  sinceCursor?: string;
  /** rows created at or after this time */
  sinceTime?: Date;
  /** rows before this cursor (keyset paging, newest first) */
  before?: string;
  /** rows whose title or content contains this text (case-insensitive; trimmed, 1–100 characters) */
  q?: string;
}

/** A notification's columns for inbox selects (alias n). */
export const COLS = RETURNING.split(',')
  .map((c) => c.trim())
  .map((c) => (c.startsWith('seq') ? 'n.seq::text as seq' : `n.${c}`))
  .join(', ');

/** The reading user's receipt columns, beside a notification's (null without a receipt). */
export const RECEIPT_COLS = 'r.read_at, r.seen_at, r.archived_at, r.snoozed_until';

/** Joins this user's receipt (bind the user id); the conditions keep what the user has not deleted. */
export const JOIN_RECEIPT = `left join notification_receipts r
  on r.tenant = n.tenant and r.user_id = ? and r.notification_id = n.id`;

/** A receipt snoozed now; false without a receipt. */
export const SNOOZED_NOW = 'coalesce(r.snoozed_until > now(), false)';

/** The inbox proper: not archived, not snoozed now. */
export const IN_INBOX = `r.archived_at is null and not ${SNOOZED_NOW}`;

/**
 * The text inbox search matches: title and content joined by a newline.
 * Each ended month's search index (src/db/search-index.ts) is a trigram
 * index on this very expression; change one, change the other, or the
 * index is never used.
 */
export const SEARCH_TEXT = `(n.title || E'\\n' || n.content)`;

/** `q` as an ILIKE pattern that finds it anywhere, its %, _ and \ matching themselves. */
export const containsPattern = (q: string) => `%${q.replace(/[\\%_]/g, '\\$&')}%`;

/**
 * q holds no letter that has case (Chinese, digits, punctuation): LIKE then
 * finds exactly what ILIKE would, since no character lower-cases to one of
 * q's, and it skips lower-casing every text it reads, which is most of
 * what a search that walks an inbox costs (bench/search).
 */
const caseless = (q: string) => q.toLowerCase() === q && q.toUpperCase() === q;

/**
 * q is one or two ASCII characters, neither an i nor a k: ILIKE in the "C"
 * collation, which lower-cases only ASCII letters, cheaply, then finds
 * exactly what ILIKE in the database's collation would. Only ASCII letters
 * lower-case to such a q's letters: of all other characters just İ and the
 * Kelvin sign lower-case to ASCII, to i and k. Such a q has no trigram
 * (the grams index answers it instead: gramOf); a longer one keeps the
 * database's collation, the one the trigram index was built in.
 */
const asciiFoldable = (q: string) => q.length <= 2 && /^[\x00-\x7f]+$/.test(q) && !/[ik]/i.test(q);

/** The grams of SEARCH_TEXT as each ended month's grams index holds them (src/db/search-index.ts). */
export const SEARCH_GRAMS = `(herald_grams${SEARCH_TEXT} collate "C")`;

/**
 * The one gram a q of one or two characters is, when the grams index can
 * answer it: a caseless q, or one of ASCII characters other than i and k
 * (the index lower-cases ASCII letters only, so for these it holds every
 * row ILIKE finds), with no whitespace (the index keeps none). Else
 * undefined, and the search walks.
 */
function gramOf(q: string): string | undefined {
  if ([...q].length > 2 || /[\s\x01]/.test(q)) return undefined;
  if (!caseless(q) && !asciiFoldable(q)) return undefined;
  return q.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * Title or content contains `q`, case-insensitively. One ILIKE (LIKE for a
 * caseless q) on the joined text, which the search index answers; a q
 * holding the newline that joins them could match across the two, so it
 * must also match one alone.
 */
function searchCondition(q: string): { sql: string; params: unknown[] } {
  const pattern = containsPattern(q);
  const like = caseless(q) ? 'like ?' : asciiFoldable(q) ? 'ilike ? collate "C"' : 'ilike ?';
  if (!q.includes('\n')) return { sql: `${SEARCH_TEXT} ${like}`, params: [pattern] };
  return { sql: `${SEARCH_TEXT} ${like} and (n.title ${like} or n.content ${like})`, params: [pattern, pattern, pattern] };
}

type Conditions = { sql: string; params: unknown[] };

function conditions(filter: InboxFilter, search: Conditions | undefined = filter.q ? searchCondition(filter.q) : undefined): Conditions {
  const parts: string[] = ['n.seq is not null', 'r.deleted_at is null'];
  const params: unknown[] = [];
  if (filter.is_read === true) parts.push('r.read_at is not null');
  if (filter.is_read === false) parts.push('r.read_at is null');
  if (filter.is_seen === true) parts.push('r.seen_at is not null');
  if (filter.is_seen === false) parts.push('r.seen_at is null');
  parts.push(filter.archived ? 'r.archived_at is not null' : 'r.archived_at is null');
  parts.push(filter.snoozed ? SNOOZED_NOW : `not ${SNOOZED_NOW}`);
  if (filter.type?.length) {
    parts.push(`n.type = any(?::text[])`);
    params.push(filter.type);
  }
  if (filter.priority?.length) {
    parts.push(`n.priority = any(?::text[])`);
    params.push(filter.priority);
  }
  if (filter.sinceCursor) {
    parts.push('n.seq > ?::bigint');
    params.push(filter.sinceCursor);
  }
  if (filter.sinceTime) {
    parts.push('n.created_at >= ?');
    params.push(filter.sinceTime);
  }
  if (filter.before) {
    parts.push('n.seq < ?::bigint');
    params.push(filter.before);
  }
  if (search) {
    parts.push(search.sql);
    params.push(...search.params);
  }
  return { sql: parts.join(' and '), params };
}

/**
 * The filter's conditions, once per part of the inbox that is read its own
 * way: a q of one or two characters that the grams index answers, and that
 * is not common, reads the months below the grams indexes' bound through
 * them and walks the months above; any other filter is one part.
 */
async function partsOf(em: EntityManager, filter: InboxFilter): Promise<Conditions[]> {
  const gram = filter.q ? gramOf(filter.q) : undefined;
  const grams = gram ? await gramsIndexes(em) : null;
  if (!gram || !grams || grams.common.has(gram)) return [conditions(filter)];
  const text = searchCondition(filter.q!);
  return [
    conditions(filter, { sql: `n.id < ?::uuid and ${SEARCH_GRAMS} @> ?::text[] and ${text.sql}`, params: [grams.bound, [gram], ...text.params] }),
    conditions(filter, { sql: `n.id >= ?::uuid and ${text.sql}`, params: [grams.bound, ...text.params] }),
  ];
}

/** knex expands plain arrays in bindings; pass them as Postgres array literals instead. */
export const bind = (params: unknown[]) => params.map((p) => (Array.isArray(p) ? pgArray(p as string[]) : p));

const onReplica = new WeakSet<EntityManager>();

/**
 * Lets the inbox reads made through this fork go to a read replica
 * (DATABASE_READ_URLS; MikroORM `replicas`). `em.execute` always uses the
 * primary, so reads opt in here. A replica may lag by a moment: use it for
 * HTTP listings and counts, never where a read must see a write just made
 * (the realtime since-replay seam, the unread count sent after marking read).
 */
export function replicaReads(em: EntityManager): EntityManager {
  onReplica.add(em);
  return em;
}

/** A read query: on a replica when the fork opted in, else on the primary (within the fork's transaction, if any). */
export function read<T>(em: EntityManager, sql: string, params: unknown[]): Promise<T> {
  return query(em, sql, params, onReplica.has(em) ? 'read' : 'write') as Promise<T>;
}

export interface Page {
  rows: NotificationJson[];
  total: number;
  /** a search found more than SEARCH_TOTAL_CAP matches: `total` is the cap */
  capped: boolean;
}

/**
 * A search's total counts its matches up to this many, then says there are
 * more ("1,000+"): counting every match of a common q read thousands of
 * rows each time (30–45 ms for 4,500–9,000 matches in bench/search, with no
 * bound for a larger inbox), where the first 1,001 take 9–14 ms.
 */
export const SEARCH_TOTAL_CAP = 1000;

/**
 * One page of the inbox. `order: 'desc'` is newest first (offset or keyset
 * `before`); `'asc'` is oldest first, used with `sinceCursor` so a client
 * catching up reads in order.
 */
export async function listInbox(
  em: EntityManager,
  who: Reader,
  filter: InboxFilter,
  page: { limit: number; offset: number; order: 'asc' | 'desc'; withTotal: boolean },
): Promise<Page> {
  const conds = await partsOf(em, filter);
  const take = page.limit + page.offset;
  const dir = page.order === 'asc' ? 'asc' : 'desc';
  const audiences = audiencesOf(who);
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const audience of audiences) {
    for (const cond of conds) {
      // capped at the commit horizon: a page never hands out a cursor above a batch still committing (horizon.ts)
      parts.push(`(select ${COLS}, ${RECEIPT_COLS} from notifications n ${JOIN_RECEIPT}
        where n.tenant = ? and n.audience = ? and ${cond.sql} and n.seq <= ${HORIZON}
        order by n.seq ${dir} limit ?)`);
      params.push(who.sub, who.tenant, audience, ...cond.params, who.tenant, take);
    }
  }
  const sql = `select * from (${parts.join(' union all ')}) u order by u.seq::bigint ${dir} limit ? offset ?`;
  const cap = filter.q ? SEARCH_TOTAL_CAP : undefined;
  // the page and its total side by side, on two connections: a search that walks the inbox walks it in both
  const [rows, total] = await Promise.all([
    read<StoredRow[]>(em, sql, bind([...params, page.limit, page.offset])),
    page.withTotal ? countParts(em, who, conds, cap) : undefined,
  ]);
  const capped = cap !== undefined && total !== undefined && total > cap;
  return { rows: rows.map(presentRow), total: capped ? cap : (total ?? rows.length), capped };
}

/**
 * How many notifications of this inbox pass the filter; with `cap`, counting
 * stops past it (an answer above `cap` means "more than cap").
 */
export async function countInbox(em: EntityManager, who: Reader, filter: InboxFilter, cap?: number): Promise<number> {
  return countParts(em, who, await partsOf(em, filter), cap);
}

/** countInbox of the parts partsOf made (a page and its total share them). */
async function countParts(em: EntityManager, who: Reader, conds: Conditions[], cap?: number): Promise<number> {
  const counts = conds.map((cond) => {
    const rows = `from notifications n ${JOIN_RECEIPT} where n.tenant = ? and n.audience = any(?::text[]) and ${cond.sql}`;
    return cap === undefined ? `(select count(*) ${rows})` : `(select count(*) from (select 1 ${rows} limit ${cap + 1}) x)`;
  });
  const [row] = await read<Array<{ count: string }>>(em,
    `select ${counts.join(' + ')} as count`,
    bind(conds.flatMap((cond) => [who.sub, who.tenant, audiencesOf(who), ...cond.params])),
  );
  return Number(row.count);
}

/**
 * Several counts of this inbox in one statement (one scan of the inbox,
 * a FILTER clause per count), in the order of `filters`.
 */
export async function countInboxMany(em: EntityManager, who: Reader, filters: InboxFilter[]): Promise<number[]> {
  if (!filters.length) return [];
  const conds = filters.map((f) => conditions(f));
  const [row] = await read<Array<Record<string, string>>>(em,
    `select ${conds.map((c, i) => `count(*) filter (where ${c.sql}) as c${i}`).join(', ')}
     from notifications n ${JOIN_RECEIPT}
     where n.tenant = ? and n.audience = any(?::text[]) and n.seq is not null and r.deleted_at is null`,
    bind([...conds.flatMap((c) => c.params), who.sub, who.tenant, audiencesOf(who)]),
  );
  return conds.map((_, i) => Number(row[`c${i}`]));
}

/** Unread in the inbox proper: the archive and what is snoozed now are not counted. */
export const unreadCount = (em: EntityManager, who: Reader) => countInbox(em, who, { is_read: false });

/** Unseen in the inbox proper: the bell's badge. */
export const unseenCount = (em: EntityManager, who: Reader) => countInbox(em, who, { is_seen: false });

/**
 * One notification of this inbox, or 404 (also for another user's: never
 * 403, never its content). Its sender sees it too, in every state (a
 * scheduled, cancelled or recalled one is in no inbox), but only with a
 * token that may send: a user token whose sub happens to equal a service's
 * must not read what that service sent to others.
 */
export async function getFromInbox(em: EntityManager, who: Reader & Pick<Principal, 'scopes'>, id: string): Promise<NotificationJson> {
  const asSender = who.scopes.has(SCOPES.send);
  const [row] = await read<StoredRow[]>(em,
    `select ${COLS}, ${RECEIPT_COLS} from notifications n ${JOIN_RECEIPT}
     where n.id = ? and n.tenant = ?
       and ((n.audience = any(?::text[]) and n.seq is not null and r.deleted_at is null) or (?::boolean and n.sender = ?))`,
    bind([who.sub, id, who.tenant, audiencesOf(who), asSender, who.sub]),
  );
  if (!row) throw new NotFoundError(`Notification ${id} was not found.`);
  return presentRow(row);
}

/** The ids among `ids` that are in this user's inbox (archived and snoozed ones too). */
export async function visibleIds(em: EntityManager, who: Reader, ids: string[]): Promise<string[]> {
  if (!ids.length) return [];
  const rows = await query<{ id: string }>(em, 
    `select n.id from notifications n ${JOIN_RECEIPT}
     where n.id = any(?::uuid[]) and n.tenant = ? and n.audience = any(?::text[]) and n.seq is not null and r.deleted_at is null`,
    bind([who.sub, ids, who.tenant, audiencesOf(who)]),
  );
  return rows.map((r) => r.id);
}

export type MarkAction = 'read' | 'unread' | 'delete';

/** Reading a notification is also seeing it: the bell does not count what was read elsewhere. */
const SEEN_TOO = 'seen_at = coalesce(notification_receipts.seen_at, now())';

/** Per action: read_at, deleted_at and seen_at of a new receipt; the change to an existing one, and when it is one. */
const UPSERT: Record<MarkAction, { insert: string; update: string; changed: string }> = {
  read: { insert: 'now(), null, now()', update: `read_at = now(), ${SEEN_TOO}`, changed: 'notification_receipts.read_at is null' },
  unread: { insert: 'null, null, null', update: 'read_at = null', changed: 'notification_receipts.read_at is not null' },
  delete: { insert: 'null, now(), null', update: 'deleted_at = now()', changed: 'notification_receipts.deleted_at is null' },
};

/**
 * Marks notifications of this inbox read, unread or deleted. Returns the ids
 * that were in the inbox (missing ones are ignored) and how many changed.
 */
export async function markMany(
  em: EntityManager,
  who: Reader,
  ids: string[],
  action: MarkAction,
): Promise<{ found: string[]; changed: string[] }> {
  const found = await visibleIds(em, who, [...new Set(ids)]);
  if (!found.length) return { found, changed: [] };
  const u = UPSERT[action];
  const rows = await query<{ notification_id: string }>(em, 
    `insert into notification_receipts (tenant, user_id, notification_id, read_at, deleted_at, seen_at)
     select ?, ?, id, ${u.insert} from unnest(?::uuid[]) as id
     on conflict (tenant, user_id, notification_id) do update set ${u.update} where ${u.changed}
     returning notification_id`,
    bind([who.tenant, who.sub, found]),
  );
  return { found, changed: rows.map((r) => r.notification_id) };
}

/** Marks one notification; 404 when it is not in this inbox. */
export async function markOne(em: EntityManager, who: Reader, id: string, action: MarkAction): Promise<boolean> {
  const { found, changed } = await markMany(em, who, [id], action);
  if (!found.length) throw new NotFoundError(`Notification ${id} was not found.`);
  return changed.length > 0;
}

/** Marks everything unread in this inbox read; returns the ids it marked. */
export async function markAllRead(em: EntityManager, who: Reader): Promise<string[]> {
  const rows = await query<{ notification_id: string }>(em, 
    `insert into notification_receipts (tenant, user_id, notification_id, read_at, seen_at)
     select n.tenant, ?, n.id, now(), now() from notifications n ${JOIN_RECEIPT}
     where n.tenant = ? and n.audience = any(?::text[]) and n.seq is not null and r.deleted_at is null and r.read_at is null
     on conflict (tenant, user_id, notification_id) do update set read_at = now(), ${SEEN_TOO}
       where notification_receipts.read_at is null
     returning notification_id`,
    bind([who.sub, who.sub, who.tenant, audiencesOf(who)]),
  );
  return rows.map((r) => r.notification_id);
}

export interface InboxStats {
  total: number;
  unread: number;
  read: number;
  by_type: Record<string, number>;
  by_priority: Record<string, number>;
  by_status: Record<string, number>;
}

export async function inboxStats(em: EntityManager, who: Reader): Promise<InboxStats> {
  const rows = await read<Array<{ type: string; priority: string; status: string; is_read: boolean; count: string }>>(em,
    `select n.type, n.priority, n.status, (r.read_at is not null) as is_read, count(*) from notifications n ${JOIN_RECEIPT}
     where n.tenant = ? and n.audience = any(?::text[]) and n.seq is not null and r.deleted_at is null and ${IN_INBOX}
     group by 1, 2, 3, 4`,
    bind([who.sub, who.tenant, audiencesOf(who)]),
  );
  const stats: InboxStats = { total: 0, unread: 0, read: 0, by_type: {}, by_priority: {}, by_status: {} };
  for (const r of rows) {
    const n = Number(r.count);
    stats.total += n;
    if (r.is_read) stats.read += n;
    else stats.unread += n;
    stats.by_type[r.type] = (stats.by_type[r.type] ?? 0) + n;
    stats.by_priority[r.priority] = (stats.by_priority[r.priority] ?? 0) + n;
    stats.by_status[r.status] = (stats.by_status[r.status] ?? 0) + n;
  }
  return stats;
}

export interface Group {
  group: string;
  group_key: string | null;
  type: string | null;
  count: number;
  unread_count: number;
  latest: NotificationJson;
}

/** The inbox collapsed by group_key (else type), most recent group first. */
export async function groupedInbox(em: EntityManager, who: Reader, limit: number): Promise<Group[]> {
  const rows = await read<Array<StoredRow & { grp: string; is_group_key: boolean; cnt: string; unread: string }>>(em,
    `with mine as (
       select n.*, ${RECEIPT_COLS}, coalesce(n.group_key, n.type) as grp from notifications n ${JOIN_RECEIPT}
       where n.tenant = ? and n.audience = any(?::text[]) and n.seq is not null and r.deleted_at is null and ${IN_INBOX}),
     groups as (
       select grp, count(*) as cnt, count(*) filter (where read_at is null) as unread, max(seq) as top
       from mine group by grp order by top desc limit ?)
     select ${COLS.replace(/n\./g, 'm.')}, ${RECEIPT_COLS.replace(/r\./g, 'm.')}, g.grp, (m.group_key is not null) as is_group_key,
            g.cnt::text as cnt, g.unread::text as unread
     from groups g join mine m on m.seq = g.top order by g.top desc`,
    bind([who.sub, who.tenant, audiencesOf(who), limit]),
  );
  return rows.map((r) => ({
    group: r.grp,
    group_key: r.is_group_key ? r.grp : null,
    type: r.is_group_key ? null : r.grp,
    count: Number(r.cnt),
    unread_count: Number(r.unread),
    latest: presentRow(r),
  }));
}

/** A tenant's totals for operators (admin scope). */
export async function tenantStats(em: EntityManager, tenant: string) {
  const rows = await read<Array<{ type: string; priority: string; status: string; count: string }>>(em,
    `select type, priority, status, count(*) from notifications where tenant = ? group by 1, 2, 3`,
    [tenant],
  );
  const out = { total: 0, by_type: {} as Record<string, number>, by_priority: {} as Record<string, number>, by_status: {} as Record<string, number> };
  for (const r of rows) {
    const n = Number(r.count);
    out.total += n;
    out.by_type[r.type] = (out.by_type[r.type] ?? 0) + n;
    out.by_priority[r.priority] = (out.by_priority[r.priority] ?? 0) + n;
    out.by_status[r.status] = (out.by_status[r.status] ?? 0) + n;
  }
  return out;
}
