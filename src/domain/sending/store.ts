import type { EntityManager } from '@mikro-orm/postgresql';
import { ensureMonthsOf, isMissingPartition } from '../../db/partitions.js';
import { query } from '../../db/query.js';
import { RESERVATION_EXPIRED, isReservationExpired, releaseReservations, reserveCursors, type Reservation } from './cursors.js';
import type { NotificationDraft } from '../../../queues/jobs.js';
import { storeExclusions } from '../inbox/exclusions.js';
import { compareCursors } from '../inbox/cursors.js';
import { draftToRow, RETURNING, type StoredRow } from '../inbox/present.js';
import { storeDraftRefs } from '../attachments/store.js';

/**
 * A notification is done when it only goes to inboxes; external channels
 * keep it processing. A scheduled one waits, in no inbox, for its firing job.
 */
const initialStatus = (d: NotificationDraft): string =>
  d.schedule_at ? 'scheduled' : d.channels.every((c) => c === 'app') ? 'sent' : 'processing';

/**
 * A Postgres array literal of strings, booleans and nulls (knex would expand
 * a JS array into `?, ?, ?`). JSON.stringify quotes and escapes `"` and `\`
 * exactly as an array literal does and writes null as NULL, so a column
 * whose JSON holds no other escape (control characters) is its JSON with
 * braces: one native call instead of a regex per element.
 */
function arrayLiteral(values: ReadonlyArray<string | boolean | null>): string {
  const json = JSON.stringify(values);
  if (!/\\[^"\\]/.test(json)) return `{${json.slice(1, -1)}}`;
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i) out += ',';
    out += v == null ? 'NULL' : typeof v === 'boolean' ? String(v) : `"${v.replace(/[\\"]/g, '\\$&')}"`;
  }
  return out + '}';
}

/**
 * Stores drafts with one multi-row INSERT and returns every row, including
 * those a previous attempt already stored (a retried job creates nothing new
 * but still gets its rows back to publish).
 *
 * Only what the database decides comes back (cursor, status, sent_at); the
 * rest of each row is the draft itself, so 500 wide rows are not shipped
 * back and parsed just to learn what we sent.
 *
 * Cursors: each tenant's non-scheduled rows take the cursors of a
 * reservation (src/domain/sending/cursors.ts) made just before, and the
 * INSERT closes the reservation in its commit, so batches of one tenant
 * commit in parallel while readers never hand out a cursor above a batch
 * still committing (src/domain/inbox/horizon.ts). Each row's `prev` is the
 * cursor before it (the first one's is the tenant's head before the
 * reservation), so realtime nodes can put frames back in cursor order.
 *
 * The INSERT is one statement (herald_store_notifications, its current
 * version in migrations/Migration20261206010000_parallel_ingest.ts), run on
 * its own (autocommit).
 */
