import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AttachmentRef } from '../../../queues/jobs.js';
import { permanent, retryable } from '../../channels/types.js';
import type { Config } from '../../config.js';
import type { Orm } from '../../db/orm.js';
import type { Logger } from '../../logger.js';
import { fetchAttachment, FetchFailed, type FetchOptions } from './fetch.js';
import { loadContents, refsOf, saveAttachment, writeRefs } from './store.js';

/** The delivery reason of an email whose attachment could not be had. */
export const ATTACHMENT_UNAVAILABLE = 'attachment_unavailable';

/** A file as nodemailer takes it. */
export interface MailFile {
  filename: string;
  content: Buffer;
  contentType?: string;
}

/** The files of one notification's emails, read when one of them is composed. */
export type AttachmentLoader = (m: { notificationId: string; tenant: string }) => Promise<MailFile[]>;

export interface SourceDeps {
  orm: Orm;
  redis: Redis;
  prefix: string;
  logger: Logger;
  fetch: FetchOptions;
}

export const fetchOptions = (
  config: Pick<Config, 'ATTACHMENT_MAX_BYTES' | 'ATTACHMENT_FETCH_TIMEOUT_MS' | 'ATTACHMENT_ALLOW_PRIVATE'>,
): FetchOptions => ({ maxBytes: config.ATTACHMENT_MAX_BYTES, timeoutMs: config.ATTACHMENT_FETCH_TIMEOUT_MS, allowPrivate: config.ATTACHMENT_ALLOW_PRIVATE });

const unavailable = (filename: string, why: string) =>
  permanent(ATTACHMENT_UNAVAILABLE, `attachment '${filename}' is unavailable: ${why}`, { reason: ATTACHMENT_UNAVAILABLE });

const pending = (refs: AttachmentRef[]) => refs.some((r) => !r.id && !r.error);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The email worker's attachments, read from PostgreSQL when a message is
 * composed. A file given by url is fetched here, by the first delivery of
 * its notification that needs it, and the outcome written back on the
 * notification (the stored file's id, or why it failed): the other
 * recipients' deliveries and every retry use that, so a url is fetched
 * once per notification. A Redis lock keeps two deliveries of one
 * notification from fetching at the same time; the others wait for it.
 *
 * A file that cannot be had fails the delivery for good with reason
 * attachment_unavailable naming it: an email never goes out without a file
 * its sender attached.
 */
export function attachmentSource(deps: SourceDeps): AttachmentLoader {
  async function resolvePending(notificationId: string, tenant: string): Promise<AttachmentRef[]> {
    const key = `${deps.prefix}:attachments:fetching:${notificationId}`;
    const ttlMs = deps.fetch.timeoutMs * 10 + 5000;
    const giveUpAt = Date.now() + ttlMs;
    for (;;) {
      const token = randomBytes(8).toString('hex');
      if ((await deps.redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK') {
        try {
          return await fetchAll(notificationId, tenant);
        } finally {
          await deps.redis
            .eval(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`, 1, key, token)
            .catch(() => undefined);
        }
      }
      // another delivery is fetching: wait for its outcome instead of fetching too
      await sleep(100);
      const refs = await refsOf(deps.orm.em.fork(), notificationId);
      if (!pending(refs) || Date.now() > giveUpAt) return refs;
    }
  }

  async function fetchAll(notificationId: string, tenant: string): Promise<AttachmentRef[]> {
    const em = deps.orm.em.fork();
    const refs = await refsOf(em, notificationId);
    if (!pending(refs)) return refs;
    const log = deps.logger.child({ notification: notificationId });
    const out: AttachmentRef[] = [];
    for (const ref of refs) {
      if (ref.id || ref.error || !ref.url) {
        out.push(ref);
        continue;
      }
      try {
        const got = await fetchAttachment(ref.url, deps.fetch);
        const saved = await saveAttachment(em, tenant, { filename: ref.filename, content_type: ref.content_type ?? got.contentType, content: got.content });
        out.push({ ...ref, id: saved.id, size: saved.size, content_type: saved.content_type });
        log.info({ filename: ref.filename, size: saved.size }, 'attachment fetched');
      } catch (err) {
        if (!(err instanceof FetchFailed)) throw err;
        out.push({ ...ref, error: err.message });
        log.warn({ filename: ref.filename, error: err.message }, 'attachment could not be fetched');
      }
    }
    await writeRefs(em, notificationId, out);
    return out;
  }

  return async function loadAttachments({ notificationId, tenant }) {
    let refs = await refsOf(deps.orm.em.fork(), notificationId);
    if (!refs.length) return [];
    if (pending(refs)) refs = await resolvePending(notificationId, tenant);
    for (const r of refs) {
      if (r.error) throw unavailable(r.filename, r.error);
      // another delivery is still fetching it: try again later rather than fail a file that may yet arrive
      if (!r.id) throw retryable('attachment_pending', `attachment '${r.filename}' is still being fetched by another delivery`);
    }
    const contents = await loadContents(deps.orm.em.fork(), tenant, refs.map((r) => r.id!));
    return refs.map((r) => {
      const content = contents.get(r.id!);
      if (!content) throw unavailable(r.filename, 'it is no longer stored');
      return { filename: r.filename, content, ...(r.content_type ? { contentType: r.content_type } : {}) };
    });
  };
}
