import type { AttachmentRef } from '../../../queues/jobs.js';
import type { Orm } from '../../db/orm.js';
import { HeraldError, UnprocessableError, type FieldError } from '../../errors.js';
import type { NotificationInput } from '../sending/input.js';
import { decodedLength, sanitizeFilename, type AttachmentLimits } from './files.js';
import { saveAttachment } from './store.js';

/** What the api needs to take inline files: where to store them and how large they may be. */
export interface AttachmentIntake {
  orm: Orm;
  limits: AttachmentLimits;
}

type Files = NonNullable<NotificationInput['attachments']>;

/**
 * Refuses, with 413 naming each file, a request whose inline files are
 * larger than the limits allow: one file over ATTACHMENT_MAX_BYTES, or all
 * of them together over ATTACHMENTS_MAX_TOTAL_BYTES. Sizes are counted from
 * the base64 text, before anything is decoded.
 */
export function checkInlineSizes(files: Files | undefined, limits: AttachmentLimits, prefix: (string | number)[] = []): void {
  if (!files?.length) return;
  const at = (...p: (string | number)[]) => [...prefix, 'attachments', ...p].join('.');
  const errors: FieldError[] = [];
  let total = 0;
  files.forEach((f, i) => {
    if (f.content_base64 === undefined) return;
    const size = decodedLength(f.content_base64);
    total += size;
    if (size > limits.maxBytes) errors.push({ path: at(i, 'content_base64'), message: `is ${size} bytes; one attachment may have at most ${limits.maxBytes}` });
  });
  if (!errors.length && total > limits.maxTotalBytes)
    errors.push({ path: at(), message: `inline attachments total ${total} bytes; one send may carry at most ${limits.maxTotalBytes}` });
  if (errors.length) throw new HeraldError(413, 'Content Too Large', 'Attachments are larger than this server accepts.', errors);
}

/**
 * A request's files as the references its notifications keep: inline ones
 * decoded and stored (once per tenant and content), url ones as they are,
 * to be fetched by the email worker. Without an intake (a path that does
 * not take inline bytes) an inline file is refused with 422, never dropped.
 */
export async function intakeAttachments(
  intake: AttachmentIntake | undefined,
  tenant: string,
  files: Files | undefined,
  prefix: (string | number)[] = [],
): Promise<AttachmentRef[] | undefined> {
  if (!files?.length) return undefined;
  const inline = files.findIndex((f) => f.content_base64 !== undefined);
  if (inline >= 0 && !intake)
    throw new UnprocessableError('Inline attachments are accepted by POST /notifications only; give a url instead.', [
      { path: [...prefix, 'attachments', inline, 'content_base64'].join('.'), message: 'is not accepted here; give a url' },
    ]);
  if (intake) checkInlineSizes(files, intake.limits, prefix);
  const em = intake?.orm.em.fork();
  const refs: AttachmentRef[] = [];
  for (const f of files) {
    const filename = sanitizeFilename(f.filename);
    const content_type = f.content_type ?? null;
    if (f.content_base64 !== undefined) refs.push(await saveAttachment(em!, tenant, { filename, content_type, content: Buffer.from(f.content_base64, 'base64') }));
    else refs.push({ filename, content_type, url: f.url! });
  }
  return refs;
}