export async function storeNotifications(em: EntityManager, drafts: NotificationDraft[], gaps?: CursorGap[]): Promise<StoredRow[]> {
  const unique = [...new Map(drafts.map((d) => [d.id, d])).values()];
  if (!unique.length) return [];
  const rows = unique.map((d) => draftToRow(d, initialStatus(d)));
  const counts = new Map<string, number>();
  for (const r of rows) if (r.status !== 'scheduled') counts.set(r.tenant, (counts.get(r.tenant) ?? 0) + 1);
  const text = (pick: (r: StoredRow) => string | boolean | null) => arrayLiteral(rows.map(pick));
  const columns = [
    text((r) => r.id),
    text((r) => r.tenant),
    text((r) => r.audience),
    text((r) => r.user_id),
    text((r) => r.role),
    text((r) => r.store_id),
    text((r) => r.broadcast),
    text((r) => r.title),
    text((r) => r.content),
    text((r) => r.type),
    text((r) => r.priority),
    text((r) => r.status),
    text((r) => arrayLiteral(r.channels)),
    text((r) => arrayLiteral(r.fallback_channels)),
    text((r) => JSON.stringify(r.metadata)),
    text((r) => r.source),
    text((r) => r.group_key),
    text((r) => r.idempotency_key),
    text((r) => r.sender),
    arrayLiteral(unique.map((d) => d.schedule_at)),
    arrayLiteral(unique.map((d) => d.created_at)),
    text((r) => r.url),
    text((r) => r.image_url),
    // no buttons is null here: the function stores it as []
    text((r) => (r.actions.length ? JSON.stringify(r.actions) : null)),
  ];
  const store = (reservations: Reservation[]) => {
    // each tenant's rows take its reservation's cursors in the batch's order
    const next = new Map(reservations.map((r) => [r.tenant, BigInt(r.lo)]));
    const seqs = rows.map((r) => {
      if (r.status === 'scheduled') return null;
      const seq = next.get(r.tenant)!;
      next.set(r.tenant, seq + 1n);
      return seq.toString();
    });
    return query<{ r_id: string; r_seq: string | null; r_status: string; r_sent_at: Date | null; r_head: string | null }>(
      em,
      `select * from herald_store_notifications(?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
         ?::boolean[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::jsonb[], ?::text[], ?::text[],
         ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::text[], ?::text[], ?::jsonb[], ?::bigint[], ?::bigint[], ?::jsonb)`,
      [
        ...columns,
        `{${seqs.map((q) => q ?? 'NULL').join(',')}}`,
        `{${reservations.map((r) => r.id).join(',')}}`,
        JSON.stringify(Object.fromEntries(reservations.map((r) => [r.tenant, r.lo]))),
      ],
    );
  };
  const tenantOf = new Map(rows.map((r) => [r.id, r.tenant]));
  const stored = await storeReserved(
    em,
    counts,
    (reservations) =>
      store(reservations).catch(async (err) => {
        // the scheduler makes months ahead; if it has fallen behind, a send is not refused for it
        if (!isMissingPartition(err)) throw err;
        await ensureMonthsOf(em, unique.map((d) => d.id));
        return store(reservations);
      }),
    // the rows this call stored (a retried batch's, stored before, take none of its cursors)
    (result) => result.filter((s) => s.r_head != null).map((s) => ({ tenant: tenantOf.get(s.r_id)!, seq: s.r_seq! })),
    gaps,
  );
  await storeExclusions(em, unique);
  // file lists go on their rows before deliveries are planned (a second statement only for drafts that have files)
  await storeDraftRefs(em, unique);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const out = stored.map((s) => ({ ...byId.get(s.r_id)!, seq: s.r_seq, status: s.r_status, sent_at: s.r_sent_at, prev: s.r_head }));
  chain(out.filter((r) => r.prev != null));
  return out;
}

/** Attempts at storing a batch whose reservation expired before its INSERT committed (each reserves anew). */
const RESERVE_ATTEMPTS = 3;

/**
 * Reserves cursors, runs `write` with them and returns what it returns. A
 * failed write closes its reservations at once, so readers are not held
 * back until they expire; one refused because its reservation had expired
 * (the batch took longer than the TTL) reserves again. Cursors reserved and
 * not among those `taken` says the write used go to `gaps`.
 */
async function storeReserved<T>(
  em: EntityManager,
  counts: Map<string, number>,
  write: (reservations: Reservation[]) => Promise<T>,
  taken: (result: T) => ReadonlyArray<{ tenant: string; seq: string }>,
  gaps?: CursorGap[],
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const reservations = await reserveCursors(em, counts);
    try {
      const result = await write(reservations);
      gaps?.push(...unusedTails(reservations, taken(result)));
      return result;
    } catch (err) {
      await releaseReservations(em, reservations);
      // none of these cursors will ever be stored
      gaps?.push(...reservations.map((r) => ({ tenant: r.tenant, prev: (BigInt(r.lo) - 1n).toString(), cursor: r.hi })));
      if (!isReservationExpired(err) || attempt >= RESERVE_ATTEMPTS) throw err;
    }
  }
}

/**
 * Cursors reserved and never stored leave a hole in their tenant's cursor
 * chain, which realtime nodes would wait on (src/realtime/order.ts) before
 * sending the tenant's next frames: the publisher tells them to pass over it
 * (src/feed/publish.ts publishGaps). `prev` is the last cursor before the
 * hole, `cursor` its last one.
 */
export interface CursorGap {
  tenant: string;
  prev: string;
  cursor: string;
}

