import type { EntityManager } from '@mikro-orm/postgresql';
import type { NotificationDraft } from '../../../queues/jobs.js';
import { pgErrorKind } from '../../db/pg-errors.js';
import { query } from '../../db/query.js';
import { storableText } from '../../db/text.js';
import { presentDraft, type NotificationJson } from '../inbox/present.js';

/** A notification PostgreSQL refused to store, and why. */
export interface Rejection {
  draft: NotificationDraft;
  /** invalid_data, constraint, too_complex or invalid_draft: a label for metrics */
  reason: string;
  /** what PostgreSQL (or the worker) said, for the sender and the operator */
  detail: string;
}

/**
 * Why a statement failed because of what it carried, or null when the
 * failure says nothing about the data (PostgreSQL unreachable, restarting,
 * out of connections or disk, a lock or serialization conflict, a schema not
 * migrated yet): those are retried as they are, never split.
 *
 * Bad data is what the api answers 400 for (src/db/pg-errors.ts: a NUL in
 * text or jsonb, an unsupported Unicode escape, a value out of range, jsonb
 * nested too deep), and here also an integrity constraint (SQLSTATE 23). A
 * TypeError or RangeError thrown before anything reached PostgreSQL comes
 * from a draft the worker cannot read (a job written by another version).
 */
export function dataFault(err: unknown): { reason: string; detail: string } | null {
  const code = String((err as { code?: unknown })?.code ?? '');
  const detail = code ? `${code}: ${pgMessage(err)}` : pgMessage(err);
  const kind = pgErrorKind(err);
  if (kind === 'unavailable') return null;
  if (kind === 'bad-input') return { reason: code.startsWith('54') ? 'too_complex' : 'invalid_data', detail };
  if (code.startsWith('23')) return { reason: 'constraint', detail };
  if (!code && (err instanceof TypeError || err instanceof RangeError)) return { reason: 'invalid_draft', detail };
  return null;
}

/** PostgreSQL's own words: knex prefixes them with the whole statement, which can be a megabyte. */
function pgMessage(err: unknown): string {
  const message = String((err as Error)?.message ?? err);
  const at = message.lastIndexOf(' - ');
  return (at >= 0 ? message.slice(at + 3) : message).slice(0, 500);
}

/**
 * Stores drafts with `store`; when the batch is refused for its data it is
 * split in halves, again and again, until each bad draft is alone. The good
 * ones are stored (in the order given, so cursors keep their order); each
 * bad one comes back as a Rejection. Any other failure is thrown as it is,
 * for the caller to retry. One bad draft in a batch of 1,000 costs about
 * 2·log2(1000) = 20 statements, paid only when a batch is refused.
 */
export async function storeIsolating<R>(drafts: NotificationDraft[], store: (drafts: NotificationDraft[]) => Promise<R[]>): Promise<{ rows: R[]; rejected: Rejection[] }> {
  try {
    return { rows: await store(drafts), rejected: [] };
  } catch (err) {
    const fault = dataFault(err);
    if (!fault) throw err;
    if (drafts.length === 1) return { rows: [], rejected: [{ draft: drafts[0], ...fault }] };
    const half = Math.ceil(drafts.length / 2);
    const first = await storeIsolating(drafts.slice(0, half), store);
    const second = await storeIsolating(drafts.slice(half), store);
    return { rows: [...first.rows, ...second.rows], rejected: [...first.rejected, ...second.rejected] };
  }
}


/** Records rejections; a rejection recorded before (a retried job) is left as it was. */
export async function recordRejections(em: EntityManager, rejected: Rejection[]): Promise<void> {
  if (!rejected.length) return;
  const json = JSON.stringify(
    rejected.map(({ draft, reason, detail }) => ({
      id: draft.id,
      tenant: storableText(draft.tenant),
      sender: storableText(draft.sender),
      idempotency_key: draft.idempotency_key == null ? null : storableText(draft.idempotency_key),
      reason,
      detail: storableText(detail),
      // JSON.stringify writes NUL and lone surrogates as \u escapes: plain ASCII text PostgreSQL stores
      draft: JSON.stringify(draft),
    })),
  );
  await query(
    em,
    `insert into notification_rejections (id, tenant, sender, idempotency_key, reason, detail, draft)
     select x.id, x.tenant, x.sender, x.idempotency_key, x.reason, x.detail, x.draft
     from jsonb_to_recordset(?::jsonb) as x(id uuid, tenant text, sender text, idempotency_key text, reason text, detail text, draft text)
     on conflict (id) do nothing`,
    [json],
  );
}

/**
 * A rejected notification as its sender sees it by id: the notification as
 * it was accepted, with status `failed` and why (`error`, `failure_reason`).
 */
export async function getRejection(em: EntityManager, who: { tenant: string; sub: string }, id: string): Promise<NotificationJson | null> {
  const [row] = await query<{ draft: string; reason: string; detail: string; rejected_at: Date }>(
    em,
    `select draft, reason, detail, rejected_at from notification_rejections where id = ? and tenant = ? and sender = ?`,
    [id, who.tenant, who.sub],
    'read',
  );
  if (!row) return null;
  const draft = JSON.parse(row.draft) as NotificationDraft;
  return Object.assign(presentDraft(draft), {
    status: 'failed',
    failure_reason: row.reason,
    error: `not stored: ${row.detail}`,
    failed_at: new Date(row.rejected_at).toISOString(),
  });
}
