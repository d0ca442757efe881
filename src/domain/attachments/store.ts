import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AttachmentRef } from '../../../queues/jobs.js';
import { query } from '../../db/query.js';
import { newId } from '../ids.js';

/** A file's bytes with the name and type it was sent under. */
export interface FileBytes {
  filename: string;
  content_type: string | null;
  content: Buffer;
}

/**
 * Stores a file once per tenant: bytes the tenant has stored before (the
 * same sha256) are not sent to PostgreSQL again, their row is marked used
 * now (so retention spares it while the send that names it is on its way)
 * and its id returned. Returns the reference a notification keeps.
 *
 * Parameters go as bind values (src/db/query.ts): the ORM's own execute
 * would escape megabytes of bytes character by character.
 */
export async function saveAttachment(em: EntityManager, tenant: string, file: FileBytes): Promise<AttachmentRef> {
  const sha256 = createHash('sha256').update(file.content).digest('hex');
  const ref = (id: string): AttachmentRef => ({ id, filename: file.filename, content_type: file.content_type, size: file.content.length });
  const [seen] = await query<{ id: string }>(em, `update attachments set used_at = now() where tenant = ? and sha256 = ? returning id`, [tenant, sha256]);
  if (seen) return ref(seen.id);
  // a concurrent send of the same bytes may insert first: then its row is the one
  const [row] = await query<{ id: string }>(
    em,
    `insert into attachments (id, tenant, sha256, filename, content_type, size, content) values (?, ?, ?, ?, ?, ?, ?)
     on conflict (tenant, sha256) do update set used_at = now()
     returning id`,
    [newId(), tenant, sha256, file.filename, file.content_type, file.content.length, file.content],
  );
  return ref(row.id);
}

/** The bytes of stored files of one tenant, by id (ids not found are absent). */
export async function loadContents(em: EntityManager, tenant: string, ids: string[]): Promise<Map<string, Buffer>> {
  if (!ids.length) return new Map();
  const rows = await query<{ id: string; content: Buffer }>(
    em,
    `select id, content from attachments where tenant = ? and id = any(?::uuid[])`,
    [tenant, `{${ids.join(',')}}`],
    'read',
  );
  return new Map(rows.map((r) => [r.id, r.content]));
}

/** The files a stored notification names, in the sender's order (empty when it has none or is gone). */
export async function refsOf(em: EntityManager, notificationId: string): Promise<AttachmentRef[]> {
  const [row] = await query<{ attachments: AttachmentRef[] | null }>(em, `select attachments from notifications where id = ?`, [notificationId]);
  return row?.attachments ?? [];
}

/** Replaces a notification's file list (the email worker records what it fetched, or why it could not). */
export async function writeRefs(em: EntityManager, notificationId: string, refs: AttachmentRef[]): Promise<void> {
  await query(em, `update notifications set attachments = ?::jsonb where id = ?`, [JSON.stringify(refs), notificationId]);
}

/**
 * Puts the drafts' file lists on their stored rows. Only rows that have
 * none yet: a retried ingest batch must not undo what an email worker
 * recorded since (a fetched url's id).
 */
export async function storeDraftRefs(em: EntityManager, drafts: ReadonlyArray<{ id: string; attachments?: AttachmentRef[] }>): Promise<void> {
  const withFiles = drafts.filter((d) => d.attachments?.length);
  if (!withFiles.length) return;
  await query(
    em,
    `update notifications n set attachments = x.refs
     from (select (e->>'id')::uuid as id, e->'refs' as refs from jsonb_array_elements(?::jsonb) e) x
     where n.id = x.id and n.attachments is null`,
    [JSON.stringify(withFiles.map((d) => ({ id: d.id, refs: d.attachments })))],
  );
}