/** For each reservation, the stretch after the last cursor `stored` took from it, when there is one. */
function unusedTails(reservations: readonly Reservation[], stored: ReadonlyArray<{ tenant: string; seq: string }>): CursorGap[] {
  const gaps: CursorGap[] = [];
  for (const r of reservations) {
    let last = (BigInt(r.lo) - 1n).toString();
    for (const s of stored) if (s.tenant === r.tenant && compareCursors(s.seq, last) > 0 && compareCursors(s.seq, r.hi) <= 0) last = s.seq;
    if (compareCursors(last, r.hi) < 0) gaps.push({ tenant: r.tenant, prev: last, cursor: r.hi });
  }
  return gaps;
}

/**
 * Fires scheduled notifications: each takes its inbox cursor now, from a
 * reservation like storeNotifications' (closed in the same commit), and its
 * status moves on as if it had just been stored. Only rows still
 * 'scheduled' fire, so a cancelled, recalled or already fired one is left
 * alone and a firing job that runs twice fires once. `missing` are ids not
 * stored yet (their ingest job is still to run). Fired rows get `prev`, as
 * stored rows do.
 */
export async function fireScheduled(em: EntityManager, tenant: string, ids: string[], gaps?: CursorGap[]): Promise<{ fired: StoredRow[]; missing: string[] }> {
  const list = `{${ids.join(',')}}`;
  // as many cursors as rows still due: one left unused would be a hole realtime nodes wait on before they go on
  const due = await query<{ id: string }>(em, `select id from notifications where tenant = ? and id = any(?::uuid[]) and status = 'scheduled' order by id`, [tenant, list]);
  const fired = due.length
    ? await storeReserved(
        em,
        new Map([[tenant, due.length]]),
        ([reservation]) => fireWithin(em, tenant, due, reservation),
        (rows) => rows.map((r) => ({ tenant: r.tenant, seq: r.seq! })),
        gaps,
      )
    : [];
  chain(fired);
  const found = await query<{ id: string }>(em, `select id from notifications where tenant = ? and id = any(?::uuid[])`, [tenant, list]);
  const stored = new Set(found.map((r) => r.id));
  return { fired, missing: ids.filter((id) => !stored.has(id)) };
}

/** Fires the rows of `due` still scheduled with the cursors of `reservation`, closing it in the same transaction. */
function fireWithin(em: EntityManager, tenant: string, due: ReadonlyArray<{ id: string }>, reservation: Reservation): Promise<StoredRow[]> {
  return em.transactional(async (tem) => {
    const closed = await tem.execute<Array<{ id: string }>>(`delete from notification_open where id = ? returning id`, [reservation.id]);
    if (!closed.length) throw Object.assign(new Error('cursor reservation expired'), { code: RESERVATION_EXPIRED });
    // rows still due now, in id order, take the reservation's cursors in that order
    const still = await tem.execute<Array<{ id: string }>>(
      `select id from notifications where tenant = ? and id = any(?::uuid[]) and status = 'scheduled' order by id for update`,
      [tenant, `{${due.map((d) => d.id).join(',')}}`],
    );
    if (!still.length) return [];
    const lo = BigInt(reservation.lo);
    const rows = await tem.execute<StoredRow[]>(
      `update notifications n set seq = x.fseq,
         status = case when n.channels <@ '{app}'::text[] then 'sent' else 'processing' end,
         sent_at = case when n.channels <@ '{app}'::text[] then now() end,
         updated_at = now()
       from unnest(?::uuid[], ?::bigint[]) as x(fid, fseq)
       where n.id = x.fid
       returning ${RETURNING.replace(/(^|, *\n? *)(\w+)/g, '$1n.$2')}`,
      [`{${still.map((r) => r.id).join(',')}}`, `{${still.map((_, i) => (lo + BigInt(i)).toString()).join(',')}}`],
    );
    for (const row of rows) row.prev = (lo - 1n).toString();
    return rows;
  });
}

/**
 * Links rows that carry their tenant's head in `prev` into one chain per
 * tenant, in cursor order: the lowest keeps the head, each next one points at
 * the one before it.
 */
function chain(rows: StoredRow[]): void {
  const byCursor = [...rows].sort((a, b) => compareCursors(a.seq!, b.seq!));
  const last = new Map<string, string>();
  for (const row of byCursor) {
    const before = last.get(row.tenant);
    if (before) row.prev = before;
    last.set(row.tenant, row.seq!);
  }
}
