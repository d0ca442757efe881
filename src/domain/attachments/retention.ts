import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../../db/query.js';

/** Files deleted per statement, so a large purge never holds long locks. */
const PURGE_BATCH = 500;

/**
 * How long a file no notification names is kept: the api stores a send's
 * inline files before the ingest worker stores the notification naming
 * them, and a file may be named again by a send in flight (its `used_at`
 * was just set). A day is far longer than either wait.
 */
export const UNREFERENCED_GRACE_MS = 24 * 3600_000;

/**
 * Deletes stored attachments that no notification names any more (their
 * notifications went with retention, or their send never got stored) and
 * that no send has named for UNREFERENCED_GRACE_MS. Each "is it named"
 * check is one probe of notifications_attachments, the partial GIN index
 * on the rows that have files.
 */
export async function purgeUnreferencedAttachments(em: EntityManager, now = new Date(), tenant: string | null = null): Promise<number> {
  const before = new Date(now.getTime() - UNREFERENCED_GRACE_MS);
  let deleted = 0;
  for (;;) {
    const rows = await query<{ id: string }>(
      em,
      `delete from attachments where id in (
         select a.id from attachments a
         where a.used_at < ? and (?::text is null or a.tenant = ?)
           and not exists (
             select 1 from notifications n
             where n.attachments is not null and n.attachments @> jsonb_build_array(jsonb_build_object('id', a.id::text)))
         limit ${PURGE_BATCH})
       returning id`,
      [before, tenant, tenant],
    );
    deleted += rows.length;
    if (rows.length < PURGE_BATCH) return deleted;
  }
}
