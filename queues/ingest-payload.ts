import type { IngestJob, NotificationDraft } from './jobs.js';

/**
 * An ingest job's notifications, written once for what they share.
 *
 * A bulk send's notifications differ in a field or two (the recipient, a
 * templated text) and agree on the rest: tenant, sender, time, type,
 * priority, channels, metadata, links. Written out 500 times per job, the
 * shared fields were most of its bytes, and every byte is paid for by the
 * api (JSON, ioredis's UTF-8 sizing), Redis (storing and handing it over)
 * and the ingest worker (reading and parsing it). `shared` holds the fields
 * every notification of the job has with equal values; each entry keeps the
 * rest. draftsOf puts them back together; a job without `shared` (written
 * before it existed) is read as it is.
 */
export function packDrafts(drafts: readonly NotificationDraft[]): Pick<IngestJob, 'notifications' | 'shared'> {
  if (drafts.length < 2) return { notifications: [...drafts] };
  const first = drafts[0] as unknown as Record<string, unknown>;
  const shared: Record<string, unknown> = {};
  for (const key of Object.keys(first)) {
    const value = first[key];
    if (value === undefined) continue;
    let same = true;
    for (let i = 1; i < drafts.length && same; i++) same = sameData(value, (drafts[i] as unknown as Record<string, unknown>)[key]);
    if (same) shared[key] = value;
  }
  const keys = Object.keys(shared);
  if (!keys.length) return { notifications: [...drafts] };
  const notifications = drafts.map((d) => {
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(d)) if (!(k in shared)) rest[k] = v;
    return rest as unknown as NotificationDraft;
  });
  return { notifications, shared: shared as Partial<NotificationDraft> };
}

/** A draft's fields in the order toDrafts makes them (src/domain/sending/input.ts). */
const DRAFT_KEYS = [
  'id', 'tenant', 'target', 'title', 'content', 'type', 'priority', 'channels', 'fallback_channels', 'metadata',
  'source', 'group_key', 'idempotency_key', 'sender', 'created_at', 'schedule_at', 'url', 'image_url', 'actions',
] as const;

/**
 * The job's notifications whole again, each built field by field in one
 * order whatever `shared` holds: `{ ...shared, ...n }` would put the fields
 * in an order that depends on which ones a job shares, a different object
 * shape per job, and the ingest worker's code that reads them (rows,
 * frames) slows down when it meets many shapes (measured: ~40% more CPU
 * once before, see draftToRow in src/domain/inbox/present.ts).
 */
export function draftsOf(job: Pick<IngestJob, 'notifications' | 'shared'>): NotificationDraft[] {
  const shared = job.shared as Record<string, unknown> | undefined;
  if (!shared) return job.notifications;
  return job.notifications.map((entry) => {
    const n = entry as unknown as Record<string, unknown>;
    const d: Record<string, unknown> = {};
    for (const k of DRAFT_KEYS) d[k] = k in n ? n[k] : shared[k];
    // the rarer fields (attachments, except, trace) after them, as they come
    for (const k in shared) if (!(k in d)) d[k] = shared[k];
    for (const k in n) if (!(k in d)) d[k] = n[k];
    return d as unknown as NotificationDraft;
  });
}

/** Equal as JSON data: primitives by value, arrays and plain objects field by field. */
function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || !isPlain(a) || !isPlain(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!sameData((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
