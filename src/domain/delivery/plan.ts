import type { EntityManager } from '@mikro-orm/postgresql';
import type { DeliveryJob, DeliveryMessage, ExternalChannel, NotificationType, Priority } from '../../../queues/jobs.js';
import type { Producers } from '../../../queues/producers.js';
import { isExternal } from '../../channels/index.js';
import type { RecipientRow } from '../../db/entities/recipient.js';
import type { Logger } from '../../logger.js';
import { deliveryId, insertPlanned, refreshNotificationStatus } from './records.js';
import { exclusionsOf } from '../inbox/exclusions.js';
import type { StoredRow } from '../inbox/present.js';
import { addressOf, getRecipients, recipientPage } from './recipients.js';
import { digestFor, holdForDigest } from '../digest/buckets.js';
import type { DigestSpec } from '../digest/window.js';

/** Recipients expanded per page for role, store and tenant sends (one INSERT and one addBulk per page). */
export const EXPAND_PAGE = 500;

export interface PlanDeps {
  em: EntityManager;
  queues: Producers;
  logger: Logger;
  /** recipients per page when expanding a role, store or tenant (default EXPAND_PAGE) */
  pageSize?: number;
}

/** A stored row as a delivery's message; its link, picture and buttons travel with it when it has them. */
export const messageOf = (
  row: Pick<StoredRow, 'title' | 'content' | 'type' | 'priority' | 'metadata' | 'created_at'> & Partial<Pick<StoredRow, 'url' | 'image_url' | 'actions' | 'group_key'>>,
): DeliveryMessage => ({
  title: row.title,
  content: row.content,
  type: row.type as NotificationType,
  priority: row.priority as Priority,
  metadata: row.metadata,
  created_at: new Date(row.created_at).toISOString(),
  ...(row.url ? { url: row.url } : {}),
  ...(row.image_url ? { image_url: row.image_url } : {}),
  ...(row.actions?.length ? { actions: row.actions } : {}),
  ...(row.group_key ? { group_key: row.group_key } : {}),
});

export interface JobSeed {
  tenant: string;
  notification_id: string;
  sender: string;
  message: DeliveryMessage;
}

/** The delivery job of one channel to one recipient (address resolved from the recipients row). */
export function deliveryJob(
  seed: JobSeed,
  who: { recipient: string; direct: boolean; address: string | null },
  channel: ExternalChannel,
  fallbacks: ExternalChannel[],
  fallbackOf: string | null,
): DeliveryJob {
  return {
    delivery_id: deliveryId(seed.notification_id, who.recipient, channel),
    tenant: seed.tenant,
    notification_id: seed.notification_id,
    sender: seed.sender,
    recipient: who.recipient,
    direct: who.direct,
    channel,
    address: who.address,
    fallbacks: fallbacks.filter((c) => c !== channel),
    fallback_of: fallbackOf,
    message: seed.message,
  };
}

const external = (channels: string[]) => channels.filter(isExternal);

function jobsFor(row: StoredRow, recipients: Array<{ userId: string; row: RecipientRow | null | undefined }>): DeliveryJob[] {
  const seed: JobSeed = { tenant: row.tenant, notification_id: row.id, sender: row.sender, message: messageOf(row) };
  const fallbacks = external(row.fallback_channels);
  return recipients.flatMap(({ userId, row: r }) =>
    external(row.channels).map((channel) =>
      deliveryJob(seed, { recipient: userId, direct: false, address: addressOf(r, channel, row.metadata) }, channel, fallbacks, null),
    ),
  );
}

/** Records and enqueues: the record first, so a job never runs for a delivery nobody can see. */
async function persist(deps: PlanDeps, jobs: DeliveryJob[]): Promise<void> {
  if (!jobs.length) return;
  await insertPlanned(deps.em, jobs);
  // a notification sent with `digest` waits in its recipient's digest window instead of going out alone
  const now: DeliveryJob[] = [];
  const held: Array<{ job: DeliveryJob; spec: DigestSpec }> = [];
  for (const job of jobs) {
    const spec = digestFor(job);
    if (spec) held.push({ job, spec });
    else now.push(job);
  }
  if (now.length) await deps.queues.enqueueDeliveries(now);
  await holdForDigest(deps, held);
}

/**
 * Plans the external deliveries of stored notifications: one record and
 * one job per (recipient, channel), or, for a notification sent with
 * `digest`, a place in the recipient's digest window instead of the job. A user audience is one recipient (even
 * one with no recipients row: its deliveries then fail as no_address, which
 * the sender can see); role, store and tenant audiences are walked page by
 * page through the recipients index, never all in memory. Idempotent: ids
 * are derived from (notification, recipient, channel). `exclusions`, when
 * the caller has read them already, are exclusionsOf(rows).
 */
export async function planDeliveries(deps: PlanDeps, rows: StoredRow[], exclusions?: Map<string, string[]>): Promise<number> {
  const due = rows.filter((r) => r.seq != null && r.status !== 'scheduled' && external(r.channels).length > 0);
  if (!due.length) return 0;
  let planned = 0;
  const pageSize = deps.pageSize ?? EXPAND_PAGE;

  const direct = due.filter((r) => r.audience.startsWith('u:'));
  const byTenant = new Map<string, StoredRow[]>();
  for (const r of direct) {
    let list = byTenant.get(r.tenant);
    if (!list) byTenant.set(r.tenant, (list = []));
    list.push(r);
  }
  for (const [tenant, list] of byTenant) {
    const found = await getRecipients(deps.em, tenant, [...new Set(list.map((r) => r.user_id!))]);
    const jobs = list.flatMap((r) => jobsFor(r, [{ userId: r.user_id!, row: found.get(r.user_id!) }]));
    await persist(deps, jobs);
    planned += jobs.length;
  }

  const shared = due.filter((r) => !r.audience.startsWith('u:'));
  const except = exclusions ?? (await exclusionsOf(deps.em, shared));
  for (const row of shared) {
    const skip = new Set(except.get(row.id));
    let after: string | null = null;
    for (;;) {
      const page = await recipientPage(deps.em, row.tenant, row.audience, after, pageSize);
      if (!page.length) break;
      const jobs = jobsFor(
        row,
        page.filter((r) => !skip.has(r.user_id)).map((r) => ({ userId: r.user_id, row: r })),
      );
      await persist(deps, jobs);
      planned += jobs.length;
      after = page[page.length - 1].user_id;
      if (page.length < pageSize) break;
    }
  }

  // 'app' among the channels makes a notification sent now; one with nobody to reach externally is settled here too
  await refreshNotificationStatus(
    deps.em,
    due.map((r) => r.id),
  );
  deps.logger.debug({ notifications: due.length, deliveries: planned }, 'deliveries planned');
  return planned;
}
