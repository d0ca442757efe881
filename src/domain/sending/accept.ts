import { SpanKind } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import type { NotificationDraft } from '../../../queues/jobs.js';
import type { Producers } from '../../../queues/producers.js';
import type { Principal } from '../../auth/jwt.js';
import type { NotificationInput } from './input.js';
import { toDrafts } from './input.js';
import { presentDraft, type NotificationJson } from '../inbox/present.js';
import { applyLocalSchedule, type ZoneLookup } from './schedule-local.js';
import { intakeAttachments, type AttachmentIntake } from '../attachments/inline.js';
import { ATTR } from '../../tracing/attributes.js';
import { stampDrafts } from '../../tracing/job-context.js';
import { inSpan } from '../../tracing/spans.js';

/** How long an idempotency key is remembered (24 h). */
export const IDEMPOTENCY_TTL_S = 24 * 3600;

export interface Accepted {
  /** the ids of the notifications this request created (or, when replayed, created the first time) */
  readonly ids: string[];
  /** those notifications as the API shows them */
  readonly notifications: NotificationJson[];
  /** true when an idempotency key matched an earlier send: nothing new was created */
  readonly replayed: boolean;
}

/**
 * A request's new notifications, presented only when asked: a bulk send
 * answers with ids alone, and presenting a draft (its dates written out)
 * was 7% of the api's time per bulk notification (bench/README.md).
 */
class Fresh implements Accepted {
  readonly replayed = false;
  #presented?: NotificationJson[];
  constructor(private readonly drafts: NotificationDraft[]) {}
  get ids() {
    return this.drafts.map((d) => d.id);
  }
  get notifications() {
    return (this.#presented ??= this.drafts.map(presentDraft));
  }
}

const replayedAnswer = (notifications: NotificationJson[]): Accepted => ({ ids: notifications.map((n) => n.id), notifications, replayed: true });

export interface AcceptDeps {
  redis: Redis;
  /** the new notifications go to ingest */
  queues: Producers;
  prefix: string;
  /** recipients' own time zones, for schedule_local (UTC or the request's timezone without it) */
  zones?: ZoneLookup;
  /** where inline attachments are stored, and their limits; without it a send with inline files is refused (422) */
  attachments?: AttachmentIntake;
}

const idemKey = (prefix: string, p: Pick<Principal, 'tenant' | 'sub'>, key: string) => `${prefix}:idem:${p.tenant}:${p.sub}:${key}`;

// KEYS[1] an idempotency key, ARGV[1] a notification id: forget the key when its answer names that notification
const FORGET_IF_NAMES = `local v = redis.call('GET', KEYS[1])
if v and string.find(v, ARGV[1], 1, true) then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Forgets the idempotency keys whose remembered answer names one of these
 * notifications (the ingest worker could not store them), so that the
 * sender's retry with the same key is accepted anew instead of being
 * answered with ids that will never exist. A key already reused for a new
 * answer is left alone.
 */
export async function forgetIdempotencyKeys(redis: Redis, prefix: string, drafts: NotificationDraft[]): Promise<void> {
  const keyed = drafts.filter((d) => d.idempotency_key);
  if (!keyed.length) return;
  // one command each, sent together: on a Redis Cluster the keys live on different nodes, so they cannot share a pipeline
  await Promise.all(keyed.map((d) => redis.eval(FORGET_IF_NAMES, 1, idemKey(prefix, { tenant: d.tenant, sub: d.sender }, d.idempotency_key!), d.id)));
}

/**
 * Stores the inline files of the requests that create notifications (not
 * of replayed ones) and puts every file's reference on their drafts: the
 * ingest job carries ids and urls, never bytes. Bulk requests name their
 * files `notifications.<i>.attachments...`.
 */
async function attachFiles(deps: AcceptDeps, tenant: string, inputs: NotificationInput[], drafts: NotificationDraft[][]): Promise<void> {
  for (const [i, input] of inputs.entries()) {
    if (!input.attachments?.length || !drafts[i].length) continue;
    const refs = await intakeAttachments(deps.attachments, tenant, input.attachments, inputs.length > 1 ? ['notifications', i] : []);
    for (const d of drafts[i]) d.attachments = refs;
  }
}

/**
 * Accepts validated requests: turns each into drafts, honours idempotency
 * keys (a key seen in the last 24 h answers the first result and creates
 * nothing), then enqueues what is new. If enqueueing fails the claimed keys
 * are released, so a retry by the caller is not mistaken for a replay.
 */
export async function acceptNotifications(deps: AcceptDeps, who: Principal, inputs: NotificationInput[]): Promise<Accepted[]> {
  const now = Date.now();
  const drafts: NotificationDraft[][] = inputs.map((input) => toDrafts(input, { tenant: who.tenant, sender: who.sub, now }));
  for (const [i, input] of inputs.entries()) if (input.schedule_local) await applyLocalSchedule(deps.zones, who.tenant, input, drafts[i], now);
  const results: Accepted[] = drafts.map((list) => new Fresh(list));

  const keyed = inputs.map((input, i) => (input.idempotency_key ? i : -1)).filter((i) => i >= 0);
  const claimed: string[] = [];
  if (keyed.length) {
    // sent together, one command per key (keys of a Redis Cluster live on different nodes, so no pipeline)
    const replies = await Promise.all(
      keyed.map((i) =>
        deps.redis.set(idemKey(deps.prefix, who, inputs[i].idempotency_key!), JSON.stringify(results[i].notifications), 'EX', IDEMPOTENCY_TTL_S, 'NX', 'GET'),
      ),
    );
    keyed.forEach((i, k) => {
      const previous = replies[k];
      if (typeof previous === 'string') {
        results[i] = replayedAnswer(JSON.parse(previous) as NotificationJson[]);
        drafts[i] = [];
      } else claimed.push(idemKey(deps.prefix, who, inputs[i].idempotency_key!));
    });
  }

  const fresh = drafts.flat();
  if (fresh.length) {
    try {
      await attachFiles(deps, who.tenant, inputs, drafts);
      await inSpan(
        'enqueue',
        () => ({ [ATTR.tenant]: who.tenant, [ATTR.notificationCount]: fresh.length }),
        async () => {
          // the drafts carry this span's context: the ingest worker's span continues the trace from here
          stampDrafts(fresh);
          await deps.queues.enqueueNotifications(fresh);
        },
        { kind: SpanKind.PRODUCER },
      );
    } catch (err) {
      // one DEL per key: a multi-key DEL is refused on a Cluster when the keys are in different slots
      if (claimed.length) await Promise.all(claimed.map((k) => deps.redis.del(k))).catch(() => undefined);
      throw err;
    }
  }
  return results;
}
